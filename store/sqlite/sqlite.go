// Package sqlite opens an sms2fa store on a SQLite file, through
// modernc.org/sqlite (pure Go: no C compiler, no system library). It is the
// embedded default: a file path is all it needs. Every app instance must run
// on the same machine as the file; for many machines use package postgres.
//
// Importing this package compiles modernc.org/sqlite into the app (about
// 4.4 MB over the guard alone, scripts/weigh.md); an app on Postgres does not
// import it and does not pay for it.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sms2fa/sms2fa/store"
)

// readers is the size of the pool of read connections. Readers never wait
// for the writer in WAL mode, so a few are enough for the code page and the
// challenge lookups of many concurrent requests.
const readers = 4

// Open opens (creating if needed) the SQLite database at path and migrates
// it. The file is put in WAL mode with synchronous=FULL: a consumed code or a
// counted attempt must survive a power cut, or a crash could hand an attacker
// back their guesses.
//
// Writes go through one connection whose transactions begin IMMEDIATE (they
// queue for the file's write lock rather than fail); reads go through a small
// pool of read-only connections that WAL lets run beside the writer. Each
// operation, queueing included, is bounded by store.WithBusyTimeout.
func Open(ctx context.Context, path string, opts ...store.Option) (*store.SQL, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a usable file path", path)
	}
	return store.Open(ctx, store.SQLite, func(set store.Settings) (store.Conn, error) {
		w, err := connect(path, set.BusyTimeout, "immediate", false)
		if err != nil {
			return store.Conn{}, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		if err := enableWAL(ctx, w, set.BusyTimeout); err != nil {
			w.Close()
			return store.Conn{}, fmt.Errorf("sqlite: opening %q: %w", path, err)
		}
		r, err := connect(path, set.BusyTimeout, "deferred", true)
		if err != nil {
			w.Close()
			return store.Conn{}, err
		}
		r.SetMaxOpenConns(readers)
		r.SetMaxIdleConns(readers)
		return store.Conn{DB: w, Readers: r, Owned: true}, nil
	}, opts...)
}

// connect opens a pool on path. Connections never expire: a new one costs a
// file open and the pragmas.
func connect(path string, busy time.Duration, txlock string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	q.Set("_txlock", txlock) // the writer's BEGIN IMMEDIATE: take the write lock up front, never upgrade
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %q: %w", path, err)
	}
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// enableWAL switches the file to write-ahead logging, which lets readers run
// beside the writer. The switch needs the file to itself, and SQLite answers
// SQLITE_BUSY at once — without its busy handler — when another process is
// switching the same new file, so this retries with a short backoff until the
// busy timeout runs out. WAL is a property of the file: once one process has
// set it, every later switch is a no-op.
func enableWAL(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if err == nil {
			return fmt.Errorf("journal mode is %q, not WAL", mode)
		}
		var se *msqlite.Error
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
