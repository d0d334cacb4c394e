package sms2fa

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/text/language"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/mark"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/templates"
)

// User is who passed the app's first factor.
type User struct {
	ID    string // stable and unique; a completed second factor counts only for this ID
	Phone string // E.164 ("+919876543210"); spaces and dashes are fine; "" for none
	// Login, if set, names this sign-in: the app's session ID, or the time of
	// the password login. A completed second factor then counts only for the
	// same Login, so signing in again asks for a new code even if the guard's
	// cookies were kept or copied. Empty: the grant lasts its lifetime (see
	// Guard.Logout and WithGrantLifetime).
	Login string
	// SecondFactor says whether the user must complete it: Required (the
	// zero value) or Optional, which lets a user without a phone number
	// through (see StatusOf).
	SecondFactor Requirement
}

// UserFunc tells the guard who is signed in with the app's first factor, and
// their phone number; ok = false means nobody is. It runs on every guarded
// request, so it should be as cheap as the app's own session lookup.
type UserFunc func(r *http.Request) (u User, ok bool)

// Guard is the SMS second factor: a middleware for protected routes
// ([Guard.Require]) and the routes of its own code-entry flow
// ([Guard.Mount]). Build it once with [New]; it is safe for concurrent use.
type Guard struct {
	cfg      config
	sessions sessions.Store
	store    contract.Store
	sms      *sms.Method
	userFn   UserFunc
	keys     keys
	marks    *mark.Codec
	cookie   sessions.Options // the guard's cookie attributes, shared by every session it reads
	page     *template.Template
	flows    *template.Template
	langs    []*lang // English first
	matcher  language.Matcher
	cop      *http.CrossOriginProtection
	urls     urls
	routes   []route
	cookies  cookieNames
	css, js  asset
}

// urls are the guard's own paths, fixed at construction.
type urls struct {
	page, verify, resend, css, js string
	enroll, recover, codes        string
	devices                       string // + "/" + ID + "/revoke"
	remove                        string
}

// cookieNames are the guard's two cookies besides its session, named after
// it (WithSessionName) and fixed at construction: the mark is read on every
// guarded request.
type cookieNames struct{ mark, device string }

// asset is a static file of the page, served under a content-hashed path.
type asset struct {
	body  []byte
	ctype string
}

// New builds a guard. Its required parts are positional, so every call site
// says what it uses: the app's session store (the guard keeps its state in a
// session of its own, named by WithSessionName), the challenge [Store], the
// [Sender], a server secret of at least 32 random bytes (it keys the code
// MACs: keep it stable, or pending codes stop verifying), and the function
// that says who is signed in. Everything else is an [Option] with a
// documented default. A configuration that cannot work is an error here, not
// a failure at the first request.
func New(sessionStore sessions.Store, store contract.Store, sender contract.Sender, secret []byte, user UserFunc, opts ...Option) (*Guard, error) {
	switch {
	case sessionStore == nil:
		return nil, errors.New("sms2fa: New needs a session store")
	case store == nil:
		return nil, errors.New("sms2fa: New needs a Store")
	case sender == nil:
		return nil, errors.New("sms2fa: New needs a Sender")
	case user == nil:
		return nil, errors.New("sms2fa: New needs a UserFunc")
	}
	k, err := newKeys(secret)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	page := cfg.page
	if page == nil {
		if page, err = templates.Page(); err != nil {
			return nil, err
		}
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.origins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("sms2fa: trusted origin: %w", err)
		}
	}
	texts, err := sms.New(sender, cfg.sms...)
	if err != nil {
		return nil, err
	}
	cfg.policy = texts.Policy(cfg.policy)
	if err := cfg.policy.Validate(); err != nil {
		return nil, err
	}
	if texts.AnyCountry() {
		cfg.logger.Warn("sms2fa: sms.WithCountries is not set: codes go to valid mobile numbers of any country " +
			"(non-geographic +800/+88x/+979 numbers excepted); name the countries you serve to shrink what SMS pumping can reach")
	}
	g := &Guard{
		cfg: cfg, sessions: sessionStore, store: store, sms: texts, userFn: user, keys: k, marks: mark.New(k.mark, cfg.sessionName), page: page, cop: cop,
		cookie: cfg.cookie.options(),
		css:    asset{templates.CSS(), "text/css; charset=utf-8"},
		js:     asset{templates.JS(), "text/javascript; charset=utf-8"},
	}
	g.urls = urls{
		page:   cfg.prefix,
		verify: cfg.prefix + "/verify",
		resend: cfg.prefix + "/resend",
		css:    cfg.prefix + "/assets/" + contentName("sms2fa", ".css", g.css.body),
		js:     cfg.prefix + "/assets/" + contentName("sms2fa", ".js", g.js.body),
	}
	g.cookies = cookieNames{mark: cfg.sessionName + "_mark", device: cfg.sessionName + "_device"}
	g.urls.enroll, g.urls.recover, g.urls.codes = cfg.prefix+"/enroll", cfg.prefix+"/recover", cfg.prefix+"/recovery-codes"
	g.urls.devices, g.urls.remove = cfg.prefix+"/devices", cfg.prefix+"/remove"
	g.routes = g.routeTable()
	g.langs, g.matcher = languagesFrom(cfg)
	if g.flows, err = templates.Flows(); err != nil {
		return nil, err
	}
	if err := g.checkTemplate(); err != nil {
		return nil, err
	}
	return g, nil
}

