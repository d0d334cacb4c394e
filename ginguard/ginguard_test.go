package ginguard_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/ginguard"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

const phone = "+919876543210"

var secret = []byte("0123456789abcdef0123456789abcdef")

// app is a Gin app guarded by the adapter on a real SQLite file, served over
// real HTTP: a login, a guarded page, a sensitive page and a logout.
type app struct {
	t      *testing.T
	guard  *ginguard.Guard
	fake   *sender.Fake
	srv    *httptest.Server
	clock  *testclock.Clock
	logs   bytes.Buffer
	mu     sync.Mutex
	events []sms2fa.Event
}

func newApp(t *testing.T, proxies []string) *app {
	gin.SetMode(gin.TestMode)
	a := &app{t: t, fake: sender.NewFake(), clock: testclock.New(testclock.Start)}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gin.db"), store.WithClock(a.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cookies := sessions.NewCookieStore([]byte("session-hash-key-for-tests-only!"))
	user := func(c *gin.Context) (sms2fa.User, bool) {
		s, _ := cookies.Get(c.Request, "app")
		name, _ := s.Values["user"].(string)
		login, _ := s.Values["login"].(string)
		return sms2fa.User{ID: name, Phone: phone, Login: login}, name != ""
	}
	a.guard, err = ginguard.New(cookies, st, a.fake, secret, user,
		sms2fa.WithClock(a.clock.Now),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(&syncWriter{w: &a.logs, mu: &a.mu}, nil))),
		sms2fa.WithEvents(func(_ context.Context, e sms2fa.Event) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.events = append(a.events, e)
		}))
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	if err := r.SetTrustedProxies(proxies); err != nil {
		t.Fatal(err)
	}
	r.POST("/login", func(c *gin.Context) {
		s, _ := cookies.Get(c.Request, "app")
		s.Values["user"] = c.PostForm("user")
		s.Values["login"] = time.Now().String()
		if err := s.Save(c.Request, c.Writer); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := a.guard.Logout(c); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	a.guard.Mount(r)
	r.GET("/app", a.guard.Require(), func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		c.String(http.StatusOK, "%s %s", id, ginguard.StatusOf(c))
	})
	// A route that runs the guard itself, as a router without middleware
	// would.
	r.GET("/checked", func(c *gin.Context) {
		if _, ok := a.guard.Check(c, 0); !ok {
			return
		}
		id, _ := ginguard.UserID(c)
		c.String(http.StatusOK, "checked %s %s", id, ginguard.StatusOf(c))
	})
	r.GET("/transfer", a.guard.RequireRecent(5*time.Minute), func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		c.String(http.StatusOK, "transfer for %s", id)
	})
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// browser is a cookie jar that shows redirects rather than following them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (a *app) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: a.t, base: a.srv.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header ...string) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (b *browser) want(what string, wantStatus int, wantLoc, wantBody string, status int, loc, body string) {
	b.t.Helper()
	if status != wantStatus || loc != wantLoc || !strings.Contains(body, wantBody) {
		b.t.Fatalf("%s: %d %q %q, want %d %q containing %q", what, status, loc, body, wantStatus, wantLoc, wantBody)
	}
}

