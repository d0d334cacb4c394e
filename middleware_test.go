package sms2fa_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
)

func TestWholeFlow(t *testing.T) {
	h := newHarness(t)
	c := h.client()

	want(t, "nobody signed in", c.get("/app/dashboard"), http.StatusSeeOther, "/login")
	c.login("alice")
	want(t, "guarded route", c.get("/app/dashboard?tab=2"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != 1 {
		t.Fatalf("sent %d messages, want 1", h.fake.Count())
	}
	m, _ := h.fake.Last(alicePhone)
	if m.Content != contract.ContentOTP || m.Purpose != "login" || len(m.Code) != 6 {
		t.Fatalf("message = %+v", m)
	}

	page := c.get("/2fa")
	want(t, "code page", page, http.StatusOK, "")
	for _, s := range []string{
		"+91 ••••••3210", `name="code"`, `autocomplete="one-time-code"`, `inputmode="numeric"`, "autofocus",
		`<label for="code">`, `aria-live=`, `action="/2fa/verify"`, `action="/2fa/resend"`, "disabled", `data-wait="30"`,
	} {
		if !strings.Contains(html.UnescapeString(page.body), s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("page CSP = %q", csp)
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if got := page.header.Get(k); got != v {
			t.Errorf("page %s = %q, want %q", k, got, v)
		}
	}
	if strings.Contains(page.body, m.Code) {
		t.Fatal("the page shows the code")
	}

	want(t, "right code", c.verify(m.Code), http.StatusSeeOther, "/app/dashboard?tab=2")
	r := c.get("/app/dashboard")
	want(t, "after verification", r, http.StatusOK, "")
	if r.body != "hello alice at /dashboard" {
		t.Fatalf("body = %q (UserID accessor)", r.body)
	}
	want(t, "code page when verified", c.get("/2fa"), http.StatusSeeOther, "/")
	if h.eventCount(sms2fa.EventCodeSent) != 1 || h.eventCount(sms2fa.EventVerified) != 1 {
		t.Fatalf("events: %+v", h.allEvents())
	}
}

func TestReloadSendsNoSecondSMS(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	for range 3 {
		want(t, "guarded", c.get("/app/a"), http.StatusSeeOther, "/2fa")
		want(t, "page", c.get("/2fa"), http.StatusOK, "")
	}
	// Concurrent reloads of one session share its one challenge too.
	d := h.client().login("bob")
	d.get("/app/b")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); d.get("/app/b") }()
	}
	wg.Wait()
	d.get("/2fa")
	if n := len(h.fake.Messages()); n != 2 {
		t.Fatalf("sent %d messages for two sessions, want 2", n)
	}
}

func TestCodeIsSingleUseUnderParallelSubmits(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	code := h.code(alicePhone)
	// Every request carries the same cookies, taken before any of them is
	// answered, as a double-clicking browser would send them.
	u, _ := url.Parse(h.srv.URL)
	cookies := c.http.Jar.Cookies(u)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := c.postRequest("/2fa/verify", url.Values{"code": {code}})
			req.Header.Set("Accept", "application/json")
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			won++
		case http.StatusConflict: // code_used
		default:
			t.Fatalf("status %d among %v", s, statuses)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d parallel right codes succeeded: %v", won, n, statuses)
	}
}

func TestParallelWrongGuessesAreAllCounted(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithMaxAttempts(40)), sms2fa.WithLockout(100, time.Minute, time.Hour))
	c := h.client().login("alice")
	c.json = true
	c.get("/app/home")
	wrong := h.wrong()
	const n = 30
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); c.postJSON("/2fa/verify", map[string]string{"code": wrong}) }()
	}
	wg.Wait()
	if got := h.attempts("alice"); got != n {
		t.Fatalf("%d parallel wrong codes counted %d attempts", n, got)
	}
	if got := h.eventCount(sms2fa.EventCodeInvalid); got != n {
		t.Fatalf("%d code_invalid events, want %d", got, n)
	}
	r := c.postJSON("/2fa/verify", map[string]string{"code": wrong})
	want(t, "one more", r, http.StatusUnprocessableEntity, "")
	if left := jsonInt(t, r.decode(t), "attempts_left"); left != 40-n-1 {
		t.Fatalf("attempts_left = %d", left)
	}
}

