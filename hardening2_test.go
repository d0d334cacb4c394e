package sms2fa_test

import (
	"context"

	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/templates"
)

// The second hardening round: each test stages one finding of the attack
// run (or of a new user's trial) over real HTTP and fails without its fix.

// cookie returns the value of the named cookie c's jar holds, or "".
func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie puts a cookie into c's jar, as a client that keeps (or forges)
// one would.
func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// liveGrants counts user's live grants in the store's rows.
func (h *harness) liveGrants(user string) int {
	h.t.Helper()
	var n int
	err := tables(h.store).Get(&n, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = ? AND revoked_at = 0 AND expires_at > ?`, user, h.clock.Now().UnixMilli())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// rememberedBrowser signs alice in on a new browser with "remember this
// device" ticked, then logs out, leaving the device cookie.
func (h *harness) rememberedBrowser() *client {
	h.t.Helper()
	c := h.client().login("alice")
	want(h.t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(h.t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	want(h.t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	return c
}

// Finding 1: a stolen device cookie signs the thief in; when the owner's
// browser then shows the rotated-out token — at once, from a sign-in of its
// own — the device and the thief's grant end together.
func TestThiefDeviceGrantEndsWithReuse(t *testing.T) {
	h := newHarness(t)
	owner := h.rememberedBrowser()
	thief := owner.copyCookies().login("alice") // the cookie, and the password
	sent := h.fake.Count()
	want(t, "the thief, by the device", thief.get("/app/home"), http.StatusOK, "")
	if h.fake.Count() != sent {
		t.Fatal("the device sign-in sent an SMS")
	}
	owner.login("alice")
	want(t, "the owner, inside the grace", owner.get("/app/home"), http.StatusSeeOther, "/2fa")
	if n := h.eventCount(sms2fa.EventDeviceReuse); n != 1 {
		t.Fatalf("device_reuse events: %d, want 1", n)
	}
	for _, after := range []time.Duration{2 * time.Minute, 6 * time.Hour} {
		h.clock.Advance(after)
		want(t, fmt.Sprintf("the thief %v later", after), thief.get("/app/home"), http.StatusSeeOther, "/2fa")
	}
}

// Finding 1, the grace: the sign-in that rotated the token, showing the old
// one again (its answer lost), gets in and is handed the current token; the
// device makes one grant.
func TestLostRotationAnswerGetsTheTokenAgain(t *testing.T) {
	h := newHarness(t)
	c := h.rememberedBrowser().login("alice")
	lost := c.copyCookies() // the browser as it was before the answer came
	want(t, "signed in by the device", c.get("/app/home"), http.StatusOK, "")
	rotated := c.cookie("sms2fa_device")
	h.clock.Advance(10 * time.Second)
	want(t, "the same sign-in, the old token", lost.get("/app/home"), http.StatusOK, "")
	if got := lost.cookie("sms2fa_device"); got != rotated {
		t.Fatalf("handed %q, want the current token %q", got, rotated)
	}
	if n := h.eventCount(sms2fa.EventDeviceReuse); n != 0 {
		t.Fatalf("device_reuse events: %d", n)
	}
	if n := h.liveGrants("alice"); n != 1 {
		t.Fatalf("%d live grants, want the device's one", n)
	}
	h.clock.Advance(time.Minute)
	want(t, "the current token, later", c.copyCookies().get("/app/home"), http.StatusOK, "")
}

// Finding 2: a client that keeps the mark of a grant revoked elsewhere is
// not bounced between the route and /2fa, and a wrong code is never
// answered "verified".
func TestRevokedMarkNeverVerifiesAWrongCode(t *testing.T) {
	h := newHarness(t)
	a := h.signIn("alice", alicePhone)
	old := a.cookie("sms2fa_mark")
	// Another browser of alice's signs out everywhere.
	if _, err := h.guard.SignOutEverywhere(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	want(t, "a sensitive route", a.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	a.setCookie("sms2fa_mark", old) // kept anyway, as curl did
	want(t, "a guarded route, inside the recheck interval", a.get("/app/home"), http.StatusSeeOther, "/2fa")
	a.setCookie("sms2fa_mark", old)
	page := a.get("/2fa")
	wantPage(t, "the code page, not a bounce", page, "Enter your code")
	a.setCookie("sms2fa_mark", old)
	a.json = true
	r := a.postJSON("/2fa/verify", map[string]string{"code": h.wrong()})
	if m := r.decode(t); r.status != http.StatusUnprocessableEntity || m["error"] != "code_invalid" || m["verified"] != nil {
		t.Fatalf("a wrong code beside the kept mark: %d %s", r.status, r.body)
	}
	r = a.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)})
	if m := r.decode(t); r.status != http.StatusOK || m["verified"] != true {
		t.Fatalf("the right code: %d %s", r.status, r.body)
	}
	a.json = false
	want(t, "after the right code", a.get("/app/home"), http.StatusOK, "")
}

// Finding 3: a provider that echoes the number puts it in no log line,
// event or reported error, in any of its forms.
type numberEchoSender struct{ h *harness }

func (e numberEchoSender) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	e.h.fake.Send(ctx, m)
	digits := strings.TrimPrefix(m.To, "+")
	return contract.Receipt{ProviderID: "W2A-" + digits}, fmt.Errorf("400 INVALID_NUMBER: to=%s msisdn=%s local=0%s national=%s", m.To, digits, digits[2:], digits[2:])
}

func TestProviderEchoOfNumberIsScrubbed(t *testing.T) {
	h := newHarness(t)
	var (
		mu       sync.Mutex
		reported []error
	)
	g, err := sms2fa.New(h.cookies, h.store, numberEchoSender{h}, secret, h.currentUser, sms2fa.WithClock(h.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))),
		sms2fa.WithErrorHandler(func(_ *http.Request, err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))
	c.get("/app/home")
	const national = "9876543210"
	if strings.Contains(h.logs.String(), national) {
		t.Errorf("the log holds the number: %s", h.logs.String())
	}
	failed := 0
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventSendFailed {
			failed++
		}
		if e.Err != nil && strings.Contains(e.Err.Error(), national) || strings.Contains(fmt.Sprint(e), national) {
			t.Errorf("event %s holds the number: %v", e.Kind, e.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if failed == 0 || len(reported) == 0 {
		t.Fatalf("the failed send was not seen: %d send_failed events, %d reports", failed, len(reported))
	}
	for _, err := range reported {
		if strings.Contains(err.Error(), national) {
			t.Errorf("the error handler got the number: %v", err)
		}
	}
}

// Finding 4: a mark is its guard's: the same secret in another app, or a
// second guard of one app under another session name, does not take it.
func TestMarkBoundToItsGuard(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	// The same browser (the same app session, so the same user and
	// sign-in) on a second guard with the same secret, the first guard's
	// mark under the second's cookie name.
	other := c.copyCookies()
	other.base = h.instanceWith(sms2fa.WithSessionName("admin"))
	other.setCookie("admin_mark", c.cookie("sms2fa_mark"))
	want(t, "the first guard's mark on the second", other.get("/app/home"), http.StatusSeeOther, "/2fa")
}

// Finding 5: a browser that shows its device cookie without the mark, over
// and over, gets one grant; a replayed logout records its end once; and
// live grants are capped, the oldest revoked first.
func TestRowsDoNotGrowWithoutASend(t *testing.T) {
	h := newHarness(t)
	c := h.rememberedBrowser().login("alice")
	for i := range 200 {
		want(t, fmt.Sprintf("device request %d", i), c.get("/app/home"), http.StatusOK, "")
		c.setCookie("sms2fa_mark", "") // a client that never keeps it
	}
	if n := h.liveGrants("alice"); n != 1 {
		t.Fatalf("%d live grants after 200 device requests, want 1", n)
	}
	logout := c.copyCookies()
	for range 200 {
		want(t, "logout", logout.copyCookies().post("/logout", nil), http.StatusNoContent, "")
	}
	var ended int
	if err := tables(h.store).Get(&ended, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = 'alice' AND id LIKE 'ended-%'`); err != nil || ended > 1 {
		t.Fatalf("%d records of one ended sign-in, %v; want at most 1", ended, err)
	}
}

