// Command sms2fa-load signs in many virtual users at once against a real
// server on loopback — login, guarded page, code page, the code the sender
// got, verify, guarded page again — and reports sign-ins per second, latency
// per step, errors, and the heap over the run.
//
//	go run ./cmd/sms2fa-load -db sqlite -users 200 -signins 10000
//	go run ./cmd/sms2fa-load -db postgres -dsn postgres://postgres@127.0.0.1:5432/test -users 200 -signins 10000
//
// The server is built in this process with the library, a SQLite file or a
// fresh Postgres schema, and a sender that keeps only the last code per
// number, so the codes can be read back and nothing grows with the run.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/pgtest"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.db, "db", "sqlite", "sqlite or postgres")
	flag.StringVar(&cfg.dsn, "dsn", os.Getenv(pgtest.EnvDSN), "Postgres DSN (default $"+pgtest.EnvDSN+"); a fresh schema is made in it and dropped after")
	flag.StringVar(&cfg.sqlite, "sqlite", "", "SQLite file (default: a new file in a temporary directory)")
	flag.IntVar(&cfg.users, "users", 200, "concurrent virtual users")
	flag.IntVar(&cfg.signins, "signins", 10000, "sign-ins in all")
	flag.Parse()
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sms2fa-load:", err)
		os.Exit(1)
	}
}

type config struct {
	db, dsn, sqlite string
	users, signins  int
}

// The steps of one sign-in, in order.
var steps = []string{"login", "guarded (challenge)", "code page", "verify", "guarded (verified)"}

func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.users < 1 || cfg.signins < 1 {
		return errors.New("-users and -signins must be at least 1")
	}
	st, cleanup, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()

	logs := &countingHandler{}
	srv, codes, err := serve(st, slog.New(logs))
	if err != nil {
		return err
	}
	defer srv.Close()
	base := "http://" + srv.Addr

	transport := &http.Transport{MaxIdleConns: 2 * cfg.users, MaxIdleConnsPerHost: 2 * cfg.users, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	lat := make([][]time.Duration, len(steps))
	var (
		mu      sync.Mutex
		errs    []string
		errN    atomic.Int64
		next    atomic.Int64
		done    atomic.Int64
		heap    []uint64
		heapAt  []int64
		sampled = make(chan struct{}, 1)
	)
	record := func(local [][]time.Duration, local2 []string) {
		mu.Lock()
		defer mu.Unlock()
		for i := range lat {
			lat[i] = append(lat[i], local[i]...)
		}
		errs = append(errs, local2...)
	}
	sample := func(at int64) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		heap, heapAt = append(heap, m.HeapInuse), append(heapAt, at)
		mu.Unlock()
	}
	sample(0)
	every := int64(max(cfg.signins/10, 1))

	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([][]time.Duration, len(steps))
			var localErrs []string
			for {
				i := next.Add(1)
				if i > int64(cfg.signins) {
					break
				}
				if err := signIn(base, transport, codes, i, local); err != nil {
					errN.Add(1)
					if len(localErrs) < 5 {
						localErrs = append(localErrs, err.Error())
					}
				}
				if n := done.Add(1); n%every == 0 {
					select { // one sampler at a time; others carry on
					case sampled <- struct{}{}:
						sample(n)
						<-sampled
					default:
					}
				}
			}
			record(local, localErrs)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sample(int64(cfg.signins))

	fmt.Fprintf(out, "sms2fa load: %s store, %d concurrent users, %d sign-ins, %d cores, %s\n",
		st.Dialect(), cfg.users, cfg.signins, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(out, "elapsed %v, %.0f sign-ins/s, %d errors, %d SQLITE_BUSY / locked, %d error logs\n",
		elapsed.Round(time.Millisecond), float64(cfg.signins)/elapsed.Seconds(), errN.Load(), logs.busy.Load(), logs.errors.Load())
	fmt.Fprintf(out, "%-22s %10s %10s %10s\n", "step", "p50", "p99", "max")
	for i, name := range steps {
		fmt.Fprintf(out, "%-22s %10v %10v %10v\n", name, pct(lat[i], 50), pct(lat[i], 99), pct(lat[i], 100))
	}
	fmt.Fprintf(out, "heap in use after GC (MiB) by sign-ins done:")
	for i := range heap {
		fmt.Fprintf(out, " %d:%.1f", heapAt[i], float64(heap[i])/(1<<20))
	}
	fmt.Fprintln(out)
	for _, e := range errs {
		fmt.Fprintln(out, "error:", e)
	}
	if errN.Load() > 0 || logs.busy.Load() > 0 {
		return fmt.Errorf("%d sign-ins failed, %d busy errors", errN.Load(), logs.busy.Load())
	}
	return nil
}

// signIn takes one new browser through the whole flow as user i.
func signIn(base string, transport http.RoundTripper, codes *lastCodes, i int64, lat [][]time.Duration) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: transport, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	name := fmt.Sprintf("user-%d", i)
	step := func(n int, method, path string, form url.Values, status int, location string) error {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			return err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		t0 := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		lat[n] = append(lat[n], time.Since(t0))
		switch {
		case err != nil:
			return fmt.Errorf("%s %s: %w", steps[n], name, err)
		case resp.StatusCode != status || location != "" && resp.Header.Get("Location") != location:
			return fmt.Errorf("%s %s: %d %s", steps[n], name, resp.StatusCode, resp.Header.Get("Location"))
		}
		return nil
	}
	if err := step(0, http.MethodPost, "/login", url.Values{"username": {name}}, http.StatusSeeOther, "/dashboard"); err != nil {
		return err
	}
	if err := step(1, http.MethodGet, "/dashboard", nil, http.StatusSeeOther, "/2fa"); err != nil {
		return err
	}
	if err := step(2, http.MethodGet, "/2fa", nil, http.StatusOK, ""); err != nil {
		return err
	}
	code, ok := codes.take(phoneOf(i))
	if !ok {
		return fmt.Errorf("no code was sent to %s", name)
	}
	if err := step(3, http.MethodPost, "/2fa/verify", url.Values{"code": {code}}, http.StatusSeeOther, "/dashboard"); err != nil {
		return err
	}
	return step(4, http.MethodGet, "/dashboard", nil, http.StatusOK, "")
}

