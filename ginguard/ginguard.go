// Package ginguard mounts an [sms2fa.Guard] in a Gin app: the guard's routes
// on a router, its middleware as gin.HandlerFuncs, and the first factor read
// from the *gin.Context. It is a thin adapter: every decision is the core
// guard's, so a Gin app and a net/http app behave alike.
//
// The per-IP send budget counts the client as Gin's ClientIP sees it, which
// follows the engine's trusted proxies (engine.SetTrustedProxies): set them,
// or a client can claim any address.
package ginguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
)

// Guard is an [sms2fa.Guard] for Gin. Its admin calls (SignOutEverywhere,
// Unlock, Factor, …) are the core guard's, promoted; every call that takes a
// request (Mount, Handler, Require, RequireRecent, Check, Logout) takes the
// *gin.Context instead.
type Guard struct {
	*sms2fa.Guard
	user    func(*gin.Context) (sms2fa.User, bool)
	require gin.HandlerFunc
}

// New builds the core guard with sms2fa.New, reading the signed-in user with
// user, which gets the request's *gin.Context, and the client's IP with
// Gin's ClientIP. The other arguments and options are sms2fa.New's.
func New(sessionStore sessions.Store, store contract.Store, sender contract.Sender, secret []byte,
	user func(c *gin.Context) (sms2fa.User, bool), opts ...sms2fa.Option) (*Guard, error) {
	if user == nil {
		return nil, errors.New("ginguard: New needs a user function")
	}
	g := &Guard{user: user}
	// The app's options come after ours, so an app can still choose its own
	// client IP function.
	opts = append([]sms2fa.Option{sms2fa.WithClientIP(clientIP)}, opts...)
	core, err := sms2fa.New(sessionStore, store, sender, secret, userOf(user), opts...)
	if err != nil {
		return nil, err
	}
	g.Guard = core
	g.require = g.middleware(0)
	return g, nil
}

// ginKey is the context key of a ginCtx.
type ginKey struct{}

// ginCtx is the request's context while the core guard runs, and after: it
// carries the *gin.Context to the core's user and client-IP functions, and
// what the guard decided to UserID and StatusOf, in one allocation.
type ginCtx struct {
	context.Context
	c      *gin.Context
	user   string        // the user the app's function named
	status sms2fa.Status // NotChecked until the guard lets the request through
}

// Value returns the ginCtx itself for ginKey, and asks the parent otherwise.
func (g *ginCtx) Value(key any) any {
	if key == (ginKey{}) {
		return g
	}
	return g.Context.Value(key)
}

// withGin returns c's request carrying c.
func withGin(c *gin.Context) (*http.Request, *ginCtx) {
	gc := &ginCtx{Context: c.Request.Context(), c: c}
	return c.Request.WithContext(gc), gc
}

func ginOf(r *http.Request) (*ginCtx, bool) {
	gc, ok := r.Context().Value(ginKey{}).(*ginCtx)
	return gc, ok
}

// userOf turns the app's Gin user function into the core's.
func userOf(user func(*gin.Context) (sms2fa.User, bool)) sms2fa.UserFunc {
	return func(r *http.Request) (sms2fa.User, bool) {
		gc, ok := ginOf(r)
		if !ok {
			// Only the adapter calls the core, always with the context.
			return sms2fa.User{}, false
		}
		u, ok := user(gc.c)
		gc.user = u.ID
		return u, ok
	}
}