func TestLiveGrantsCapped(t *testing.T) {
	h := newHarness(t, sms2fa.WithMaxGrants(3))
	first := h.signIn("alice", alicePhone)
	for range 3 {
		h.clock.Advance(4 * time.Minute) // inside the send budgets
		h.signIn("alice", alicePhone)
	}
	if n := h.liveGrants("alice"); n != 3 {
		t.Fatalf("%d live grants, want the cap, 3", n)
	}
	want(t, "the oldest browser", first.get("/app/home"), http.StatusSeeOther, "/2fa")
	if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser, sms2fa.WithMaxGrants(-1)); err == nil {
		t.Fatal("a negative cap was accepted")
	}
}

// Finding 7: a device's expiry comes from the store's clock: an app
// instance whose clock is a month slow still remembers a device for 30 days.
func TestDeviceExpiryByTheStoreClock(t *testing.T) {
	h := newHarness(t)
	slow := h.client()
	slow.base = h.instanceWith(sms2fa.WithClock(func() time.Time { return h.clock.Now().Add(-31 * 24 * time.Hour) }))
	slow.login("alice")
	want(t, "guarded", slow.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "verify, remembered", slow.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	ds, err := h.guard.Devices(context.Background(), "alice")
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices: %+v, %v", ds, err)
	}
	if want := h.clock.Now().Add(30 * 24 * time.Hour); !ds[0].ExpiresAt.Equal(want) {
		t.Fatalf("the device expires at %v, want %v (30 days by the store's clock)", ds[0].ExpiresAt, want)
	}
}