// phoneOf gives user i an Indian mobile number; a multiplicative step spreads
// consecutive users over the number space, as real users are, so that the
// per-prefix budget sees no burst of adjacent numbers.
func phoneOf(i int64) string {
	return fmt.Sprintf("+919%09d", (i*7919+12345)%1_000_000_000)
}

// serve starts the app: a one-field login (this measures the second factor,
// not passwords), the guard, and a guarded dashboard.
func serve(st contract.Store, logger *slog.Logger) (*http.Server, *lastCodes, error) {
	key := make([]byte, 32)
	rand.Read(key)
	cookies := sessions.NewCookieStore(key)
	cookies.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	user := func(r *http.Request) (sms2fa.User, bool) {
		s, _ := cookies.Get(r, "app")
		name, _ := s.Values["user"].(string)
		var i int64
		if _, err := fmt.Sscanf(name, "user-%d", &i); err != nil {
			return sms2fa.User{}, false
		}
		return sms2fa.User{ID: name, Phone: phoneOf(i)}, true
	}
	codes := &lastCodes{m: map[string]string{}}
	secret := make([]byte, 32)
	rand.Read(secret)
	guard, err := sms2fa.New(cookies, st, codes, secret, user, sms2fa.WithLogger(logger),
		sms2fa.WithSMS(sms.WithIPLimit()), // every virtual user comes from 127.0.0.1
		sms2fa.WithSMS(sms.WithGlobalLimit(sms.Rate{Limit: 1 << 30, Window: 24 * time.Hour})))
	if err != nil {
		return nil, nil, err
	}
	r := http.NewServeMux()
	r.HandleFunc("POST /login", func(w http.ResponseWriter, req *http.Request) {
		s, _ := cookies.Get(req, "app")
		s.Values["user"] = req.PostFormValue("username")
		if err := s.Save(req, w); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		http.Redirect(w, req, "/dashboard", http.StatusSeeOther)
	})
	guard.Mount(r)
	r.Handle("GET /dashboard", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, _ := sms2fa.UserID(req)
		fmt.Fprintf(w, "Signed in as %s", id)
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, codes, nil
}

// lastCodes is the load test's sender: it keeps the last code per number
// until it is read, so memory does not grow with the run.
type lastCodes struct {
	mu sync.Mutex
	m  map[string]string
}

func (l *lastCodes) Send(_ context.Context, m contract.Message) (contract.Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[m.To] = m.Code
	return contract.Receipt{ProviderID: "load", Status: "sent"}, nil
}

func (l *lastCodes) take(number string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.m[number]
	delete(l.m, number)
	return c, ok
}

// countingHandler counts the guard's error logs, and among them the ones
// that say SQLite was busy.
type countingHandler struct {
	errors, busy atomic.Int64
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *countingHandler) WithGroup(string) slog.Handler                { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.errors.Add(1)
	text := r.Message
	r.Attrs(func(a slog.Attr) bool { text += " " + a.Value.String(); return true })
	if strings.Contains(text, "SQLITE_BUSY") || strings.Contains(text, "database is locked") {
		h.busy.Add(1)
	}
	return nil
}

// openStore opens the store the flags name, and returns how to clean it up.
func openStore(ctx context.Context, cfg config) (*store.SQL, func(), error) {
	switch cfg.db {
	case "sqlite":
		path, dir := cfg.sqlite, ""
		if path == "" {
			var err error
			if dir, err = os.MkdirTemp("", "sms2fa-load"); err != nil {
				return nil, nil, err
			}
			path = filepath.Join(dir, "load.db")
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close(); os.RemoveAll(dir) }, nil
	case "postgres":
		if cfg.dsn == "" {
			return nil, nil, errors.New("-db postgres needs -dsn or $" + pgtest.EnvDSN)
		}
		pc, err := pgx.ParseConfig(cfg.dsn)
		if err != nil {
			return nil, nil, errors.New("the Postgres DSN does not parse")
		}
		admin := stdlib.OpenDB(*pc)
		b := make([]byte, 6)
		rand.Read(b)
		schema := "sms2fa_load_" + hex.EncodeToString(b)
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return nil, nil, fmt.Errorf("creating schema: %w", err)
		}
		drop := func(db *sql.DB) { db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); db.Close() }
		st, err := postgres.Open(ctx, pgtest.WithSearchPath(cfg.dsn, schema), store.WithMaxConns(20))
		if err != nil {
			drop(admin)
			return nil, nil, err
		}
		return st, func() { st.Close(); drop(admin) }, nil
	}
	return nil, nil, fmt.Errorf("-db must be sqlite or postgres, not %q", cfg.db)
}

// pct returns the p-th percentile of ds (p = 100: the maximum).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)*p/100, len(s)-1)
	return s[i].Round(10 * time.Microsecond)
}
