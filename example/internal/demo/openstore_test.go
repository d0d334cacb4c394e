package demo

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/store"
)

// openStore picks the dialect from DATABASE_URL: a postgres:// URL is
// Postgres (set SMS2FA_TEST_POSTGRES_DSN to check), anything else a SQLite
// file; a failure names the variable.
func TestOpenStorePicksDialect(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
		want store.Dialect
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "demo.db") }, store.SQLite},
		{"postgres", func(t *testing.T) string { return pgtest.Fresh(t) }, store.Postgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := OpenStore(t.Context(), tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.Dialect() != tc.want {
				t.Fatalf("dialect %s, want %s", st.Dialect(), tc.want)
			}
		})
	}
	_, err := OpenStore(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") {
		t.Fatalf("an unreachable Postgres: %v, want an error naming DATABASE_URL", err)
	}
}
