package sms2fa_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/store"
)

const (
	carolPhone = "+919812300000" // the number carol enrols
	newPhone   = "+919812311111" // a number alice moves to
)

// recoveryCodes reads the recovery codes off the page that shows them.
var recoveryCodeRE = regexp.MustCompile(`<li class="recovery-code">([0-9a-z]{5}-[0-9a-z]{5})</li>`)

func codesOn(t testing.TB, r response) []string {
	t.Helper()
	var codes []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(r.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes on the page: %.1500s", len(codes), r.body)
	}
	return codes
}

// A required user without a number is sent to enrol; the number is proved
// with a code sent to it; the right code saves it, signs the user in and
// shows ten recovery codes once; then on to where the user was going.
func TestEnrolment(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("rita")
	want(t, "guarded", c.get("/app/report"), http.StatusSeeOther, "/2fa/enroll")
	form := c.get("/2fa/enroll")
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="phone"`) || !strings.Contains(form.body, `autocomplete="tel"`) {
		t.Fatalf("enrol form: %d %.500s", form.status, form.body)
	}
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || form.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the enrol form's headers: CSP %q, Cache-Control %q", csp, form.header.Get("Cache-Control"))
	}
	refused := c.post("/2fa/enroll", url.Values{"phone": {"12345"}})
	wantPage(t, "not a mobile number", refused, "We cannot send a code to that number")
	wantPage(t, "the refused number, kept in the field", refused, `value="12345"`)
	want(t, "enrol", c.post("/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}), http.StatusSeeOther, "/2fa")
	m, ok := h.fake.Last(carolPhone)
	if !ok || m.Purpose != "account_verification" {
		t.Fatalf("enrolment code: %+v %v", m, ok)
	}
	wantPage(t, "code page", c.get("/2fa"), "+91 ••••••0000")
	r := c.verify(m.Code)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("after the code: %d %q", r.status, r.header.Get("Cache-Control"))
	}
	codes := codesOn(t, r)
	if !strings.Contains(r.body, `href="/app/report"`) {
		t.Fatalf("no way on to /app/report: %.1500s", r.body)
	}
	want(t, "signed in", c.get("/app/report"), http.StatusOK, "")
	// The codes are all different.
	seen := map[string]bool{}
	for _, code := range codes {
		seen[code] = true
	}
	if len(seen) != 10 {
		t.Fatalf("codes repeat: %v", codes)
	}
	if h.eventCount(sms2fa.EventFactorEnrolled) != 1 {
		t.Fatalf("factor_enrolled events: %d", h.eventCount(sms2fa.EventFactorEnrolled))
	}
	// The number is the store's now: a new sign-in sends to it.
	d := h.client().login("rita")
	want(t, "a later sign-in", d.get("/app/home"), http.StatusSeeOther, "/2fa")
	if m2, _ := h.fake.Last(carolPhone); m2.Code == m.Code || m2.Purpose != "login" {
		t.Fatalf("later sign-in code: %+v", m2)
	}
}

// The app's number is adopted once; after that the store's number wins and a
// different User.Phone is reported once.
func TestFactorAdoptionAndMismatch(t *testing.T) {
	h := newHarness(t)
	h.signIn("alice", alicePhone)
	h.movePhone("alice", "+91 98123 45678")
	c := h.client().login("alice")
	c.get("/app/home")
	if _, ok := h.fake.Last(bobPhone); ok {
		t.Fatal("a code went to the app's new number instead of the enrolled one")
	}
	c.get("/app/other")
	if n := h.eventCount(sms2fa.EventPhoneMismatch); n != 1 {
		t.Fatalf("phone_mismatch events: %d, want 1", n)
	}
	if n := h.eventCount(sms2fa.EventFactorAdopted); n != 1 {
		t.Fatalf("factor_adopted events: %d, want 1", n)
	}
	// Moving it is the app's call.
	if err := h.guard.EnrolFactor(context.Background(), "alice", "+91 98123 45678"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	h.client().login("alice").get("/app/home")
	if _, ok := h.fake.Last(bobPhone); !ok {
		t.Fatal("after EnrolFactor the code did not go to the new number")
	}
}

// Changing the number needs a fresh factor (a step-up to the current number
// when the last code is older), sends the new code to the new number, and on
// success revokes every other grant and forgets every remembered device;
// the recovery codes stay.
func TestNumberChange(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.guard.RegenerateRecoveryCodes(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	c := h.signIn("alice", alicePhone)
	other := h.signIn("alice", alicePhone)
	// A third browser is remembered.
	d := h.client().login("alice")
	d.get("/app/home")
	want(t, "remembered", d.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	if devices, err := h.guard.Devices(ctx, "alice"); err != nil || len(devices) != 1 {
		t.Fatalf("devices before the change: %v, %v", devices, err)
	}
	h.clock.Advance(11 * time.Minute) // the sign-in's code is no longer fresh
	form := c.get("/2fa/enroll")
	if !strings.Contains(form.body, "Change your phone number") {
		t.Fatalf("change form: %.500s", form.body)
	}
	want(t, "change, stale", c.post("/2fa/enroll", url.Values{"phone": {newPhone}}), http.StatusSeeOther, "/2fa")
	up, _ := h.fake.Last(alicePhone)
	if up.Purpose != "transaction" {
		t.Fatalf("step-up first, to the current number: %+v", up)
	}
	want(t, "step-up", c.verify(up.Code), http.StatusSeeOther, "/2fa/enroll")
	req := c.postRequest("/2fa/enroll", url.Values{"phone": {newPhone}})
	req.Header.Set("Referer", c.base+"/app/account")
	want(t, "change, fresh", c.do(req), http.StatusSeeOther, "/2fa")
	m, ok := h.fake.Last(newPhone)
	if !ok || m.Purpose != "profile_update" {
		t.Fatalf("code to the new number: %+v %v", m, ok)
	}
	r := c.verify(m.Code)
	if r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), "+91 ••••••1111") {
		t.Fatalf("after the change: %d %.800s", r.status, r.body)
	}
	want(t, "this browser", c.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(time.Minute)
	want(t, "the other browser", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.eventCount(sms2fa.EventFactorChanged) != 1 {
		t.Fatalf("factor_changed events: %d", h.eventCount(sms2fa.EventFactorChanged))
	}
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventFactorChanged && (e.OldPhone != "+91 ••••••3210" || e.Phone != "+91 ••••••1111") {
			t.Fatalf("factor_changed: %+v", e)
		}
	}
	if devices, err := h.guard.Devices(ctx, "alice"); err != nil || len(devices) != 0 {
		t.Fatalf("devices after the change: %v, %v; want none", devices, err)
	}
	if info, err := h.guard.Factor(ctx, "alice"); err != nil || info.RecoveryCodes != 10 {
		t.Fatalf("recovery codes after the change: %+v, %v; want all 10", info, err)
	}
	// The same number again is refused.
	wantPage(t, "same number", c.post("/2fa/enroll", url.Values{"phone": {newPhone}}), "already your number")
}

// A right recovery code signs in (how "recovery") and says how many are
// left; a used one does not work again; of parallel uses of one code exactly
// one wins; wrong ones count towards the lockout.
func TestRecoveryCodes(t *testing.T) {
	h := newHarness(t, sms2fa.WithLockout(4, time.Hour, time.Hour))
	codes, err := h.guard.RegenerateRecoveryCodes(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.get("/app/home")
	page := c.get("/2fa")
	if !strings.Contains(page.body, `href="/2fa/recover"`) {
		t.Fatal("the code page does not link to the recovery form")
	}
	form := c.get("/2fa/recover")
	if !strings.Contains(form.body, `name="recovery_code"`) {
		t.Fatalf("recover form: %.500s", form.body)
	}
	// Upper case, spaces, no dash: still the code.
	typed := strings.ToUpper(strings.Replace(codes[0], "-", " ", 1))
	r := c.post("/2fa/recover", url.Values{"recovery_code": {typed}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "9 recovery codes left") {
		t.Fatalf("recover: %d %.800s", r.status, r.body)
	}
	want(t, "signed in", c.get("/app/home"), http.StatusOK, "")
	d := h.client().login("alice")
	wantPage(t, "a used code", d.post("/2fa/recover", url.Values{"recovery_code": {codes[0]}}), "not right")

	// Parallel uses of one code: exactly one browser gets in.
	var wg sync.WaitGroup
	wins := make(chan struct{}, 20)
	for range 20 {
		b := h.client().login("alice")
		b.json = true
		wg.Go(func() {
			if r := b.postJSON("/2fa/recover", map[string]string{"recovery_code": codes[1]}); r.status == http.StatusOK {
				wins <- struct{}{}
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d parallel uses of one code won", len(wins))
	}
	// The 19 losers counted as failures: the user is locked now.
	e := h.client().login("alice")
	e.json = true
	if r := e.postJSON("/2fa/recover", map[string]string{"recovery_code": codes[2]}); r.status != http.StatusTooManyRequests || r.decode(t)["error"] != "locked" {
		t.Fatalf("after 19 wrong uses: %d %s", r.status, r.body)
	}
	// One lock, one user_locked event: tries while locked are not new locks.
	if n := h.eventCount(sms2fa.EventUserLocked); n != 1 {
		t.Fatalf("user_locked events: %d, want 1", n)
	}
}

// Remember this device: the next sign-in of the same user in that browser
// needs no SMS; the token rotates; a rotated-out copy shown later revokes the
// device; a logged-out sign-in's copy stays dead; a number change forgets it.
func TestRememberedDevice(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	if page := c.get("/2fa"); !strings.Contains(page.body, `name="remember"`) {
		t.Fatal("no remember checkbox on the code page")
	}
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	devices, err := h.guard.Devices(context.Background(), "alice")
	if err != nil || len(devices) != 1 {
		t.Fatalf("devices: %v, %v", devices, err)
	}
	// A new sign-in in the same browser: no SMS.
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	stolen := c.copyCookies() // the device cookie included, as it stands now
	c.login("alice")
	sent := h.fake.Count()
	want(t, "sign in on the device", c.get("/app/home"), http.StatusOK, "")
	if h.fake.Count() != sent {
		t.Fatal("a remembered device was sent an SMS")
	}
	// The stolen copy holds the rotated-out token: after the grace, it
	// revokes the device.
	h.clock.Advance(time.Minute)
	stolen.login("alice")
	want(t, "the stolen copy", stolen.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.eventCount(sms2fa.EventDeviceReuse) != 1 {
		t.Fatalf("device_reuse events: %d", h.eventCount(sms2fa.EventDeviceReuse))
	}
	c.post("/logout", nil)
	c.login("alice")
	want(t, "the revoked device", c.get("/app/home"), http.StatusSeeOther, "/2fa")
}

// changeFirst is the harness's real store, except that the next factor read
// is preceded by change: an admin's or another tab's action landing between
// two store calls of one request.
type changeFirst struct {
	*store.SQL
	mu     sync.Mutex
	change func(context.Context) // run once, before the next Factor
}

func (s *changeFirst) Factor(ctx context.Context, userID string) (contract.Factor, error) {
	s.mu.Lock()
	change := s.change
	s.change = nil
	s.mu.Unlock()
	if change != nil {
		change(ctx)
	}
	return s.SQL.Factor(ctx, userID)
}

// verifyRacing signs alice in, on a guard over changeFirst, up to a right
// code with "remember this device" ticked, and has change(g) land between
// that verify and the factor read that follows it. It returns the browser.
func verifyRacing(t *testing.T, h *harness, change func(context.Context, *sms2fa.Guard) error) *client {
	t.Helper()
	st := &changeFirst{SQL: h.store}
	g := h.newGuard(st, h.opts...)
	srv := httptest.NewServer(h.app(g))
	t.Cleanup(srv.Close)
	c := h.client()
	c.base = srv.URL
	c.login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	code := h.code(alicePhone)
	st.mu.Lock()
	st.change = func(ctx context.Context) {
		if err := change(ctx, g); err != nil {
			t.Errorf("the change between verify and factor read: %v", err)
		}
	}
	st.mu.Unlock()
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {code}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	st.mu.Lock()
	staged := st.change == nil
	st.mu.Unlock()
	if !staged {
		t.Fatal("the verify read no factor: the race this test stages never happened")
	}
	return c
}

// A code to the old number does not remember a device under the new one:
// the guard reads the factor after the verify, and a number changed in
// between must not hand the device the new number's version.
func TestRememberedDeviceAfterANumberChange(t *testing.T) {
	h := newHarness(t)
	c := verifyRacing(t, h, func(ctx context.Context, _ *sms2fa.Guard) error {
		_, _, err := h.store.SetFactor(ctx, "alice", newPhone, "IN")
		return err
	})
	if ds, err := h.guard.Devices(context.Background(), "alice"); err != nil || len(ds) != 0 {
		t.Fatalf("a device remembered from a code to the replaced number: %+v, %v", ds, err)
	}
	// The next sign-in in this browser is sent a code, to the new number.
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	c.login("alice")
	h.movePhone("alice", newPhone)
	sent := h.fake.Count()
	want(t, "sign in again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != sent+1 {
		t.Fatalf("%d codes sent for the sign-in after the change, want 1", h.fake.Count()-sent)
	}
}

// A sign-out everywhere that lands between the right code and remembering
// the device leaves no device behind: AddDevice needs the sign-in's grant
// live.
func TestSignOutEverywhereBeforeTheDeviceIsRemembered(t *testing.T) {
	h := newHarness(t)
	c := verifyRacing(t, h, func(ctx context.Context, g *sms2fa.Guard) error {
		_, err := g.SignOutEverywhere(ctx, "alice")
		return err
	})
	if ds, err := h.guard.Devices(context.Background(), "alice"); err != nil || len(ds) != 0 {
		t.Fatalf("a device remembered from a sign-in revoked meanwhile: %+v, %v", ds, err)
	}
	h.clock.Advance(time.Minute) // the recheck interval
	c.login("alice")
	want(t, "the next sign-in", c.get("/app/home"), http.StatusSeeOther, "/2fa")
}

// A remembered device never counts as a fresh factor: a sensitive route
// sends a code even to a browser the device would sign in.
func TestRememberedDeviceIsNeverFresh(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	c.login("alice")
	sent := h.fake.Count()
	want(t, "a sensitive route first", c.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != sent+1 {
		t.Fatal("the remembered device stood in for a fresh code")
	}
	// The device still signs in to ordinary routes.
	d := h.client()
	u, _ := url.Parse(c.base)
	d.http.Jar.SetCookies(u, c.http.Jar.Cookies(u))
	d.login("alice")
	want(t, "an ordinary route", d.get("/app/home"), http.StatusOK, "")
}

// A user whose app-given number can never be adopted (not a mobile number)
// enrols one through the form rather than being asked to change it.
func TestEnrolOverAnUnusableNumber(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("nobody-phone") // the app says "12345"
	form := c.get("/2fa/enroll")
	if !strings.Contains(form.body, "Add your phone number") {
		t.Fatalf("the form: %.600s", form.body)
	}
	want(t, "enrol", c.post("/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}), http.StatusSeeOther, "/2fa")
	m, ok := h.fake.Last(carolPhone)
	if !ok || m.Purpose != "account_verification" {
		t.Fatalf("code: %+v %v", m, ok)
	}
	if r := c.verify(m.Code); r.status != http.StatusOK || len(codesOn(t, r)) != 10 {
		t.Fatalf("after the code: %d", r.status)
	}
	want(t, "signed in", c.get("/app/home"), http.StatusOK, "")
}

// A logout from a browser whose grant had expired still ends the sign-in: a
// copy of its cookies, remembered device included, cannot sign in again.
func TestLogoutAfterExpiryEndsTheSignIn(t *testing.T) {
	h := newHarness(t, sms2fa.WithGrantLifetime(time.Hour))
	c := h.client().login("alice")
	c.get("/app/home")
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	h.clock.Advance(2 * time.Hour) // the grant has expired; the mark is dead
	stolen := c.copyCookies()
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	sent := h.fake.Count()
	want(t, "the copy", stolen.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != sent+1 {
		t.Fatal("the copy was not asked for a code")
	}
}

// A logout ends the whole sign-in, not only the grant this browser's mark
// names: a thief who copied the cookies, dropped the mark and let the
// remembered device sign the same sign-in in again holds a grant of its own,
// and the owner's logout revokes it too.
func TestLogoutEndsGrantsMadeFromACopy(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	thief := c.copyCookies()
	u, _ := url.Parse(thief.base)
	thief.http.Jar.SetCookies(u, []*http.Cookie{{Name: "sms2fa_mark", Value: "", Path: "/", MaxAge: -1}})
	sent := h.fake.Count()
	want(t, "the copy signs in on the device", thief.get("/app/home"), http.StatusOK, "")
	if h.fake.Count() != sent {
		t.Fatal("the copy was sent a code: the device did not sign it in")
	}
	want(t, "the owner's logout", c.post("/logout", nil), http.StatusNoContent, "")
	h.clock.Advance(time.Minute) // the recheck interval
	want(t, "the copy after the logout", thief.get("/app/home"), http.StatusSeeOther, "/2fa")
	var revoked int
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventGrantRevoked {
			revoked += e.Count
		}
	}
	if revoked != 2 {
		t.Fatalf("grants revoked by the logout: %d, want 2 (the owner's and the copy's)", revoked)
	}
}

// The account actions — new recovery codes, forgetting a device, removing
// the number — need a fresh factor: a step-up first when the last code is
// older than 10 minutes, then back to the page the form was on.
func TestFreshAccountActions(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	want(t, "verify, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	from := func(path string) response {
		req := c.postRequest(path, nil)
		req.Header.Set("Referer", c.base+"/app/account")
		return c.do(req)
	}
	if r := from("/2fa/recovery-codes"); r.status != http.StatusOK || len(codesOn(t, r)) != 10 {
		t.Fatalf("fresh: new codes: %d", r.status)
	}
	h.clock.Advance(11 * time.Minute)
	devices, err := h.guard.Devices(context.Background(), "alice")
	if err != nil || len(devices) != 1 {
		t.Fatalf("devices: %v, %v", devices, err)
	}
	revoke := "/2fa/devices/" + devices[0].ID + "/revoke"
	want(t, "stale: forget a device", from(revoke), http.StatusSeeOther, "/2fa")
	up, _ := h.fake.Last(alicePhone)
	if up.Purpose != "transaction" {
		t.Fatalf("the step-up code: %+v", up)
	}
	want(t, "step-up", c.verify(up.Code), http.StatusSeeOther, "/app/account")
	want(t, "fresh: forget it", from(revoke), http.StatusSeeOther, "/app/account")
	if ds, _ := h.guard.Devices(context.Background(), "alice"); len(ds) != 0 {
		t.Fatalf("the device is still remembered: %+v", ds)
	}
	want(t, "fresh: remove the number", from("/2fa/remove"), http.StatusSeeOther, "/app/account")
	if info, err := h.guard.Factor(context.Background(), "alice"); err != nil || info.Enrolled {
		t.Fatalf("after removing: %+v, %v", info, err)
	}
	// Cross-site, none of them goes through.
	req := c.postRequest("/2fa/recovery-codes", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := c.do(req); r.status != http.StatusForbidden {
		t.Fatalf("a cross-site action: %d", r.status)
	}
}

// When the number the app hands is no longer the enrolled one, the guard's
// one-call try falls back to reading the factor, and leaves the session as
// it found it: a locked user whose number was removed is still sent to
// enrol, and after enrolling lands where it was going.
func TestFallbackFromTheFactorCheck(t *testing.T) {
	h := newHarness(t, sms2fa.WithLockout(1, time.Hour, time.Hour))
	h.signIn("alice", alicePhone)
	// One wrong code locks alice.
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	c.verify(h.wrong())
	if _, err := h.store.RemoveFactor(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	d := h.client().login("alice")
	want(t, "locked, number removed", d.get("/app/report"), http.StatusSeeOther, "/2fa/enroll")
	h.guard.Unlock(context.Background(), "alice")
	want(t, "enrol", d.post("/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}), http.StatusSeeOther, "/2fa")
	m, ok := h.fake.Last(carolPhone)
	if !ok {
		t.Fatal("no enrolment code")
	}
	if r := d.verify(m.Code); !strings.Contains(r.body, `href="/app/report"`) {
		t.Fatalf("after enrolling, no way on to /app/report: %d %.1500s", r.status, r.body)
	}
}

// A number change asked for by a browser that has not completed the code
// step yet goes through it first and comes back to the form, even when its
// session already waits on a code for another page.
func TestChangeBeforeSignInComesBack(t *testing.T) {
	h := newHarness(t)
	h.signIn("alice", alicePhone)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "change without a grant", c.post("/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}), http.StatusSeeOther, "/2fa")
	want(t, "the code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/2fa/enroll")
}

// With three recovery codes or fewer left, the page after a recovery code
// says to make new ones; with more, it does not.
func TestFewRecoveryCodesLeft(t *testing.T) {
	h := newHarness(t)
	codes, err := h.guard.RegenerateRecoveryCodes(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range codes[:7] {
		c := h.client().login("alice")
		r := c.post("/2fa/recover", url.Values{"recovery_code": {code}})
		left := len(codes) - i - 1
		warned := strings.Contains(r.body, "Few recovery codes are left")
		if r.status != http.StatusOK || warned != (left <= 3) {
			t.Fatalf("with %d left: %d, warned %v: %.600s", left, r.status, warned, r.body)
		}
	}
}