func TestNoMoreThanMaxAttemptsChecked(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	wrong := h.wrong()
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() { defer wg.Done(); c.verify(wrong) }()
	}
	wg.Wait()
	if got := h.attempts("alice"); got != 5 {
		t.Fatalf("attempts = %d, want the maximum, 5", got)
	}
	r := c.verify(h.code(alicePhone))
	wantPage(t, "right code on a dead challenge", r, "Too many wrong codes for this one")
	if strings.Contains(r.body, `name="code"`) {
		t.Fatalf("dead challenge page: %s", r.body)
	}
	if h.eventCount(sms2fa.EventChallengeDead) != 1 {
		t.Fatalf("challenge_dead events: %d", h.eventCount(sms2fa.EventChallengeDead))
	}
	// A new code can be asked for at once, and it works.
	want(t, "resend", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	want(t, "new code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

func TestWrongCodeShowsAttemptsLeft(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	r := c.verify(h.wrong())
	wantPage(t, "wrong code", r, "That code is not right. 4 attempts left.")
	if !strings.Contains(r.body, `role="alert"`) {
		t.Fatalf("wrong-code page: %s", r.body)
	}
	r = c.verify("12ab56")
	wantPage(t, "malformed code", r, "Enter the 6 digits")
	if h.attempts("alice") != 1 {
		t.Fatalf("malformed code: counted %d, page %s", h.attempts("alice"), r.body)
	}
	// People type spaces and dashes.
	code := h.code(alicePhone)
	want(t, "spaced code", c.verify(code[:3]+" - "+code[3:]), http.StatusSeeOther, "/app/home")
}

func TestCodeOfOneUserNeverVerifiesAnother(t *testing.T) {
	h := newHarness(t)
	alice := h.client().login("alice")
	alice.get("/app/home")
	aliceCode := h.code(alicePhone)
	bob := h.client().login("bob")
	bob.get("/app/home")
	for h.code(bobPhone) == aliceCode { // one in a million: draw bob another code
		h.clock.Advance(time.Hour)
		bob.post("/2fa/resend", nil)
	}
	wantPage(t, "alice's code in bob's session", bob.verify(aliceCode), "That code is not right")

	// Bob steals alice's whole 2FA session cookie: his first factor still
	// says bob, and alice's challenge belongs to alice.
	u, _ := url.Parse(h.srv.URL)
	for _, ck := range alice.http.Jar.Cookies(u) {
		if ck.Name == "sms2fa" {
			bob.http.Jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	r := bob.verify(aliceCode)
	if r.status == http.StatusSeeOther && r.location() != "/2fa" {
		t.Fatalf("bob verified with alice's code and session: %d %s", r.status, r.location())
	}
	want(t, "bob still guarded", bob.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "alice unaffected", alice.verify(aliceCode), http.StatusSeeOther, "/app/home")

	// A second factor completed by alice does not count for bob.
	for _, ck := range alice.http.Jar.Cookies(u) {
		if ck.Name == "sms2fa" {
			bob.http.Jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	want(t, "alice's mark in bob's browser", bob.get("/app/home"), http.StatusSeeOther, "/2fa")
}

func TestExpiry(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	code := h.code(alicePhone)
	h.clock.Advance(5 * time.Minute)
	r := c.verify(code)
	wantPage(t, "expired code", r, "This code has expired")
	if !strings.Contains(r.body, `action="/2fa/resend"`) {
		t.Fatalf("expired page: %s", r.body)
	}
	if p := c.get("/2fa"); !strings.Contains(p.body, "This code has expired") || strings.Contains(p.body, `name="code"`) {
		t.Fatalf("page after expiry: %s", p.body)
	}
	want(t, "resend", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	if p := c.get("/2fa?sent=1"); !strings.Contains(p.body, "A new code is on its way") {
		t.Fatalf("page after resend: %s", p.body)
	}
	wantPage(t, "old code", c.verify(code), "That code is not right")
	want(t, "new code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

func TestLockout(t *testing.T) {
	h := newHarness(t, sms2fa.WithLockout(3, 15*time.Minute, time.Hour))
	c := h.client().login("alice")
	c.get("/app/home")
	wrong := h.wrong()
	c.verify(wrong)
	c.verify(wrong)
	r := c.verify(wrong)
	wantPage(t, "third failure", r, "Too many wrong codes. Try again in 15 min.")
	if r.header.Get("Retry-After") != "900" {
		t.Fatalf("lock answer: %v", r.header)
	}
	wantPage(t, "right code while locked", c.verify(h.code(alicePhone)), "Try again in 15 min")
	if h.attempts("alice") != 3 {
		t.Fatalf("a locked verify was counted: %d", h.attempts("alice"))
	}
	// Another session of the same user is locked too, and gets no SMS.
	sent := h.fake.Count()
	d := h.client().login("alice")
	want(t, "other session", d.get("/app/home"), http.StatusSeeOther, "/2fa")
	if p := d.get("/2fa"); !strings.Contains(p.body, "Try again in 15 min") || strings.Contains(p.body, `name="code"`) {
		t.Fatalf("locked page: %s", p.body)
	}
	if h.fake.Count() != sent {
		t.Fatal("an SMS was sent to a locked user")
	}
	if h.eventCount(sms2fa.EventUserLocked) != 1 {
		t.Fatalf("user_locked events: %d", h.eventCount(sms2fa.EventUserLocked))
	}
	h.clock.Advance(15 * time.Minute)
	want(t, "after the lock", d.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "verify after the lock", d.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

func TestResendCooldown(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.json = true
	r := c.get("/app/home")
	want(t, "guarded", r, http.StatusUnauthorized, "")
	if jsonInt(t, r.decode(t), "resend_in") != 30 {
		t.Fatalf("resend_in: %s", r.body)
	}
	first := h.code(alicePhone)
	r = c.postJSON("/2fa/resend", nil)
	want(t, "resend at once", r, http.StatusTooManyRequests, "")
	if r.header.Get("Retry-After") != "30" || r.decode(t)["error"] != "resend_too_soon" {
		t.Fatalf("cooldown answer: %v %s", r.header, r.body)
	}
	if h.fake.Count() != 1 {
		t.Fatal("a resend inside the cooldown sent an SMS")
	}
	h.clock.Advance(30 * time.Second)
	r = c.postJSON("/2fa/resend", nil)
	want(t, "resend after 30 s", r, http.StatusOK, "")
	if jsonInt(t, r.decode(t), "resend_in") != 60 {
		t.Fatalf("the cooldown did not double: %s", r.body)
	}
	h.clock.Advance(59 * time.Second)
	r = c.postJSON("/2fa/resend", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("second cooldown: %d %v", r.status, r.header)
	}
	want(t, "old code", c.postJSON("/2fa/verify", map[string]string{"code": first}), http.StatusUnprocessableEntity, "")
	want(t, "new code", c.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)}), http.StatusOK, "")
	if h.eventCount(sms2fa.EventCodeResent) != 1 {
		t.Fatalf("code_resent events: %d", h.eventCount(sms2fa.EventCodeResent))
	}
}

func TestRedirectsStaySameOrigin(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithPhoneLimit()))
	for _, evil := range []string{"//evil.example/x", "/\\evil.example", "https://evil.example/", "/\t/evil.example", "javascript:alert(1)", ""} {
		t.Run(fmt.Sprintf("%q", evil), func(t *testing.T) {
			c := h.client().login("alice")
			c.get("/app/home")
			// Plant the remembered path as if an attacker could write the
			// session: the guard still refuses to leave the site.
			forged := h.forgeNext(c, evil)
			r := c.verify(h.code(alicePhone))
			want(t, "verify "+forged, r, http.StatusSeeOther, "/")
		})
	}
	// A next= parameter is never read.
	c := h.client().login("bob")
	c.get("/app/home?next=https://evil.example")
	r := c.post("/2fa/verify?next=https://evil.example", url.Values{"code": {h.code(bobPhone)}})
	want(t, "verify with next=", r, http.StatusSeeOther, "/app/home?next=https://evil.example")
}

// forgeNext rewrites the client's guard session with next set to path, using
// the test's own session keys.
func (h *harness) forgeNext(c *client, path string) string {
	h.t.Helper()
	u, _ := url.Parse(h.srv.URL)
	req := &http.Request{Header: http.Header{}}
	for _, ck := range c.http.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	s, err := h.cookies.New(req, "sms2fa")
	if err != nil {
		h.t.Fatal(err)
	}
	s.Values["next"] = path
	rec := &headerRecorder{h: http.Header{}}
	if err := s.Save(req, rec); err != nil {
		h.t.Fatal(err)
	}
	resp := http.Response{Header: rec.h}
	c.http.Jar.SetCookies(u, resp.Cookies())
	return path
}

type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(int)             {}

func TestCrossSitePOSTRefused(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	code := h.code(alicePhone)
	for name, set := range map[string]func(*http.Request){
		"foreign origin": func(r *http.Request) { r.Header.Set("Origin", "https://evil.example"); r.Header.Del("Sec-Fetch-Site") },
		"sec-fetch-site": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"sec-fetch-site + json": func(r *http.Request) {
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Accept", "application/json")
		},
	} {
		for _, path := range []string{"/2fa/verify", "/2fa/resend"} {
			req := c.postRequest(path, url.Values{"code": {code}})
			set(req)
			want(t, name+" "+path, c.do(req), http.StatusForbidden, "")
		}
	}
	if h.attempts("alice") != 0 || h.fake.Count() != 1 {
		t.Fatalf("a refused cross-site POST had an effect: %d attempts, %d sends", h.attempts("alice"), h.fake.Count())
	}
	want(t, "same-origin verify", c.verify(code), http.StatusSeeOther, "/app/home")
}

func TestJSONMode(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.json = true
	r := c.get("/app/data")
	want(t, "nobody", r, http.StatusUnauthorized, "")
	if r.decode(t)["error"] != "unauthenticated" {
		t.Fatalf("nobody: %s", r.body)
	}
	c.login("alice")
	r = c.get("/app/data")
	want(t, "guarded", r, http.StatusUnauthorized, "")
	m := r.decode(t)
	if m["error"] != "second_factor_required" || m["verify_url"] != "/2fa/verify" || m["resend_url"] != "/2fa/resend" ||
		m["phone"] != "+91 ••••••3210" || jsonInt(t, m, "expires_in") != 300 || jsonInt(t, m, "attempts_left") != 5 {
		t.Fatalf("guarded: %s", r.body)
	}
	r = c.postJSON("/2fa/verify", map[string]string{"code": h.wrong()})
	want(t, "wrong", r, http.StatusUnprocessableEntity, "")
	if m := r.decode(t); m["error"] != "code_invalid" || jsonInt(t, m, "attempts_left") != 4 {
		t.Fatalf("wrong: %s", r.body)
	}
	r = c.postJSON("/2fa/verify", map[string]any{"code": 123456})
	want(t, "number instead of string", r, http.StatusUnprocessableEntity, "")
	if r.decode(t)["error"] != "code_malformed" {
		t.Fatalf("malformed: %s", r.body)
	}
	r = c.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)})
	want(t, "right", r, http.StatusOK, "")
	if m := r.decode(t); m["verified"] != true || m["redirect"] != "/" {
		t.Fatalf("right: %s", r.body)
	}
	want(t, "guarded after", c.get("/app/data"), http.StatusOK, "")
	// Nothing pending: no code is checked, and the answer never says
	// "verified".
	r = c.postJSON("/2fa/verify", map[string]string{"code": "000000"})
	if m := r.decode(t); r.status != http.StatusOK || m["already_verified"] != true || m["verified"] != nil || m["redirect"] != "/" {
		t.Fatalf("verify when already verified: %d %s", r.status, r.body)
	}
}

func TestFailClosedWhenDatabaseGone(t *testing.T) {
	h := newHarness(t)
	verified := h.signIn("alice", alicePhone)
	c := h.client().login("bob")
	c.get("/app/home")
	reported := 0
	h.store.Close()
	for name, r := range map[string]response{
		"guarded":   h.client().login("alice").get("/app/home"),
		"page":      c.get("/2fa"),
		"verify":    c.verify(h.code(bobPhone)),
		"resend":    c.post("/2fa/resend", nil),
		"json":      func() response { j := h.client().login("bob"); j.json = true; return j.get("/app/x") }(),
		"guarded 2": c.get("/app/home"),
	} {
		want(t, name, r, http.StatusServiceUnavailable, "")
		reported++
	}
	if !strings.Contains(h.logs.String(), "failing closed") {
		t.Fatal("the failures were not logged")
	}
	// A completed second factor needs no database.
	want(t, "verified session", verified.get("/app/home"), http.StatusOK, "")
}

func TestFailClosedWhenSessionsFail(t *testing.T) {
	h := newHarness(t)
	var handled []error
	broken := &brokenSessions{CookieStore: h.cookies}
	g, err := sms2fa.New(broken, h.store, h.fake, secret, h.currentUser, sms2fa.WithClock(h.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))),
		sms2fa.WithErrorHandler(func(_ *http.Request, err error) { handled = append(handled, err) }))
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))
	r := c.get("/app/home")
	want(t, "guarded with a broken session store", r, http.StatusServiceUnavailable, "")
	if len(handled) != 1 || !errors.Is(handled[0], errSessionsDown) {
		t.Fatalf("error handler got %v", handled)
	}
	if h.fake.Count() != 0 {
		t.Fatal("sent a code without a session")
	}
}

