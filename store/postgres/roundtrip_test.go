package postgres_test

import (
	"context"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
)

// countingConn counts the client's writes to the server. pgx buffers the
// messages of one exchange and flushes them in one write before it waits
// for the answer, so each write is one flight: one round trip.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// openCounting opens a store on a fresh schema whose connections count
// their writes into writes. One connection: every operation then runs on the
// connection the warm-up prepared every statement on, as a warm pool would.
func openCounting(t testing.TB, writes *atomic.Int64, opts ...store.Option) *store.SQL {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: writes}, nil
	}
	s, err := postgres.OpenConfig(context.Background(), cfg, append([]store.Option{store.WithMaxConns(1)}, opts...)...)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fiveBudgets are five budgets like the guard's defaults, for one user.
func fiveBudgets(user string) []contract.Budget {
	return []contract.Budget{
		{Name: "user", Key: user, Limit: 1000, Window: time.Hour},
		{Name: "phone", Key: "+919876543210", Limit: 1000, Window: time.Hour},
		{Name: "ip", Key: "203.0.113.7", Limit: 1000, Window: time.Hour},
		{Name: "prefix", Key: "+9198", Limit: 100000, Window: time.Hour},
		{Name: "global", Key: "", Limit: 1000000, Window: time.Minute},
	}
}

// TestRoundTripsPerOperation counts the round trips each operation a request
// makes costs on the wire, on a warm pool whose connection has been idle for
// more than a second. The pause is real time on purpose: pgx's database/sql
// adapter decides whether to ping a reused connection by how long it sat
// idle on the wall clock, which the store's test clock does not move.
func TestRoundTripsPerOperation(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t)
	ctx := context.Background()
	clock := testclock.New(testclock.Start)
	var writes atomic.Int64
	s := openCounting(t, &writes, store.WithClock(clock.Now))
	pol := contract.DefaultPolicy()
	mac := func(code string) []byte { return []byte("mac:" + code) }

	n := 0
	ref := func(user string) contract.Ref {
		n++
		return contract.Ref{ID: "rt-" + string(rune('a'+n)), UserID: user, Binding: "b-" + string(rune('a'+n))}
	}
	openP := func(r contract.Ref) contract.OpenParams {
		return contract.OpenParams{Ref: r, Phone: "+919876543210", Region: "IN", MAC: mac("1"), Policy: pol, Budgets: fiveBudgets(r.UserID),
			Prefix: guardsRule} // the prefix judged in the same call
	}
	grant := func(r contract.Ref) contract.GrantParams {
		return contract.GrantParams{ID: "g-" + r.ID, How: "sms", Lifetime: time.Hour}
	}
	type op struct {
		name string
		want int // the most round trips allowed; 0: only reported
		run  func() error
	}
	// One round of every operation; warm-up runs the same round on another
	// user first, so every statement is prepared on the connection.
	round := func(user string) []op {
		var a, b contract.Ref
		return []op{
			{"Open (new challenge, five budgets)", 1, func() error {
				a = ref(user)
				_, _, err := s.Open(ctx, openP(a))
				return err
			}},
			{"Open (reusing a live one)", 1, func() error {
				_, created, err := s.Open(ctx, openP(contract.Ref{ID: "unused", UserID: a.UserID, Binding: a.Binding}))
				if err == nil && created {
					t.Errorf("Open created a second challenge")
				}
				return err
			}},
			{"Verify (wrong code)", 1, func() error {
				_, _, err := s.Verify(ctx, a, contract.VerifyParams{MAC: mac("2"), Policy: pol})
				if err != contract.ErrCodeInvalid {
					t.Errorf("wrong code: %v", err)
				}
				return nil
			}},
			{"Verify (right code, grant written)", 1, func() error {
				_, g, err := s.Verify(ctx, a, contract.VerifyParams{MAC: mac("1"), Policy: pol, Grant: grant(a)})
				if err == nil && g.ID == "" {
					t.Errorf("no grant written")
				}
				return err
			}},
			{"Resend", 1, func() error {
				b = ref(user)
				if _, _, err := s.Open(ctx, openP(b)); err != nil {
					return err
				}
				clock.Advance(pol.CooldownAfter(1))
				time.Sleep(1100 * time.Millisecond) // idle again after the Open above
				writes.Store(0)
				_, err := s.Resend(ctx, b, contract.ResendParams{MAC: mac("3"), Policy: pol, Budgets: fiveBudgets(user), Prefix: guardsRule})
				return err
			}},
			{"Open (the number checked against the factor)", 1, func() error {
				if _, _, err := s.AdoptFactor(ctx, user, "+919876543210", "IN"); err != nil {
					return err
				}
				time.Sleep(1100 * time.Millisecond) // idle again after the adoption above
				writes.Store(0)
				p := openP(ref(user))
				p.CheckFactor = true
				_, created, err := s.Open(ctx, p)
				if err == nil && !created {
					t.Errorf("Open with CheckFactor created nothing")
				}
				return err
			}},
			{"Grant", 1, func() error {
				_, err := s.Grant(ctx, "g-"+a.ID, a.UserID)
				return err
			}},
			{"TOTP (the authenticator read)", 1, func() error {
				if _, err := s.SetTOTP(ctx, user, []byte("sealed"), 100, ""); err != nil {
					return err
				}
				time.Sleep(1100 * time.Millisecond) // idle again after the setup above
				writes.Store(0)
				_, err := s.TOTP(ctx, user)
				return err
			}},
			{"UseTOTP (step claimed, grant written)", 1, func() error {
				g, err := s.UseTOTP(ctx, user, contract.TOTPUse{Step: 101, Sealed: []byte("sealed"), Window: math.MaxInt32}, contract.VerifyParams{Policy: pol, Grant: contract.GrantParams{ID: "totp-" + user, How: "totp", Lifetime: time.Hour}})
				if err == nil && g.ID == "" {
					t.Errorf("no grant written")
				}
				return err
			}},
			{"UseTOTP (a used step: refused)", 1, func() error {
				if _, err := s.UseTOTP(ctx, user, contract.TOTPUse{Step: 101, Sealed: []byte("sealed"), Window: math.MaxInt32}, contract.VerifyParams{Policy: pol, Grant: contract.GrantParams{ID: "totp-again-" + user, Lifetime: time.Hour}}); err != contract.ErrCodeUsed {
					t.Errorf("a used step: %v", err)
				}
				return nil
			}},
			{"UseTOTP (wrong code counted)", 1, func() error {
				if _, err := s.UseTOTP(ctx, user, contract.TOTPUse{Step: -1, Sealed: []byte("sealed"), Window: math.MaxInt32}, contract.VerifyParams{Policy: pol}); err != contract.ErrCodeInvalid {
					t.Errorf("wrong code: %v", err)
				}
				return nil
			}},
		}
	}
	for _, o := range round("warm") {
		if err := o.run(); err != nil {
			t.Fatalf("warm-up %s: %v", o.name, err)
		}
	}
	for _, o := range round("alice") {
		time.Sleep(1100 * time.Millisecond) // idle > 1 s: the adapter's ping threshold
		writes.Store(0)
		if err := o.run(); err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		got := writes.Load()
		t.Logf("%-36s %d round trip(s)", o.name, got)
		if o.want > 0 && got > int64(o.want) {
			t.Errorf("%s: %d round trips, want at most %d", o.name, got, o.want)
		}
	}
}
