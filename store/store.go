// Package store is the SQL implementation of [contract.Store]: one schema and
// one set of queries, written once, run on SQLite or on Postgres. This package
// compiles no database driver; an app imports the one it uses:
//
//   - [github.com/sms2fa/sms2fa/store/sqlite]: modernc.org/sqlite, pure Go, a
//     file path is all it needs (one machine);
//   - [github.com/sms2fa/sms2fa/store/postgres]: pgx, for many app instances
//     sharing one database.
//
// Every write is one transaction. On SQLite the transaction begins
// IMMEDIATE, so writers queue for the file lock instead of failing with
// SQLITE_BUSY, and reads use connections of their own that never wait for
// the writer (WAL). On Postgres the operations a request makes (Open,
// Verify, Resend) are each one call of a function the schema installs, one
// transaction in one round trip (see oneshot.go); there, and in the other
// writes, a transaction starts by locking the user's row, so operations on
// one user are serialised while different users proceed in parallel.
// Send budgets, which many users share, are all taken by one upsert
// statement whose conditions are evaluated under each row's lock, so no race
// can overshoot a limit. Statistics are counted from the challenges themselves
// (see Stats): no request writes a row for them.
//
// Time: on Postgres every expiry, lock, cooldown and budget window is written
// and judged with the database's clock (now()), so instances whose own clocks
// disagree still behave as one; on SQLite, which has one machine, with that
// machine's clock. Answers carry the store's "now" so that callers compute
// waits from one clock.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// Compile-time proof that *SQL is what the guard consumes.
var _ contract.Store = (*SQL)(nil)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// bindDriver is the driver name sqlx reads the placeholder style from.
func (d Dialect) bindDriver() string {
	if d == Postgres {
		return "pgx"
	}
	return "sqlite"
}

// SQL is a [contract.Store] on a SQL database. It is safe for concurrent use;
// open it once (sqlite.Open, postgres.Open) and share it.
type SQL struct {
	db      *sqlx.DB // every write
	readers *sqlx.DB // plain reads; db itself unless the driver package gave a pool of readers
	owned   bool     // Close closes the pools only if the store opened them
	dialect Dialect
	clock   func() time.Time // WithClock; nil: the database's clock (Postgres) or time.Now (SQLite)
	wait    time.Duration    // bound on one operation, waits included
	q       queries
	retain  retention
	row     func(ctx context.Context, query string, args []any, dest ...any) error // Conn.QueryRow

	mu          sync.Mutex         // guards budgetStmts
	budgetStmts map[int]*sqlx.Stmt // by number of budgets; see budgetStmt
}

// Option configures a store.
type Option func(*config) error

type config struct {
	clock     func() time.Time
	migrate   bool
	maxConns  int
	wait      time.Duration
	retention retention
}

// retention says how long rows outlive their use, for Purge.
type retention struct {
	challenges time.Duration // after expiry
	stats      time.Duration // after their hour
	revoked    time.Duration // revoked grants of named sign-ins, after revocation
}

func defaults() config {
	return config{
		migrate:  true,
		maxConns: 10,
		wait:     5 * time.Second,
		retention: retention{
			challenges: time.Hour,
			stats:      30 * 24 * time.Hour,
			revoked:    31 * 24 * time.Hour,
		},
	}
}

// WithClock makes the store read time from now instead of its own clock —
// the database's now() on Postgres, the machine's on SQLite — so tests can
// move time instead of sleeping. Every expiry, cooldown, lock and budget
// window is then decided by this clock. Give every handle on one database the
// same clock: it stands in for the database's.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("store: WithClock: nil clock")
		}
		c.clock = now
		return nil
	}
}

// WithoutMigrations stops the store from creating or upgrading its schema, for
// teams that apply the SQL of [Schema] with their own migration tool. The
// store still checks, at open, that the schema is at the version it needs.
// Default: the store migrates itself.
func WithoutMigrations() Option {
	return func(c *config) error { c.migrate = false; return nil }
}

// WithMaxConns caps the Postgres connection pool postgres.Open makes.
// Default 10; postgres.New leaves the pool it is given as it is. SQLite
// always writes through one connection: its writers are serialised by the
// file lock anyway, and queueing in Go is cheaper and fairer than SQLite's
// busy-wait.
func WithMaxConns(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("store: WithMaxConns: need at least 1, got %d", n)
		}
		c.maxConns = n
		return nil
	}
}

// WithBusyTimeout bounds how long one store operation may take, waiting
// included — for a connection of the pool, for SQLite's write lock held by
// another process, for a Postgres row lock — before it fails and the guard
// fails closed. Requests queued behind a stuck writer therefore fail after
// one bounded wait each, not one after another. (On SQLite, a request's
// transaction that holds the write lock runs its few indexed statements to
// the end: nothing can make them wait. On Postgres, the pool that
// postgres.Open makes also sets lock_timeout to it, so that the database
// gives up a lock wait when the store does and an abandoned operation never
// completes later; a pool given to postgres.New should set it too.) Default
// 5 s.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("store: WithBusyTimeout: need at least 1ms, got %v", d)
		}
		c.wait = d
		return nil
	}
}