var errSessionsDown = errors.New("session backend down")

// brokenSessions is a session store whose backend is down for the guard's
// session (the app's own keeps working).
type brokenSessions struct{ *sessions.CookieStore }

func (b *brokenSessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	if name == "sms2fa" {
		return sessions.NewSession(b, name), errSessionsDown
	}
	return b.CookieStore.Get(r, name)
}

func TestSendFailureThenRetry(t *testing.T) {
	h := newHarness(t)
	h.fake.Fail(sender.ErrUnavailable)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	p := c.get("/2fa")
	if !strings.Contains(p.body, "We could not send the code") || strings.Contains(p.body, "disabled") {
		t.Fatalf("page after a failed send: %s", p.body)
	}
	if h.attempts("alice") != 0 || h.eventCount(sms2fa.EventSendFailed) != 1 {
		t.Fatalf("attempts %d, send_failed events %d", h.attempts("alice"), h.eventCount(sms2fa.EventSendFailed))
	}
	// Still failing: the resend says so, and leaves the way open.
	r := c.post("/2fa/resend", nil)
	wantPage(t, "resend while failing", r, "We could not send the code")
	h.fake.Fail(nil)
	want(t, "resend after recovery", c.post("/2fa/resend", nil), http.StatusSeeOther, "/2fa?sent=1")
	want(t, "verify", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

func TestMaybeSentKeepsCooldown(t *testing.T) {
	h := newHarness(t)
	h.fake.FailNext(1, fmt.Errorf("timeout after writing: %w", contract.ErrMaybeSent))
	c := h.client().login("alice")
	c.get("/app/home")
	p := c.get("/2fa")
	if !strings.Contains(p.body, `data-wait="30"`) {
		t.Fatalf("an uncertain send lifted the cooldown: %s", p.body)
	}
	wantPage(t, "resend at once", c.post("/2fa/resend", nil), "You can ask for a new code in 30 s")
}

func TestLogoutEndsSecondFactor(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	want(t, "verified", c.get("/app/home"), http.StatusOK, "")
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	want(t, "after logout", c.get("/app/home"), http.StatusSeeOther, "/2fa")
}

func TestGrantLifetime(t *testing.T) {
	h := newHarness(t, sms2fa.WithGrantLifetime(time.Hour))
	c := h.signIn("alice", alicePhone)
	h.clock.Advance(time.Hour - time.Second)
	want(t, "within the hour", c.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(time.Second)
	want(t, "after the hour", c.get("/app/home"), http.StatusSeeOther, "/2fa")
}

func TestCodeNeverLeaks(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	c.verify(h.wrong())
	c.post("/2fa/resend", nil)
	h.clock.Advance(time.Minute)
	c.post("/2fa/resend", nil)
	page := c.get("/2fa")
	codes := h.fake.Messages()
	want(t, "verify", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")

	logs := h.logs.String()
	var rows []string
	if err := tables(h.store).Select(&rows, `SELECT id || user_id || binding || phone || hex(code_mac) FROM sms2fa_challenges`); err != nil {
		t.Fatal(err)
	}
	for _, m := range codes {
		for where, text := range map[string]string{"logs": logs, "events": fmt.Sprintf("%+v", h.allEvents()), "page": page.body, "database": strings.Join(rows, "\n")} {
			if strings.Contains(text, m.Code) {
				t.Errorf("code %s appears in the %s", m.Code, where)
			}
		}
	}
	if strings.Contains(logs, "9876543210") || strings.Contains(fmt.Sprintf("%+v", h.allEvents()), "9876543210") {
		t.Error("an unmasked phone number was logged")
	}
}

func TestPhoneRefusals(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithCountries("IN")))
	for _, user := range []string{"zed", "nobody-phone"} {
		c := h.client().login(user)
		want(t, user+" guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
		p := c.get("/2fa")
		if !strings.Contains(p.body, "We cannot send a code to the phone number on your account") || strings.Contains(p.body, `name="code"`) {
			t.Fatalf("%s page: %s", user, p.body)
		}
		c.json = true
		r := c.get("/app/home")
		if m := r.decode(t); r.status != http.StatusUnauthorized || m["error"] != "second_factor_required" || !strings.Contains(m["message"].(string), "cannot send") {
			t.Fatalf("%s JSON: %d %s", user, r.status, r.body)
		}
		want(t, user+" resend", c.postJSON("/2fa/resend", nil), http.StatusForbidden, "")
	}
	if h.fake.Count() != 0 || h.fake.Failures() != 0 {
		t.Fatal("a refused number reached the sender")
	}
	var refused []error
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventSendRefused {
			refused = append(refused, e.Err)
		}
	}
	if len(refused) == 0 || !errors.Is(refused[0], sms2fa.ErrCountryNotAllowed) {
		t.Fatalf("refusal events: %v", refused)
	}
}

func TestSendBudgets(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithResendCooldown(0)), sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithIPLimit()),
		sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 2, Window: 10 * time.Minute})))
	c := h.client().login("alice")
	c.json = true
	c.get("/app/home")
	want(t, "second send", c.postJSON("/2fa/resend", nil), http.StatusOK, "")
	r := c.postJSON("/2fa/resend", nil)
	want(t, "third send", r, http.StatusTooManyRequests, "")
	if r.header.Get("Retry-After") != "600" || r.decode(t)["error"] != "send_limited" {
		t.Fatalf("budget answer: %v %s", r.header, r.body)
	}
	// Other sessions of the number are refused before any send.
	d := h.client().login("alice")
	d.get("/app/home")
	if p := d.get("/2fa"); !strings.Contains(p.body, "Too many codes have been sent. Try again in 10 min.") {
		t.Fatalf("page: %s", p.body)
	}
	if h.fake.Count() != 2 {
		t.Fatalf("sent %d, want 2", h.fake.Count())
	}
	ev := h.allEvents()
	last := ev[len(ev)-1]
	if last.Kind != sms2fa.EventSendRefused || last.Budget != "phone" || last.Phone != "+91 ••••••3210" {
		t.Fatalf("last event: %+v", last)
	}
	h.clock.Advance(10 * time.Minute)
	want(t, "next window", c.postJSON("/2fa/resend", nil), http.StatusOK, "")
}

