package sms2fa

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

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
		// No number: an authenticator app, if the user has one, is the
		// factor.
		if g.totp != nil {
			s, err := g.session(c)
			if err != nil {
				g.fail(c, err)
				return
			}
			if g.byApp(c, s, u, false, flow, nextFor(c.Request, flow, ""), false) {
				return
			}
		}
		g.withoutPhone(c, u, recent) // byApp answers for every user with an app and no number
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
