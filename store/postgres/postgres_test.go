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