// clientIP is Gin's ClientIP, which follows the engine's trusted proxies;
// the TCP peer for a request that reached the core another way.
func clientIP(r *http.Request) string {
	if gc, ok := ginOf(r); ok {
		return gc.c.ClientIP()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Mount adds the guard's routes (see [sms2fa.Guard.Handler]) to r, each as a
// route of its own. Mount them outside the groups that Require guards, after
// the app's session middleware: the user function runs in every one of
// them.
//
// Handed a *gin.Engine that believes X-Forwarded-For from any client (Gin's
// default until SetTrustedProxies is called), Mount logs a warning: the
// per-IP send budget would count whatever IP a client claims.
func (g *Guard) Mount(r gin.IRouter) {
	if e, ok := r.(*gin.Engine); ok && trustsAnyProxy(e) {
		g.Logger().Warn("sms2fa: the gin engine trusts X-Forwarded-For from any client, so a client can claim any IP " +
			"and get a fresh per-IP send budget each time: call engine.SetTrustedProxies with your load balancers' " +
			"addresses, or nil when clients connect directly")
	}
	serve := g.Handler()
	for _, rt := range g.Routes() {
		r.Handle(rt.Method, ginPath(rt.Path), serve)
	}
}

// ginPath writes a net/http pattern's wildcards ({id}) as Gin's (:id).
func ginPath(p string) string {
	b := []byte(p)
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			out = append(out, ':')
		case '}':
		default:
			out = append(out, b[i])
		}
	}
	return string(out)
}

// Handler serves the guard's routes (see [sms2fa.Guard.Handler]) as one
// Gin handler, for an app that routes them itself; Mount is the usual way.
func (g *Guard) Handler() gin.HandlerFunc {
	h := g.Guard.Handler()
	return func(c *gin.Context) {
		r, _ := withGin(c)
		h.ServeHTTP(c.Writer, r)
		c.Abort()
	}
}

// Check is [sms2fa.Guard.Check] for Gin: it answers c itself and returns
// false, or returns true and how the request passed, and UserID and
// StatusOf then see it.
func (g *Guard) Check(c *gin.Context, recent time.Duration) (sms2fa.Status, bool) {
	r, gc := withGin(c)
	st, ok := g.Guard.Check(c.Writer, r, recent)
	if ok {
		gc.status = st
		c.Request = r
	}
	return st, ok
}

// Require is [sms2fa.Guard.Require] for Gin: a request passes to the next
// handlers, which read the user with [UserID] and [StatusOf], or is answered
// by the guard and aborted.
func (g *Guard) Require() gin.HandlerFunc { return g.require }

// RequireRecent is [sms2fa.Guard.RequireRecent] for Gin. It panics if d is
// not positive: that is a programming error.
func (g *Guard) RequireRecent(d time.Duration) gin.HandlerFunc {
	if d <= 0 {
		_ = g.Guard.RequireRecent(d) // panics with the core's message
	}
	return g.middleware(d)
}

func (g *Guard) middleware(recent time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := g.Check(c, recent); !ok {
			c.Abort()
			return
		}
		c.Next()
	}
}

// Logout is [sms2fa.Guard.Logout] for Gin.
func (g *Guard) Logout(c *gin.Context) error {
	r, _ := withGin(c)
	return g.Guard.Logout(c.Writer, r)
}

// UserID returns the ID of the user the guard let through for this request,
// and false outside a guarded route.
func UserID(c *gin.Context) (string, bool) {
	if gc, ok := ginOf(c.Request); ok && gc.status != sms2fa.NotChecked {
		return gc.user, true
	}
	return "", false
}

// StatusOf says how this request passed the guard: Verified, NoSecondFactor,
// or NotChecked outside a guarded route.
func StatusOf(c *gin.Context) sms2fa.Status {
	if gc, ok := ginOf(c.Request); ok {
		return gc.status
	}
	return sms2fa.NotChecked
}

// trustsAnyProxy probes e, whose trusted proxies Gin keeps unexported: a
// request from a documentation address (TEST-NET-3, never a real proxy)
// carrying a forwarded address gets that address as its client IP only if
// every proxy is trusted.
func trustsAnyProxy(e *gin.Engine) bool {
	const claimed = "198.51.100.7"
	c := gin.CreateTestContextOnly(nil, e)
	c.Request = &http.Request{Header: http.Header{}, RemoteAddr: "203.0.113.9:4242"}
	for _, h := range e.RemoteIPHeaders {
		c.Request.Header.Set(h, claimed)
	}
	return c.ClientIP() == claimed
}
