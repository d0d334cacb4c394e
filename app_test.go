package sms2fa_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/totp"
)

// withApp lists the authenticator-app method beside the default ones.
func withApp(t testing.TB, opts ...totp.Option) sms2fa.Option {
	t.Helper()
	_, listed := appMethod(t, opts...)
	return listed
}

// appMethod returns a new authenticator-app method, and the option that
// lists it beside the default ones.
func appMethod(t testing.TB, opts ...totp.Option) (*totp.Method, sms2fa.Option) {
	t.Helper()
	dev, err := device.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := totp.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m, sms2fa.WithMethods(recovery.New(), dev, m)
}

var uriLink = regexp.MustCompile(`<a class="totp-uri" href="([^"]+)"`)

// appSecret reads the secret of the setup page's otpauth:// link, as an
// authenticator app would.
func appSecret(t testing.TB, page response) (string, []byte) {
	t.Helper()
	m := uriLink.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no totp-uri link on the setup page (%d): %.2000s", page.status, page.body)
	}
	uri := html.UnescapeString(m[1])
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("the link is not an otpauth://totp URI: %q (%v)", uri, err)
	}
	q := u.Query()
	if q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("issuer") == "" {
		t.Fatalf("the URI's parameters: %q", uri)
	}
	secret, err := totp.Decode(q.Get("secret"))
	if err != nil || len(secret) < 16 {
		t.Fatalf("the URI's secret: %q, %v", q.Get("secret"), err)
	}
	return uri, secret
}

// setUpApp takes c, a browser with a fresh factor, through the setup page,
// and returns the app's secret and the answer to the confirming code.
func (h *harness) setUpApp(c *client) ([]byte, response) {
	h.t.Helper()
	page := c.get("/2fa/totp")
	_, secret := appSecret(h.t, page)
	return secret, c.post("/2fa/totp", url.Values{"code": {totp.Code(secret, h.clock.Now())}})
}

// sent is how many SMS the fake sender has delivered.
func (h *harness) sent() int { return len(h.fake.Messages()) }