func TestGlobalBudgetStopsEveryone(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithGlobalLimit(sms.Rate{Limit: 1, Window: 24 * time.Hour})))
	h.client().login("alice").get("/app/home")
	h.client().login("bob").get("/app/home")
	if h.fake.Count() != 1 || h.eventCount(sms2fa.EventGlobalLimit) != 1 {
		t.Fatalf("sent %d, global_limit events %d", h.fake.Count(), h.eventCount(sms2fa.EventGlobalLimit))
	}
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	h := newHarness(t)
	user := func(*http.Request) (sms2fa.User, bool) { return sms2fa.User{}, false }
	for name, tc := range map[string]struct {
		secret []byte
		opts   []sms2fa.Option
	}{
		"short secret":              {secret: []byte("too short"), opts: nil},
		"code length 3":             {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithCodeLength(3))}},
		"code length 9":             {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithCodeLength(9))}},
		"11 minute codes":           {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithCodeLifetime(11 * time.Minute))}},
		"zero attempts":             {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithMaxAttempts(0))}},
		"bad prefix":                {opts: []sms2fa.Option{sms2fa.WithPrefix("2fa/")}},
		"bad login URL":             {opts: []sms2fa.Option{sms2fa.WithLoginURL("javascript:alert(1)")}},
		"bad content":               {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithContent("SMS"))}},
		"bad country":               {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithCountries("India"))}},
		"unknown country":           {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithCountries("IN", "XX"))}},
		"bad budget":                {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithIPLimit(sms.Rate{Limit: 0, Window: time.Hour}))}},
		"bad lockout":               {opts: []sms2fa.Option{sms2fa.WithLockout(5, time.Hour, time.Minute)}},
		"bad trusted origin":        {opts: []sms2fa.Option{sms2fa.WithTrustedOrigins("not a url")}},
		"unknown flow":              {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithPurpose("signup", "registration"))}},
		"empty purpose":             {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithPurpose(contract.FlowLogin, ""))}},
		"bad default region":        {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithDefaultRegion("XX"))}},
		"cookie path":               {opts: []sms2fa.Option{sms2fa.WithCookie(sms2fa.Cookie{Path: "x"})}},
		"SameSite=None, not Secure": {opts: []sms2fa.Option{sms2fa.WithCookie(sms2fa.Cookie{Path: "/", SameSite: http.SameSiteNoneMode})}},
		"IPv6 prefix 8":             {opts: []sms2fa.Option{sms2fa.WithSMS(sms.WithIPv6Prefix(8))}},
	} {
		s := secret
		if tc.secret != nil {
			s = tc.secret
		}
		if _, err := sms2fa.New(h.cookies, h.store, h.fake, s, user, tc.opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, user, sms2fa.WithSMS(sms.WithCodeLifetime(11*time.Minute)), sms2fa.WithSMS(sms.AllowLongCodeLifetime())); err != nil {
		t.Errorf("an explicitly allowed long lifetime: %v", err)
	}
	if _, err := sms2fa.New(nil, h.store, h.fake, secret, user); err == nil {
		t.Error("New accepted a nil session store")
	}
}

