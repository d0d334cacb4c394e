package postgres_test

import (
	"context"
	"testing"

	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t) // skip (or, under CI, fail) before any subtest starts
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.Fresh(t)
		return func(t *testing.T, opts ...store.Option) *store.SQL {
			t.Helper()
			s, err := postgres.Open(context.Background(), dsn, opts...)
			if err != nil {
				t.Fatalf("opening the store: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// TestWithoutMigrationsNeedsTheFunctions: a database migrated by an older
// version (no functions, schema version 3) is refused, not half used.
func TestWithoutMigrationsNeedsTheFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Fresh(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `DROP FUNCTION sms2fa_verify; DELETE FROM sms2fa_schema WHERE version = 4`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := postgres.Open(ctx, dsn, store.WithoutMigrations()); err == nil {
		s.Close()
		t.Fatal("a schema without the functions was accepted")
	}
	s, err = postgres.Open(ctx, dsn) // migrating installs them again
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
