package demotest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
)

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
func (s Suite) ForwardedForOnlyFromTrustedProxies(t *testing.T) {
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
		srv, fake := s.demoEnv(t, vars(""))
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
		srv, fake := s.demoEnv(t, vars("127.0.0.1/32"))
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
func (s Suite) EachLimitReachesTheGuard(t *testing.T) {
	for _, name := range budgetVars {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"SMS2FA_RESEND_COOLDOWN": "0s"}
			for _, other := range budgetVars {
				vars[other] = "off"
			}
			vars[name] = "1/1h"
			srv, fake := s.demoEnv(t, vars)
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
	srv, fake := s.demoEnv(t, vars)
	alice := newVisitor(t, srv.URL)
	alice.login("alice")
	for i := range 25 { // past every default: 3 per user, per phone; 20 per IP, per prefix
		if sent, answer := alice.send(fake, i == 0, ""); !sent {
			t.Fatalf("send %d with every budget off: %s", i+1, answer)
		}
	}
}

// budgetVars are the examples' send-budget variables.
var budgetVars = []string{"SMS2FA_USER_LIMIT", "SMS2FA_PHONE_LIMIT", "SMS2FA_IP_LIMIT", "SMS2FA_PREFIX_LIMIT", "SMS2FA_GLOBAL_LIMIT"}

// SMS2FA_AUTOBLOCK reaches the guard. With alice's prefix (+91987654)
// blocked by an operator and her number not yet known good: on (and the
// default) refuses her code with prefix_blocked; monitor and off send it.
// The threshold's variables are checked where they are read (package
// demo): crossing a threshold needs codes to expire, which takes minutes
// of a real clock.
func (s Suite) AutoBlockReachesTheGuard(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		refused bool
	}{{"", true}, {"on", true}, {"monitor", false}, {"off", false}} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			srv, fake := s.demoEnvWith(t, map[string]string{"SMS2FA_AUTOBLOCK": tc.mode}, func(st *store.SQL) {
				if _, err := st.BlockPrefix(context.Background(), "+91987654", time.Hour); err != nil {
					t.Fatal(err)
				}
			})
			alice := newVisitor(t, srv.URL)
			alice.login("alice")
			sent, answer := alice.send(fake, false, "")
			if sent == tc.refused || tc.refused && !strings.Contains(answer, "prefix_blocked") {
				t.Fatalf("alice's code: sent=%v (%s), want refused=%v with prefix_blocked", sent, answer, tc.refused)
			}
		})
	}
}