// Finding 8: the right recovery code submitted twelve times at once by one
// browser signs it in once; the rest are "used", not failures.
func TestRecoveryCodeSubmittedTwice(t *testing.T) {
	h := newHarness(t)
	codes, err := h.guard.RegenerateRecoveryCodes(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req := c.postRequest("/2fa/recover", url.Values{"recovery_code": {codes[0]}})
			resp, err := c.http.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK: // the "you are signed in" page
			ok++
		case http.StatusSeeOther: // sent on
		default:
			t.Fatalf("statuses %v: want one sign-in, the rest sent on", statuses)
		}
	}
	if ok != 1 {
		t.Fatalf("statuses %v: want exactly one sign-in", statuses)
	}
	if k := h.eventCount(sms2fa.EventCodeInvalid) + h.eventCount(sms2fa.EventUserLocked); k != 0 {
		t.Fatalf("%d failures or locks from one right code", k)
	}
	want(t, "signed in", c.get("/app/home"), http.StatusOK, "")
	// JSON says so with a conflict, and where to go.
	d := h.client().login("alice")
	d.get("/app/home")
	d.json = true
	if r := d.postJSON("/2fa/recover", map[string]string{"recovery_code": codes[1]}); r.status != http.StatusOK {
		t.Fatalf("JSON recovery: %d %s", r.status, r.body)
	}
	d.setCookie("sms2fa_mark", "")
	d.get("/app/home") // pending again
	r := d.postJSON("/2fa/recover", map[string]string{"recovery_code": codes[1]})
	if m := r.decode(t); r.status != http.StatusConflict || m["error"] != "code_used" || m["redirect"] == nil {
		t.Fatalf("the same code again, JSON: %d %s", r.status, r.body)
	}
}

