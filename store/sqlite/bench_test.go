package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/cost"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// The store-level pair of the authenticator's sign-in on SQLite, as
// store/postgres has it: the operation against the one statement it cannot
// be cheaper than, on the store's own file and writer connection.

// totpUsers opens a store whose b.N users each have an authenticator.
func totpUsers(b *testing.B) *store.SQL {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for i := range b.N {
		if _, err := s.SetTOTP(ctx, fmt.Sprintf("user-%d", i), []byte("sealed"), 100, ""); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkStoreTOTPSQLite: a right authenticator code's store step — the
// step claimed and the grant written in one transaction; the read of the
// sealed secret before it is not timed — against
// BenchmarkFloorSQLiteTOTPUpdate (goal ≤ 1.5×).
func BenchmarkStoreTOTPSQLite(b *testing.B) {
	ctx := context.Background()
	s := totpUsers(b)
	pol := contract.DefaultPolicy()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		user := fmt.Sprintf("user-%d", i)
		g := contract.GrantParams{ID: "g-" + user, How: "totp", Lifetime: time.Hour}
		if gr, err := s.UseTOTP(ctx, user, contract.TOTPUse{Step: 101, Sealed: []byte("sealed"), Window: math.MaxInt32}, contract.VerifyParams{Policy: pol, Grant: g}); err != nil || gr.ID == "" {
			b.Fatalf("use: %v", err)
		}
	}
}

// BenchmarkFloorSQLiteTOTPUpdate is its floor: one UPDATE … RETURNING of a
// user's authenticator row, through the store's writer connection.
func BenchmarkFloorSQLiteTOTPUpdate(b *testing.B) {
	ctx := context.Background()
	s := totpUsers(b)
	st, err := s.DB().PrepareContext(ctx, `UPDATE sms2fa_totp SET last_step = last_step + 1 WHERE user_id = ? RETURNING last_step`)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		var n int64
		if err := st.QueryRowContext(ctx, fmt.Sprintf("user-%d", i)).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}
