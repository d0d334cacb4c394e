package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

const userPhone = "+919876543210"

// A real guard on a real net/http mux, SQLite store and HTTP server, with the
// metrics' hook beside an app's own: one sign-in with a wrong code, then the
// right one, moves exactly the counters it should.
func TestRealFlow(t *testing.T) {
	m, reg := newMetrics(t, "IN")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := sender.NewFake()
	var mu sync.Mutex
	var kinds []sms2fa.EventKind // the app's own hook, which must see every event too
	guard, err := sms2fa.New(
		sessions.NewCookieStore([]byte("session-hash-key-for-tests-only!")), st, fake,
		[]byte("0123456789abcdef0123456789abcdef"),
		func(*http.Request) (sms2fa.User, bool) { return sms2fa.User{ID: "alice", Phone: userPhone}, true },
		sms2fa.WithSMS(sms.WithCountries("IN")),
		sms2fa.WithLogger(slog.New(slog.DiscardHandler)),
		sms2fa.WithEvents(m.Hook),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) {
			mu.Lock()
			defer mu.Unlock()
			kinds = append(kinds, e.Kind)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	r := http.NewServeMux()
	guard.Mount(r)
	r.Handle("GET /app", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") })))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) (int, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Location")
	}
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(req)
	}
	verify := func(code string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/2fa/verify", strings.NewReader(url.Values{"code": {code}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return do(req)
	}

	if status, loc := get("/app"); status != http.StatusSeeOther || loc != "/2fa" {
		t.Fatalf("GET /app: %d to %q, want 303 to /2fa", status, loc)
	}
	if n := fake.Count(); n != 1 {
		t.Fatalf("%d SMS sent, want 1", n)
	}
	msg, _ := fake.Last(userPhone)
	wrong := "000000"
	if msg.Code == wrong {
		wrong = "111111"
	}
	// A browser gets the page again, with 200 and the message in it.
	if status, loc := verify(wrong); status != http.StatusOK || loc != "" {
		t.Fatalf("a wrong code: %d to %q, want 200, the page", status, loc)
	}
	if status, loc := verify(msg.Code); status != http.StatusSeeOther || loc != "/app" {
		t.Fatalf("the right code: %d to %q, want 303 to /app", status, loc)
	}
	if status, _ := get("/app"); status != http.StatusOK {
		t.Fatalf("GET /app after the code: %d, want 200", status)
	}

	mu.Lock()
	got := append([]sms2fa.EventKind(nil), kinds...)
	mu.Unlock()
	want := []sms2fa.EventKind{sms2fa.EventFactorAdopted, sms2fa.EventCodeSent, sms2fa.EventCodeInvalid, sms2fa.EventVerified, sms2fa.EventGrantCreated}
	if !slices.Equal(got, want) {
		t.Errorf("the app's own hook saw %v, want %v", got, want)
	}
	assertExactly(t, reg, map[string]float64{
		`sms2fa_sends_total{outcome="sent",region="IN"}`:             1,
		`sms2fa_send_duration_seconds_count{outcome="sent"}`:         1,
		`sms2fa_verifications_total{outcome="invalid",region="IN"}`:  1,
		`sms2fa_verifications_total{outcome="verified",region="IN"}`: 1,
		`sms2fa_grants_created_total{how="sms"}`:                     1,
	}, "IN")
}
