package sms2fa_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store/postgres"
)

// budgetUsed reads what the store counted in one budget row.
func (h *harness) budgetUsed(name, key string) int {
	h.t.Helper()
	var n int
	err := tables(h.store).Get(&n, tables(h.store).Rebind(
		`SELECT COALESCE(SUM(used), 0) FROM sms2fa_budgets WHERE name = ? AND bucket_key = ?`), name, key)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// A guarded link too long for the cookie, or a session that cannot be saved,
// must never consume a send budget without an SMS: after any mix of long
// links, failed saves and real sends, the budgets count exactly the SMS the
// sender received.
func TestBudgetsCountOnlySentSMS(t *testing.T) {
	h := newHarness(t)
	flaky := &flakySessions{CookieStore: h.cookies}
	daily := sms.Rate{Limit: 10, Window: 24 * time.Hour}
	g, err := sms2fa.New(flaky, h.store, h.fake, secret, h.currentUser, sms2fa.WithClock(h.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))), sms2fa.WithSMS(sms.WithCountries("IN")),
		sms2fa.WithSMS(sms.WithUserLimit(daily)), sms2fa.WithSMS(sms.WithPhoneLimit(daily)))
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))

	long := "/app/report?q=" + strings.Repeat("x", 1800) // ~1.8 KB: more than a cookie should carry
	for i, step := range []struct {
		path   string
		fail   bool // the guard's session cannot be saved
		status int
	}{
		{long, false, http.StatusSeeOther},
		{long, true, http.StatusServiceUnavailable},
		{"/app/home", true, http.StatusServiceUnavailable},
		{long, true, http.StatusServiceUnavailable},
		{"/app/" + strings.Repeat("y", 2000), false, http.StatusSeeOther},
		{"/app/home", true, http.StatusServiceUnavailable},
		{"/app/home", false, http.StatusSeeOther},
	} {
		flaky.failing.Store(step.fail)
		if r := c.get(step.path); r.status != step.status {
			t.Fatalf("step %d: %d, want %d", i, r.status, step.status)
		}
		sent := h.fake.Count()
		if u, p := h.budgetUsed("user", "alice"), h.budgetUsed("phone", alicePhone); u != sent || p != sent {
			t.Fatalf("step %d: %d SMS sent; the user budget counted %d, the phone budget %d", i, sent, u, p)
		}
		// The step's challenge expires, so the next guarded request opens
		// (and reserves a send for) a new one.
		h.clock.Advance(6 * time.Minute)
	}
	if h.fake.Count() != 3 {
		t.Fatalf("%d SMS sent, want one for each step that could save its session", h.fake.Count())
	}
}

// The path remembered for after the code step fits a cookie: at most 1 KiB of
// path and query, else the path alone, else "/".
func TestLongLinksAreRememberedShort(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ path, after string }{
		{"/app/report?q=" + strings.Repeat("x", 1800), "/app/report"},
		{"/app/report?q=short", "/app/report?q=short"},
		{"/app/" + strings.Repeat("y", 1100), "/"},
	} {
		cl := h.client().login("alice")
		want(t, "guarded "+c.after, cl.get(c.path), http.StatusSeeOther, "/2fa")
		want(t, "verified "+c.after, cl.verify(h.code(alicePhone)), http.StatusSeeOther, c.after)
		h.clock.Advance(time.Hour) // out of every budget's short window
	}
}

// One host usually owns a whole IPv6 /64: the per-IP budget counts it once.
func TestIPv6ClientsBudgetedPerPrefix(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithIPLimit(sms.Rate{Limit: 2, Window: time.Hour})))
	send := func(user, ip string) int {
		c := h.client().login(user)
		req, err := http.NewRequest(http.MethodGet, c.base+"/app/home", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Forwarded-For", ip) // the harness's engine trusts it: gin's default
		r := c.do(req)
		return r.status
	}
	send("alice", "2001:db8:1:2::1")
	send("bob", "2001:db8:1:2:ffff::9")
	before := h.fake.Count()
	send("zed", "2001:db8:1:2:abcd::1") // same /64: the budget is spent
	if h.fake.Count() != before {
		t.Fatal("a third address of one /64 got a code past its budget of 2")
	}
	send("zed", "2001:db8:1:3::1") // another /64
	if h.fake.Count() != before+1 {
		t.Fatal("another /64 was refused: it has a budget of its own")
	}
}

