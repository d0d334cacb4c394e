package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/sender"
)

func TestParseRates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []sms2fa.Rate // nil with ok: off
		ok   bool
	}{
		{"20/1h", []sms2fa.Rate{{Limit: 20, Window: time.Hour}}, true},
		{"10/24h", []sms2fa.Rate{{Limit: 10, Window: 24 * time.Hour}}, true},
		{"3/10m,10/24h", []sms2fa.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}, true},
		{"3/10m, 10/24h", []sms2fa.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}, true},
		{"1/1s", []sms2fa.Rate{{Limit: 1, Window: time.Second}}, true},
		{"5/1h30m", []sms2fa.Rate{{Limit: 5, Window: 90 * time.Minute}}, true},
		{"off", nil, true},
		{"0/1h", nil, false},
		{"-1/1h", nil, false},
		{"+5/1h", nil, false},
		{"5", nil, false},
		{"5/", nil, false},
		{"/1h", nil, false},
		{"5/xyz", nil, false},
		{"5/1", nil, false}, // a duration needs its unit
		{"5/0s", nil, false},
		{"5/-1h", nil, false},
		{"5/500ms", nil, false}, // the guard needs windows ≥ 1s
		{"3/10m,", nil, false},
		{",3/10m", nil, false},
		{"3/10m,,10/24h", nil, false},
		{" ", nil, false},
		{"off,3/10m", nil, false},
		{"OFF", nil, false},
		{"99999999999999999999/1h", nil, false},
	} {
		got, err := parseRates(tc.in)
		switch {
		case tc.ok && err != nil:
			t.Errorf("parseRates(%q): %v", tc.in, err)
		case tc.ok && !reflect.DeepEqual(got, tc.want):
			t.Errorf("parseRates(%q) = %v, want %v", tc.in, got, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("parseRates(%q) = %v, want an error", tc.in, got)
		}
	}
}

var budgetVars = []string{"SMS2FA_USER_LIMIT", "SMS2FA_PHONE_LIMIT", "SMS2FA_IP_LIMIT", "SMS2FA_PREFIX_LIMIT", "SMS2FA_GLOBAL_LIMIT"}

// Every bad budget or proxy list stops the demo with one line that names
// its variable, like the other settings.
func TestConfigRefusesBadBudgetsAndProxies(t *testing.T) {
	type bad struct{ name, value string }
	var cases []bad
	for _, name := range budgetVars {
		for _, v := range []string{"0/1h", "5", "5/xyz", "5/0s", "-1/1h", "5/500ms", "3/10m,", "3/10m,,10/24h", "off,1/1h"} {
			cases = append(cases, bad{name, v})
		}
	}
	for _, v := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1,", ",10.0.0.1", "10.0.0.0/8,,192.168.0.1", "fe80::1%eth0", "1.2.3.4:80"} {
		cases = append(cases, bad{"TRUSTED_PROXIES", v})
	}
	for _, tc := range cases {
		_, err := configFrom(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: error %v, want one line naming %s", tc.name, tc.value, err, tc.name)
		}
	}
	// run refuses before it listens or opens a store.
	err := run(t.Context(), env(map[string]string{"SMS2FA_IP_LIMIT": "5/500ms", "DATABASE_URL": t.TempDir() + "/x.db"}), io.Discard, nil, serverTimeouts)
	if err == nil || !strings.HasPrefix(err.Error(), "SMS2FA_IP_LIMIT: ") {
		t.Errorf("run with a bad SMS2FA_IP_LIMIT: %v", err)
	}
}

func TestConfigBudgetsAndProxies(t *testing.T) {
	c, err := configFrom(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []budget{c.userLimit, c.phoneLimit, c.ipLimit, c.prefixLimit, c.globalLimit} {
		if b.set {
			t.Errorf("unset budget read as %+v; want the guard's default", b)
		}
	}
	if c.trustedProxies != nil {
		t.Errorf("TRUSTED_PROXIES unset: %v, want nil (trust no proxy)", c.trustedProxies)
	}
	c, err = configFrom(env(map[string]string{
		"SMS2FA_USER_LIMIT":   "3/10m,10/24h",
		"SMS2FA_PHONE_LIMIT":  "off",
		"SMS2FA_IP_LIMIT":     "20/1h",
		"SMS2FA_PREFIX_LIMIT": "50/1h",
		"SMS2FA_GLOBAL_LIMIT": "500/24h",
		"TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.1.7,::1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]budget{
		"user":   {true, []sms2fa.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}},
		"phone":  {true, nil},
		"ip":     {true, []sms2fa.Rate{{Limit: 20, Window: time.Hour}}},
		"prefix": {true, []sms2fa.Rate{{Limit: 50, Window: time.Hour}}},
		"global": {true, []sms2fa.Rate{{Limit: 500, Window: 24 * time.Hour}}},
	}
	got := map[string]budget{"user": c.userLimit, "phone": c.phoneLimit, "ip": c.ipLimit, "prefix": c.prefixLimit, "global": c.globalLimit}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("budgets = %+v, want %+v", got, want)
	}
	if want := []string{"10.0.0.0/8", "192.168.1.7", "::1"}; !reflect.DeepEqual(c.trustedProxies, want) {
		t.Errorf("trusted proxies = %q, want %q", c.trustedProxies, want)
	}
}

// visitor is one browser-less client of the demo: its own cookies, no
// redirects followed, JSON answers from the guard.
type visitor struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newVisitor(t *testing.T, base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t, base, &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request carrying forwarded, when not empty, in the headers a
// proxy would set, and returns the status and the JSON "error"/"reason".
func (v *visitor) do(method, path string, form url.Values, forwarded string) (int, string) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	if forwarded != "" {
		req.Header.Set("X-Forwarded-For", forwarded)
		req.Header.Set("X-Real-IP", forwarded)
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error, Reason string }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body) // the login answers with a redirect, not JSON
	return resp.StatusCode, body.Error + " " + body.Reason
}

