package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/cost"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/storetest"
)

// The benchmarks pair each operation with its floor: the one statement
// that the operation cannot be cheaper than, through the same pool. The
// ratio, not the absolute time, is what they watch (goals: Verify ≤ 1.5×
// one UPDATE … RETURNING, Open ≤ 2× one INSERT). They use the database's
// clock, as production does, and report the client's CPU time per
// operation beside the wall time, which swings with the machine's noise.

func benchStore(b *testing.B) *store.SQL {
	b.Helper()
	s, err := postgres.Open(context.Background(), pgtest.Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// guardsRule is the prefix block as the guard applies it by default
// (sms.WithAutoBlock): every send counted against its prefix, and judged.
var guardsRule = contract.PrefixRule{Key: "+91987654", Mode: contract.PrefixOn, MinSends: 20, Conversion: 0.35,
	For: 12 * time.Hour, Max: 7 * 24 * time.Hour}

func benchOpen(b *testing.B, s *store.SQL, i int, budgets bool) (contract.Ref, contract.OpenParams) {
	ref := contract.Ref{ID: fmt.Sprintf("bench-%d", i), UserID: fmt.Sprintf("user-%d", i), Binding: fmt.Sprintf("b-%d", i)}
	p := contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: "IN", MAC: []byte("mac:1"), Policy: contract.DefaultPolicy(),
		Prefix: guardsRule}
	if budgets {
		p.Budgets = fiveBudgets(ref.UserID)
		for j := range p.Budgets {
			p.Budgets[j].Limit = 1 << 30
		}
	}
	return ref, p
}

// openedChallenges opens b.N challenges, one per user, before the timer.
func openedChallenges(b *testing.B) (*store.SQL, []contract.Ref) {
	ctx := context.Background()
	s := benchStore(b)
	refs := make([]contract.Ref, b.N)
	for i := range b.N {
		ref, p := benchOpen(b, s, i, false)
		if _, _, err := s.Open(ctx, p); err != nil {
			b.Fatal(err)
		}
		refs[i] = ref
	}
	return s, refs
}

// BenchmarkStoreVerifyPostgres: a right code, a grant written.
func BenchmarkStoreVerifyPostgres(b *testing.B) {
	ctx := context.Background()
	s, refs := openedChallenges(b)
	pol := contract.DefaultPolicy()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		g := contract.GrantParams{ID: "g-" + refs[i].ID, How: "sms", Lifetime: time.Hour}
		if _, gr, err := s.Verify(ctx, refs[i], contract.VerifyParams{MAC: []byte("mac:1"), Policy: pol, Grant: g}); err != nil || gr.ID == "" {
			b.Fatalf("verify: %v", err)
		}
	}
}

// BenchmarkFloorPostgresUpdate is Verify's floor: one UPDATE … RETURNING of
// a challenge row.
func BenchmarkFloorPostgresUpdate(b *testing.B) {
	ctx := context.Background()
	s, refs := openedChallenges(b)
	st, err := s.DB().PrepareContext(ctx, `UPDATE sms2fa_challenges SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts`)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		var n int
		if err := st.QueryRowContext(ctx, refs[i].ID).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreOpenPostgres: a new challenge for a user with an enrolled
// number, as the guard opens one (the number checked against the factor in
// the same call), five budgets taken.
func BenchmarkStoreOpenPostgres(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	// The users, with their numbers enrolled, as earlier sign-ins left them.
	if _, err := s.DB().ExecContext(ctx, `
		WITH n AS (SELECT generate_series(0, $1 - 1) AS i),
		u AS (INSERT INTO sms2fa_users (user_id, updated_at) SELECT 'user-' || i, 0 FROM n)
		INSERT INTO sms2fa_factors (user_id, phone, region, enrolled_at, version, updated_at)
		SELECT 'user-' || i, '+919876543210', 'IN', 0, 1, 0 FROM n`, b.N); err != nil {
		b.Fatal(err)
	}
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		_, p := benchOpen(b, s, i, true)
		p.CheckFactor = true
		if _, created, err := s.Open(ctx, p); err != nil || !created {
			b.Fatalf("open: %v", err)
		}
	}
}

// BenchmarkFloorPostgresInsert is Open's floor: one INSERT of a challenge
// row.
func BenchmarkFloorPostgresInsert(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	st, err := s.DB().PrepareContext(ctx, `INSERT INTO sms2fa_challenges
		(id, user_id, flow, grant_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, sends, next_send_at)
		VALUES ($1, $2, 'login', '', $3, '+919876543210', 'IN', $4, $5, $6, 5, 1, $7)`)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UnixMilli()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		if _, err := st.ExecContext(ctx, fmt.Sprintf("bench-%d", i), fmt.Sprintf("user-%d", i), fmt.Sprintf("b-%d", i),
			[]byte("mac:1"), now, now+300000, now+30000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreTOTPPostgres: a right authenticator code's store step (see
// storetest.BenchUseTOTP), in one call of sms2fa_use_totp, against
// BenchmarkFloorPostgresUpdate (goal ≤ 1.5×).
func BenchmarkStoreTOTPPostgres(b *testing.B) { storetest.BenchUseTOTP(b, benchStore(b)) }