// Two app instances on one Postgres whose own clocks are 16 minutes apart
// agree on lockout, expiry, cooldown and budgets, and show the same waits:
// every time is the store's (the database's), never the app process's.
func TestSkewedInstancesAgree(t *testing.T) {
	pgtest.DSN(t)
	h := newHarnessOn(t, onPostgres(t), sms2fa.WithLockout(4, 15*time.Minute, time.Hour),
		sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 2, Window: time.Hour})))
	skewed := func() time.Time { return h.clock.Now().Add(16 * time.Minute) }
	fast := h.instanceWith(sms2fa.WithClock(skewed))

	c := h.client().login("alice")
	c.json = true
	slow := c.base
	state := func(base string) map[string]any {
		c.base = base
		return c.get("/2fa").decode(t)
	}
	r := c.get("/app/home")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("guarded: %d", r.status)
	}
	a, b := state(slow), state(fast)
	for _, k := range []string{"expires_in", "resend_in", "attempts_left"} {
		if jsonInt(t, a, k) != jsonInt(t, b, k) {
			t.Fatalf("%s: %d on one instance, %d on the other", k, jsonInt(t, a, k), jsonInt(t, b, k))
		}
	}
	if jsonInt(t, a, "expires_in") != 300 || jsonInt(t, a, "resend_in") != 30 {
		t.Fatalf("waits: %v", a)
	}
	// The cooldown holds on both, with the same Retry-After.
	for _, base := range []string{slow, fast} {
		c.base = base
		r := c.post("/2fa/resend", nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "30" {
			t.Fatalf("resend inside the cooldown on %s: %d, Retry-After %q", base, r.status, r.header.Get("Retry-After"))
		}
	}
	// Four wrong codes, alternating instances, lock the user on both, for
	// the same 15 minutes.
	for i := range 4 {
		c.base = []string{slow, fast}[i%2]
		c.verify(h.wrong())
	}
	for _, base := range []string{slow, fast} {
		c.base = base
		r := c.verify(h.code(alicePhone))
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "900" {
			t.Fatalf("right code while locked on %s: %d, Retry-After %q; body %s", base, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	// After the lock, the code has expired on both alike.
	h.clock.Advance(15 * time.Minute)
	for _, base := range []string{slow, fast} {
		c.base = base
		if r := c.verify(h.code(alicePhone)); r.status != http.StatusGone || r.decode(t)["error"] != "code_expired" {
			t.Fatalf("expired code on %s: %d %s", base, r.status, r.body)
		}
	}
	// The phone budget (2 an hour) is shared: one more send through either
	// instance, then both refuse, with the same wait.
	c.base = fast
	if r := c.post("/2fa/resend", nil); r.status != http.StatusOK {
		t.Fatalf("second send: %d %s", r.status, r.body)
	}
	h.clock.Advance(10 * time.Minute)
	var waits []string
	for _, base := range []string{slow, fast} {
		c.base = base
		r := c.post("/2fa/resend", nil)
		if r.status != http.StatusTooManyRequests || r.decode(t)["error"] != "send_limited" {
			t.Fatalf("third send on %s: %d %s", base, r.status, r.body)
		}
		waits = append(waits, r.header.Get("Retry-After"))
	}
	if waits[0] != waits[1] || waits[0] == "" {
		t.Fatalf("budget waits %v differ", waits)
	}
}

// Printing the guard, or a store on a DSN with a password, shows no secret
// whatever the verb or logger.
func TestFormattingHidesSecrets(t *testing.T) {
	h := newHarness(t)
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2-password") // trust auth ignores it
	pg, err := postgres.Open(context.Background(), pgtest.WithSearchPath(u.String(), "public"))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	secretText := string(secret)
	for name, v := range map[string]any{"guard": h.guard, "guard value": *h.guard, "sqlite store": h.store, "postgres store": pg} {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		for _, hnd := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(hnd(&b)).Info("x", slog.Any("v", v))
			out = append(out, b.String())
		}
		for _, s := range out {
			for _, leak := range []string{secretText, "hunter2", fmt.Sprintf("%x", secret[:8])} {
				if strings.Contains(s, leak) {
					t.Errorf("%s printed %q: %.200s", name, leak, s)
				}
			}
			if len(s) > 400 {
				t.Errorf("%s printed its insides (%d bytes): %.200s", name, len(s), s)
			}
		}
	}
}

// The guard's cookie is signed, not encrypted: it must not carry the phone
// number or the code in any form a reader of the cookie could use.
func TestCookieHoldsNoPhoneOrCode(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	code := h.code(alicePhone)
	srv, _ := url.Parse(c.base)
	var raw string
	for _, ck := range c.http.Jar.Cookies(srv) {
		if ck.Name == "sms2fa" {
			raw = ck.Value
		}
	}
	if raw == "" {
		t.Fatal("no guard cookie")
	}
	outer, err := base64.URLEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(outer), "|", 3) // date|value|MAC, and a MAC may hold a '|'
	if len(parts) != 3 {
		t.Fatalf("cookie shape: %d parts", len(parts))
	}
	inner, err := base64.URLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"9876543210", "98765 43210", "43210", code} {
		if bytes.Contains(inner, []byte(leak)) || strings.Contains(raw, leak) {
			t.Errorf("the guard's cookie carries %q", leak)
		}
	}
	// And the flow still works: the number is checked through its tag.
	want(t, "verify", c.verify(code), http.StatusSeeOther, "/app/home")
}

