package sms2fa_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/cost"
	"github.com/sms2fa/sms2fa/internal/httpbench"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
	"github.com/sms2fa/sms2fa/totp"
)

// Each benchmark of the guard comes with the floor it cannot beat, measured
// in the same run; BENCHMARKS.md records the ratios.

// benchUser is a first factor that costs nothing, so that the guard's own
// cost is what is measured; a real app's session lookup is on both sides.
func benchUser(*http.Request) (sms2fa.User, bool) {
	return sms2fa.User{ID: "alice", Phone: "+919876543210"}, true
}

// noLimits turns every send budget off (or out of reach) so that setting up
// thousands of challenges does not trip them; budgetsOn keeps them all on,
// checked on every send, with limits a benchmark never reaches.
var (
	noLimits  = []sms2fa.Option{sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithPhoneLimit()), sms2fa.WithSMS(sms.WithIPLimit()), sms2fa.WithSMS(sms.WithPrefixLimit(6)), sms2fa.WithSMS(sms.WithGlobalLimit())}
	budgetsOn = []sms2fa.Option{
		sms2fa.WithSMS(sms.WithUserLimit(sms.Rate{Limit: 1 << 30, Window: time.Hour})), sms2fa.WithSMS(sms.WithPhoneLimit(sms.Rate{Limit: 1 << 30, Window: time.Hour})),
		sms2fa.WithSMS(sms.WithIPLimit(sms.Rate{Limit: 1 << 30, Window: time.Hour})), sms2fa.WithSMS(sms.WithPrefixLimit(6, sms.Rate{Limit: 1 << 30, Window: time.Hour})),
		sms2fa.WithSMS(sms.WithGlobalLimit(sms.Rate{Limit: 1 << 30, Window: 24 * time.Hour})),
	}
)

// benchApp is a guard on st behind a bare http.ServeMux.
type benchApp struct {
	cookies *sessions.CookieStore
	fake    *sender.Fake
	engine  *http.ServeMux
}

func newBenchApp(b testing.TB, st contract.Store, opts ...sms2fa.Option) *benchApp {
	a := &benchApp{cookies: sessions.NewCookieStore([]byte("session-hash-key-for-tests-only!")), fake: sender.NewFake()}
	opts = append([]sms2fa.Option{sms2fa.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	g, err := sms2fa.New(a.cookies, st, a.fake, secret, benchUser, opts...)
	if err != nil {
		b.Fatal(err)
	}
	a.engine = http.NewServeMux()
	g.Mount(a.engine)
	a.engine.Handle("GET /app", g.Require()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	return a
}

// serve runs one request in process and returns the recorder.
func (a *benchApp) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.engine.ServeHTTP(rec, req)
	return rec
}

// challenge opens a challenge in a new session through the guarded route and
// returns the session cookie and the code sent.
func (a *benchApp) challenge(b testing.TB) (*http.Cookie, string) {
	rec := a.serve(httptest.NewRequest(http.MethodGet, "/app", nil))
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("guarded route: %d %s", rec.Code, rec.Body)
	}
	m, _ := a.fake.Last("+919876543210")
	return httpbench.Cookie(b, rec, "sms2fa"), m.Code
}

// verifiedCookie returns the guard's mark cookie after a completed code.
func (a *benchApp) verifiedCookie(b testing.TB) *http.Cookie {
	ck, code := a.challenge(b)
	rec := a.serve(httpbench.Verify(code, ck))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/app" {
		b.Fatalf("verify: %d %s", rec.Code, rec.Header())
	}
	return httpbench.Cookie(b, rec, "sms2fa_mark")
}

