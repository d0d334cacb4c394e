package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "sms2fa.db")
		return opener(func(ctx context.Context, opts ...store.Option) (*store.SQL, error) {
			return store.OpenSQLite(ctx, path, opts...)
		})
	})
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t) // skip (or, under CI, fail) before any subtest starts
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.Fresh(t)
		return opener(func(ctx context.Context, opts ...store.Option) (*store.SQL, error) {
			return store.OpenPostgres(ctx, dsn, opts...)
		})
	})
}

func opener(open func(context.Context, ...store.Option) (*store.SQL, error)) storetest.Opener {
	return func(t *testing.T, opts ...store.Option) *store.SQL {
		t.Helper()
		s, err := open(context.Background(), opts...)
		if err != nil {
			t.Fatalf("opening the store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}