func TestAppSetUpAndSignIn(t *testing.T) {
	h := newHarness(t, withApp(t))
	other := h.signIn("alice", alicePhone) // another browser of alice's, signed in before
	c := h.signIn("alice", alicePhone)

	page := c.get("/2fa/totp")
	if page.status != http.StatusOK || !strings.Contains(page.body, `<svg`) || !strings.Contains(page.body, `class="totp-qr"`) ||
		!strings.Contains(page.body, `name="code"`) || !strings.Contains(page.body, `class="totp-secret"`) {
		t.Fatalf("the setup page: %d %.3000s", page.status, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(page.body, "<img") {
		t.Fatalf("the setup page's CSP %q, or an image that makes a request", csp)
	}
	uri, secret := appSecret(t, page)
	if !strings.HasPrefix(uri, "otpauth://totp/sms2fa:alice?") {
		t.Fatalf("the URI's label: %q", uri)
	}
	key := totp.Encode(secret)
	if !strings.Contains(page.body, key) {
		t.Fatalf("the grouped key %q is not on the page", key)
	}
	// The pending secret is sealed in the guard's session: no cookie holds
	// it readably.
	cookies := c.http.Jar.Cookies(mustURL(t, c.base+"/2fa/totp"))
	for _, ck := range cookies {
		if strings.Contains(ck.Value, strings.ReplaceAll(key, " ", "")) {
			t.Fatalf("cookie %s holds the secret", ck.Name)
		}
	}
	// It waits in a cookie of its own, which the app's pages never see, and
	// the guard's session stays out of it.
	for _, ck := range c.http.Jar.Cookies(mustURL(t, c.base+"/app/home")) {
		if ck.Name == "sms2fa_totp" || ck.Name == "sms2fa" {
			t.Fatalf("cookie %s is sent to the app's pages while an app is set up", ck.Name)
		}
	}
	if len(cookies) == 0 || !slices.ContainsFunc(cookies, func(ck *http.Cookie) bool { return ck.Name == "sms2fa_totp" }) {
		t.Fatalf("no setup cookie: %v", cookies)
	}
	// A reload shows the same secret: an app that scanned it still works.
	if again, _ := appSecret(t, c.get("/2fa/totp")); again != uri {
		t.Fatalf("a reload changed the secret: %q, then %q", uri, again)
	}
	// A wrong code saves nothing and counts nothing.
	wrong := c.post("/2fa/totp", url.Values{"code": {wrongAppCode(secret, h.clock.Now())}})
	wantPage(t, "a wrong confirming code", wrong, "That code is not right")
	if _, err := h.store.TOTP(context.Background(), "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a wrong code saved the app: %v", err)
	}
	before := h.sent()
	done := c.post("/2fa/totp", url.Values{"code": {totp.Code(secret, h.clock.Now())}})
	// alice's number was adopted, not enrolled: she had no recovery codes,
	// and is shown a set once.
	wantPage(t, "confirmed", done, "Your authenticator app is set up")
	if codes := codesOn(t, done); len(codes) != 10 {
		t.Fatalf("recovery codes shown: %v", codes)
	}
	if h.eventCount(sms2fa.EventTOTPAdded) != 1 {
		t.Fatalf("totp_added events: %d", h.eventCount(sms2fa.EventTOTPAdded))
	}
	// A factor change: the browser that set it up stays in, the other one
	// is out — and asked for the app's code, with no SMS sent.
	want(t, "the browser that set it up", c.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(2 * time.Minute) // past the recheck interval
	want(t, "the other browser", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	code := other.get("/2fa")
	wantPage(t, "the app's code page", code, "Enter the 6-digit code your authenticator app shows")
	if !strings.Contains(code.body, `class="use-sms"`) || !strings.Contains(code.body, "Text me a code instead") ||
		strings.Contains(code.body, `class="resend"`) || !strings.Contains(code.body, `name="remember"`) {
		t.Fatalf("the app's code page: %.3000s", code.body)
	}
	if h.sent() != before {
		t.Fatalf("SMS sent to a user with an app: %d", h.sent()-before)
	}

	// Sign in with the app's code.
	d := h.client().login("alice")
	want(t, "guarded", d.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "the app's code", d.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
	want(t, "signed in", d.get("/app/home"), http.StatusOK, "")
	if h.sent() != before {
		t.Fatalf("SMS sent during an app sign-in: %d", h.sent()-before)
	}
	var how string
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventGrantCreated && e.UserID == "alice" {
			how = e.How
		}
	}
	if how != "totp" {
		t.Fatalf("the grant was earned by %q, want totp", how)
	}
	// The same code again, in another browser: refused, counted nothing.
	e := h.client().login("alice")
	want(t, "guarded", e.get("/app/home"), http.StatusSeeOther, "/2fa")
	wantPage(t, "a replayed code", e.verify(totp.Code(secret, h.clock.Now())), "That code was used already")
	e.json = true
	if r := e.postJSON("/2fa/verify", map[string]string{"code": totp.Code(secret, h.clock.Now())}); r.status != http.StatusConflict || r.decode(t)["error"] != "code_used" {
		t.Fatalf("a replayed code, JSON: %d %s", r.status, r.body)
	}
	h.clock.Advance(30 * time.Second)
	if r := e.postJSON("/2fa/verify", map[string]string{"code": wrongAppCode(secret, h.clock.Now())}); r.status != http.StatusUnprocessableEntity || r.decode(t)["error"] != "code_invalid" {
		t.Fatalf("a wrong code, JSON: %d %s", r.status, r.body)
	}
	if r := e.postJSON("/2fa/verify", map[string]string{"code": totp.Code(secret, h.clock.Now())}); r.status != http.StatusOK || r.decode(t)["verified"] != true {
		t.Fatalf("the next code, JSON: %d %s", r.status, r.body)
	}
}

// wrongAppCode is a code secret's app shows at no step near t.
func wrongAppCode(secret []byte, t time.Time) string {
	near := map[string]bool{}
	for s := -3; s <= 3; s++ {
		near[totp.Code(secret, t.Add(time.Duration(s)*30*time.Second))] = true
	}
	for d := byte('0'); ; d++ {
		if c := strings.Repeat(string(d), 6); !near[c] {
			return c
		}
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// appUser returns a harness on which alice has an authenticator app, set up
// by a browser that then signs out, and its secret; the clock is moved on
// past the confirming code's step.
func appUser(t *testing.T, opts ...sms2fa.Option) (*harness, []byte) {
	t.Helper()
	h := newHarness(t, append([]sms2fa.Option{withApp(t)}, opts...)...)
	c := h.signIn("alice", alicePhone)
	secret, r := h.setUpApp(c)
	if r.status != http.StatusOK {
		t.Fatalf("setting up the app: %d %.500s", r.status, r.body)
	}
	want(t, "sign out", c.post("/logout", nil), http.StatusNoContent, "")
	h.clock.Advance(30 * time.Second)
	return h, secret
}

func TestAppTextMeInstead(t *testing.T) {
	h, _ := appUser(t)
	before := h.sent()
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.sent() != before {
		t.Fatal("an SMS went out before the user asked for one")
	}
	want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	if h.sent() != before+1 {
		t.Fatalf("SMS sent after asking: %d", h.sent()-before)
	}
	page := c.get("/2fa")
	wantPage(t, "the SMS code page", page, "We sent a 6-digit code by SMS to +91 ••••••3210")
	if strings.Contains(page.body, `class="use-sms"`) {
		t.Fatal("the SMS page still offers SMS instead")
	}
	// Reloading the guarded page keeps the SMS challenge: no switch back,
	// no second SMS.
	want(t, "guarded again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.sent() != before+1 {
		t.Fatalf("SMS sent on a reload: %d", h.sent()-before)
	}
	want(t, "the SMS code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
	want(t, "signed in", c.get("/app/home"), http.StatusOK, "")
}

func TestAppStepUpAndReplayAcrossFlows(t *testing.T) {
	h, secret := appUser(t)
	before := h.sent()
	b := h.client().login("alice")
	want(t, "guarded", b.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "sign in", b.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
	h.clock.Advance(6 * time.Minute) // the grant is no longer fresh
	// Another browser signs in with the code of now …
	a := h.client().login("alice")
	want(t, "guarded", a.get("/app/home"), http.StatusSeeOther, "/2fa")
	now := totp.Code(secret, h.clock.Now())
	want(t, "sign in", a.verify(now), http.StatusSeeOther, "/app/home")
	// … which cannot serve b's step-up.
	want(t, "sensitive", b.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	page := b.get("/2fa")
	wantPage(t, "the step-up page", page, "What you are about to do is sensitive")
	wantPage(t, "the step-up page asks for the app", page, "authenticator app")
	wantPage(t, "a code used for a sign-in", b.verify(now), "That code was used already")
	h.clock.Advance(30 * time.Second)
	want(t, "the next code", b.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/secure/transfer")
	want(t, "fresh", b.get("/secure/transfer"), http.StatusOK, "")
	if h.sent() != before {
		t.Fatalf("SMS sent for an app user's step-up: %d", h.sent()-before)
	}
	if h.eventCount(sms2fa.EventGrantRefreshed) != 1 {
		t.Fatalf("grant_refreshed events: %d", h.eventCount(sms2fa.EventGrantRefreshed))
	}
}

// Wrong app codes count in the same account-wide lockout as SMS and
// recovery codes.
func TestAppCodesShareTheLockout(t *testing.T) {
	h, secret := appUser(t, sms2fa.WithLockout(3, 15*time.Minute, time.Hour))
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	bad := wrongAppCode(secret, h.clock.Now())
	wantPage(t, "wrong app code 1", c.verify(bad), "That code is not right")
	wantPage(t, "wrong recovery code", c.post("/2fa/recover", url.Values{"recovery_code": {"aaaaa-bbbbb"}}), "That recovery code is not right")
	wantPage(t, "wrong app code 2: locked", c.verify(bad), "Too many wrong codes")
	c.json = true
	r := c.postJSON("/2fa/verify", map[string]string{"code": totp.Code(secret, h.clock.Now())})
	if r.status != http.StatusTooManyRequests || r.decode(t)["error"] != "locked" || r.header.Get("Retry-After") == "" {
		t.Fatalf("a right code while locked: %d %s", r.status, r.body)
	}
	if h.eventCount(sms2fa.EventUserLocked) != 1 {
		t.Fatalf("user_locked events: %d", h.eventCount(sms2fa.EventUserLocked))
	}
}

func TestAppJSON(t *testing.T) {
	h := newHarness(t, withApp(t))
	c := h.signIn("alice", alicePhone)
	c.json = true
	r := c.get("/2fa/totp")
	body := r.decode(t)
	if r.status != http.StatusOK || body["totp_enabled"] != false || !strings.HasPrefix(body["totp_uri"].(string), "otpauth://totp/") {
		t.Fatalf("GET /2fa/totp, JSON: %d %s", r.status, r.body)
	}
	secret, err := totp.Decode(body["totp_secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.postJSON("/2fa/totp", map[string]string{"code": "12"}); r.status != http.StatusUnprocessableEntity || r.decode(t)["error"] != "code_malformed" {
		t.Fatalf("a malformed confirming code: %d %s", r.status, r.body)
	}
	r = c.postJSON("/2fa/totp", map[string]string{"code": totp.Code(secret, h.clock.Now())})
	if codes, _ := r.decode(t)["recovery_codes"].([]any); r.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirmed, JSON: %d %s", r.status, r.body)
	}
	h.clock.Advance(30 * time.Second)
	d := h.client().login("alice")
	d.json = true
	r = d.get("/app/home")
	if b := r.decode(t); r.status != http.StatusUnauthorized || b["error"] != "second_factor_required" || b["method"] != "totp" ||
		b["verify_url"] != "/2fa/verify" || b["resend_url"] != "/2fa/resend" {
		t.Fatalf("a guarded route, JSON: %d %s", r.status, r.body)
	}
	if r := d.postJSON("/2fa/verify", map[string]string{"code": totp.Code(secret, h.clock.Now())}); r.status != http.StatusOK || r.decode(t)["verified"] != true {
		t.Fatalf("verify, JSON: %d %s", r.status, r.body)
	}
	// Removing it needs a fresh factor, which d has.
	if r := d.postJSON("/2fa/totp/remove", map[string]string{}); r.status != http.StatusNoContent {
		t.Fatalf("remove, JSON: %d %s", r.status, r.body)
	}
	if h.eventCount(sms2fa.EventTOTPRemoved) != 1 {
		t.Fatalf("totp_removed events: %d", h.eventCount(sms2fa.EventTOTPRemoved))
	}
}

func TestAppRemoveAndReset(t *testing.T) {
	h, secret := appUser(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "sign in", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
	other := h.client().login("alice")
	want(t, "guarded", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	h.clock.Advance(30 * time.Second)
	want(t, "sign in", other.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")

	// The setup page of a user with an app offers to remove it.
	page := c.get("/2fa/totp")
	wantPage(t, "the setup page with an app", page, "You have an authenticator app")
	if !strings.Contains(page.body, `action="/2fa/totp/remove"`) {
		t.Fatalf("no remove form: %.2000s", page.body)
	}
	req := c.postRequest("/2fa/totp/remove", url.Values{"next": {"/app/account"}})
	want(t, "remove", c.do(req), http.StatusSeeOther, "/app/account")
	if h.eventCount(sms2fa.EventTOTPRemoved) != 1 {
		t.Fatalf("totp_removed events: %d", h.eventCount(sms2fa.EventTOTPRemoved))
	}
	// A factor change: the other browser is out; this one stays.
	h.clock.Advance(2 * time.Minute)
	want(t, "this browser", c.get("/app/home"), http.StatusOK, "")
	before := h.sent()
	want(t, "the other browser", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.sent() != before+1 {
		t.Fatal("without the app, the number gets the code")
	}

	// An admin's reset.
	_, r := h.setUpApp(c)
	if r.status != http.StatusOK {
		t.Fatalf("setting the app up again: %d", r.status)
	}
	if err := h.guard.ResetTOTP(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if h.eventCount(sms2fa.EventTOTPReset) != 1 {
		t.Fatalf("totp_reset events: %d", h.eventCount(sms2fa.EventTOTPReset))
	}
	info, err := h.guard.Factor(context.Background(), "alice")
	if err != nil || info.App || !info.Enrolled {
		t.Fatalf("after the reset: %+v %v", info, err)
	}
	h.clock.Advance(2 * time.Minute)
	want(t, "after the reset", c.get("/app/home"), http.StatusSeeOther, "/2fa")
}

// A secret that no key of the guard opens falls back to SMS, with an
// event, never a 503.
func TestAppUnsealableFallsBackToSMS(t *testing.T) {
	h := newHarness(t, withApp(t))
	if _, err := h.store.SetTOTP(context.Background(), "alice", []byte("sealed under a secret long gone, 28+ bytes"), 1, ""); err != nil {
		t.Fatal(err)
	}
	before := h.sent()
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.sent() != before+1 {
		t.Fatal("no SMS for a user whose app cannot be read")
	}
	if h.eventCount(sms2fa.EventTOTPUnsealable) == 0 {
		t.Fatal("no totp_unsealable event")
	}
	want(t, "the SMS code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

// A user whose only factor is the app cannot add a number without it: a
// number would be a way around the app.
func TestAppOnlyUserCannotEnrolAround(t *testing.T) {
	h, secret := appUser(t)
	if err := h.guard.RemoveFactor(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	before := h.sent()
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	page := c.get("/2fa")
	wantPage(t, "the app's page", page, "authenticator app")
	if strings.Contains(page.body, `class="use-sms"`) {
		t.Fatal("a user without a number is offered SMS")
	}
	want(t, "enrol a number", c.post("/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}), http.StatusSeeOther, "/2fa")
	if h.sent() != before {
		t.Fatal("a code went to a number added without the app")
	}
	want(t, "the app's code", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/2fa/enroll")
}

// Of 50 parallel submissions of one right code, exactly one signs in.
func TestAppParallelCodes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAppParallel(t, onSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { testAppParallel(t, onPostgres(t)) })
}

func testAppParallel(t *testing.T, open opener) {
	h := newHarnessOn(t, open, withApp(t))
	c := h.signIn("alice", alicePhone)
	secret, r := h.setUpApp(c)
	if r.status != http.StatusOK {
		t.Fatalf("setting up the app: %d", r.status)
	}
	h.clock.Advance(30 * time.Second)
	const n = 50
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = h.client().login("alice")
		want(t, "guarded", clients[i].get("/app/home"), http.StatusSeeOther, "/2fa")
	}
	code := totp.Code(secret, h.clock.Now())
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for _, cl := range clients {
		wg.Go(func() {
			r := cl.verify(code)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == http.StatusSeeOther && r.location() == "/app/home":
				wins++
			case r.status == http.StatusOK && strings.Contains(r.body, "That code was used already"):
			default:
				t.Errorf("a parallel submission: %d %q %.300s", r.status, r.location(), r.body)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d submissions of one code signed in, want 1", wins)
	}
}

// A page that asked for the old app's code, before the app was replaced in
// another browser, does not take the old app's codes: the verify finds the
// secret it was asked with is no longer the user's, and the page asks again.
func TestAppReplacedWhileAsked(t *testing.T) {
	h, old := appUser(t)
	thief := h.client().login("alice") // has the password and the old phone
	want(t, "guarded", thief.get("/app/home"), http.StatusSeeOther, "/2fa")

	owner := h.client().login("alice")
	want(t, "guarded", owner.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "the owner signs in", owner.verify(totp.Code(old, h.clock.Now())), http.StatusSeeOther, "/app/home")
	fresh, r := h.setUpApp(owner)
	if r.status != http.StatusOK || h.eventCount(sms2fa.EventTOTPAdded) != 2 {
		t.Fatalf("replacing the app: %d, %d totp_added", r.status, h.eventCount(sms2fa.EventTOTPAdded))
	}
	h.clock.Advance(30 * time.Second)
	want(t, "the old app's code", thief.verify(totp.Code(old, h.clock.Now())), http.StatusSeeOther, "/2fa")
	wantPage(t, "asked again", thief.get("/2fa"), "authenticator app")
	wantPage(t, "the old app's code, asked again", thief.verify(totp.Code(old, h.clock.Now())), "That code is not right")
	want(t, "the thief", thief.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "the new app's code", thief.verify(totp.Code(fresh, h.clock.Now())), http.StatusSeeOther, "/app/home")
}

// The page that asks for the app's code ends whatever SMS challenge the
// session held: a right app code typed there signs in, and is never checked
// as an SMS code (which would count failures towards a lockout).
func TestAppPageEndsAStaleText(t *testing.T) {
	t.Run("the number changed after a text", func(t *testing.T) {
		h, secret := appUser(t, sms2fa.WithLockout(3, 15*time.Minute, time.Hour))
		c := h.client().login("alice")
		want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
		want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
		if err := h.guard.EnrolFactor(context.Background(), "alice", "+91 98123 00000"); err != nil {
			t.Fatal(err)
		}
		h.movePhone("alice", "+91 98123 00000")
		sent, before := h.sent(), h.attempts("alice")
		// The guarded route sends nothing to the new number unasked (the
		// text went to the old one) …
		want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
		wantPage(t, "the app's page", c.get("/2fa"), "authenticator app")
		if h.sent() != sent {
			t.Fatalf("%d SMS sent unasked", h.sent()-sent)
		}
		// … and the app's code is the app's.
		want(t, "the app's code", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
		if n := h.attempts("alice") - before; n != 0 {
			t.Fatalf("the app's code counted %d SMS attempts", n)
		}
	})
	t.Run("a step-up text of an ended sign-in", func(t *testing.T) {
		h, secret := appUser(t)
		c := h.client().login("alice")
		want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
		want(t, "sign in", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
		h.clock.Advance(6 * time.Minute)
		want(t, "sensitive", c.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
		want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
		c.login("alice") // a new sign-in: the step-up's grant is not this sign-in's
		wantPage(t, "the app's page", c.get("/2fa"), "authenticator app")
		before := h.attempts("alice")
		r := c.verify(totp.Code(secret, h.clock.Now()))
		if r.status != http.StatusSeeOther || r.location() == "/2fa" || h.attempts("alice") != before {
			t.Fatalf("a right app code the page asked for: %d %q, %d SMS attempts", r.status, r.location(), h.attempts("alice")-before)
		}
	})
}

// A text the user asked for and never used does not keep the browser on
// SMS: once its code can no longer be entered, the app is asked again, and
// nothing is sent.
func TestAppAbandonedTextGivesTheAppBack(t *testing.T) {
	h, secret := appUser(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	before := h.sent()
	h.clock.Advance(time.Hour)
	want(t, "guarded later", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	wantPage(t, "the app's page", c.get("/2fa"), "authenticator app")
	if h.sent() != before {
		t.Fatalf("%d SMS sent to a user who did not ask", h.sent()-before)
	}
	want(t, "the app's code", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
}

// A user whose only factor is an app the guard cannot check is never let
// through without it — an optional user neither — and is not sent round to
// enrol: the page says so and offers recovery codes.
func TestAppUnusableWithoutANumber(t *testing.T) {
	h := newHarness(t, withApp(t))
	for _, user := range []string{"olive", "rita"} { // optional and required, neither has a number
		if _, err := h.store.SetTOTP(context.Background(), user, []byte("sealed under a secret long gone, 28+ bytes"), 1, ""); err != nil {
			t.Fatal(err)
		}
		c := h.client().login(user)
		want(t, user+", guarded", c.get("/app/status"), http.StatusSeeOther, "/2fa")
		page := c.get("/2fa")
		wantPage(t, user+"'s page", page, "We cannot check codes from your authenticator app")
		if strings.Contains(page.body, `name="code"`) || strings.Contains(page.body, `class="use-sms"`) {
			t.Fatalf("%s's page offers a form that cannot work: %.2000s", user, page.body)
		}
		c.json = true
		r := c.get("/app/status")
		if b := r.decode(t); r.status != http.StatusUnauthorized || b["reason"] != "app_unusable" || b["resend_url"] != nil || b["verify_url"] != nil {
			t.Fatalf("%s, JSON: %d %s", user, r.status, r.body)
		}
	}
}

// A user whose number was removed, with an app, is offered neither a text
// nor "remember this device" (a device is remembered against the number).
func TestAppOnlyUserIsOfferedNoNumberThings(t *testing.T) {
	h, secret := appUser(t)
	if err := h.guard.RemoveFactor(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	for what, r := range map[string]response{
		"the page":           c.get("/2fa"),
		"after a wrong code": c.verify(wrongAppCode(secret, h.clock.Now())),
	} {
		if strings.Contains(r.body, `class="use-sms"`) || strings.Contains(r.body, `name="remember"`) || !strings.Contains(r.body, `name="code"`) {
			t.Fatalf("%s: %.2000s", what, r.body)
		}
	}
	c.json = true
	r := c.get("/2fa")
	if b := r.decode(t); b["method"] != "totp" || b["resend_url"] != nil {
		t.Fatalf("the page, JSON: %s", r.body)
	}
}

// A text asked for before the number was removed no longer keeps the
// browser on SMS: an optional user with an app is not let through without
// it (the phone was stolen, an admin removed the number). (A changed
// number: TestAppPageEndsAStaleText.)
func TestAppTextToANumberNoLongerTheUsers(t *testing.T) {
	t.Run("removed, optional user", func(t *testing.T) {
		h := newHarness(t, withApp(t))
		h.movePhone("olive", "+91 98123 11111")
		c := h.signIn("olive", "+919812311111")
		if _, r := h.setUpApp(c); r.status != http.StatusOK {
			t.Fatalf("setting up the app: %d", r.status)
		}
		thief := h.client().login("olive")
		want(t, "guarded", thief.get("/app/status"), http.StatusSeeOther, "/2fa")
		want(t, "text me instead", thief.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
		if err := h.guard.RemoveFactor(context.Background(), "olive"); err != nil {
			t.Fatal(err)
		}
		if r := thief.get("/app/status"); r.status != http.StatusSeeOther || r.location() != "/2fa" {
			t.Fatalf("after the number was removed: %d %q %q", r.status, r.location(), r.body)
		}
		wantPage(t, "the app's page", thief.get("/2fa"), "authenticator app")
	})
	t.Run("removed, JSON", func(t *testing.T) {
		h, _ := appUser(t)
		if err := h.guard.RemoveFactor(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		c := h.client().login("alice")
		c.json = true
		r := c.get("/app/home")
		if b := r.decode(t); r.status != http.StatusUnauthorized || b["method"] != "totp" || b["resend_url"] != nil {
			t.Fatalf("a guarded route, JSON, without a number: %d %s", r.status, r.body)
		}
	})
}

// A setup page left open past WithFreshFactor asks for a step-up at its
// confirmation; the secret the app scanned survives it, so the same app
// confirms afterwards.
func TestAppSetupSurvivesItsStepUp(t *testing.T) {
	h := newHarness(t, withApp(t))
	c := h.signIn("alice", alicePhone)
	uri, secret := appSecret(t, c.get("/2fa/totp"))
	h.clock.Advance(11 * time.Minute) // past the fresh factor's 10 minutes
	req := c.postRequest("/2fa/totp", url.Values{"code": {totp.Code(secret, h.clock.Now())}})
	req.Header.Set("Referer", c.base+"/2fa/totp")
	want(t, "confirming, not fresh", c.do(req), http.StatusSeeOther, "/2fa")
	want(t, "the step-up code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/2fa/totp")
	if again, _ := appSecret(t, c.get("/2fa/totp")); again != uri {
		t.Fatalf("the step-up lost the secret being set up: %q, then %q", uri, again)
	}
	h.clock.Advance(30 * time.Second)
	if r := c.post("/2fa/totp", url.Values{"code": {totp.Code(secret, h.clock.Now())}}); r.status != http.StatusOK ||
		!strings.Contains(r.body, "Your authenticator app is set up") {
		t.Fatalf("confirming after the step-up: %d %.500s", r.status, r.body)
	}
	// Logout forgets a secret being set up, and so does its confirmation.
	d := h.signIn("bob", bobPhone)
	d.get("/2fa/totp")
	want(t, "logout", d.post("/logout", nil), http.StatusNoContent, "")
	for _, cl := range []*client{c, d} {
		for _, ck := range cl.http.Jar.Cookies(mustURL(t, cl.base+"/2fa/totp")) {
			if ck.Name == "sms2fa_totp" || ck.Name == "sms2fa" {
				t.Fatalf("cookie %s outlived the setup: %q", ck.Name, ck.Value)
			}
		}
	}
}

// The page of a text offers the app back: "Use my authenticator app
// instead" ends the text, and the app's code is then the app's.
func TestAppBackFromAText(t *testing.T) {
	h, secret := appUser(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	page := c.get("/2fa")
	wantPage(t, "the SMS page", page, "We sent a 6-digit code by SMS")
	if !strings.Contains(page.body, `<form method="post" action="/2fa/app" class="use-app">`) {
		t.Fatalf("the SMS page offers no way back to the app: %.2500s", page.body)
	}
	want(t, "use my app", c.post("/2fa/app", nil), http.StatusSeeOther, "/2fa")
	wantPage(t, "the app's page", c.get("/2fa"), "Enter the 6-digit code your authenticator app shows")
	before := h.attempts("alice")
	want(t, "the app's code", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
	if n := h.attempts("alice") - before; n != 0 {
		t.Fatalf("the app's code counted %d SMS attempts", n)
	}
	// A user without an app is offered no such thing.
	d := h.client().login("bob")
	want(t, "guarded", d.get("/app/home"), http.StatusSeeOther, "/2fa")
	if strings.Contains(d.get("/2fa").body, "use-app") {
		t.Fatal("a user without an app is offered the app")
	}
}

// A text out of attempts can no longer be entered either: the app is
// asked again, and nothing is sent unasked. A JSON client is offered the
// app back on a text's state.
func TestAppDeadTextGivesTheAppBack(t *testing.T) {
	h, _ := appUser(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "text me instead", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	c.json = true
	if b := c.get("/2fa").decode(t); b["use_app_url"] != "/2fa/app" {
		t.Fatalf("a text's state, JSON: %v", b)
	}
	c.json = false
	for range 5 {
		c.verify(h.wrong())
	}
	before := h.sent()
	want(t, "guarded again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	wantPage(t, "the app's page", c.get("/2fa"), "authenticator app")
	if n := h.sent() - before; n != 0 {
		t.Fatalf("%d SMS sent unasked", n)
	}
}

// "Remember this device" works after an app's code as after a text's: the
// next sign-in in that browser needs no code at all; and no log line holds
// the app's secret.
func TestAppRemembersTheDevice(t *testing.T) {
	h, secret := appUser(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	r := c.post("/2fa/verify", url.Values{"code": {totp.Code(secret, h.clock.Now())}, "remember": {"1"}})
	want(t, "the app's code, remembered", r, http.StatusSeeOther, "/app/home")
	if h.eventCount(sms2fa.EventDeviceRemembered) != 1 {
		t.Fatalf("device_remembered events: %d", h.eventCount(sms2fa.EventDeviceRemembered))
	}
	want(t, "sign out", c.post("/logout", nil), http.StatusNoContent, "")
	c.login("alice")
	before := h.sent()
	want(t, "the remembered device", c.get("/app/home"), http.StatusOK, "")
	if h.sent() != before {
		t.Fatal("a remembered device still cost an SMS")
	}
	if key := strings.ReplaceAll(totp.Encode(secret), " ", ""); strings.Contains(h.logs.String(), key) {
		t.Fatal("a log line holds the app's secret")
	}
}