// String names the guard without its keys or anything else it holds. It and
// the three below have value receivers so that a copied Guard prints the
// same way.
func (g Guard) String() string { return "sms2fa.Guard{prefix: " + g.cfg.prefix + "}" }

// GoString is String, for %#v.
func (g Guard) GoString() string { return g.String() }

// Format prints String for every verb: %v, %+v and %#v of a struct would
// otherwise print its fields.
func (g Guard) Format(f fmt.State, _ rune) { fmt.Fprint(f, g.String()) }

// LogValue logs String, for slog.Any.
func (g Guard) LogValue() slog.Value { return slog.StringValue(g.String()) }

// contentName names an asset after its content, so it can be cached forever.
func contentName(base, ext string, body []byte) string {
	sum := sha256.Sum256(body)
	return base + "." + hex.EncodeToString(sum[:5]) + ext
}

// Handler returns the guard's own routes, for the app to mount at the
// guard's prefix (WithPrefix, default "/2fa") — with [Guard.Mount] on an
// [http.ServeMux], or by hand on any router that takes an [http.Handler] for
// a path and everything below it. It serves GET {prefix} (the code page),
// POST {prefix}/verify (form field "code", or a JSON body {"code": "…"}),
// POST {prefix}/resend; the lifecycle's GET and POST {prefix}/enroll (field
// "phone"), GET and POST {prefix}/recover (field "recovery_code"), GET
// {prefix}/recovery-codes (the page offering new codes) and POST (making
// them), POST {prefix}/devices/{id}/revoke and POST {prefix}/remove (the
// user's number goes); and the pages' two static assets. Anything else is
// 404. Mount them outside what Require guards, after the app's session
// middleware: the UserFunc runs in every one of them.
func (g *Guard) Handler() http.Handler { return http.HandlerFunc(g.serve) }

