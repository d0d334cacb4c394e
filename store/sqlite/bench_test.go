package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sms2fa/sms2fa/internal/cost"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
	"github.com/sms2fa/sms2fa/store/storetest"
)

// The store-level pair of the authenticator's sign-in on SQLite, as
// store/postgres has it: the operation against the one statement it cannot
// be cheaper than, on the store's own file and writer connection.

// totpUsers opens a store whose b.N users each have an authenticator.
func totpUsers(b *testing.B) *store.SQL {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.TOTPUsers(b, s)
	return s
}

// BenchmarkStoreTOTPSQLite: a right authenticator code's store step (see
// storetest.BenchUseTOTP), in one transaction, against
// BenchmarkFloorSQLiteTOTPUpdate (goal ≤ 1.5×).
func BenchmarkStoreTOTPSQLite(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchUseTOTP(b, s)
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
