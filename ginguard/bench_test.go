package ginguard_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/ginguard"
	"github.com/sms2fa/sms2fa/internal/httpbench"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// appChain is a Gin app as a real one is built: a middleware that decodes the
// app's own gorilla CookieStore session (a user ID and a login value) for
// every request, and a handler that reads the user ID. With guarded set, the
// adapter's Require (default options) sits between them, its user function
// reading the app's session. The net/http pair is in the root package.
type appChain struct {
	engine *gin.Engine
	app    *http.Cookie // the app's signed-in session
	mark   *http.Cookie // the guard's mark, once verified
}

func newAppChain(b testing.TB, guarded bool) *appChain {
	gin.SetMode(gin.ReleaseMode)
	cookies := sessions.NewCookieStore([]byte("app-session-hash-key-32-bytes!!!"))
	ch := &appChain{engine: gin.New()}
	ch.app = sessionCookie(b, cookies, "app", map[any]any{"user": "user-42", "login": "c2lnbi1pbi0xNzY0MDcyMDAw"})
	ch.engine.Use(func(c *gin.Context) {
		s, err := cookies.Get(c.Request, "app")
		if err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Set("session", s)
	})
	read := func(c *gin.Context) (string, string) {
		v, _ := c.Get("session")
		s, _ := v.(*sessions.Session)
		if s == nil {
			return "", ""
		}
		id, _ := s.Values["user"].(string)
		login, _ := s.Values["login"].(string)
		return id, login
	}
	handler := func(c *gin.Context) {
		if id, _ := read(c); id != "user-42" {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Status(http.StatusNoContent)
	}
	if !guarded {
		ch.engine.GET("/app", handler)
		return ch
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	fake := sender.NewFake()
	g, err := ginguard.New(cookies, st, fake, secret, func(c *gin.Context) (sms2fa.User, bool) {
		id, login := read(c)
		return sms2fa.User{ID: id, Phone: phone, Login: login}, id != ""
	}, sms2fa.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.engine.SetTrustedProxies(nil); err != nil {
		b.Fatal(err)
	}
	g.Mount(ch.engine)
	ch.engine.GET("/app", g.Require(), handler)
	// Sign in: the guarded route sends a code, the code page takes it.
	req := httptest.NewRequest(http.MethodGet, "/app", nil)
	req.AddCookie(ch.app)
	rec := httptest.NewRecorder()
	ch.engine.ServeHTTP(rec, req)
	pending := httpbench.Cookie(b, rec, "sms2fa")
	m, _ := fake.Last(phone)
	rec = httptest.NewRecorder()
	ch.engine.ServeHTTP(rec, httpbench.Verify(m.Code, pending, ch.app))
	ch.mark = httpbench.Cookie(b, rec, "sms2fa_mark")
	return ch
}

// BenchmarkFloorAppSession is what every signed-in request of a real Gin app
// already pays: its own session cookie decoded, the user ID read.
func BenchmarkFloorAppSession(b *testing.B) {
	ch := newAppChain(b, false)
	httpbench.GET(b, ch.engine, ch.app)
}

// BenchmarkAppRequireVerified is the same app with the adapter's Require on a
// verified browser: the goal is ≤ 1.05× BenchmarkFloorAppSession's time.
func BenchmarkAppRequireVerified(b *testing.B) {
	ch := newAppChain(b, true)
	httpbench.GET(b, ch.engine, ch.app, ch.mark)
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