// Mount registers [Guard.Handler] on mux at the guard's prefix and below.
func (g *Guard) Mount(mux *http.ServeMux) {
	mux.Handle(g.cfg.prefix, g.Handler())
	mux.Handle(g.cfg.prefix+"/", g.Handler())
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
	return []route{
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

// Logger is the logger the guard writes to (WithLogger), for adapters.
func (g *Guard) Logger() *slog.Logger { return g.cfg.logger }

func (a asset) serve(c *exchange) {
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, a.ctype, a.body)
}

// Require returns the middleware for protected routes. A request passes when
// the app's first factor names a user and the browser carries that user's
// signed mark of a live grant: within the recheck interval (WithRecheck)
// that costs no store call, past it one indexed read, and a revoked or
// expired grant sends the visitor back to the code step. Otherwise the
// visitor is sent to log in, or a challenge is made sure of (a live one is
// reused: reloading never sends a second SMS) and the visitor is sent to the
// code page; JSON clients get 401 with the verify and resend URLs instead.
// Anything that cannot be checked fails closed with 503. The handler behind
// it reads the user with [UserID] and [StatusOf].
func (g *Guard) Require() func(http.Handler) http.Handler { return g.middleware(0) }

// RequireRecent returns the middleware for sensitive routes (a transfer, a
// change of email): besides what Require asks, a code must have been
// verified in this grant less than d ago — a remembered device never counts.
// Otherwise a step-up challenge is opened (reused on reload; its code goes
// out with the step-up purpose) and, once verified, marks the grant fresh.
// A GET comes back to the route; any other method is never replayed: the
// browser goes to the code page, then to the same-origin Referer (else "/").
// JSON clients get 401 recent_second_factor_required. Every request reads the
// grant from the store: these routes are few, and a revocation reaches them
// at once. It panics if d is not positive: that is a programming error.
func (g *Guard) RequireRecent(d time.Duration) func(http.Handler) http.Handler {
	if d <= 0 {
		panic(fmt.Sprintf("sms2fa: RequireRecent needs a positive age, got %v", d))
	}
	return g.middleware(d)
}

func (g *Guard) middleware(recent time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, ok := g.check(w, r, recent); ok {
				next.ServeHTTP(w, r.WithContext(&passCtx{Context: r.Context(), pass: p}))
			}
		})
	}
}

// Check is Require (recent = 0) or RequireRecent(recent) for routers whose
// middleware is not func(http.Handler) http.Handler: it either answers the
// request itself and returns false, or returns true and how the request
// passed (Verified or NoSecondFactor), and the caller serves it. Unlike the
// middlewares it leaves the request as it is: [UserID] and [StatusOf] do not
// see it.
func (g *Guard) Check(w http.ResponseWriter, r *http.Request, recent time.Duration) (Status, bool) {
	p, ok := g.check(w, r, recent)
	return p.status, ok
}

// check runs the guard on one request: it answers it, or returns what let
// it through.
func (g *Guard) check(w http.ResponseWriter, r *http.Request, recent time.Duration) (passed, bool) {
	c := exchange{Request: r, Writer: w, guard: g}
	if recent > 0 {
		g.requireRecent(&c, recent)
	} else {
		g.require(&c)
	}
	if !c.pass.ok {
		c.finish()
	}
	return c.pass, c.pass.ok
}

func (g *Guard) require(c *exchange) {
	u, ok := g.user(c)
	if !ok {
		g.toLogin(c)
		return
	}
	// The hot path: a valid mark, confirmed recently, is all it takes.
	if ok, answered := g.confirm(c, u); ok || answered {
		if ok {
			let(c, u, Verified)
		}
		return
	}
	g.secondFactor(c, u, contract.FlowLogin, "", false)
}

// secondFactor answers a request that holds no valid mark: the user's
// number is looked up (adopting User.Phone the first time); without one, an
// optional user passes (not on a RequireRecent route: recent) and a required
// one is sent to enrol; a remembered device signs the user in; otherwise a
// code is sent.
func (g *Guard) secondFactor(c *exchange, u User, flow contract.Flow, grantID string, recent bool) {
	// Usually the app's number is the enrolled one and no remembered device
	// is offered: then the challenge opens with the store confirming the
	// number in the same call, rather than after a read of the factor. No
	// factor yet, another number or a removed one: the long way below, as
	// for methods that never open a challenge (HEAD, OPTIONS, …).
	opens := c.Request.Method == http.MethodGet || c.Request.Method == http.MethodPost
	_, device := g.deviceCookie(c, u)
	if opens && u.Phone != "" && !(flow == contract.FlowLogin && !recent && device) {
		s, err := g.session(c)
		if err != nil {
			g.fail(c, err)
			return
		}
		if !g.challenge(c, s, u, flow, grantID, "", true) {
			return
		}
	}
	u, f, ok := g.factorOf(c, u)
	if !ok {
		return
	}
	if u.Phone == "" {
		g.withoutPhone(c, u, recent)
		return
	}
	// A remembered device signs in, but never counts as a fresh factor: a
	// RequireRecent route asks for a code instead.
	if flow == contract.FlowLogin && !recent {
		if signed, failed := g.deviceSignIn(c, u, f); failed {
			return
		} else if signed {
			let(c, u, Verified)
			return
		}
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return
	}
	g.challenge(c, s, u, flow, grantID, "", false)
}