func sqliteStore(b testing.TB) *store.SQL {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func postgresStore(b testing.TB) *store.SQL {
	st, err := postgres.Open(context.Background(), pgtest.Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkRequireVerified is a request through the guard alone (a first
// factor that costs nothing) for a browser that completed the second factor:
// reading and checking the signed mark, inside the recheck interval.
func BenchmarkRequireVerified(b *testing.B) {
	a := newBenchApp(b, sqliteStore(b))
	httpbench.GET(b, a.engine, a.verifiedCookie(b))
}

// BenchmarkFloorSessionRead is the same request through a handler that only
// decodes a gorilla/sessions cookie holding a user ID and reads it: what the
// guard paid per request before grants, when its mark lived in a session of
// its own.
func BenchmarkFloorSessionRead(b *testing.B) {
	a := newBenchApp(b, sqliteStore(b))
	floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.cookies.Get(r, "sms2fa")
		if uid, _ := s.Values["uid"].(string); err != nil || uid != "alice" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	httpbench.GET(b, floor, sessionCookie(b, a.cookies, "sms2fa", map[any]any{"uid": "alice", "at": time.Now().Unix()}))
}

// sessionCookie encodes values as the named session of store.
func sessionCookie(b testing.TB, store sessions.Store, name string, values map[any]any) *http.Cookie {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	s, err := store.New(req, name)
	if s == nil {
		b.Fatal(err)
	}
	for k, v := range values {
		s.Values[k] = v
	}
	rec := httptest.NewRecorder()
	if err := s.Save(req, rec); err != nil {
		b.Fatal(err)
	}
	return httpbench.Cookie(b, rec, name)
}

// appChain is a net/http app as a real one is built: a middleware that
// decodes the app's own gorilla CookieStore session (a user ID and a login
// value) for every request and hands it on in the request's context, and a
// handler that reads the user ID. With guarded set, the guard's Require
// (default options) sits between them, its UserFunc reading the app's
// session.
type appChain struct {
	handler http.Handler
	app     *http.Cookie // the app's signed-in session
	mark    *http.Cookie // the guard's mark, once verified
}

// sessionKey is the app's context key of its session.
type sessionKey struct{}

func newAppChain(b testing.TB, guarded bool) *appChain {
	cookies := sessions.NewCookieStore([]byte("app-session-hash-key-32-bytes!!!"))
	ch := &appChain{}
	ch.app = sessionCookie(b, cookies, "app", map[any]any{"user": "user-42", "login": "c2lnbi1pbi0xNzY0MDcyMDAw"})
	withSession := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := cookies.Get(r, "app")
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
		})
	}
	read := func(r *http.Request) (string, string) {
		s, _ := r.Context().Value(sessionKey{}).(*sessions.Session)
		if s == nil {
			return "", ""
		}
		id, _ := s.Values["user"].(string)
		login, _ := s.Values["login"].(string)
		return id, login
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, _ := read(r); id != "user-42" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux := http.NewServeMux()
	ch.handler = withSession(mux)
	if !guarded {
		mux.Handle("GET /app", handler)
		return ch
	}
	fake := sender.NewFake()
	g, err := sms2fa.New(cookies, sqliteStore(b), fake, secret, func(r *http.Request) (sms2fa.User, bool) {
		id, login := read(r)
		return sms2fa.User{ID: id, Phone: "+919876543210", Login: login}, id != ""
	}, sms2fa.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	g.Mount(mux)
	mux.Handle("GET /app", g.Require()(handler))
	// Sign in: the guarded route sends a code, the code page takes it.
	req := httptest.NewRequest(http.MethodGet, "/app", nil)
	req.AddCookie(ch.app)
	rec := httptest.NewRecorder()
	ch.handler.ServeHTTP(rec, req)
	pending := httpbench.Cookie(b, rec, "sms2fa")
	m, _ := fake.Last("+919876543210")
	rec = httptest.NewRecorder()
	ch.handler.ServeHTTP(rec, httpbench.Verify(m.Code, pending, ch.app))
	ch.mark = httpbench.Cookie(b, rec, "sms2fa_mark")
	return ch
}

// BenchmarkFloorNetHTTPSession is what every signed-in request of a real
// net/http app already pays: its own session cookie decoded and handed on in
// the request's context, the user ID read.
func BenchmarkFloorNetHTTPSession(b *testing.B) {
	ch := newAppChain(b, false)
	httpbench.GET(b, ch.handler, ch.app)
}

// BenchmarkNetHTTPRequireVerified is the same app with guard.Require() on a
// verified browser: the goal is ≤ 1.05× BenchmarkFloorNetHTTPSession's time.
// (The Gin pair, BenchmarkAppRequireVerified, is in package ginguard.)
func BenchmarkNetHTTPRequireVerified(b *testing.B) {
	ch := newAppChain(b, true)
	httpbench.GET(b, ch.handler, ch.app, ch.mark)
}

// benchVerify measures right codes through POST /2fa/verify, each on its own
// challenge made before the timer starts, and with its request built then
// too: building the form is the test's work, not the guard's.
func benchVerify(b *testing.B, st *store.SQL) {
	a := newBenchApp(b, st, noLimits...)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		ck, code := a.challenge(b)
		reqs[i] = httpbench.Verify(code, ck)
	}
	b.ReportAllocs()
	done := cost.Start(b) // WAL checkpoints left on, as the floor has them
	b.ResetTimer()
	for i := range b.N {
		rec := a.serve(reqs[i])
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/app" {
			b.Fatalf("verify: %d", rec.Code)
		}
	}
	done()
}

// benchChallenge measures a guarded request for a new, unverified session:
// budgets checked, challenge created, code sent through the fake sender, 303.
func benchChallenge(b *testing.B, st *store.SQL, opts ...sms2fa.Option) {
	a := newBenchApp(b, st, append(slices.Clone(budgetsOn), opts...)...)
	b.ReportAllocs()
	done := measureCost(b, st)
	b.ResetTimer()
	for b.Loop() {
		rec := a.serve(httptest.NewRequest(http.MethodGet, "/app", nil))
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("guarded route: %d %s", rec.Code, rec.Body)
		}
	}
	done()
}