// WithRetention sets how long Purge keeps challenges after they expire
// (default 1 hour, so a user on the code page still gets "expired" rather than
// "no such challenge") and hourly statistics (default 30 days).
func WithRetention(challenges, stats time.Duration) Option {
	return func(c *config) error {
		if challenges < 0 || stats < time.Hour {
			return fmt.Errorf("store: WithRetention: need challenges ≥ 0 and stats ≥ 1h, got %v and %v", challenges, stats)
		}
		c.retention.challenges, c.retention.stats = challenges, stats
		return nil
	}
}

// WithRevokedRetention sets how long a revoked grant of a named sign-in
// (User.Login) is kept after its revocation — at least until it would have
// expired. While it is kept, a remembered device cannot sign that sign-in
// back in, so keep it at least as long as the device method's lifetime (device.WithLifetime)
// (default 30 days). Default 31 days.
func WithRevokedRetention(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("store: WithRevokedRetention: need ≥ 0, got %v", d)
		}
		c.retention.revoked = d
		return nil
	}
}

// Settings is what a driver package needs to know of the options when it
// opens its connections.
type Settings struct {
	BusyTimeout time.Duration // WithBusyTimeout
	MaxConns    int           // WithMaxConns
}

// Conn is the database a store runs on, as a driver package hands it to
// [Open].
type Conn struct {
	DB      *sql.DB // every write, and the reads when Readers is nil
	Readers *sql.DB // optional: reads that never wait for a writer (SQLite in WAL mode)
	Owned   bool    // Close closes DB and Readers

	// QueryRow, if set, runs a statement that answers exactly one row and
	// scans it into dest, on a connection of DB but around database/sql's
	// row machinery. query is in the dialect's placeholder form. The
	// one-round-trip operations use it (see oneshot.go); nil means
	// database/sql.
	QueryRow func(ctx context.Context, query string, args []any, dest ...any) error
}

// Open is how the driver packages (store/sqlite, store/postgres) build a
// store; apps call theirs. connect opens the connections with the settings
// the options ask for; Open then checks them, migrates (or checks the schema
// version) and prepares the statements (the budget statements on first use;
// on Postgres the function calls run as text, see oneshot.go). On any
// failure the connections connect opened are closed again.
func Open(ctx context.Context, d Dialect, connect func(Settings) (Conn, error), opts ...Option) (*SQL, error) {
	if d != SQLite && d != Postgres {
		return nil, fmt.Errorf("store: unknown dialect %q", d)
	}
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	conn, err := connect(Settings{BusyTimeout: cfg.wait, MaxConns: cfg.maxConns})
	if err != nil {
		return nil, err
	}
	s := &SQL{
		db: sqlx.NewDb(conn.DB, d.bindDriver()), owned: conn.Owned, dialect: d, clock: cfg.clock,
		wait: cfg.wait, retain: cfg.retention, budgetStmts: map[int]*sqlx.Stmt{}, row: conn.QueryRow,
	}
	s.readers = s.db
	if conn.Readers != nil {
		s.readers = sqlx.NewDb(conn.Readers, d.bindDriver())
	}
	check := s.migrate
	if !cfg.migrate {
		check = s.checkSchema
	}
	err = s.db.PingContext(ctx)
	if err != nil {
		err = fmt.Errorf("store: connecting to %s: %w", d, err)
	} else if err = check(ctx); err == nil {
		s.q, err = prepareQueries(ctx, s.db, s.readers, d)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Dialect reports which database the store runs on.
func (s *SQL) Dialect() Dialect { return s.dialect }

// DB returns the pool the store writes through, for an app's health check
// (PingContext) and for reading the tables in tests or reports. Writing to
// the tables behind the store's back breaks the invariants it keeps.
func (s *SQL) DB() *sql.DB { return s.db.DB }

// String names the store without touching its connections: a DSN may carry a
// password, and fmt would otherwise walk the pool's fields.
func (s *SQL) String() string { return "store.SQL{" + string(s.dialect) + "}" }

// GoString is String, for %#v.
func (s *SQL) GoString() string { return s.String() }

// Format prints String for every verb.
func (s *SQL) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue logs only the dialect.
func (s *SQL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Close closes the connections the store opened. A pool handed to
// postgres.New is left open.
func (s *SQL) Close() error {
	s.q.close()
	s.mu.Lock()
	for _, st := range s.budgetStmts {
		st.Close()
	}
	s.mu.Unlock()
	if !s.owned {
		return nil
	}
	err := s.db.Close()
	if s.readers != s.db {
		err = errors.Join(err, s.readers.Close())
	}
	return err
}

// op bounds one operation, waits included (see WithBusyTimeout).
func (s *SQL) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.wait)
}
