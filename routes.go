package sms2fa

import (
	"net/http"
	"strings"
)

// Handler returns the guard's own routes, for the app to mount at the
// guard's prefix (WithPrefix, default "/2fa") — with [Guard.Mount] on an
// [http.ServeMux], or by hand on any router that takes an [http.Handler] for
// a path and everything below it. It serves GET {prefix} (the code page),
// POST {prefix}/verify (form field "code", or a JSON body {"code": "…"}),
// POST {prefix}/resend; the lifecycle's GET and POST {prefix}/enroll (field
// "phone"), GET and POST {prefix}/recover (field "recovery_code"), GET
// {prefix}/recovery-codes (the page offering new codes) and POST (making
// them), POST {prefix}/devices/{id}/revoke and POST {prefix}/remove (the
// user's number goes); with the authenticator-app method listed
// (WithMethods), GET and POST {prefix}/totp (its setup page, and the code
// confirming it, field "code"), POST {prefix}/totp/remove and POST
// {prefix}/app (from a text back to the app's code); and the
// pages' two static assets. Anything else is 404. Mount them outside what Require guards, after the app's session
// middleware: the UserFunc runs in every one of them.
func (g *Guard) Handler() http.Handler { return http.HandlerFunc(g.serve) }

// Mount registers each of the guard's routes on mux with its method
// ("GET /2fa", "POST /2fa/verify", …), so that they sit beside the app's
// own patterns, a catch-all "GET /" or "GET /{path...}" included.
func (g *Guard) Mount(mux *http.ServeMux) {
	h := g.Handler()
	for _, rt := range g.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
}

// Route is one of the guard's routes, for routers that register each: a
// method and a path in net/http's pattern syntax ({id} is a path segment).
type Route struct{ Method, Path string }

// Routes lists the routes [Guard.Handler] serves.
func (g *Guard) Routes() []Route {
	rs := make([]Route, 0, len(g.routes)+1)
	for _, rt := range g.routes {
		rs = append(rs, rt.Route)
	}
	return append(rs, Route{http.MethodPost, g.urls.devices + "/{id}/revoke"})
}

// route is a Route and its handler.
type route struct {
	Route
	h func(*exchange)
}

// routeTable lists the guard's fixed routes (the device route has an ID in
// its path and is matched in serve).
func (g *Guard) routeTable() []route {
	get, post := http.MethodGet, http.MethodPost
	rs := []route{
		{Route{get, g.urls.page}, g.handlePage},
		{Route{post, g.urls.verify}, g.handleVerify},
		{Route{post, g.urls.resend}, g.handleResend},
		{Route{get, g.urls.enroll}, g.handleEnrollForm},
		{Route{post, g.urls.enroll}, g.handleEnroll},
		{Route{get, g.urls.recover}, g.handleRecoverForm},
		{Route{post, g.urls.recover}, g.handleRecover},
		{Route{get, g.urls.codes}, g.handleCodesPage},
		{Route{post, g.urls.codes}, g.handleRegenerate},
		{Route{post, g.urls.remove}, g.handleRemove},
		{Route{get, g.urls.css}, g.css.serve},
		{Route{get, g.urls.js}, g.js.serve},
	}
	if g.totp != nil {
		rs = append(rs,
			route{Route{get, g.urls.totp}, g.handleAppSetup},
			route{Route{post, g.urls.totp}, g.handleAppConfirm},
			route{Route{post, g.urls.totpRemove}, g.handleAppRemove},
			route{Route{post, g.urls.useApp}, g.handleUseApp})
	}
	return rs
}

// serve routes a request to the guard's handler for its method and path.
func (g *Guard) serve(w http.ResponseWriter, r *http.Request) {
	c := g.newExchange(w, r)
	if h := g.route(c); h != nil {
		h(c)
		c.finish()
		return
	}
	http.NotFound(w, r)
}

// route finds the handler for c's method and path, nil for none.
func (g *Guard) route(c *exchange) func(*exchange) {
	m, p := c.Request.Method, c.Request.URL.Path
	for _, rt := range g.routes {
		if rt.Method == m && rt.Path == p {
			return rt.h
		}
	}
	// POST {prefix}/devices/{id}/revoke
	if rest, ok := strings.CutPrefix(p, g.urls.devices+"/"); ok && m == http.MethodPost {
		if id, ok := strings.CutSuffix(rest, "/revoke"); ok && id != "" && !strings.Contains(id, "/") {
			c.id = id
			return g.handleRevokeDevice
		}
	}
	return nil
}

func (a asset) serve(c *exchange) {
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, a.ctype, a.body)
}
