package sms2fa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/jmoiron/sqlx"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// The test app's users: a first factor as simple as it gets, so that every
// test is about the second.
var phones = map[string]string{
	"alice":        "+91 98765 43210",
	"bob":          "+91 98123 45678",
	"zed":          "+44 7911 123456", // a valid UK mobile, for the country list
	"nobody-phone": "12345",
	"olive":        "", // no number, second factor optional
	"rita":         "", // no number, second factor required
}

// optional are the users whose second factor is optional.
var optional = map[string]bool{"olive": true}

const (
	alicePhone = "+919876543210"
	bobPhone   = "+919812345678"
)

// harness is a real Gin app on a real HTTP server, guarded by a real guard on
// a real SQLite file, with the fake sender and a hand-moved clock.
type harness struct {
	t       testing.TB
	clock   *testclock.Clock
	store   *store.SQL
	fake    *sender.Fake
	guard   *sms2fa.Guard
	srv     *httptest.Server
	cookies *sessions.CookieStore
	logs    *syncBuffer
	open    opener
	opts    []sms2fa.Option
	mu      sync.Mutex
	events  []sms2fa.Event
	moved   map[string]string // users whose phone changed
}

// instance starts another app server — its own Gin engine, guard and store
// handle — on the harness's database, as a second instance behind a load
// balancer would be. It returns the server's URL.
func (h *harness) instance() string {
	h.t.Helper()
	st := h.open(h.t, h.clock.Now)
	srv := httptest.NewServer(h.app(h.newGuard(st, h.opts...)))
	h.t.Cleanup(srv.Close)
	return srv.URL
}

// instanceWith starts another instance, like instance, whose guard also takes
// opts (a clock of its own, say).
func (h *harness) instanceWith(opts ...sms2fa.Option) string {
	h.t.Helper()
	st := h.open(h.t, h.clock.Now)
	srv := httptest.NewServer(h.app(h.newGuard(st, append(append([]sms2fa.Option(nil), h.opts...), opts...)...)))
	h.t.Cleanup(srv.Close)
	return srv.URL
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var secret = []byte("0123456789abcdef0123456789abcdef")

// opener opens a store handle on the test's database with the given clock.
type opener func(t testing.TB, now func() time.Time) *store.SQL

// onSQLite returns an opener for a new SQLite file.
func onSQLite(t testing.TB) opener {
	path := filepath.Join(t.TempDir(), "sms2fa.db")
	return func(t testing.TB, now func() time.Time) *store.SQL {
		return mustOpen(t)(sqlite.Open(context.Background(), path, store.WithClock(now)))
	}
}

// onPostgres returns an opener for a new schema on the test Postgres server.
func onPostgres(t testing.TB) opener {
	dsn := pgtest.Fresh(t)
	return func(t testing.TB, now func() time.Time) *store.SQL {
		return mustOpen(t)(postgres.Open(context.Background(), dsn, store.WithClock(now)))
	}
}

func mustOpen(t testing.TB) func(*store.SQL, error) *store.SQL {
	return func(s *store.SQL, err error) *store.SQL {
		t.Helper()
		if err != nil {
			t.Fatalf("opening the store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func newHarness(t testing.TB, opts ...sms2fa.Option) *harness {
	t.Helper()
	return newHarnessOn(t, onSQLite(t), opts...)
}

func newHarnessOn(t testing.TB, open opener, opts ...sms2fa.Option) *harness {
	t.Helper()
	h := &harness{t: t, clock: testclock.New(testclock.Start), fake: sender.NewFake(), logs: &syncBuffer{}, open: open, opts: opts}
	h.store = open(t, h.clock.Now)
	h.cookies = sessions.NewCookieStore([]byte("session-hash-key-for-tests-only!"))
	h.cookies.Options.HttpOnly = true
	h.guard = h.newGuard(h.store, opts...)
	h.srv = httptest.NewServer(h.app(h.guard))
	t.Cleanup(h.srv.Close)
	return h
}

// newGuard builds a guard like the harness's on the given store.
func (h *harness) newGuard(st contract.Store, opts ...sms2fa.Option) *sms2fa.Guard {
	h.t.Helper()
	base := []sms2fa.Option{
		sms2fa.WithClock(h.clock.Now),
		sms2fa.WithClientIP(forwardedFor),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
		}),
	}
	g, err := sms2fa.New(h.cookies, st, h.fake, secret, h.currentUser, append(base, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	return g
}

// currentUser is the test app's first factor: the "app" session's user.
func (h *harness) currentUser(r *http.Request) (sms2fa.User, bool) {
	s, err := h.cookies.Get(r, "app")
	if err != nil {
		return sms2fa.User{}, false
	}
	name, _ := s.Values["user"].(string)
	if name == "" {
		return sms2fa.User{}, false
	}
	login, _ := s.Values["login"].(string)
	h.mu.Lock()
	number, moved := h.moved[name]
	h.mu.Unlock()
	if !moved {
		number = phoneOf(name)
	}
	u := sms2fa.User{ID: name, Phone: number, Login: login}
	if optional[name] {
		u.SecondFactor = sms2fa.Optional
	}
	return u, true
}

// movePhone changes the named user's phone number, as an app's profile page
// would.
func (h *harness) movePhone(name, number string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.moved == nil {
		h.moved = map[string]string{}
	}
	h.moved[name] = number
}

// phoneOf gives the named user's phone; users p00 … p99 have adjacent
// numbers, +91 98765 43200 to +91 98765 43299.
func phoneOf(name string) string {
	if len(name) == 3 && name[0] == 'p' {
		return "+91 98765 432" + name[1:]
	}
	return phones[name]
}

// forwardedFor is the test app's client IP: the first X-Forwarded-For
// address, else X-Real-IP, else the TCP peer — the test server stands behind
// a proxy it trusts, so tests can play clients from many addresses.
func forwardedFor(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(first)
	}
	if ip := r.Header.Get("X-Real-IP"); ip != "" {
		return ip
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// app is the test app on net/http: a login, a logout, the guard's routes,
// guarded pages under /app and sensitive ones under /secure.
func (h *harness) app(g *sms2fa.Guard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, _ := h.cookies.Get(r, "app")
		s.Values["user"] = r.PostFormValue("user")
		s.Values["login"] = fmt.Sprint(time.Now().UnixNano()) // names this sign-in: User.Login
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := g.Logout(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	g.Mount(mux)
	mux.Handle("/app/", g.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := strings.TrimPrefix(r.URL.Path, "/app")
		switch r.Method {
		case http.MethodGet:
			id, _ := sms2fa.UserID(r)
			if page == "/status" {
				fmt.Fprintf(w, "%s %s", id, sms2fa.StatusOf(r))
				return
			}
			fmt.Fprintf(w, "hello %s at %s", id, page)
		case http.MethodPost:
			fmt.Fprint(w, "posted")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})))
	// Sensitive routes: a code verified in the last 5 minutes.
	mux.Handle("/secure/", g.RequireRecent(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := strings.TrimPrefix(r.URL.Path, "/secure")
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, "secure post %s", page)
			return
		}
		fmt.Fprintf(w, "secure %s", page)
	})))
	return mux
}

