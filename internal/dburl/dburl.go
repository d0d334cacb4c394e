// Package dburl opens the store a DATABASE_URL names, as the demos and the
// operator's command (cmd/sms2fa) read it: a postgres:// or postgresql://
// URL is Postgres, anything else is the path of a SQLite file.
package dburl

import (
	"context"
	"strings"

	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// IsPostgres reports whether url names a Postgres database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens the store url names, with opts.
func Open(ctx context.Context, url string, opts ...store.Option) (*store.SQL, error) {
	if IsPostgres(url) {
		return postgres.Open(ctx, url, opts...)
	}
	return sqlite.Open(ctx, url, opts...)
}