// Finding 9: a JSON enrolment refused by a send budget is 429 with
// Retry-After, as every other refusal.
func TestJSONEnrolmentRefusalIs429(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 1, Window: time.Hour})))
	const number = "+91 98111 22233"
	first := h.client().login("rita")
	first.json = true
	if r := first.postJSON("/2fa/enroll", map[string]string{"phone": number}); r.status != http.StatusAccepted {
		t.Fatalf("the first enrolment: %d %s", r.status, r.body)
	}
	second := h.client().login("rita")
	second.json = true
	r := second.postJSON("/2fa/enroll", map[string]string{"phone": number})
	if m := r.decode(t); r.status != http.StatusTooManyRequests || m["error"] != "send_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("an enrolment over the number's budget: %d %v %s", r.status, r.header, r.body)
	}
	// A browser sees the form again, saying why.
	third := h.client().login("rita")
	wantPage(t, "the form", third.post("/2fa/enroll", url.Values{"phone": {number}}), "Too many codes have been sent")
}

// Finding 10: the admin's unlock can empty the enrolled number's budget,
// which an attacker with the password could have drained.
func TestUnlockWithNumber(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 1, Window: 24 * time.Hour})))
	attacker := h.client().login("alice")
	want(t, "the attacker's code", attacker.get("/app/home"), http.StatusSeeOther, "/2fa")
	owner := h.client().login("alice")
	owner.json = true
	refused := func(what string, wantRefused bool) {
		t.Helper()
		r := owner.get("/app/home")
		m := r.decode(t)
		if got := m["reason"] == "send_limited"; got != wantRefused {
			t.Fatalf("%s: %d %s; want refused %v", what, r.status, r.body, wantRefused)
		}
	}
	refused("the owner, budget drained", true)
	if err := h.guard.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	refused("after a plain unlock", true)
	if err := h.guard.UnlockWithNumber(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	refused("after an unlock with the number", false)
}

// Finding 12: a user without recovery codes is offered them, never forced:
// no recovery link on the code page, a flag in the JSON verify, the account
// information says so, and a page makes a set.
func TestRecoveryCodesOffered(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	page := c.get("/2fa")
	wantPage(t, "the code page", page, "Enter your code")
	if strings.Contains(page.body, "/2fa/recover") {
		t.Fatal("the code page offers recovery to a user without codes")
	}
	c.json = true
	r := c.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)})
	if m := r.decode(t); r.status != http.StatusOK || m["verified"] != true || m["no_recovery_codes"] != true {
		t.Fatalf("JSON verify without codes: %d %s", r.status, r.body)
	}
	info, err := h.guard.Factor(context.Background(), "alice")
	if err != nil || !info.NoRecoveryCodes() {
		t.Fatalf("account information: %+v, %v; want NoRecoveryCodes", info, err)
	}
	c.json = false
	p := c.get("/2fa/recovery-codes?next=/app/settings")
	wantPage(t, "the recovery-codes page", p, "You have no recovery codes")
	if !strings.Contains(p.body, `action="/2fa/recovery-codes"`) || !strings.Contains(p.body, `value="/app/settings"`) {
		t.Fatalf("the page has no form making codes: %s", p.body)
	}
	made := c.post("/2fa/recovery-codes", url.Values{"next": {"/app/settings"}})
	if made.status != http.StatusOK || strings.Count(made.body, `class="recovery-code"`) != 10 || !strings.Contains(made.body, `href="/app/settings"`) {
		t.Fatalf("making codes: %d %.1500s", made.status, made.body)
	}
	if info, _ := h.guard.Factor(context.Background(), "alice"); info.NoRecoveryCodes() || info.RecoveryCodes != 10 {
		t.Fatalf("after making codes: %+v", info)
	}
	wantPage(t, "the page with codes", c.get("/2fa/recovery-codes"), "10 recovery codes left")
	// Now the code page offers them, and the JSON verify has no flag.
	d := h.client().login("alice")
	d.get("/app/home")
	if !strings.Contains(d.get("/2fa").body, "/2fa/recover") {
		t.Fatal("the code page does not offer recovery to a user with codes")
	}
	d.json = true
	if m := d.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)}).decode(t); m["no_recovery_codes"] != nil {
		t.Fatalf("JSON verify with codes: %v", m)
	}
	// Without a grant, the page asks for a code first, and comes back.
	e := h.client().login("alice")
	want(t, "the page, signed out", e.get("/2fa/recovery-codes"), http.StatusSeeOther, "/2fa")
}