// measureCost measures, beside the time, what a path costs whatever the
// disk's fsync speed or the database server's share of the machine, which
// swing its wall time: this process's CPU time per operation (cpu-µs/op: on
// Postgres the client's side only) and, on SQLite, the pages it writes to
// the WAL (wal-pages/op). The function it returns ends the measure.
//
// Counting the pages needs automatic checkpoints off for the run, and a WAL
// that only grows makes every commit's fsync dearer than in production (the
// file's size changes with each one): only the challenge path and its floor
// count pages, alike; the verify path and its floor measure CPU alone, with
// checkpoints as the store runs them.
func measureCost(b *testing.B, st *store.SQL) func() {
	if st.Dialect() != store.SQLite {
		return cost.Start(b)
	}
	db := st.DB() // the writer: one connection, so the pragmas stick to it
	for _, q := range []string{"PRAGMA wal_autocheckpoint=0", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	stop := cost.Start(b)
	return func() {
		stop()
		var busy, frames, moved int
		if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &moved); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(frames)/float64(b.N), "wal-pages/op")
	}
}

// floorUpdate measures one single-row UPDATE … RETURNING on a challenge row
// of the store's own file (or database), with the store's own settings.
func floorUpdate(b *testing.B, st *store.SQL) {
	a := newBenchApp(b, st, noLimits...)
	a.challenge(b)
	var id string
	if err := tables(st).Get(&id, `SELECT id FROM sms2fa_challenges LIMIT 1`); err != nil {
		b.Fatal(err)
	}
	q := tables(st).Rebind(`UPDATE sms2fa_challenges SET attempts = attempts + 1 WHERE id = ? RETURNING attempts`)
	b.ReportAllocs()
	done := cost.Start(b)
	b.ResetTimer()
	for b.Loop() {
		var n int
		if err := tables(st).Get(&n, q, id); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// floorSessionUpdate is the floor of an HTTP verify under the guard's design
// rather than of its one statement: a net/http handler that parses the posted
// code, reads the pending challenge from the guard's session in the app's
// sessions.Store (a real guard cookie, decoded as the guard decodes it), runs
// one UPDATE … RETURNING on that challenge and redirects (303). What the
// guard adds over it is its own work: the user's lock, the grant, the mark
// and the events. BENCHMARKS.md reports it beside the goal's floor.
func floorSessionUpdate(b *testing.B, st *store.SQL) {
	a := newBenchApp(b, st, noLimits...)
	ck, _ := a.challenge(b)
	q := tables(st).Rebind(`UPDATE sms2fa_challenges SET attempts = attempts + 1 WHERE id = ? RETURNING attempts`)
	floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.cookies.Get(r, "sms2fa")
		id, _ := s.Values["cid"].(string) // the guard's key for its pending challenge
		if err != nil || id == "" || r.PostFormValue("code") == "" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var n int
		if err := tables(st).GetContext(r.Context(), &n, q, id); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/app", http.StatusSeeOther)
	})
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = httpbench.Verify("000000", ck)
	}
	b.ReportAllocs()
	done := cost.Start(b)
	b.ResetTimer()
	for i := range b.N {
		rec := httptest.NewRecorder()
		floor.ServeHTTP(rec, reqs[i])
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("floor: %d", rec.Code)
		}
	}
	done()
}

