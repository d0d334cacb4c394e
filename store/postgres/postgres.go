// Package postgres opens an sms2fa store on PostgreSQL (11 or later) through
// pgx, for apps that run many instances behind a load balancer: attempts,
// lockouts, cooldowns and send budgets are rows they all share, and every
// time is taken from the database's clock, so instances whose clocks
// disagree still behave as one.
//
// Importing this package compiles pgx into the app; an app on SQLite does
// not import it and does not pay for it.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sms2fa/sms2fa/store"
)

// Open connects to the Postgres database dsn names (a postgres:// URL or a
// key=value string, as pgx accepts) and migrates it. Its pool holds at most
// store.WithMaxConns connections (default 10).
func Open(ctx context.Context, dsn string, opts ...store.Option) (*store.SQL, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included.
		return nil, errors.New("postgres: the DSN does not parse")
	}
	return OpenConfig(ctx, pc, opts...)
}

// OpenConfig is Open for apps that configure pgx themselves — TLS, a custom
// dialer, runtime parameters — and hand over the resulting connection
// config (from pgx.ParseConfig, then adjusted). The store opens and owns its
// pool of such connections, as Open does.
func OpenConfig(ctx context.Context, cfg *pgx.ConnConfig, opts ...store.Option) (*store.SQL, error) {
	if cfg == nil {
		return nil, errors.New("postgres: OpenConfig: nil *pgx.ConnConfig")
	}
	return store.Open(ctx, store.Postgres, func(set store.Settings) (store.Conn, error) {
		cfg := cfg.Copy()
		// The database gives up a lock wait when the store does. When an
		// operation's deadline passes, pgx asks the server to cancel it over
		// a connection of its own; if that request comes late or not at all
		// (a busy machine — seen under this repository's test load — or a
		// proxy that drops it), the backend goes on waiting and, once the
		// lock is free, completes the operation the app has already
		// reported as failed: a code consumed, a challenge opened whose SMS
		// never left. An app's own lock_timeout is kept.
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		if _, ok := cfg.RuntimeParams["lock_timeout"]; !ok {
			cfg.RuntimeParams["lock_timeout"] = fmt.Sprint(set.BusyTimeout.Milliseconds())
		}
		db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing))
		db.SetMaxOpenConns(set.MaxConns)
		db.SetMaxIdleConns(set.MaxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return store.Conn{DB: db, Owned: true, QueryRow: queryRow(db)}, nil
	}, opts...)
}

// pingAfter is how long a connection must have sat idle before the pool
// pings it on reuse.
//
// Why not pgx's default (ping after 1 s): behind a load balancer that ping
// is a full round trip added to most requests of a quiet app — on a
// connection idle for a second, a one-round-trip Verify costs two. Why ping
// at all: pgx reports driver.ErrBadConn, on which database/sql retries on
// another connection, only for a connection already known closed or for a
// failure before anything was written (see pgconn.SafeToRetry); a socket the
// peer or a middlebox dropped silently usually accepts the write and fails
// on the read, so the operation would fail once (the guard fails closed)
// before the pool drops the connection. Such drops come from idle timeouts
// — load balancers and NATs cut idle flows after a minute or more — so
// connections idle longer than this still pay the one round trip, and
// connections in use, the common case, never do.
const pingAfter = 30 * time.Second

func shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > pingAfter
}

// New uses a Postgres pool the app already has (opened with pgx's
// database/sql driver, stdlib) and migrates it. The store's Close leaves db
// open. The pool is used as it is: unless it was opened with
// stdlib.OptionShouldPing, pgx pings every connection idle for more than a
// second before reusing it, one more round trip (see Open's pool); and
// unless its connections set lock_timeout (as Open's do, to the busy
// timeout), a lock wait the store gave up on may still complete in the
// database. A pool of another driver works too, read entirely through
// database/sql (see queryRow).
func New(ctx context.Context, db *sql.DB, opts ...store.Option) (*store.SQL, error) {
	if db == nil {
		return nil, errors.New("postgres: New: nil *sql.DB")
	}
	return store.Open(ctx, store.Postgres, func(store.Settings) (store.Conn, error) {
		c := store.Conn{DB: db}
		if _, ok := db.Driver().(*stdlib.Driver); ok {
			c.QueryRow = queryRow(db)
		}
		return c, nil
	}, opts...)
}

// queryRow runs a one-row statement through pgx itself on a connection of
// db's pool, which is pgx's stdlib driver. The store's one-round-trip
// operations go this way: database/sql would start a goroutine to watch
// the request's context for every row set, turn each of the ~25 columns
// into a driver.Value and convert it again into its destination — together
// more than the statement's own work on the client (BENCHMARKS.md). The
// pool, its health checks and its limits stay database/sql's: a connection
// pgx closed after a failure is dropped when it next comes back to the pool.
// pgx prepares the statement once per connection and caches it.
func queryRow(db *sql.DB) func(ctx context.Context, query string, args []any, dest ...any) error {
	return func(ctx context.Context, query string, args []any, dest ...any) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("postgres: the pool's connections are %T, not pgx's", dc)
			}
			return c.Conn().QueryRow(ctx, query, args...).Scan(dest...)
		})
	}
}