// echoSender is a provider that refuses every message and echoes the code in
// its error, as a careless 422 would.
type echoSender struct{ h *harness }

func (e echoSender) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	e.h.fake.Send(ctx, m) // remembered, so the test knows the code
	return contract.Receipt{}, fmt.Errorf("422 VALIDATION_ERROR: value %s rejected (order W2A-%s)", m.Code, m.Code)
}

// A provider that echoes the code puts no live code anywhere: not in the
// logs, the events or the error handler, and the echoed code never verifies.
func TestEchoedCodeIsScrubbedAndDead(t *testing.T) {
	h := newHarness(t)
	var reported []error
	g, err := sms2fa.New(h.cookies, h.store, echoSender{h}, secret, h.currentUser, sms2fa.WithClock(h.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))),
		sms2fa.WithErrorHandler(func(_ *http.Request, err error) { reported = append(reported, err) }),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	code := h.code(alicePhone)
	if strings.Contains(h.logs.String(), code) {
		t.Errorf("the log holds the code: %s", h.logs.String())
	}
	for _, e := range h.allEvents() {
		if e.Err != nil && strings.Contains(e.Err.Error(), code) || strings.Contains(fmt.Sprint(e), code) {
			t.Errorf("event %s holds the code", e.Kind)
		}
	}
	if len(reported) == 0 {
		t.Fatal("the failed send was not reported")
	}
	for _, err := range reported {
		if strings.Contains(err.Error(), code) {
			t.Errorf("the error handler got the code: %v", err)
		}
	}
	r := c.verify(code)
	if r.status == http.StatusSeeOther && r.location() == "/app/home" {
		t.Fatal("the echoed code of a failed send verified")
	}
	wantPage(t, "the echoed code", r, "expired")
	// The next guarded request sends a fresh code rather than standing on
	// the dead one.
	before := h.fake.Count()
	c.get("/app/home")
	if h.fake.Count() != before+1 {
		t.Fatalf("sends %d → %d: the next request did not send a fresh code", before, h.fake.Count())
	}
}

// Non-geographic numbers (+870, +881, +882, …) are refused unless the app
// names them; New without WithCountries warns.
func TestNonGeographicNumbersRefusedByDefault(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  []sms2fa.Option
		sent  bool
		warns bool
	}{
		{"default", nil, false, true},
		{"countries without 001", []sms2fa.Option{sms2fa.WithSMS(sms.WithCountries("IN"))}, false, false},
		{"001 named", []sms2fa.Option{sms2fa.WithSMS(sms.WithCountries("IN", "001"))}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.opts...)
			h.movePhone("alice", "+870 301 234 567") // Inmarsat: a valid mobile of region 001
			cl := h.client().login("alice")
			cl.get("/app/home")
			if got := h.fake.Count() == 1; got != c.sent {
				t.Fatalf("sent %v, want %v", got, c.sent)
			}
			if got := strings.Contains(h.logs.String(), "WithCountries is not set"); got != c.warns {
				t.Fatalf("warned %v, want %v", got, c.warns)
			}
		})
	}
}

