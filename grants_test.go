package sms2fa_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sms"
)

// copyCookies gives another browser every cookie of c: what a thief of the
// cookie file (or a shared computer) would have.
func (c *client) copyCookies() *client {
	c.h.t.Helper()
	d := c.h.client()
	d.base = c.base
	u, _ := url.Parse(c.base)
	d.http.Jar.SetCookies(u, c.http.Jar.Cookies(u))
	return d
}

// Logout revokes the grant: a copy of the cookies taken before it dies within
// the recheck interval, measured on the guard's clock.
func TestLogoutReachesCopiedCookies(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	thief := c.copyCookies()
	want(t, "the copy works before logout", thief.get("/app/home"), http.StatusOK, "")
	want(t, "logout", c.post("/logout", nil), http.StatusNoContent, "")
	want(t, "the browser that logged out", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	// Inside the recheck interval the copy still rides on its mark: that
	// is the price of a verified path with no database call.
	h.clock.Advance(59 * time.Second)
	want(t, "the copy, inside the interval", thief.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(time.Second)
	want(t, "the copy, once the interval is over", thief.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.eventCount(sms2fa.EventGrantRevoked) != 1 {
		t.Fatalf("grant_revoked events: %d", h.eventCount(sms2fa.EventGrantRevoked))
	}
}

// Sign out everywhere revokes every grant of the user: every browser, and
// every copy, falls back to the code step within the recheck interval; other
// users are untouched.
func TestSignOutEverywhere(t *testing.T) {
	roomy := sms.Rate{Limit: 10, Window: time.Hour}
	h := newHarness(t, sms2fa.WithRecheck(10*time.Second), sms2fa.WithSMS(sms.WithUserLimit(roomy)), sms2fa.WithSMS(sms.WithPhoneLimit(roomy)))
	laptop, phone := h.signIn("alice", alicePhone), h.signIn("alice", alicePhone)
	copied := laptop.copyCookies()
	bob := h.signIn("bob", bobPhone)
	n, err := h.guard.SignOutEverywhere(context.Background(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("SignOutEverywhere = %d, %v; want 2 grants", n, err)
	}
	h.clock.Advance(10 * time.Second)
	for _, c := range []*client{phone, copied, laptop} {
		want(t, "after sign-out everywhere", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	}
	want(t, "bob", bob.get("/app/home"), http.StatusOK, "")
	// And signing in again works as ever (the laptop's code was sent last).
	want(t, "alice again", laptop.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
}

// A grant read that fails, fails closed.
func TestGrantReadFailsClosed(t *testing.T) {
	h := newHarness(t)
	broken := &brokenGrants{countingStore: countingStore{Store: h.store}}
	c := h.client().login("alice")
	c.base = newServer(t, h.app(h.newGuard(broken)))
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(t, "verify", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
	want(t, "inside the interval", c.get("/app/home"), http.StatusOK, "")
	h.clock.Advance(time.Minute)
	broken.fail = true
	want(t, "the recheck fails", c.get("/app/home"), http.StatusServiceUnavailable, "")
}

type brokenGrants struct {
	countingStore
	fail bool
}

func (b *brokenGrants) Grant(ctx context.Context, id, userID string) (contract.Grant, error) {
	if b.fail {
		return contract.Grant{}, errors.New("connection reset")
	}
	return b.Store.Grant(ctx, id, userID)
}

// A sensitive GET asks for a fresh code once the last one is over 5 minutes
// old, sends nothing more on reloads, and comes back to the route: no loop.
func TestStepUpGET(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	want(t, "fresh from sign-in", c.get("/secure/transfer"), http.StatusOK, "")
	h.clock.Advance(5 * time.Minute)
	sent := h.fake.Count()
	want(t, "stale", c.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	if h.fake.Count() != sent+1 {
		t.Fatal("no step-up code was sent")
	}
	m, _ := h.fake.Last(alicePhone)
	if m.Purpose != "transaction" {
		t.Fatalf("step-up purpose %q, want transaction", m.Purpose)
	}
	// The code page serves the step-up, even though the grant is valid.
	wantPage(t, "code page", c.get("/2fa"), "We sent a 6-digit code")
	want(t, "stale again", c.get("/secure/transfer"), http.StatusSeeOther, "/2fa")
	wantPage(t, "reload", c.get("/2fa"), "We sent a 6-digit code")
	if h.fake.Count() != sent+1 {
		t.Fatalf("reloads sent %d more codes", h.fake.Count()-sent-1)
	}
	// The ordinary routes stay open meanwhile.
	want(t, "ordinary route", c.get("/app/home"), http.StatusOK, "")
	want(t, "step-up verify", c.verify(m.Code), http.StatusSeeOther, "/secure/transfer")
	want(t, "back at the route", c.get("/secure/transfer"), http.StatusOK, "")
	if h.eventCount(sms2fa.EventGrantRefreshed) != 1 {
		t.Fatalf("grant_refreshed events: %d", h.eventCount(sms2fa.EventGrantRefreshed))
	}
	h.clock.Advance(4 * time.Minute)
	want(t, "still fresh", c.get("/secure/transfer"), http.StatusOK, "")
}

// A sensitive POST is never replayed: the browser goes to the code page, then
// to the page the form was on (same-origin Referer), or "/".
func TestStepUpPOST(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	h.clock.Advance(time.Hour)
	for _, tc := range []struct{ referer, after string }{
		{c.base + "/app/form?x=1", "/app/form?x=1"},
		{"https://evil.example/app/form", "/"},
		{"", "/"},
	} {
		req := c.postRequest("/secure/transfer", url.Values{"amount": {"100"}})
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		r := c.do(req)
		want(t, "stale POST from "+tc.referer, r, http.StatusSeeOther, "/2fa")
		want(t, "verify after "+tc.referer, c.verify(h.code(alicePhone)), http.StatusSeeOther, tc.after)
		h.clock.Advance(time.Hour)
	}
}

// JSON clients get 401 recent_second_factor_required with the state, and a
// step-up code never counts as, or consumes, a login challenge.
func TestStepUpJSON(t *testing.T) {
	h := newHarness(t)
	c := h.signIn("alice", alicePhone)
	c.json = true
	h.clock.Advance(10 * time.Minute)
	r := c.get("/secure/transfer")
	body := r.decode(t)
	if r.status != http.StatusUnauthorized || body["error"] != "recent_second_factor_required" || body["verify_url"] != "/2fa/verify" {
		t.Fatalf("stale JSON: %d %v", r.status, body)
	}
	if jsonInt(t, body, "expires_in") != 300 {
		t.Fatalf("state: %v", body)
	}
	code := h.code(alicePhone)
	// A second browser of alice, signing in, gets its own login challenge:
	// the step-up code of the first is worthless there.
	other := h.client().login("alice")
	want(t, "other browser", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.code(alicePhone) != code { // one in a million, they collide: nothing to show then
		wantPage(t, "step-up code in a login", other.verify(code), "That code is not right")
	}
	v := c.postJSON("/2fa/verify", map[string]string{"code": code})
	if v.status != http.StatusOK || v.decode(t)["redirect"] != "/" {
		t.Fatalf("step-up verify: %d %s", v.status, v.body)
	}
	want(t, "fresh", c.get("/secure/transfer"), http.StatusOK, "")
}

// Optional users without a number pass, and handlers can tell; required
// users without one are sent to enrol; on a sensitive route, so is everyone
// without a number.
func TestUsersWithoutANumber(t *testing.T) {
	h := newHarness(t)
	olive := h.client().login("olive")
	if r := olive.get("/app/status"); r.status != http.StatusOK || r.body != "olive no_second_factor" {
		t.Fatalf("optional user: %d %q", r.status, r.body)
	}
	alice := h.signIn("alice", alicePhone)
	if r := alice.get("/app/status"); r.body != "alice verified" {
		t.Fatalf("verified user: %q", r.body)
	}
	for _, tc := range []struct {
		who  *client
		path string
	}{{h.client().login("rita"), "/app/home"}, {olive, "/secure/transfer"}} {
		tc.who.json = true
		r := tc.who.get(tc.path)
		if body := r.decode(t); r.status != http.StatusUnauthorized || body["error"] != "enrolment_required" || body["enroll_url"] != "/2fa/enroll" {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		tc.who.json = false
		want(t, tc.path+" as HTML", tc.who.get(tc.path), http.StatusSeeOther, "/2fa/enroll")
	}
	if h.fake.Count() != 1 {
		t.Fatalf("%d codes sent; only alice's should be", h.fake.Count())
	}
}

// Unlock clears a lockout (and the user's own budgets) for an admin.
func TestUnlock(t *testing.T) {
	h := newHarness(t, sms2fa.WithLockout(3, time.Hour, time.Hour))
	c := h.client().login("alice")
	c.get("/app/home")
	for range 3 {
		c.verify(h.wrong())
	}
	wantPage(t, "locked", c.verify(h.code(alicePhone)), "Too many wrong codes")
	if err := h.guard.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	want(t, "after unlock", c.verify(h.code(alicePhone)), http.StatusSeeOther, "/app/home")
	if h.eventCount(sms2fa.EventUnlocked) != 1 || h.eventCount(sms2fa.EventGrantCreated) != 1 {
		t.Fatalf("events: %v", h.allEvents())
	}
}
