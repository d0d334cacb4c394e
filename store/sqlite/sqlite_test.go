package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
	"github.com/sms2fa/sms2fa/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "sms2fa.db")
		return func(t *testing.T, opts ...store.Option) *store.SQL {
			t.Helper()
			s, err := sqlite.Open(context.Background(), path, opts...)
			if err != nil {
				t.Fatalf("opening the store: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// TestPanicInsideATransaction: a panic while a write transaction is open
// (here the store's clock, which Open reads inside it) reaches the caller,
// and the writer connection comes back: the next write succeeds at once.
// A transaction that nothing rolled back would hold the file's only writer
// for good, and every later write would fail after the busy timeout.
func TestPanicInsideATransaction(t *testing.T) {
	t.Parallel()
	var panicking atomic.Bool
	clock := func() time.Time {
		if panicking.Load() {
			panic("the clock broke")
		}
		return time.Now()
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sms2fa.db"),
		store.WithClock(clock), store.WithBusyTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open := func(id string) error {
		p := contract.OpenParams{Ref: contract.Ref{ID: id, UserID: "alice", Binding: id}, Phone: "+919876543210",
			Region: "IN", MAC: []byte("m"), Policy: contract.DefaultPolicy()}
		_, _, err := s.Open(context.Background(), p)
		return err
	}
	recovered := make(chan any, 1)
	panicking.Store(true)
	go func() {
		defer func() { recovered <- recover() }()
		open("c1")
	}()
	select {
	case r := <-recovered:
		if r == nil {
			t.Fatal("Open with a panicking clock returned without panicking")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a panic inside a transaction never reached the caller")
	}
	panicking.Store(false)
	start := time.Now()
	if err := open("c2"); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a write after the panic waited %v for the writer", d)
	}
}

// TestStuckWriter holds the file's write lock from another connection, as a
// stuck process would, and queues writers behind it: each must fail after one
// bounded wait counted from its own call — not one wait per writer ahead of
// it — while reads go on untouched beside the writer.
func TestStuckWriter(t *testing.T) {
	t.Parallel()
	const busy = 500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "sms2fa.db")
	s, err := sqlite.Open(context.Background(), path, store.WithBusyTimeout(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	pol := contract.DefaultPolicy()
	ref := contract.Ref{ID: "c1", UserID: "alice", Binding: "b1"}
	if _, _, err := s.Open(ctx, contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: "IN", MAC: []byte("m"), Policy: pol}); err != nil {
		t.Fatal(err)
	}

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(ctx, "ROLLBACK")

	const writers = 5
	var wg sync.WaitGroup
	took := make([]time.Duration, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			start := time.Now()
			r := contract.Ref{ID: fmt.Sprintf("w%d", i), UserID: fmt.Sprintf("user-%d", i), Binding: "b"}
			_, _, errs[i] = s.Open(ctx, contract.OpenParams{Ref: r, Phone: "+919876543210", Region: "IN", MAC: []byte("m"), Policy: pol})
			took[i] = time.Since(start)
		})
	}
	// A read beside the stuck writer and the queue: answered at once.
	start := time.Now()
	c, err := s.Challenge(ctx, ref)
	if err != nil || c.ID != ref.ID {
		t.Fatalf("a read beside a stuck writer: %+v, %v", c, err)
	}
	if d := time.Since(start); d >= busy {
		t.Errorf("a read waited %v behind the writer", d)
	}
	wg.Wait()
	for i := range writers {
		if errs[i] == nil {
			t.Errorf("writer %d succeeded while the file was locked", i)
		}
		// One wait each, with room for a loaded machine; queued one behind
		// the other they would take up to writers × busy.
		if took[i] > 3*busy {
			t.Errorf("writer %d failed after %v; want about %v whatever the queue", i, took[i], busy)
		}
	}
}

// TestUpgradeFromVersion2 opens a database left at schema version 2, with a
// grant in it and a challenge that sent twice and was verified, counted in
// the hourly statistics as that release did: the store applies versions 3
// and 4 once, the old rows stay readable, and the challenge is counted once
// (version 4 counts from the challenges and takes the old counts back out).
func TestUpgradeFromVersion2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sms2fa.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"0001_init.sql", "0002_grants.sql"} {
		b, err := os.ReadFile(filepath.Join("..", "schema", "sqlite", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("applying %s: %v", f, err)
		}
	}
	const hour = 5 * 3600000
	if _, err := db.ExecContext(ctx, `INSERT INTO sms2fa_grants (id, user_id, how, created_at, fresh_at, expires_at)
		VALUES ('g1', 'alice', 'sms', 1, 1, 9999999999999);
		INSERT INTO sms2fa_challenges (id, user_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, sends, next_send_at, consumed_at)
		VALUES ('c1', 'alice', 'b1', '+919876543210', 'IN', X'00', ?, 9999999999999, 5, 2, 0, ?);
		INSERT INTO sms2fa_stats (hour, region, sent, verified) VALUES (?, 'IN', 2, 1)`, hour+10, hour+20, hour); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for range 2 { // the second open finds version 4 and applies nothing
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("opening a version-2 database: %v", err)
		}
		if g, err := s.Grant(ctx, "g1", "alice"); err != nil || !g.Live() {
			t.Fatalf("the old grant after the upgrade: %+v, %v", g, err)
		}
		if _, _, err := s.AdoptFactor(ctx, "alice", "+919876543210", "IN"); err != nil {
			t.Fatalf("a new table after the upgrade: %v", err)
		}
		if st, err := s.Stats(ctx, time.UnixMilli(0)); err != nil || st.Sent != 2 || st.Verified != 1 {
			t.Fatalf("statistics after the upgrade: %+v, %v; want the challenge's 2 sends and 1 verification, once", st, err)
		}
		s.Close()
	}
	s, err := sqlite.Open(ctx, path, store.WithoutMigrations())
	if err != nil {
		t.Fatalf("the upgraded schema is not accepted as current: %v", err)
	}
	s.Close()
}

// WithRevokedRetention sets how long a revoked grant of a named sign-in
// outlives its expiry; 0 purges it with the rest.
func TestRevokedRetention(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New(testclock.Start)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sms2fa.db"), store.WithClock(clock.Now), store.WithRevokedRetention(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pol := contract.DefaultPolicy()
	ref := contract.Ref{ID: "c1", UserID: "alice", Binding: "b1"}
	if _, _, err := s.Open(ctx, contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: "IN", MAC: []byte("m"), Policy: pol}); err != nil {
		t.Fatal(err)
	}
	g := contract.GrantParams{ID: "g1", Login: "L1", How: "sms", Lifetime: time.Hour}
	if _, _, err := s.Verify(ctx, ref, contract.VerifyParams{MAC: []byte("m"), Policy: pol, Grant: g}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeGrant(ctx, "g1", "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour + time.Millisecond)
	if p, err := s.Purge(ctx); err != nil || p.Grants != 1 {
		t.Fatalf("purge with no revoked retention: %+v, %v", p, err)
	}
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"), store.WithRevokedRetention(-time.Second)); err == nil {
		t.Fatal("a negative retention was accepted")
	}
}
