package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
)

// A send whose judging starts a block, and that goes ahead (monitor mode),
// forgets the prefix's codes in flight only after it has taken its budgets
// — the order every writer keeps: budgets, then minutes of flight. Played
// out by hand: another send's transaction holds the shared budget and then
// adds its code to a minute in flight while the first waits for that
// budget. Forgetting the flight before the budgets, as the judge once did,
// deadlocked here.
func TestPrefixBlockStartKeepsLockOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testclock.New(testclock.Start)
	s, err := postgres.Open(ctx, pgtest.Fresh(t), store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const prefix = "+91987654"
	pol := contract.DefaultPolicy()
	rule := contract.PrefixRule{Key: prefix, Mode: contract.PrefixMonitor, MinSends: 4, Conversion: 0.5, For: time.Hour, Max: 4 * time.Hour}
	global := []contract.Budget{{Name: "global", Limit: 1000, Window: 24 * time.Hour}}
	open := func(user string) (contract.Challenge, error) {
		c, _, err := s.Open(ctx, contract.OpenParams{Ref: contract.Ref{ID: "c-" + user, UserID: user, Binding: "b"},
			Phone: fmt.Sprintf("%s%04d", prefix, len(user)), Region: "IN", MAC: []byte("m"), Policy: pol, Budgets: global, Prefix: rule})
		return c, err
	}
	for _, u := range []string{"u1", "u22", "u333", "u4444"} {
		if _, err := open(u); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	if _, err := open("inflight"); err != nil { // a code in flight, in minute m
		t.Fatal(err)
	}
	m := (clock.Now().Add(pol.CodeTTL).UnixMilli() + 59_999) / 60_000 * 60_000
	clock.Advance(pol.CodeTTL - 30*time.Second) // the four are due to be judged; m is not

	// Another send, by hand: its budget first.
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var xid string
	if err := tx.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sms2fa_budgets SET used = used + 1 WHERE name = 'global'`); err != nil {
		t.Fatal(err)
	}
	// The send that starts the block, waiting for that budget.
	type result struct {
		c   contract.Challenge
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := open("starter")
		done <- result{c, err}
	}()
	waiting := false
	for deadline := time.Now().Add(10 * time.Second); !waiting && time.Now().Before(deadline); {
		if err := s.DB().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1)`, xid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if !waiting {
			time.Sleep(10 * time.Millisecond) // polling a condition, not hoping for one
		}
	}
	if !waiting {
		t.Fatal("the starting send never waited for the budget")
	}
	// The other send adds its code to minute m, then commits.
	if _, err := tx.ExecContext(ctx, `INSERT INTO sms2fa_prefix_flight AS fl (prefix, ends_at, sends) VALUES ($1, $2, 1)
		ON CONFLICT (prefix, ends_at) DO UPDATE SET sends = fl.sends + 1`, prefix, m); err != nil {
		t.Fatalf("the other send's code: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.c.Prefix == nil || !r.c.Prefix.Started || r.c.Prefix.Refused {
		t.Fatalf("the starting send: %+v, %v; want it sent, having started the block", r.c.Prefix, r.err)
	}
	if st, err := s.Prefix(ctx, prefix); err != nil || st.InFlight != 1 {
		t.Fatalf("after the block: %+v, %v; want only the starting send in flight", st, err)
	}
}
