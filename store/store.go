// Package store is the SQL implementation of [sms2fa.Store]: one schema and one
// set of queries, run on SQLite (modernc.org/sqlite, pure Go; a file path is
// all it needs) or on Postgres (pgx), where many app instances share it.
//
// Every operation is one transaction. On SQLite the transaction begins
// IMMEDIATE, so writers queue for the file lock instead of failing with
// SQLITE_BUSY; on Postgres it starts by locking the user's row, so operations
// on one user are serialised while different users proceed in parallel.
// Counters that many users share (send budgets, statistics) are updated with
// single-row upserts whose conditions are evaluated under the row lock, so no
// race can overshoot a limit.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sms2fa/sms2fa"
)

// Compile-time proof that *SQL is what the guard consumes.
var _ sms2fa.Store = (*SQL)(nil)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// SQL is a [sms2fa.Store] on a SQL database. It is safe for concurrent use;
// open it once and share it.
type SQL struct {
	db      *sqlx.DB
	owned   bool // Close closes db only if the store opened it
	dialect Dialect
	now     func() time.Time
	q       queries
	retain  retention

	mu          sync.Mutex         // guards budgetStmts
	budgetStmts map[int]*sqlx.Stmt // by number of budgets; see budgetStmt
}

// Option configures a store.
type Option func(*config) error

type config struct {
	now       func() time.Time
	migrate   bool
	maxConns  int
	busy      time.Duration
	retention retention
}

// retention says how long rows outlive their use, for Purge.
type retention struct {
	challenges time.Duration // after expiry
	stats      time.Duration // after their hour
}

func defaults() config {
	return config{
		now:      time.Now,
		migrate:  true,
		maxConns: 10,
		busy:     10 * time.Second,
		retention: retention{
			challenges: time.Hour,
			stats:      30 * 24 * time.Hour,
		},
	}
}

// WithClock makes the store read time from now instead of [time.Now]. Every
// expiry, cooldown, lock and budget window is decided by this clock, so tests
// can move it instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("store: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithoutMigrations stops the store from creating or upgrading its schema, for
// teams that apply store/schema/*/ with their own migration tool. The store
// still checks, at open, that the schema is at the version it needs. Default:
// the store migrates itself.
func WithoutMigrations() Option {
	return func(c *config) error { c.migrate = false; return nil }
}

// WithMaxConns caps the Postgres connection pool OpenPostgres makes. Default
// 10; NewPostgres leaves the pool it is given as it is. SQLite always
// uses one connection: its writers are serialised by the file lock anyway, and
// queueing in Go is cheaper and fairer than SQLite's busy-wait.
func WithMaxConns(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("store: WithMaxConns: need at least 1, got %d", n)
		}
		c.maxConns = n
		return nil
	}
}

// WithBusyTimeout sets how long a SQLite operation waits for another process
// holding the file's write lock before failing. Default 10 s.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("store: WithBusyTimeout: need at least 1ms, got %v", d)
		}
		c.busy = d
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
		c.retention = retention{challenges: challenges, stats: stats}
		return nil
	}
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it. The file is put in WAL mode with synchronous=FULL: a consumed
// code or a counted attempt must survive a power cut, or a crash could hand an
// attacker back their guesses.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*SQL, error) {
	cfg, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: OpenSQLite: %q is not a usable file path", path)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.busy.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate") // BEGIN IMMEDIATE: take the write lock up front, never upgrade
	db, err := sqlx.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: opening SQLite %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := enableWAL(ctx, db, cfg.busy); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: opening SQLite %q: %w", path, err)
	}
	return open(ctx, db, SQLite, cfg, true)
}

// enableWAL switches the file to write-ahead logging, which lets readers run
// beside the writer. The switch needs the file to itself, and SQLite answers
// SQLITE_BUSY at once — without its busy handler — when another process is
// switching the same new file, so this retries with a short backoff until the
// busy timeout runs out. WAL is a property of the file: once one process has
// set it, every later switch is a no-op.
func enableWAL(ctx context.Context, db *sqlx.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.GetContext(ctx, &mode, "PRAGMA journal_mode=WAL")
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if err == nil {
			return fmt.Errorf("journal mode is %q, not WAL", mode)
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("enabling WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// OpenPostgres connects to the Postgres database dsn names (a postgres:// URL
// or a key=value string, as pgx accepts) and migrates it.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*SQL, error) {
	cfg, err := apply(opts)
	if err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included.
		return nil, errors.New("store: OpenPostgres: the DSN does not parse")
	}
	db := sqlx.NewDb(stdlib.OpenDB(*pc), "pgx")
	db.SetMaxOpenConns(cfg.maxConns)
	db.SetMaxIdleConns(cfg.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return open(ctx, db, Postgres, cfg, true)
}

// NewPostgres uses a Postgres pool the app already has (opened with pgx's
// database/sql driver) and migrates it. Close does not close db.
func NewPostgres(ctx context.Context, db *sql.DB, opts ...Option) (*SQL, error) {
	cfg, err := apply(opts)
	if err != nil {
		return nil, err
	}
	return open(ctx, sqlx.NewDb(db, "pgx"), Postgres, cfg, false)
}

func apply(opts []Option) (config, error) {
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

func open(ctx context.Context, db *sqlx.DB, d Dialect, cfg config, owned bool) (*SQL, error) {
	s := &SQL{db: db, owned: owned, dialect: d, now: cfg.now, retain: cfg.retention, budgetStmts: map[int]*sqlx.Stmt{}}
	check := s.migrate
	if !cfg.migrate {
		check = s.checkSchema
	}
	err := db.PingContext(ctx)
	if err != nil {
		err = fmt.Errorf("store: connecting to %s: %w", d, err)
	} else if err = check(ctx); err == nil {
		s.q, err = prepareQueries(ctx, db, d)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Dialect reports which database the store runs on.
func (s *SQL) Dialect() Dialect { return s.dialect }

// DB returns the store's connection pool, for health checks and for tests
// that need to look at the rows.
func (s *SQL) DB() *sqlx.DB { return s.db }

// Close closes the connection pool the store opened. A pool passed to
// NewPostgres is left open.
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
	return s.db.Close()
}
