package main

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-gonic/gin"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/example/internal/demo"
	"github.com/sms2fa/sms2fa/ginguard"
	"github.com/sms2fa/sms2fa/sender"
)

// Most Gin apps keep their sessions with github.com/gin-contrib/sessions.
// Its stores wrap gorilla's, so the app hands the same store to ginguard.New:
// this app signs in with gin-contrib's API, and the guard keeps its own
// session beside the app's, in the same cookie store.
func TestGinContribSessions(t *testing.T) {
	key := []byte(rand.Text() + rand.Text())    // 52 bytes signing the cookies
	secret := []byte(rand.Text() + rand.Text()) // and others keying the guard's code MACs
	cookies := cookie.NewStore(key)
	cookies.Options(sessions.Options{Path: "/", MaxAge: 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	st, err := demo.OpenStore(t.Context(), filepath.Join(t.TempDir(), "gincontrib.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := sender.NewFake()

	// The app's own session says who passed the password, read through
	// gin-contrib's per-request session.
	signedIn := func(c *gin.Context) (sms2fa.User, bool) {
		s := sessions.Default(c)
		name, _ := s.Get("user").(string)
		login, _ := s.Get("login").(string)
		u, ok := demo.LookupUser(name)
		return sms2fa.User{ID: name, Phone: u.Phone, Login: login}, ok
	}
	guard, err := ginguard.New(cookies, st, fake, secret, signedIn,
		sms2fa.WithLoginURL("/login"),
		sms2fa.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}

	r := gin.New()
	r.Use(sessions.Sessions("app", cookies))
	r.POST("/login", func(c *gin.Context) {
		name := c.PostForm("username")
		u, ok := demo.LookupUser(name)
		if !ok || c.PostForm("password") != u.Password {
			c.String(http.StatusUnauthorized, "wrong password")
			return
		}
		s := sessions.Default(c)
		s.Set("user", name)
		s.Set("login", rand.Text())
		if err := s.Save(); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.Redirect(http.StatusSeeOther, "/account")
	})
	guard.Mount(r)
	r.GET("/account", guard.Require(), func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		c.String(http.StatusOK, "account of "+id)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	// Each step is checked on its own answer: no redirects are followed.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	step := func(what string, resp *http.Response, err error, status int, location string) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || resp.Header.Get("Location") != location {
			t.Fatalf("%s: %d to %q, want %d to %q (%s)", what, resp.StatusCode, resp.Header.Get("Location"), status, location, b)
		}
		return string(b)
	}
	get := func(what, path string, status int, location string) string {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		return step(what, resp, err, status, location)
	}
	post := func(what, path string, form url.Values, status int, location string) string {
		t.Helper()
		resp, err := client.PostForm(srv.URL+path, form)
		return step(what, resp, err, status, location)
	}

	get("the account before signing in", "/account", http.StatusSeeOther, "/login")
	post("sign in", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}}, http.StatusSeeOther, "/account")
	if fake.Count() != 0 {
		t.Fatalf("a code went out before the guarded route was asked for")
	}
	get("the account after the password", "/account", http.StatusSeeOther, "/2fa")
	m, ok := fake.Last("+919876543210")
	if !ok || fake.Count() != 1 {
		t.Fatalf("want one code to alice, got %d messages", fake.Count())
	}
	if page := get("the code page", "/2fa", http.StatusOK, ""); !strings.Contains(page, `name="code"`) {
		t.Fatalf("the code page has no code field:\n%s", page)
	}
	names := map[string]bool{}
	for _, c := range jar.Cookies(mustURL(t, srv.URL)) {
		names[c.Name] = true
	}
	if !names["app"] || !names["sms2fa"] {
		t.Fatalf("cookies %v: want the app's session and the guard's side by side", names)
	}
	post("the code", "/2fa/verify", url.Values{"code": {m.Code}}, http.StatusSeeOther, "/account")
	if body := get("the account after the code", "/account", http.StatusOK, ""); body != "account of alice" {
		t.Fatalf("account page: %q", body)
	}
	if fake.Count() != 1 {
		t.Fatalf("%d codes sent for one sign-in", fake.Count())
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