// floorInsert measures one single-row INSERT into the store's challenge table.
func floorInsert(b *testing.B, st *store.SQL) {
	q := tables(st).Rebind(`INSERT INTO sms2fa_challenges (id, user_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, next_send_at)
		VALUES (?, 'alice', ?, '+919876543210', 'IN', ?, ?, ?, 5, ?)`)
	mac := make([]byte, 32)
	var n atomic.Int64
	b.ReportAllocs()
	done := measureCost(b, st)
	b.ResetTimer()
	for b.Loop() {
		i := n.Add(1)
		now := time.Now().UnixMilli()
		id := fmt.Sprintf("%032x", i)
		if _, err := tables(st).Exec(q, id, id, mac, now, now+300_000, now+30_000); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkVerifySQLite measures verification with 1e3 and 1e6 other live
// challenges in the table: the cost must not grow with it.
func BenchmarkVerifySQLite(b *testing.B) {
	parent := b
	for _, rows := range []int{1_000, 1_000_000} {
		// Filled on first use, once: a sub-benchmark's function runs several
		// times, and a filtered-out one never.
		var (
			once sync.Once
			st   *store.SQL
		)
		b.Run(fmt.Sprintf("live=%.0e", float64(rows)), func(b *testing.B) {
			once.Do(func() { st = sqliteStore(parent); fill(b, st, rows) })
			benchVerify(b, st)
		})
	}
}

func BenchmarkFloorSQLiteUpdate(b *testing.B) { floorUpdate(b, sqliteStore(b)) }
func BenchmarkChallengeSQLite(b *testing.B)   { benchChallenge(b, sqliteStore(b)) }
func BenchmarkFloorSQLiteInsert(b *testing.B) { floorInsert(b, sqliteStore(b)) }

func BenchmarkVerifyPostgres(b *testing.B)      { benchVerify(b, postgresStore(b)) }
func BenchmarkFloorPostgresUpdate(b *testing.B) { floorUpdate(b, postgresStore(b)) }

// BenchmarkFloorPostgresSessionUpdate is VerifyPostgres's floor under the
// design (see floorSessionUpdate); the goal is set against
// BenchmarkFloorPostgresUpdate.
func BenchmarkFloorPostgresSessionUpdate(b *testing.B) { floorSessionUpdate(b, postgresStore(b)) }
func BenchmarkChallengePostgres(b *testing.B)          { benchChallenge(b, postgresStore(b)) }
func BenchmarkFloorPostgresInsert(b *testing.B)        { floorInsert(b, postgresStore(b)) }

// BenchmarkChallengeSQLiteAppsOn is ChallengeSQLite with the
// authenticator-app method listed, for a user without an app: the read
// that finds none is what the method costs the SMS path.
func BenchmarkChallengeSQLiteAppsOn(b *testing.B) { benchChallenge(b, sqliteStore(b), withApp(b)) }

// benchAppVerify measures a whole sign-in with an authenticator app's code
// through POST /2fa/verify, for a browser the code page asked for it: the
// session read, the sealed secret it carries unsealed, the code matched,
// its step claimed and the grant created in one store step, the mark
// written, 303. A step is
// accepted once, so each request comes a step after the last, on the
// guard's and the store's clock; the codes and requests are made before the
// timer starts.
func benchAppVerify(b *testing.B, open func(now func() time.Time) *store.SQL) {
	clock := testclock.New(testclock.Start)
	st := open(clock.Now)
	m, listed := appMethod(b)
	opts := append(slices.Clone(noLimits), sms2fa.WithClock(clock.Now), listed)
	a := newBenchApp(b, st, opts...)
	secret, err := m.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Confirm(context.Background(), st, "alice", secret, totp.Code(secret, clock.Now()), ""); err != nil {
		b.Fatal(err)
	}
	// The guarded route asks for the app's code: no SMS, the session notes
	// it. A cookie store keeps nothing on the server, so each request can
	// show that same cookie.
	rec := a.serve(httptest.NewRequest(http.MethodGet, "/app", nil))
	if rec.Code != http.StatusSeeOther || a.fake.Count() != 0 {
		b.Fatalf("guarded route: %d, %d SMS", rec.Code, a.fake.Count())
	}
	ck := httpbench.Cookie(b, rec, "sms2fa")
	start := clock.Now()
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = httpbench.Verify(totp.Code(secret, start.Add(time.Duration(i+1)*30*time.Second)), ck)
	}
	b.ReportAllocs()
	done := cost.Start(b)
	b.ResetTimer()
	for i := range b.N {
		clock.Advance(30 * time.Second)
		rec := a.serve(reqs[i])
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/app" {
			b.Fatalf("app verify: %d %s", rec.Code, rec.Body)
		}
	}
	done()
}

// BenchmarkAppVerifySQLite is benchAppVerify on SQLite; its floor is
// VerifySQLite's.
func BenchmarkAppVerifySQLite(b *testing.B) {
	benchAppVerify(b, func(now func() time.Time) *store.SQL {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), store.WithClock(now))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

// BenchmarkAppVerifyPostgres is benchAppVerify on Postgres; its floors are
// VerifyPostgres's.
func BenchmarkAppVerifyPostgres(b *testing.B) {
	benchAppVerify(b, func(now func() time.Time) *store.SQL {
		st, err := postgres.Open(context.Background(), pgtest.Fresh(b), store.WithClock(now))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

// fill adds rows live challenges of other users, written in one statement.
func fill(b testing.TB, st *store.SQL, rows int) {
	b.Helper()
	now := time.Now().UnixMilli()
	q := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO sms2fa_challenges (id, user_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, next_send_at)
		SELECT printf('fill-%08d', i), printf('user-%d', i % 50000), printf('bind-%d', i), '+919812345678', 'IN',
		       randomblob(32), ?, ?, 5, ? FROM n`
	start := time.Now()
	if _, err := tables(st).Exec(q, rows, now, now+3_600_000, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d live challenges in %v", rows, time.Since(start).Round(time.Millisecond))
}
