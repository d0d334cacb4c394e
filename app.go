package sms2fa

import (
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa/contract"
)

// An authenticator app (package totp, listed in WithMethods) is a second
// factor beside the number. A user who has set one up is asked for the
// app's code instead of being sent an SMS: no challenge row, no send, no
// budget spent. The guard's session notes that an app code is pending
// (keyApp: the sealed secret, so the verify need not read it; the flow in
// keyFlow). The page offers "Text me a code instead", which is a resend:
// it opens an SMS challenge under every send budget, and that challenge is
// what the session waits on while its code can be entered; the SMS page
// offers the app back ({prefix}/app). A secret no key of the guard opens
// (the guard's secret rotated without totp.WithPreviousSecrets) is
// reported and the user gets an SMS, never a 503 — or, with no number,
// the page says the app cannot be checked: never through without it.

// appDigits is the length of an authenticator app's codes (RFC 6238 as
// every app reads it).
const appDigits = 6

// appState is what the guard knows of a user's authenticator app.
type appState struct {
	sealed []byte // the sealed secret, when it opens: the app can be asked for a code
	has    bool   // the user has one, whether or not it opens
}

// unusable reports an app the guard cannot check (its secret does not
// open): the user still has it, and gets an SMS instead — or, without a
// number, is never let through without it.
func (a appState) unusable() bool { return a.has && a.sealed == nil }

// appOf reads u's authenticator app (the method off: none). A secret that
// does not open is reported (totp_unsealable). ok is false when it has
// answered (a store failure).
func (g *Guard) appOf(c *exchange, u User) (_ appState, ok bool) {
	a, found, ok := g.readApp(c, u)
	if !found {
		return appState{}, ok
	}
	if _, _, err := g.totp.Unseal(u.ID, a.Sealed); err != nil {
		if !errors.Is(err, contract.ErrUnsealable) {
			g.fail(c, err)
			return appState{}, false
		}
		g.emit(c.Request.Context(), Event{Kind: EventTOTPUnsealable, UserID: u.ID, How: g.totp.Name(), IP: c.ClientIP(), Err: err})
		return appState{has: true}, true
	}
	return appState{sealed: a.Sealed, has: true}, true
}

// askApp notes in s that its page asks for the code of the app whose
// sealed secret is sealed, for flow — sms says the user has a number to
// text a code to instead — and reports whether s changed. Any SMS
// challenge the session waited on is pending no more: a code typed now is
// the app's. The sealed secret rides along (it is as safe in a cookie as in
// the store) so that the verify need not read it again: the store checks it
// is still the user's as it claims the step.
func askApp(s *sessions.Session, sealed []byte, flow contract.Flow, sms bool) bool {
	_, stale := s.Values[keyChallenge]
	delete(s.Values, keyChallenge)
	delete(s.Values, keyPhone)
	dirty := set(s, keyApp, base64.RawURLEncoding.EncodeToString(sealed))
	dirty = set(s, keyFlow, string(flow)) || dirty
	if sms {
		dirty = set(s, keyAppSMS, "1") || dirty
	} else if _, had := s.Values[keyAppSMS]; had {
		delete(s.Values, keyAppSMS)
		dirty = true
	}
	return dirty || stale
}

// appSMS reports whether the session's app page found a number to text a
// code to instead.
func appSMS(s *sessions.Session) bool {
	v, _ := s.Values[keyAppSMS].(string)
	return v != ""
}