// A page template that fails is refused by New; one that fails only at run
// time answers 500, is logged and reported — never a 200 with half a page.
func TestFailingTemplates(t *testing.T) {
	h := newHarness(t)
	bad := template.Must(template.New("page").Parse(`<p>{{.NoSuchField}}</p>`))
	if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser, sms2fa.WithTemplate(bad)); err == nil {
		t.Fatal("New accepted a template that cannot execute")
	}
	// Fails only when the resend wait is 17 s, which New's samples never show.
	odd := template.Must(template.New("page").Parse(`<p>{{.Title}}{{if eq .ResendWait 17}}{{index .Lang 99}}{{end}}</p>`))
	var reported []error
	g := h.newGuard(h.store, sms2fa.WithTemplate(odd), sms2fa.WithSMS(sms.WithResendCooldown(17*time.Second)),
		sms2fa.WithErrorHandler(func(_ *http.Request, err error) { reported = append(reported, err) }))
	c := h.client().login("alice")
	c.base = newServer(t, h.app(g))
	c.get("/app/home")
	r := c.get("/2fa")
	if r.status != http.StatusInternalServerError || strings.Contains(r.body, "<p>") {
		t.Fatalf("a failing page: %d %q; want a plain 500", r.status, r.body)
	}
	if len(reported) != 1 || !strings.Contains(h.logs.String(), "page failed") {
		t.Fatalf("reported %v; logs %s", reported, h.logs.String())
	}
}

func TestStartJanitorValidates(t *testing.T) {
	h := newHarness(t)
	for _, d := range []time.Duration{0, -time.Second} {
		if err := h.store.StartJanitor(context.Background(), d, nil); err == nil {
			t.Errorf("StartJanitor(%v) = nil, want an error", d)
		}
	}
	// A started janitor purges: a challenge long expired disappears.
	h.client().login("alice").get("/app/home")
	if rows(t, h) != 1 {
		t.Fatal("no challenge to purge: the test would prove nothing")
	}
	h.clock.Advance(3 * time.Hour) // past the code's life and the hour's retention
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan error, 1)
	if err := h.store.StartJanitor(ctx, time.Millisecond, func(err error) {
		select {
		case failed <- err:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Polled, bounded: the janitor's ticks are real time.
	for deadline := time.Now().Add(10 * time.Second); rows(t, h) > 0; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-failed:
			t.Fatalf("janitor: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the janitor purged nothing in 10 s")
		}
	}
}

// rows counts the challenges left in the store.
func rows(t *testing.T, h *harness) int {
	t.Helper()
	var n int
	if err := tables(h.store).Get(&n, `SELECT COUNT(*) FROM sms2fa_challenges`); err != nil {
		t.Fatal(err)
	}
	return n
}

// On net/http the default client IP is the TCP peer, which no client can
// forge; behind a proxy that makes every client the proxy. A request that
// carries X-Forwarded-For while WithClientIP is unset says the app is behind
// one: the guard warns, once, and still counts the peer.
func TestWarnsAboutForwardedForWithoutClientIP(t *testing.T) {
	h := newHarness(t)
	var (
		logs syncBuffer
		mu   sync.Mutex
		ips  []string
	)
	g, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser,
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) {
			if e.Kind == sms2fa.EventCodeSent {
				mu.Lock()
				defer mu.Unlock()
				ips = append(ips, e.IP)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		c := h.client()
		c.base = newServer(t, h.app(g))
		c.login(user)
		req, err := http.NewRequest(http.MethodGet, c.base+"/app/home", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		want(t, "guarded, behind a proxy", c.do(req), http.StatusSeeOther, "/2fa")
	}
	if n := strings.Count(logs.String(), "WithClientIP is not set"); n != 1 {
		t.Fatalf("warned %d times, want once: %s", n, logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ips) != 2 || ips[0] != "127.0.0.1" || ips[1] != "127.0.0.1" {
		t.Fatalf("counted %v, want the TCP peer both times", ips)
	}
}