// newServer serves handler for the test's lifetime and returns its URL. The
// cookie jar keys cookies by host, not port, so a client can move between
// the harness's server and this one as one browser.
func newServer(t *testing.T, handler http.Handler) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// countingStore counts the calls the guard makes to its store: the store is
// the guard's only way to the database.
type countingStore struct {
	contract.Store
	calls atomic.Int64
}

func (s *countingStore) Open(ctx context.Context, p contract.OpenParams) (contract.Challenge, bool, error) {
	s.calls.Add(1)
	return s.Store.Open(ctx, p)
}

func (s *countingStore) Challenge(ctx context.Context, ref contract.Ref) (contract.Challenge, error) {
	s.calls.Add(1)
	return s.Store.Challenge(ctx, ref)
}

func (s *countingStore) Verify(ctx context.Context, ref contract.Ref, p contract.VerifyParams) (contract.Challenge, contract.Grant, error) {
	s.calls.Add(1)
	return s.Store.Verify(ctx, ref, p)
}

func (s *countingStore) Grant(ctx context.Context, id, userID string) (contract.Grant, error) {
	s.calls.Add(1)
	return s.Store.Grant(ctx, id, userID)
}

func (s *countingStore) Resend(ctx context.Context, ref contract.Ref, p contract.ResendParams) (contract.Challenge, error) {
	s.calls.Add(1)
	return s.Store.Resend(ctx, ref, p)
}

