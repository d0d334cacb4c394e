package demotest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/example/internal/demo"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// The demo starts, serves, and shuts down gracefully when its context ends.
func (s Suite) RunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	vars := map[string]string{"ADDR": "127.0.0.1:0", "DATABASE_URL": filepath.Join(t.TempDir(), "demo.db")}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, env(vars), io.Discard, ready, demo.ServerTimeouts, s.app) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "alice-password") {
		t.Fatalf("landing page: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// demo serves the example's handlers with the fake sender on a SQLite file.
func (s Suite) demo(t testing.TB) (*httptest.Server, *sender.Fake) {
	t.Helper()
	return s.demoEnv(t, map[string]string{"SMS2FA_RESEND_COOLDOWN": "30s"})
}

// demoEnv is demo configured from vars, as the environment would.
func (s Suite) demoEnv(t testing.TB, vars map[string]string) (*httptest.Server, *sender.Fake) {
	t.Helper()
	return s.demoEnvWith(t, vars, nil)
}

// demoEnvWith is demoEnv, with prepare (if not nil) run on the demo's
// store before the demo starts, as an operator's earlier command would.
func (s Suite) demoEnvWith(t testing.TB, vars map[string]string, prepare func(*store.SQL)) (*httptest.Server, *sender.Fake) {
	t.Helper()
	cfg, err := demo.ConfigFrom(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if prepare != nil {
		prepare(st)
	}
	fake := sender.NewFake()
	h, err := s.app(cfg, st, fake, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fake
}

func (s Suite) DemoSignIn(t *testing.T) {
	srv, fake := s.demo(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (string, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.Path, string(b)
	}
	post := func(path string, form url.Values) (string, string, int) {
		resp, err := c.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.Path, string(b), resp.StatusCode
	}
	if path, _ := get("/dashboard"); path != "/login" {
		t.Fatalf("dashboard without login landed on %s", path)
	}
	if _, body, status := post("/login", url.Values{"username": {"alice"}, "password": {"wrong"}}); status != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("wrong password: %d %s", status, body)
	}
	path, body, _ := post("/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if path != "/2fa" || !strings.Contains(body, `name="code"`) {
		t.Fatalf("after login: %s", path)
	}
	m, ok := fake.Last("+919876543210")
	if !ok {
		t.Fatal("no code sent to alice")
	}
	path, body, _ = post("/2fa/verify", url.Values{"code": {m.Code}})
	if path != "/dashboard" || !strings.Contains(body, "Signed in as alice") {
		t.Fatalf("after the code: %s %s", path, body)
	}
	// Alice's number was known to the app: she has no recovery codes, and
	// the dashboard offers them.
	if !strings.Contains(body, `class="recovery-missing"`) || !strings.Contains(body, `href="/2fa/recovery-codes?next=/dashboard"`) {
		t.Fatalf("no recovery-codes banner on the dashboard: %s", body)
	}
	if path, body := get("/2fa/recovery-codes?next=/dashboard"); path != "/2fa/recovery-codes" || !strings.Contains(body, "You have no recovery codes") {
		t.Fatalf("the recovery-codes page: %s %s", path, body)
	}
	if _, body, status := post("/2fa/recovery-codes", url.Values{"next": {"/dashboard"}}); status != http.StatusOK || strings.Count(body, `class="recovery-code"`) != 10 {
		t.Fatalf("making recovery codes: %d %s", status, body)
	}
	if _, body := get("/dashboard"); strings.Contains(body, `class="recovery-missing"`) {
		t.Fatalf("the banner stays after making codes: %s", body)
	}
	if path, _, _ := post("/logout", nil); path != "/" {
		t.Fatalf("after logout: %s", path)
	}
	if path, _ := get("/dashboard"); path != "/login" {
		t.Fatalf("dashboard after logout: %s", path)
	}
}
