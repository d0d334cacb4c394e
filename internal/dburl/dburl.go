// Package dburl opens the store a DATABASE_URL names, as the demos and the
// operator's command (cmd/sms2fa) read it: a postgres:// or postgresql://
// URL (the scheme in any case) is Postgres, and a path is a SQLite file.
// Anything else — another scheme, Postgres's keyword form — is refused,
// naming no more of it than its scheme: a URL may hold a password.
package dburl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// IsPostgres reports whether url names a Postgres database.
func IsPostgres(url string) bool {
	scheme, _, ok := strings.Cut(url, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// Open opens the store url names, with opts. A SQLite file is created if
// it does not exist: see Exists.
func Open(ctx context.Context, url string, opts ...store.Option) (*store.SQL, error) {
	if IsPostgres(url) {
		scheme, rest, _ := strings.Cut(url, "://")
		return postgres.Open(ctx, strings.ToLower(scheme)+"://"+rest, opts...)
	}
	if err := sqlitePath(url); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, url, opts...)
}

// Exists refuses a SQLite path with no file at it, where opening would
// create an empty database: a mistyped path, for a command that should
// write nothing.
func Exists(url string) error {
	if IsPostgres(url) {
		return nil
	}
	if err := sqlitePath(url); err != nil {
		return err
	}
	if _, err := os.Stat(url); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("there is no SQLite file at %s", url)
	}
	return nil
}

// sqlitePath refuses what is surely not a file path: a URL of another
// scheme, or Postgres's keyword form (host=… dbname=…).
func sqlitePath(url string) error {
	if scheme, _, ok := strings.Cut(url, "://"); ok {
		return fmt.Errorf("a %q URL is not a database sms2fa opens: give a postgres:// URL or the path of a SQLite file", scheme)
	}
	for _, k := range []string{"host=", "dbname=", "user=", "password=", "sslmode="} {
		if strings.Contains(url, k) {
			return errors.New("that looks like Postgres's keyword form (host=… dbname=…): give a postgres:// URL")
		}
	}
	return nil
}