func (s *countingStore) SendFailed(ctx context.Context, ref contract.Ref, mac []byte) error {
	s.calls.Add(1)
	return s.Store.SendFailed(ctx, ref, mac)
}

// callLog records the store calls a guarded request makes on its way to a
// code. Only the calls that path may make are passed on to real: any other
// method is the nil embedded Store's, and panics, failing the request.
type callLog struct {
	contract.Store // nil
	real           contract.Store
	mu             sync.Mutex
	calls          []string
}

func (s *callLog) log(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, name)
}

// take returns the calls logged since the last take.
func (s *callLog) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := strings.Join(s.calls, " ")
	s.calls = nil
	return calls
}

func (s *callLog) Factor(ctx context.Context, userID string) (contract.Factor, error) {
	s.log("Factor")
	return s.real.Factor(ctx, userID)
}

func (s *callLog) AdoptFactor(ctx context.Context, userID, phone, region string) (contract.Factor, bool, error) {
	s.log("AdoptFactor")
	return s.real.AdoptFactor(ctx, userID, phone, region)
}

func (s *callLog) NoteMismatch(ctx context.Context, userID, tag string) (bool, error) {
	s.log("NoteMismatch")
	return s.real.NoteMismatch(ctx, userID, tag)
}

func (s *callLog) Open(ctx context.Context, p contract.OpenParams) (contract.Challenge, bool, error) {
	if p.CheckFactor {
		s.log("Open+check")
	} else {
		s.log("Open")
	}
	return s.real.Open(ctx, p)
}

