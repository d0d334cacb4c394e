package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sms2fa/sms2fa/contract"
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

// TestConformanceOverDatabaseSQL runs the suite on a pool whose driver the
// store does not recognise as pgx's (an app's pool through New): the
// one-round-trip operations then read their row through database/sql
// rather than through pgx itself, and must answer alike.
func TestConformanceOverDatabaseSQL(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		cfg, err := pgx.ParseConfig(pgtest.Fresh(t))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(hiddenDriver{stdlib.GetConnector(*cfg)})
		db.SetMaxOpenConns(4) // the suite runs in parallel; the server has few slots
		t.Cleanup(func() { db.Close() })
		return func(t *testing.T, opts ...store.Option) *store.SQL {
			t.Helper()
			s, err := postgres.New(context.Background(), db, opts...)
			if err != nil {
				t.Fatalf("opening the store: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// TestStuckRowLock: while another transaction holds a user's row lock, as a
// stuck process would, every operation that needs that lock — a function
// call (Open, Verify) and a transaction of several statements (SetFactor) —
// fails after about one busy timeout, gives up its wait in the database too,
// and the pool is usable afterwards.
func TestStuckRowLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const busy = 500 * time.Millisecond
	cfg, err := pgx.ParseConfig(pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("sms2fa-stuck-%d", time.Now().UnixNano()) // this test's backends, among parallel tests'
	cfg.RuntimeParams["application_name"] = app
	s, err := postgres.OpenConfig(ctx, cfg, store.WithBusyTimeout(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pol := contract.DefaultPolicy()
	ref := contract.Ref{ID: "c1", UserID: "alice", Binding: "b1"}
	if _, _, err := s.Open(ctx, contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: "IN", MAC: []byte("m"), Policy: pol}); err != nil {
		t.Fatal(err)
	}
	holder, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM sms2fa_users WHERE user_id = 'alice' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"Open": func() error {
			r := contract.Ref{ID: "c2", UserID: "alice", Binding: "b2"}
			_, _, err := s.Open(ctx, contract.OpenParams{Ref: r, Phone: "+919876543210", Region: "IN", MAC: []byte("m"), Policy: pol})
			return err
		},
		"Verify": func() error {
			_, _, err := s.Verify(ctx, ref, contract.VerifyParams{MAC: []byte("m"), Policy: pol})
			return err
		},
		"SetFactor": func() error {
			_, _, err := s.SetFactor(ctx, "alice", "+919876543210", "IN")
			return err
		},
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if took := time.Since(start); err == nil || took < busy/2 || took > 3*busy {
			t.Errorf("%s behind a held row lock: %v after %v; want a failure after about %v", name, err, took, busy)
		}
	}
	// Nothing the store gave up on still waits in the database, to complete
	// once the lock is free: the pool's lock_timeout ends those waits too.
	// It starts when the server's wait does, a moment after the client's
	// deadline, so the last wait may outlive the client's by that moment:
	// polled for up to one more busy timeout, not forever.
	var waiting int
	for end := time.Now().Add(busy); ; time.Sleep(busy / 50) {
		err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting == 0 || time.Now().After(end) {
			break
		}
	}
	if waiting != 0 {
		t.Errorf("%d abandoned operations still wait on the lock a busy timeout after the client gave up", waiting)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	for name, op := range ops {
		if err := op(); err != nil {
			t.Errorf("%s once the lock is released: %v", name, err)
		}
	}
}

// hiddenDriver is pgx's connector behind a driver of another type.
type hiddenDriver struct{ driver.Connector }

func (h hiddenDriver) Driver() driver.Driver { return struct{ driver.Driver }{h.Connector.Driver()} }

// TestWithoutMigrationsNeedsTheFunctions: a database migrated by an older
// version (no functions, schema version 3; or version 4's, 5's or 6's functions)
// is refused, not half used, and migrating brings it up to date.
func TestWithoutMigrationsNeedsTheFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v4, err := os.ReadFile("../schema/postgres/0004_functions.sql")
	if err != nil {
		t.Fatal(err)
	}
	v5, err := os.ReadFile("../schema/postgres/0005_stats_factor.sql")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := os.ReadFile("../schema/postgres/0006_open_precheck.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, older := range []struct{ name, sql string }{
		{"version 3", `DROP FUNCTION sms2fa_verify(BIGINT, TEXT, TEXT, TEXT, BYTEA, INTEGER, BIGINT, BIGINT, TEXT, TEXT, TEXT, BIGINT);
			DROP FUNCTION sms2fa_verify(BIGINT, TEXT, TEXT, TEXT, BYTEA, INTEGER, BIGINT, BIGINT, TEXT, TEXT, TEXT, BIGINT, INTEGER);
			DELETE FROM sms2fa_schema WHERE version >= 4`},
		{"version 4", `DROP FUNCTION sms2fa_open(BIGINT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, BYTEA, BIGINT, INTEGER, BIGINT,
			TEXT[], TEXT[], BIGINT[], INTEGER[], BOOLEAN); DELETE FROM sms2fa_schema WHERE version >= 5; ` + string(v4)},
		{"version 5", string(v5) + `; DELETE FROM sms2fa_schema WHERE version >= 6`},
		{"version 6", string(v5) + `; ` + string(v6) + `; DELETE FROM sms2fa_schema WHERE version >= 7`},
	} {
		dsn := pgtest.Fresh(t)
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, older.sql); err != nil {
			t.Fatalf("%s: %v", older.name, err)
		}
		s.Close()
		if s, err := postgres.Open(ctx, dsn, store.WithoutMigrations()); err == nil {
			s.Close()
			t.Fatalf("%s: a schema without the newest functions was accepted", older.name)
		}
		s, err = postgres.Open(ctx, dsn) // migrating installs them again
		if err != nil {
			t.Fatalf("%s: migrating: %v", older.name, err)
		}
		if _, err := s.Stats(ctx, time.Now()); err != nil {
			t.Fatalf("%s: after migrating: %v", older.name, err)
		}
		// An instance of the previous release, still running during a
		// rolling deploy, opens challenges with version 4's call.
		var outcome string
		if err := s.DB().QueryRowContext(ctx, `SELECT o_outcome FROM sms2fa_open(NULL, 'old-1', 'u', 'b', '+919876543210', 'IN',
			'login', '', '\x01'::bytea, 300000, 5, 30000, '{}'::text[], '{}'::text[], '{}'::bigint[], '{}'::integer[])`).Scan(&outcome); err != nil || outcome != "created" {
			t.Fatalf("%s: version 4's sms2fa_open after migrating: %q, %v", older.name, outcome, err)
		}
		s.Close()
	}
}

// New runs on a pool the app already has, and Close leaves that pool open.
func TestNewOnTheAppsPool(t *testing.T) {
	cfg, err := pgx.ParseConfig(pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	s, err := postgres.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Now(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("the app's pool after the store's Close: %v", err)
	}
	if _, err := postgres.New(context.Background(), nil); err == nil {
		t.Fatal("New accepted a nil pool")
	}
}