func (v *visitor) login(name string) {
	v.t.Helper()
	if status, _ := v.do(http.MethodPost, "/login", url.Values{"username": {name}, "password": {name + "-password"}}, ""); status != http.StatusSeeOther {
		v.t.Fatalf("login as %s: %d", name, status)
	}
}

// send asks for a code, from the forwarded address: the first time by
// opening the guarded dashboard, later through the resend form. It reports
// whether the fake sender got a message, and what the guard answered.
func (v *visitor) send(fake *sender.Fake, first bool, forwarded string) (bool, string) {
	v.t.Helper()
	before := fake.Count()
	var status int
	var answer string
	if first {
		status, answer = v.do(http.MethodGet, "/dashboard", nil, forwarded)
	} else {
		status, answer = v.do(http.MethodPost, "/2fa/resend", url.Values{}, forwarded)
	}
	return fake.Count() > before, fmt.Sprintf("%d %s", status, answer)
}

// With TRUSTED_PROXIES unset the demo ignores X-Forwarded-For: a client
// that spoofs a new address on every request still spends one IP budget.
// Naming the proxy makes the header count, one budget per forwarded client.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	vars := func(proxies string) map[string]string {
		return map[string]string{
			"SMS2FA_IP_LIMIT":        "3/1h",
			"SMS2FA_USER_LIMIT":      "off",
			"SMS2FA_PHONE_LIMIT":     "off",
			"SMS2FA_RESEND_COOLDOWN": "0s",
			"TRUSTED_PROXIES":        proxies,
		}
	}
	spoofed := []string{"203.0.113.9", "198.51.100.77", "192.0.2.200", "203.0.113.54"}

	t.Run("untrusted", func(t *testing.T) {
		srv, fake := demoEnv(t, vars(""))
		alice, bob := newVisitor(t, srv.URL), newVisitor(t, srv.URL)
		alice.login("alice")
		bob.login("bob")
		steps := []struct {
			who   *visitor
			first bool
		}{{alice, true}, {alice, false}, {bob, true}, {bob, false}}
		for i, s := range steps {
			sent, answer := s.who.send(fake, s.first, spoofed[i])
			if want := i < 3; sent != want {
				t.Fatalf("send %d from spoofed %s: sent=%v (%s), want %v", i+1, spoofed[i], sent, answer, want)
			}
			if i == 3 && !strings.Contains(answer, "send_limited") {
				t.Fatalf("the 4th send was refused with %q, want send_limited", answer)
			}
		}
		if n := fake.Count(); n != 3 {
			t.Fatalf("%d codes sent, want the IP budget's 3", n)
		}
	})

	t.Run("trusted", func(t *testing.T) {
		srv, fake := demoEnv(t, vars("127.0.0.1/32"))
		alice, bob := newVisitor(t, srv.URL), newVisitor(t, srv.URL)
		alice.login("alice")
		bob.login("bob")
		// Four clients behind the proxy: four budgets, so all four sends go.
		for i, s := range []struct {
			who   *visitor
			first bool
		}{{alice, true}, {alice, false}, {bob, true}, {bob, false}} {
			if sent, answer := s.who.send(fake, s.first, spoofed[i]); !sent {
				t.Fatalf("send %d for forwarded %s refused: %s", i+1, spoofed[i], answer)
			}
		}
		// The first client spends the rest of its own budget, and no more.
		for i, want := range []bool{true, true, false} {
			sent, answer := alice.send(fake, false, spoofed[0])
			if sent != want {
				t.Fatalf("resend %d for %s: sent=%v (%s), want %v", i+1, spoofed[0], sent, answer, want)
			}
			if !want && !strings.Contains(answer, "send_limited") {
				t.Fatalf("refused with %q, want send_limited", answer)
			}
		}
		if n := fake.Count(); n != 6 {
			t.Fatalf("%d codes sent, want 6", n)
		}
	})
}

// Each SMS2FA_*_LIMIT reaches its guard option: with that budget at one
// send an hour and the others off, the second send is refused.
func TestEachLimitReachesTheGuard(t *testing.T) {
	for _, name := range budgetVars {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"SMS2FA_RESEND_COOLDOWN": "0s"}
			for _, other := range budgetVars {
				vars[other] = "off"
			}
			vars[name] = "1/1h"
			srv, fake := demoEnv(t, vars)
			alice := newVisitor(t, srv.URL)
			alice.login("alice")
			if sent, answer := alice.send(fake, true, ""); !sent {
				t.Fatalf("first send refused: %s", answer)
			}
			sent, answer := alice.send(fake, false, "")
			if sent || !strings.Contains(answer, "send_limited") {
				t.Fatalf("second send: sent=%v (%s), want send_limited", sent, answer)
			}
		})
	}
	// And "off" everywhere means no budget refuses anything.
	vars := map[string]string{"SMS2FA_RESEND_COOLDOWN": "0s"}
	for _, name := range budgetVars {
		vars[name] = "off"
	}
	srv, fake := demoEnv(t, vars)
	alice := newVisitor(t, srv.URL)
	alice.login("alice")
	for i := range 25 { // past every default: 3 per user, per phone; 20 per IP, per prefix
		if sent, answer := alice.send(fake, i == 0, ""); !sent {
			t.Fatalf("send %d with every budget off: %s", i+1, answer)
		}
	}
}