// askedApp is the sealed secret the session's page asked for the code of;
// nil for none, or one that does not decode (the verify reads it then).
func askedApp(s *sessions.Session) []byte {
	v, _ := s.Values[keyApp].(string)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// byApp answers a request that needs a code of flow (a sign-in or a
// step-up) from a user with an authenticator app: the session notes that an
// app code is pending, and the browser goes to the code page (JSON: 401
// with "method": "totp"); next, if set, is where it goes afterwards, and
// dirty says the caller changed s already. u.Phone is the user's enrolled
// number ("" for none), or, with check, the app's, which byApp then reads
// the enrolled one for: a user with an app costs one read more. A session
// that asked for a text keeps its challenge while its code can still be
// entered (not used, expired, out of attempts or failed) and it went to
// the user's number. An app whose secret does not
// open gives way to SMS — but a user without a number is never let through
// without it: the code page says the app cannot be checked, and offers
// recovery codes. It reports false, having answered nothing, only when the
// code is to go by SMS, or the user has no app.
func (g *Guard) byApp(c *exchange, s *sessions.Session, u User, check bool, flow contract.Flow, next string, dirty bool) (answered bool) {
	if g.totp == nil || flow != contract.FlowLogin && flow != contract.FlowStepUp {
		return false
	}
	app, ok := g.appOf(c, u)
	if !ok {
		return true
	}
	if !app.has {
		return false
	}
	if check {
		var f contract.Factor
		if u, f, ok = g.factorOf(c, u); !ok {
			return true
		}
		u = withEnrolled(u, f)
	}
	if app.unusable() && u.Phone != "" {
		return false
	}
	if ref, _, pending := g.pendingAny(s, u); pending && app.sealed != nil && u.Phone != "" {
		switch ch, err := g.store.Challenge(c.Request.Context(), ref); {
		case err == nil && ch.Live() && ch.Phone == u.Phone:
			return false // the text the user asked for is still on its way
		case err != nil && !errors.Is(err, contract.ErrNotFound):
			g.fail(c, err)
			return true
		}
	}
	if next != "" {
		dirty = set(s, keyNext, next) || dirty
	}
	if app.sealed != nil {
		dirty = askApp(s, app.sealed, flow, u.Phone != "") || dirty
	}
	// HEAD and OPTIONS change nothing; GET and POST keep where to go.
	opens := c.Request.Method == http.MethodGet || c.Request.Method == http.MethodPost
	if opens && !g.save(c, s, dirty) {
		return true
	}
	if wantsJSON(c.Request) {
		code := codeSecondFactorRequired
		if flow == contract.FlowStepUp {
			code = codeRecentRequired
		}
		b := jsonBody{Error: code, Method: g.totp.Name(), VerifyURL: g.urls.verify}
		switch {
		case app.unusable():
			b.Reason, b.VerifyURL = reasonAppUnusable, ""
		case u.Phone != "":
			b.ResendURL = g.urls.resend // "Text me a code instead"
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusUnauthorized, b)
		return true
	}
	c.Redirect(http.StatusSeeOther, g.urls.page)
	return true
}

// reasonAppUnusable is the JSON "reason" for a user whose only factor is
// an app the guard cannot check.
const reasonAppUnusable = "app_unusable"

// appPage answers the code page of a user with an app, whose state app is,
// for flow: the app's code form, or, for an app the guard cannot check and
// no number, why not. It reports false, having answered nothing, when the
// code is to go by SMS.
func (g *Guard) appPage(c *exchange, s *sessions.Session, u User, flow contract.Flow, app appState) bool {
	a := g.appAttempt(c, u, flow)
	switch {
	case app.sealed != nil:
		if !g.save(c, s, askApp(s, app.sealed, flow, u.Phone != "")) {
			return true
		}
		g.respond(c, a, view{status: http.StatusOK})
	case app.unusable() && u.Phone == "":
		code := codeSecondFactorRequired
		if flow == contract.FlowStepUp {
			code = codeRecentRequired // as the guarded route said
		}
		g.respond(c, a, view{status: http.StatusUnauthorized, code: code, reason: reasonAppUnusable, msg: a.lang.m.AppUnusable, alert: true})
	default:
		return false
	}
	return true
}

// appPending reports whether s waits on a code from the user's app.
func appPending(s *sessions.Session) bool {
	v, _ := s.Values[keyApp].(string)
	return v != ""
}

// appAttempt is what the code page of an app code shows: the flow, and
// whether the user can switch to SMS.
func (g *Guard) appAttempt(c *exchange, u User, flow contract.Flow) attempt {
	return attempt{user: u, flow: flow, lang: g.lang(c), app: true}
}

// verifyApp checks a code from u's authenticator app, for a session whose
// page asked for one (keyApp) and that has nothing pending by SMS. A step-up
// freshens the browser's grant; a sign-in creates one (how "totp"), and a
// ticked "remember" box remembers the browser as after an SMS code.
func (g *Guard) verifyApp(c *exchange, s *sessions.Session, u User, flow contract.Flow) {
	ctx := c.Request.Context()
	freshen := ""
	if flow == contract.FlowStepUp {
		if id, ok := g.grantID(c.Request, u); ok {
			freshen = id
		}
	}
	if freshen == "" {
		flow = contract.FlowLogin
	}
	if !appSMS(s) {
		u.Phone = "" // the page found no number to text a code to
	}
	a := g.appAttempt(c, u, flow)
	m := a.lang.m
	typed, remember := g.readSubmission(c)
	p := contract.VerifyParams{Policy: g.cfg.policy, Grant: contract.GrantParams{Login: g.loginTag(u)}}
	if freshen == "" {
		id, err := newID()
		if err != nil {
			g.fail(c, err)
			return
		}
		p.Grant.ID, p.Grant.How, p.Grant.Lifetime = id, g.totp.Name(), g.cfg.grantTTL
	}
	r, err := g.totp.Verify(ctx, g.store, contract.Submission{UserID: u.ID, Typed: typed, Params: p, Freshen: freshen,
		Sealed: askedApp(s), At: g.now()})
	ev := Event{UserID: u.ID, How: g.totp.Name(), IP: c.ClientIP()}
	switch {
	case err == nil:
		gr := r.Grant
		if remember && flow == contract.FlowLogin && gr.ID != "" {
			// A device is tied to the number's version, as after an SMS
			// code: a user without a number is not remembered.
			if f, ferr := g.store.Factor(ctx, u.ID); ferr == nil && !f.Removed && f.Phone != "" {
				g.rememberDevice(c, u, f, gr.ID)
			}
		}
		g.granted(c, s, a, gr)
	case errors.Is(err, contract.ErrMalformed):
		g.respond(c, a, view{status: http.StatusUnprocessableEntity, code: codeMalformed, msg: g.fill(m.CodeMalformed, a, 0), alert: true})
	case errors.Is(err, contract.ErrCodeInvalid):
		g.emit(ctx, ev.with(EventCodeInvalid))
		g.respond(c, a, view{status: http.StatusUnprocessableEntity, code: codeInvalid, msg: m.AppCodeInvalid, alert: true})
	case errors.Is(err, contract.ErrCodeUsed):
		// A replay, or a second submission of the code that just worked:
		// a step is accepted once, and counts nothing the second time.
		g.respond(c, a, view{status: http.StatusConflict, code: codeUsed, msg: m.AppCodeUsed, alert: true})
	case errors.Is(err, contract.ErrLocked):
		retry, _ := contract.RetryAfter(err)
		if le := (*contract.LimitError)(nil); errors.As(err, &le) && le.Started { // this very code locked the user
			g.emit(ctx, ev.with(EventCodeInvalid))
			ev.Until = le.Until
			g.emit(ctx, ev.with(EventUserLocked))
		}
		g.respond(c, a, view{status: http.StatusTooManyRequests, code: codeLocked, msg: g.fill(m.Locked, a, retry), alert: true, retry: retry})
	case errors.Is(err, contract.ErrNotFound), errors.Is(err, contract.ErrUnsealable), errors.Is(err, contract.ErrFactorChanged):
		// The app was removed or replaced since the page asked for its
		// code, or its secret no longer opens: the page asks again (for
		// the new app's code, or by SMS).
		if errors.Is(err, contract.ErrUnsealable) {
			ev.Err = err
			g.emit(ctx, ev.with(EventTOTPUnsealable))
		}
		delete(s.Values, keyApp)
		if g.save(c, s, true) {
			g.noChallenge(c, codeNoChallenge)
		}
	default:
		g.fail(c, err)
	}
}

// handleUseApp serves POST {prefix}/app: from a texted code back to the
// code of the user's authenticator app ("Use my authenticator app
// instead"), for the same sign-in or step-up. The text is pending no more.
func (g *Guard) handleUseApp(c *exchange) {
	u, s, ok := g.begin(c, true)
	if !ok {
		return
	}
	var f contract.Factor
	if u, f, ok = g.factorOf(c, u); !ok {
		return
	}
	u = withEnrolled(u, f)
	app, ok := g.appOf(c, u)
	if !ok {
		return
	}
	_, flow, _ := g.pendingAny(s, u)
	if flow != contract.FlowStepUp {
		flow = contract.FlowLogin
	}
	if app.sealed != nil && !g.save(c, s, askApp(s, app.sealed, flow, u.Phone != "")) {
		return
	}
	if wantsJSON(c.Request) {
		if app.sealed == nil {
			g.handlePage(c) // no app to go back to: the code step as it stands
			return
		}
		g.respond(c, g.appAttempt(c, u, flow), view{status: http.StatusOK})
		return
	}
	// The page shows what there is: the app's form, or, for an app gone
	// or unusable meanwhile, the text.
	c.Redirect(http.StatusSeeOther, g.urls.page)
}

// offerApp, for the page of a send that was refused (a budget, a blocked
// prefix), offers a user who has an authenticator app its code instead.
// It reports false when it has answered with a failure.
func (g *Guard) offerApp(c *exchange, a *attempt) bool {
	if g.totp == nil || a.useApp || a.flow != contract.FlowLogin && a.flow != contract.FlowStepUp {
		return true
	}
	app, ok := g.appOf(c, a.user)
	if ok {
		a.useApp = app.sealed != nil
	}
	return ok
}
