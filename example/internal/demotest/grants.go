package demotest

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/example/internal/demo"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// clocked is the demo on a hand-moved clock (the guard's and the store's).
type clocked struct {
	t     *testing.T
	srv   *httptest.Server
	fake  *sender.Fake
	clock *testclock.Clock
}

func (s Suite) demoClocked(t *testing.T, vars map[string]string) *clocked {
	cfg, err := demo.ConfigFrom(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	d := &clocked{t: t, fake: sender.NewFake(), clock: testclock.New(testclock.Start)}
	cfg.Clock = d.clock.Now
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "demo.db"), store.WithClock(d.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := s.app(cfg, st, d.fake, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.srv = httptest.NewServer(h)
	t.Cleanup(d.srv.Close)
	return d
}

// browser is a client that follows redirects, as a person's browser does.
type browser struct {
	d *clocked
	c *http.Client
}

func (d *clocked) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{d: d, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path string, form url.Values) (string, string) {
	b.d.t.Helper()
	req, err := http.NewRequest(method, b.d.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.d.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.d.srv.URL)
		req.Header.Set("Referer", b.d.srv.URL+"/account")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Request.URL.Path, string(body)
}

// signIn takes b through both factors as user.
func (b *browser) signIn(user string) {
	b.d.t.Helper()
	if path, _ := b.do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {user + "-password"}}); path != "/2fa" {
		b.d.t.Fatalf("after the password: %s", path)
	}
	m, _ := b.d.fake.Last(map[string]string{"alice": "+919876543210", "bob": "+919812345678"}[user])
	if path, _ := b.do(http.MethodPost, "/2fa/verify", url.Values{"code": {m.Code}}); path != "/dashboard" {
		b.d.t.Fatalf("after the code: %s", path)
	}
}

func (b *browser) copy() *browser {
	c := b.d.browser()
	u, _ := url.Parse(b.d.srv.URL)
	c.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	return c
}

func (s Suite) DemoTransferNeedsAFreshCode(t *testing.T) {
	d := s.demoClocked(t, map[string]string{"SMS2FA_STEP_UP_AGE": "5m"})
	b := d.browser()
	b.signIn("alice")
	if path, body := b.do(http.MethodGet, "/transfer", nil); path != "/transfer" || !strings.Contains(body, "Transfer") || !strings.Contains(body, "alice") {
		t.Fatalf("fresh transfer: %s %.200s", path, body)
	}
	d.clock.Advance(6 * time.Minute)
	sent := d.fake.Count()
	if path, body := b.do(http.MethodGet, "/transfer", nil); path != "/2fa" || !strings.Contains(body, `name="code"`) {
		t.Fatalf("stale transfer: %s", path)
	}
	m, _ := d.fake.Last("+919876543210")
	if d.fake.Count() != sent+1 || m.Purpose != "transaction" {
		t.Fatalf("step-up code: %d sent, purpose %q", d.fake.Count()-sent, m.Purpose)
	}
	if path, body := b.do(http.MethodPost, "/2fa/verify", url.Values{"code": {m.Code}}); path != "/transfer" || !strings.Contains(body, "Transfer") {
		t.Fatalf("after the step-up code: %s", path)
	}
}

func (s Suite) DemoSignOutEverywhere(t *testing.T) {
	d := s.demoClocked(t, map[string]string{"SMS2FA_RECHECK": "30s"})
	laptop, phone := d.browser(), d.browser()
	laptop.signIn("alice")
	d.clock.Advance(time.Minute) // past the resend cooldown of alice's number
	phone.signIn("alice")
	if path, body := laptop.do(http.MethodGet, "/account", nil); path != "/account" || !strings.Contains(body, `action="/account/signout-everywhere"`) {
		t.Fatalf("account page: %s", path)
	}
	if path, _ := laptop.do(http.MethodPost, "/account/signout-everywhere", nil); path != "/login" {
		t.Fatalf("after sign out everywhere: %s", path)
	}
	if path, _ := laptop.do(http.MethodGet, "/dashboard", nil); path != "/login" {
		t.Fatalf("this browser after sign out everywhere: %s", path)
	}
	d.clock.Advance(30 * time.Second)
	if path, _ := phone.do(http.MethodGet, "/dashboard", nil); path != "/2fa" {
		t.Fatalf("the other browser, once the recheck interval is over: %s", path)
	}
}

func (s Suite) DemoLogoutRevokesCopies(t *testing.T) {
	d := s.demoClocked(t, nil)
	b := d.browser()
	b.signIn("alice")
	thief := b.copy()
	if path, _ := b.do(http.MethodPost, "/logout", nil); path != "/" {
		t.Fatalf("logout: %s", path)
	}
	d.clock.Advance(time.Minute)
	// The thief's copy of the app's session still says alice (the demo's
	// first factor is a plain cookie), but the second factor is gone.
	if path, _ := thief.do(http.MethodGet, "/dashboard", nil); path != "/2fa" {
		t.Fatalf("a copy of the cookies after logout: %s", path)
	}
}

// Carol has no number: her first guarded request goes to the enrolment form;
// the code goes to the number she types; the recovery codes are shown once,
// each as the whole text of a .recovery-code element; /account then shows the
// masked number, the codes left and the remembered devices.
func (s Suite) DemoCarolEnrols(t *testing.T) {
	d := s.demoClocked(t, nil)
	b := d.browser()
	path, body := b.do(http.MethodPost, "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}})
	if path != "/2fa/enroll" || !strings.Contains(body, `name="phone"`) || !strings.Contains(body, `autocomplete="tel"`) {
		t.Fatalf("carol after the password: %s", path)
	}
	if path, _ = b.do(http.MethodPost, "/2fa/enroll", url.Values{"phone": {"+91 98123 00000"}}); path != "/2fa" {
		t.Fatalf("after the number: %s", path)
	}
	m, ok := d.fake.Last("+919812300000")
	if !ok || m.Purpose != "account_verification" {
		t.Fatalf("enrolment code: %+v", m)
	}
	path, body = b.do(http.MethodPost, "/2fa/verify", url.Values{"code": {m.Code}})
	codes := regexp.MustCompile(`<li class="recovery-code">([0-9a-z]{5}-[0-9a-z]{5})</li>`).FindAllStringSubmatch(body, -1)
	if len(codes) != 10 || !strings.Contains(body, `href="/dashboard"`) {
		t.Fatalf("recovery codes page (%s): %d codes", path, len(codes))
	}
	if path, _ = b.do(http.MethodGet, "/dashboard", nil); path != "/dashboard" {
		t.Fatalf("dashboard: %s", path)
	}
	_, body = b.do(http.MethodGet, "/account", nil)
	for _, want := range []string{"••••••0000", `<span id="codes-left">10</span>`, `href="/2fa/enroll"`, `action="/2fa/recovery-codes"`} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("account page lacks %q", want)
		}
	}
}