// A sign-in whose app number is the enrolled one opens its challenge in one
// store call, the store checking the number as it opens; the first sign-in
// (nothing enrolled yet), a number the app changed and a removed number take
// the long way, reading the factor, and still send to the right number.
func TestChallengeIsOneStoreCall(t *testing.T) {
	h := newHarness(t)
	logged := &callLog{real: h.store}
	srv := newServer(t, h.app(h.newGuard(logged)))
	signIn := func(what, calls string, sent bool) {
		t.Helper()
		before := h.fake.Count()
		c := h.client().login("alice")
		c.base = srv
		to := map[bool]string{true: "/2fa", false: "/2fa/enroll"}[sent]
		want(t, what, c.get("/app/home"), http.StatusSeeOther, to)
		if got := logged.take(); got != calls {
			t.Errorf("%s: store calls %q, want %q", what, got, calls)
		}
		if got := h.fake.Count() - before; got != map[bool]int{true: 1}[sent] {
			t.Errorf("%s: %d codes sent", what, got)
		}
	}
	signIn("first sign-in", "Open+check Factor AdoptFactor Open+check", true)
	signIn("a later sign-in", "Open+check", true)
	if m, ok := h.fake.Last(alicePhone); !ok || m.Purpose != "login" {
		t.Fatalf("the later code: %+v, %v", m, ok)
	}
	h.movePhone("alice", bobPhone)
	signIn("a number the app changed", "Open+check Factor NoteMismatch Open+check", true)
	if _, ok := h.fake.Last(bobPhone); ok {
		t.Fatal("a code went to the app's new number instead of the enrolled one")
	}
	h.movePhone("alice", alicePhone)
	if _, err := h.store.RemoveFactor(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	signIn("a removed number (sent to enrol one)", "Open+check Factor", false)
}

// changeBeforeOpen is the harness's real store, except that change runs
// before its second Open: on a guarded request, the one the long way makes
// after reading the factor.
type changeBeforeOpen struct {
	contract.Store
	opens  atomic.Int32
	change func(context.Context) error
}

func (s *changeBeforeOpen) Open(ctx context.Context, p contract.OpenParams) (contract.Challenge, bool, error) {
	if s.opens.Add(1) == 2 {
		if err := s.change(ctx); err != nil {
			return contract.Challenge{}, false, err
		}
	}
	return s.Store.Open(ctx, p)
}

// The long way reads the factor and then opens the challenge: a number
// changed between the two fails the request (503) instead of sending a code
// to a number that is no longer the user's; the next request sends to the
// new one.
func TestNumberChangedBeforeTheLongWayOpens(t *testing.T) {
	const moved, third = "+919812311111", "+919812322222"
	h := newHarness(t)
	st := &changeBeforeOpen{Store: h.store, change: func(ctx context.Context) error {
		_, _, err := h.store.SetFactor(ctx, "alice", third, "IN")
		return err
	}}
	srv := newServer(t, h.app(h.newGuard(st)))
	if err := h.guard.EnrolFactor(context.Background(), "alice", moved); err != nil {
		t.Fatal(err) // an admin moved alice; the app still says alicePhone
	}
	c := h.client()
	c.base = srv
	c.login("alice")
	want(t, "the number changed meanwhile", c.get("/app/home"), http.StatusServiceUnavailable, "")
	if h.fake.Count() != 0 {
		t.Fatalf("%d codes sent; the one to %s went to a number no longer alice's", h.fake.Count(), moved)
	}
	want(t, "again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if _, ok := h.fake.Last(third); !ok || h.fake.Count() != 1 {
		t.Fatalf("the code did not go to alice's number now (%d sent)", h.fake.Count())
	}
}

// Inside its recheck interval the verified path runs no SQL: the guard makes
// no store call for it, and it keeps answering with the database closed,
// where any statement would fail (and the guard would fail closed with 503).
// Past the interval, it fails closed too.
func TestVerifiedPathRunsNoSQL(t *testing.T) {
	h := newHarness(t, sms2fa.WithRecheck(time.Hour))
	counted := &countingStore{Store: h.store}
	srv := newServer(t, h.app(h.newGuard(counted, sms2fa.WithRecheck(time.Hour))))
	c := h.client().login("alice")
	c.base = srv
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "verify", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
	if counted.calls.Load() == 0 {
		t.Fatal("the counter saw nothing: it would prove nothing")
	}
	counted.calls.Store(0)
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		want(t, fmt.Sprintf("verified request %d", i), c.get("/app/home"), http.StatusOK, "")
		h.clock.Advance(30 * time.Second) // 50 minutes in all: inside the hour
	}
	if n := counted.calls.Load(); n != 0 {
		t.Fatalf("100 verified requests made %d store calls", n)
	}
	h.clock.Advance(10 * time.Minute)
	want(t, "past the recheck interval, database closed", c.get("/app/home"), http.StatusServiceUnavailable, "")
	if n := counted.calls.Load(); n != 1 {
		t.Fatalf("a recheck made %d store calls, want 1", n)
	}
	d := h.client().login("bob")
	d.base = srv
	want(t, "an unverified request, database closed", d.get("/app/home"), http.StatusServiceUnavailable, "")
}

