package sms2fa_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/sms"
)

// dialects runs fn against SQLite and against Postgres (skipped without a
// Postgres DSN, failed without one under CI).
func dialects(t *testing.T, fn func(t *testing.T, open func(t testing.TB) opener)) {
	t.Run("SQLite", func(t *testing.T) { t.Parallel(); fn(t, onSQLite) })
	t.Run("Postgres", func(t *testing.T) { t.Parallel(); fn(t, onPostgres) })
}

// Every send budget trips exactly at its limit when many sessions ask at
// once, resets when its window ends, and refuses without calling the sender.
func TestBudgetsUnderConcurrency(t *testing.T) {
	const limit, askers = 5, 20
	rate := sms.Rate{Limit: limit, Window: time.Hour}
	off := []sms2fa.Option{sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithPhoneLimit()), sms2fa.WithSMS(sms.WithIPLimit()), sms2fa.WithSMS(sms.WithPrefixLimit(6)), sms2fa.WithSMS(sms.WithGlobalLimit())}
	cases := []struct {
		budget string
		opt    sms2fa.Option
		user   func(i int) string
	}{
		{"user", sms2fa.WithSMS(sms.WithUserLimit(rate)), func(int) string { return "alice" }},
		{"phone", sms2fa.WithSMS(sms.WithPhoneLimit(rate)), func(int) string { return "alice" }},
		{"ip", sms2fa.WithSMS(sms.WithIPLimit(rate)), func(i int) string { return fmt.Sprintf("p%02d", i) }},
		{"prefix", sms2fa.WithSMS(sms.WithPrefixLimit(6, rate)), func(i int) string { return fmt.Sprintf("p%02d", i) }},
		{"global", sms2fa.WithSMS(sms.WithGlobalLimit(rate)), func(i int) string { return fmt.Sprintf("p%02d", i) }},
	}
	dialects(t, func(t *testing.T, open func(testing.TB) opener) {
		for _, tc := range cases {
			t.Run(tc.budget, func(t *testing.T) {
				h := newHarnessOn(t, open(t), append(off, tc.opt)...)
				clients := make([]*client, askers+1)
				for i := range clients {
					clients[i] = h.client().login(tc.user(i))
				}
				var wg sync.WaitGroup
				for _, c := range clients[:askers] {
					wg.Add(1)
					go func() { defer wg.Done(); c.get("/app/home") }()
				}
				wg.Wait()
				if n := h.fake.Count(); n != limit {
					t.Fatalf("%d sessions asked at once against a budget of %d: %d sends", askers, limit, n)
				}
				refused := 0
				for _, e := range h.allEvents() {
					if (e.Kind == sms2fa.EventSendRefused || e.Kind == sms2fa.EventGlobalLimit) && e.Budget == tc.budget {
						refused++
					}
				}
				if refused != askers-limit {
					t.Fatalf("%d refusals reported for budget %s, want %d", refused, tc.budget, askers-limit)
				}
				h.clock.Advance(time.Hour)
				want(t, "after the window", clients[askers].get("/app/home"), http.StatusSeeOther, "/2fa")
				if n := h.fake.Count(); n != limit+1 {
					t.Fatalf("the window did not reset: %d sends", n)
				}
			})
		}
	})
}

// Two instances — separate Gin engines, guards and store handles — on one
// database behave as one: budgets, cooldowns and lockouts are rows, never
// process memory.
func TestInstancesShareEverything(t *testing.T) {
	dialects(t, func(t *testing.T, open func(testing.TB) opener) {
		h := newHarnessOn(t, open(t), sms2fa.WithLockout(4, 15*time.Minute, time.Hour),
			sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 3, Window: time.Hour})), sms2fa.WithSMS(sms.WithUserLimit()))
		other := h.instance()
		a := h.client().login("alice")
		b := h.client().login("alice")
		b.base = other

		// One challenge per session, whichever instance serves it.
		a.get("/app/home")
		codeA := h.code(alicePhone)
		b.get("/app/home")
		a.base = other
		a.get("/app/home")
		a.base = h.srv.URL
		if h.fake.Count() != 2 {
			t.Fatalf("sends = %d", h.fake.Count())
		}
		// The cooldown started on one instance holds on the other.
		b.base = h.srv.URL
		wantPage(t, "resend on the other instance", b.post("/2fa/resend", nil), "You can ask for a new code in")
		b.base = other
		// The phone budget (3) is shared: the third send fits, the fourth does not.
		c := h.client().login("alice")
		c.get("/app/home")
		d := h.client().login("alice")
		d.base = other
		d.get("/app/home")
		if h.fake.Count() != 3 {
			t.Fatalf("the phone budget was not shared: %d sends", h.fake.Count())
		}
		// Wrong codes alternate between instances; the fourth locks the user everywhere.
		wrong := h.wrong()
		for i, cl := range []*client{a, b, a} {
			wantPage(t, fmt.Sprintf("wrong %d", i+1), cl.verify(wrong), "That code is not right")
		}
		wantPage(t, "fourth wrong", b.verify(wrong), "Try again in 15 min")
		wantPage(t, "right code, first instance", a.verify(codeA), "Try again in 15 min")
		a.base = other
		wantPage(t, "right code, other instance", a.verify(codeA), "Try again in 15 min")
		h.clock.Advance(15 * time.Minute)
		wantPage(t, "right code after the lock", a.verify(codeA), "This code has expired") // 5-minute codes
	})
}