// client is one browser: a cookie jar, and redirects left for the test to see.
type client struct {
	h    *harness
	http *http.Client
	json bool   // ask for JSON
	base string // the server's URL; cookies for 127.0.0.1 go to every port
}

func (h *harness) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &client{h: h, base: h.srv.URL, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a read and closed answer.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) location() string { return r.header.Get("Location") }

func (r response) decode(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("not JSON (%d): %q", r.status, r.body)
	}
	return m
}

func (c *client) do(req *http.Request) response {
	c.h.t.Helper()
	if c.json {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) response {
	c.h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form as a same-origin browser would: with an Origin header.
func (c *client) post(path string, form url.Values) response {
	c.h.t.Helper()
	return c.do(c.postRequest(path, form))
}

func (c *client) postRequest(path string, form url.Values) *http.Request {
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

func (c *client) postJSON(path string, body any) response {
	c.h.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return c.do(req)
}

func (c *client) login(user string) *client {
	c.h.t.Helper()
	if r := c.post("/login", url.Values{"user": {user}}); r.status != http.StatusNoContent {
		c.h.t.Fatalf("login: %d", r.status)
	}
	return c
}

func (c *client) verify(code string) response {
	c.h.t.Helper()
	return c.post("/2fa/verify", url.Values{"code": {code}})
}

// code returns the last code the fake sender delivered to number.
func (h *harness) code(number string) string {
	h.t.Helper()
	m, ok := h.fake.Last(number)
	if !ok {
		h.t.Fatalf("no code was sent to %s", number)
	}
	return m.Code
}

// wrong returns a code that no one was sent, so it is wrong for every
// challenge of the test.
func (h *harness) wrong() string {
	sent := map[string]bool{}
	for _, m := range h.fake.Messages() {
		sent[m.Code] = true
	}
	for d := byte('0'); ; d++ {
		if c := strings.Repeat(string(d), 6); !sent[c] {
			return c
		}
	}
}

// attempts sums the user's counted attempts straight from the store's rows,
// to check what the store counted.
func (h *harness) attempts(user string) int {
	h.t.Helper()
	var n int
	err := tables(h.store).Get(&n, `SELECT COALESCE(SUM(attempts), 0) FROM sms2fa_challenges WHERE user_id = ?`, user)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) eventCount(kind sms2fa.EventKind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (h *harness) allEvents() []sms2fa.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sms2fa.Event(nil), h.events...)
}

// want fails unless r has the given status (and, if set, Location).
func want(t testing.TB, what string, r response, status int, location string) {
	t.Helper()
	if r.status != status || location != "" && r.location() != location {
		t.Fatalf("%s: %d %q, want %d %q; body %.300q", what, r.status, r.location(), status, location, r.body)
	}
}

// wantPage fails unless r is the code page (HTML answers are 200: the page
// is the answer) saying msg.
func wantPage(t testing.TB, what string, r response, msg string) {
	t.Helper()
	if r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), msg) {
		t.Fatalf("%s: %d %v, want the page saying %q; body %.2000s", what, r.status, r.header, msg, r.body)
	}
}

// signIn takes a fresh client through the whole flow for user.
func (h *harness) signIn(user, number string) *client {
	h.t.Helper()
	c := h.client().login(user)
	want(h.t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	want(h.t, "verify", c.verify(h.code(number)), http.StatusSeeOther, "/app/home")
	return c
}

func jsonInt(t testing.TB, m map[string]any, key string) int {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%s missing from %v", key, m)
	}
	return int(v)
}

// tables gives tests sqlx's helpers on the store's pool, to look at rows.
func tables(st *store.SQL) *sqlx.DB {
	driver := "sqlite"
	if st.Dialect() == store.Postgres {
		driver = "pgx"
	}
	return sqlx.NewDb(st.DB(), driver)
}