// Finding 13: the step-up page says why a code is asked again.
func TestStepUpPageSaysWhy(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	h.clock.Advance(6 * time.Minute)
	want(t, "a sensitive route", c.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	wantPage(t, "the step-up page", c.get("/2fa"), templates.English().Messages.StepUpTitle)
	req, _ := http.NewRequest(http.MethodGet, c.base+"/2fa", nil)
	req.Header.Set("Accept-Language", "hi")
	hi := c.do(req)
	wantPage(t, "the step-up page in Hindi", hi, templates.Hindi().Messages.StepUpTitle)
	if strings.Contains(hi.body, templates.Hindi().Messages.Title) {
		t.Fatal("the Hindi step-up page has the sign-in title")
	}
}

// Finding 14: a UserFunc that panics (the app's session middleware not in
// front of the guard) is logged with the likely cause, then re-raised.
func TestUserFuncPanicNamesTheCause(t *testing.T) {
	h := newHarness(t)
	g, err := sms2fa.New(h.cookies, h.store, h.fake, secret, func(*http.Request) (sms2fa.User, bool) {
		panic("Key \"github.com/gin-contrib/sessions\" does not exist")
	}, sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Mount(mux)
	mux.Handle("GET /home", g.Require()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })))
	// The app's recovery middleware.
	recovering := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		mux.ServeHTTP(w, r)
	})
	c := h.client()
	c.base = newServer(t, recovering)
	want(t, "the panicking UserFunc", c.get("/home"), http.StatusInternalServerError, "")
	if !strings.Contains(h.logs.String(), "session middleware") {
		t.Fatalf("no line naming the likely cause: %s", h.logs.String())
	}
}

// Finding 2's rule, "/2fa never sends the browser back to the route that
// sent it there for a code", holds when the step-up code is refused too: a
// spent budget (or a lock) is answered with its message, never with a loop
// between the route and /2fa.
func TestRefusedStepUpDoesNotLoop(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithUserLimit(sms.Rate{Limit: 1, Window: time.Hour})))
	c := h.signIn("alice", alicePhone)
	h.clock.Advance(6 * time.Minute)
	for i := range 3 {
		r := c.get("/secure/transfer")
		if r.status == http.StatusSeeOther {
			if next := c.get(r.location()); next.status == http.StatusSeeOther && next.location() == "/secure/transfer" {
				t.Fatalf("round %d: the route and %s send the browser to each other", i, r.location())
			}
			continue
		}
		wantPage(t, "the refused step-up", r, "Too many codes have been sent")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("no Retry-After on the refusal: %v", r.header)
		}
	}
	c.json = true
	r := c.get("/secure/transfer")
	if m := r.decode(t); r.status != http.StatusUnauthorized || m["reason"] != "send_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("JSON: %d %v %s", r.status, r.header, r.body)
	}
}

// A remembered device that signs a browser in again after its grant expired
// leaves no guard session behind for every later request to read.
func TestDeviceSignInLeavesNoSession(t *testing.T) {
	h := newHarness(t)
	c := h.rememberedBrowser().login("alice")
	want(t, "signed in by the device", c.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(13 * time.Hour) // past the grant's lifetime
	want(t, "the device again, the grant expired", c.get("/app/home"), http.StatusOK, "")
	if v := c.cookie("sms2fa"); v != "" {
		t.Fatalf("the guard's session stays behind (%d bytes): every verified request would read it", len(v))
	}
	want(t, "after", c.get("/app/home"), http.StatusOK, "")
}