// A Gin app gets the whole flow through the adapter: the guarded route sends
// a code, the guard's own routes (mounted on the engine) take it, the handler
// reads the user with UserID and StatusOf, a sensitive route is let through
// while the code is fresh and asks again once it is not, and logout ends it.
func TestGinFlow(t *testing.T) {
	a := newApp(t, nil)
	b := a.browser()
	st, _, _ := b.do("POST", "/login", url.Values{"user": {"alice"}})
	b.want("login", http.StatusNoContent, "", "", st, "", "")
	st, loc, body := b.do("GET", "/app", nil)
	b.want("guarded, no code yet", http.StatusSeeOther, "/2fa", "", st, loc, body)
	st, loc, body = b.do("GET", "/2fa", nil)
	b.want("the code page", http.StatusOK, "", `name="code"`, st, loc, body)
	m, ok := a.fake.Last(phone)
	if !ok {
		t.Fatal("no code sent")
	}
	st, loc, body = b.do("POST", "/2fa/verify", url.Values{"code": {m.Code}})
	b.want("the right code", http.StatusSeeOther, "/app", "", st, loc, body)
	st, loc, body = b.do("GET", "/app", nil)
	b.want("guarded, verified", http.StatusOK, "", "alice verified", st, loc, body)
	st, loc, body = b.do("GET", "/checked", nil)
	b.want("checked by hand, verified", http.StatusOK, "", "checked alice verified", st, loc, body)
	st, loc, body = b.do("GET", "/transfer", nil)
	b.want("sensitive, fresh", http.StatusOK, "", "transfer for alice", st, loc, body)
	a.clock.Advance(6 * time.Minute)
	st, loc, body = b.do("GET", "/transfer", nil)
	b.want("sensitive, stale: a step-up code", http.StatusSeeOther, "/2fa", "", st, loc, body)
	m, _ = a.fake.Last(phone)
	st, loc, body = b.do("POST", "/2fa/verify", url.Values{"code": {m.Code}})
	b.want("the step-up code", http.StatusSeeOther, "/transfer", "", st, loc, body)
	st, loc, body = b.do("GET", "/transfer", nil)
	b.want("sensitive, fresh again", http.StatusOK, "", "transfer for alice", st, loc, body)

	st, loc, body = b.do("POST", "/logout", url.Values{})
	b.want("logout", http.StatusNoContent, "", "", st, loc, body)
	st, loc, body = b.do("GET", "/app", nil)
	b.want("guarded after logout", http.StatusSeeOther, "/2fa", "", st, loc, body)
	if got := a.fake.Count(); got != 3 {
		t.Fatalf("%d codes sent, want 3 (sign-in, step-up, and again after logout)", got)
	}
	// An unknown path under the prefix is Gin's 404, as any unrouted path.
	st, _, _ = b.do("GET", "/2fa/nothing-here", nil)
	b.want("unrouted", http.StatusNotFound, "", "", st, "", "")
}

// The client IP the per-IP budget and the events see is Gin's ClientIP: a
// forwarded address counts only from a trusted proxy.
func TestGinClientIP(t *testing.T) {
	for _, c := range []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no proxy trusted", []string{}, "127.0.0.1"},
		{"loopback is the proxy", []string{"127.0.0.1"}, "198.51.100.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newApp(t, c.proxies)
			b := a.browser()
			b.do("POST", "/login", url.Values{"user": {"alice"}})
			b.do("GET", "/app", nil, "X-Forwarded-For", "198.51.100.7")
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, e := range a.events {
				if e.Kind == sms2fa.EventCodeSent {
					if e.IP != c.want {
						t.Fatalf("code_sent from %q, want %q", e.IP, c.want)
					}
					return
				}
			}
			t.Fatalf("no code_sent event in %v", a.events)
		})
	}
}

// Mount warns when the engine believes any client's X-Forwarded-For, and is
// quiet once trusted proxies are set.
func TestMountWarnsAboutTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		name    string
		proxies []string
		warn    bool
	}{
		{"gin's default", nil, true},
		{"no proxy trusted", []string{}, false},
		{"a load balancer", []string{"10.0.0.0/8"}, false},
	} {
		var logs bytes.Buffer
		g, err := ginguard.New(sessions.NewCookieStore(secret), struct{ contract.Store }{}, sender.NewFake(), secret,
			func(*gin.Context) (sms2fa.User, bool) { return sms2fa.User{}, false },
			sms2fa.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		e := gin.New()
		if c.proxies != nil {
			var ps []string
			if len(c.proxies) > 0 {
				ps = c.proxies
			}
			if err := e.SetTrustedProxies(ps); err != nil {
				t.Fatal(err)
			}
		}
		g.Mount(e)
		if got := strings.Contains(logs.String(), "SetTrustedProxies"); got != c.warn {
			t.Errorf("%s: warned %v, want %v; logs %q", c.name, got, c.warn, logs.String())
		}
	}
}

// New refuses a missing user function, and the core's own refusals come
// through.
func TestNewRefuses(t *testing.T) {
	if _, err := ginguard.New(sessions.NewCookieStore(secret), struct{ contract.Store }{}, sender.NewFake(), secret, nil); err == nil {
		t.Fatal("no user function: no error")
	}
	if _, err := ginguard.New(sessions.NewCookieStore(secret), struct{ contract.Store }{}, sender.NewFake(), []byte("short"),
		func(*gin.Context) (sms2fa.User, bool) { return sms2fa.User{}, false }); err == nil {
		t.Fatal("a short secret: no error")
	}
}