// A completed second factor belongs to one sign-in: signing in again in the
// same browser, with the guard's cookie kept, asks for a new code.
func TestNewSignInNeedsNewCode(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	want(t, "verified", c.get("/app/home"), http.StatusOK, "")
	c.login("alice") // a new password login; the app forgot to call Logout
	want(t, "after signing in again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "the new code", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

// A code sent to the user's old number does not verify once the number has
// changed; the next page sends one to the new number.
// Moving a user's number (the app's call, EnrolFactor) voids a code pending
// for the old one.
func TestPhoneChangeVoidsPendingCode(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.get("/app/home")
	old := h.code(alicePhone)
	const newPhone = "+919812300000"
	if err := h.guard.EnrolFactor(context.Background(), "alice", newPhone); err != nil {
		t.Fatal(err)
	}
	// The old number's code signs nobody in: the store checks the code's
	// number against the user's under the user's lock.
	c.verify(old)
	want(t, "after the old number's code", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if p := c.get("/2fa"); !strings.Contains(html.UnescapeString(p.body), "+91 ••••••0000") {
		t.Fatalf("page after the change: %s", p.body)
	}
	want(t, "new number's code", c.verify(h.code(newPhone)), http.StatusSeeOther, "/app/home")
}

func TestReplayedCodeIsCodeUsed(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	c.json = true
	c.get("/app/home")
	u, _ := url.Parse(h.srv.URL)
	before := c.http.Jar.Cookies(u)
	want(t, "verify", c.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)}), http.StatusOK, "")
	// The cookies of before the verify: the session with the pending
	// challenge, and no mark.
	c.http.Jar.SetCookies(u, append(before, &http.Cookie{Name: "sms2fa_mark", Path: "/", MaxAge: -1}))
	r := c.postJSON("/2fa/verify", map[string]string{"code": h.code(alicePhone)})
	if r.status != http.StatusConflict || r.decode(t)["error"] != "code_used" {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
}

// Link previewers (HEAD) and CORS preflights (OPTIONS) do not send SMS.
func TestOnlyGetAndPostOpenChallenges(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	for _, method := range []string{http.MethodHead, http.MethodOptions, http.MethodPut} {
		req, err := http.NewRequest(method, h.srv.URL+"/app/home", nil)
		if err != nil {
			t.Fatal(err)
		}
		want(t, method, c.do(req), http.StatusSeeOther, "/2fa") // guarded all the same
	}
	if h.fake.Count() != 0 {
		t.Fatalf("%d codes sent for HEAD, OPTIONS and PUT", h.fake.Count())
	}
	want(t, "GET", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != 1 {
		t.Fatal("GET sent no code")
	}
}

// If the session cannot be saved after a challenge was opened, no code is
// sent and the challenge is withdrawn: the next guarded request opens and
// sends a fresh one.
func TestSessionSaveFailureLeavesAWayToRetry(t *testing.T) {
	h := newHarness(t)
	flaky := &flakySessions{CookieStore: h.cookies}
	g, err := sms2fa.New(flaky, h.store, h.fake, secret, h.currentUser, sms2fa.WithClock(h.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))
	want(t, "first challenge", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	h.clock.Advance(5 * time.Minute) // it expires; the next guarded request opens another
	flaky.failing.Store(true)
	want(t, "save fails", c.get("/app/home"), http.StatusServiceUnavailable, "")
	if h.fake.Count() != 1 {
		t.Fatal("a code was sent that the session could not remember")
	}
	flaky.failing.Store(false)
	want(t, "guarded again", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != 2 {
		t.Fatalf("sends = %d, want the fresh challenge sent", h.fake.Count())
	}
	wantPage(t, "page", c.get("/2fa"), "We sent a 6-digit code")
	want(t, "verify", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

// flakySessions fails to save the guard's session while failing is set.
type flakySessions struct {
	*sessions.CookieStore
	failing atomic.Bool
}

func (f *flakySessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(f, name)
}

func (f *flakySessions) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Name() == "sms2fa" && f.failing.Load() {
		return errors.New("session backend down")
	}
	return f.CookieStore.Save(r, w, s)
}
