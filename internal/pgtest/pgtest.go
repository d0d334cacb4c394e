// Package pgtest gives tests an empty Postgres schema of their own on the
// server named by SMS2FA_TEST_POSTGRES_DSN.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvDSN names the environment variable holding the test server's DSN.
const EnvDSN = "SMS2FA_TEST_POSTGRES_DSN"

// DSN returns the test server's DSN. Without one the test is skipped with a
// clear message, except under CI=true, where a missing Postgres is a failure:
// CI must never pass by skipping.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; under CI the Postgres tests must run", EnvDSN)
		}
		t.Skipf("Postgres tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test) to run them", EnvDSN)
	}
	return dsn
}

// Fresh creates an empty schema for the test, dropped when it ends, and
// returns a DSN whose search_path points at it: tests on one server never
// see each other's rows.
func Fresh(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "sms2fa_test_" + hex.EncodeToString(b[:])

	db := connect(t, base)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("pgtest: creating schema: %v", err)
	}
	t.Cleanup(func() {
		db := connect(t, base)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn with its search_path set to schema, in whichever
// of the two DSN forms dsn uses.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func connect(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s does not parse", EnvDSN)
	}
	return stdlib.OpenDB(*cfg)
}