func (g *Guard) requireRecent(c *exchange, d time.Duration) {
	u, ok := g.user(c)
	if !ok {
		g.toLogin(c)
		return
	}
	gr, fresh, answered := g.recentGrant(c, u, d)
	switch {
	case answered:
	case fresh:
		if err := g.writeMark(c, u, gr.ID, g.now(), gr.Until()); err != nil {
			g.fail(c, err)
			return
		}
		let(c, u, Verified)
	case gr.ID != "":
		g.secondFactor(c, u, contract.FlowStepUp, gr.ID, true)
	default:
		g.secondFactor(c, u, contract.FlowLogin, "", true)
	}
}

// withoutPhone answers for a user without a number: an optional user passes
// a Require'd route without a second factor; a required one — and anyone on
// a RequireRecent route, where a fresh code is the point — is sent to enrol
// one (JSON: 401 enrolment_required), and comes back here afterwards.
func (g *Guard) withoutPhone(c *exchange, u User, recent bool) {
	if u.SecondFactor == Optional && !recent {
		let(c, u, NoSecondFactor)
		return
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.JSON(http.StatusUnauthorized, jsonBody{Error: codeEnrolmentRequired, EnrollURL: g.urls.enroll})
		return
	}
	if c.Request.Method == http.MethodGet {
		s, err := g.session(c)
		if err != nil {
			g.fail(c, err)
			return
		}
		if set(s, keyNext, nextOf(c.Request)) && !g.save(c, s, true) {
			return
		}
	}
	c.Redirect(http.StatusSeeOther, g.urls.enroll)
}

// toLogin answers a request nobody has signed in for.
func (g *Guard) toLogin(c *exchange) {
	if wantsJSON(c.Request) {
		c.JSON(http.StatusUnauthorized, map[string]string{"error": codeUnauthenticated, "login_url": g.cfg.loginURL})
		return
	}
	c.Redirect(http.StatusSeeOther, g.cfg.loginURL)
}

// fail answers a store or session failure: logged, reported, 503. The guard
// never lets a request through that it could not check.
func (g *Guard) fail(c *exchange, err error) {
	g.cfg.logger.ErrorContext(c.Request.Context(), "sms2fa: failing closed", "error", err, "path", c.Request.URL.Path)
	g.report(c, err)
	if wantsJSON(c.Request) {
		c.Header("Retry-After", "5")
		c.JSON(http.StatusServiceUnavailable, map[string]string{"error": codeUnavailable, "message": g.lang(c).m.Unavailable})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Retry-After", "5")
	c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte(g.lang(c).m.Unavailable+"\n"))
}

// report hands err to the app's error handler, if it has one.
func (g *Guard) report(c *exchange, err error) {
	if g.cfg.onError != nil {
		g.cfg.onError(c.Request, err)
	}
}

// wantsJSON reports whether the client asked for JSON: an Accept header that
// names JSON and not HTML, or a JSON request body.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "text/html") {
		return false
	}
	return strings.Contains(accept, "json") || isJSONBody(r)
}

func isJSONBody(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/json") || strings.Contains(ct, "+json")
}

// isLocalPath accepts only a same-origin path: one leading slash, no scheme,
// no host, no backslash (browsers read "/\evil.com" as "//evil.com"), no
// control characters.
func isLocalPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return false
		}
	}
	return true
}

// now is the guard's clock.
func (g *Guard) now() time.Time { return g.cfg.now() }
