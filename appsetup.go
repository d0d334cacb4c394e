package sms2fa

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/templates"
)

// Setting up an authenticator app: GET {prefix}/totp shows a new secret
// (a QR code drawn by the server, the key as text, the otpauth:// link),
// kept sealed (AES-GCM, the user ID bound in) in a cookie sent only to the
// setup routes, for an hour, until POST {prefix}/totp brings back a right
// code of it; only then is it the user's app — a factor change, as
// a number change is: every other grant and every remembered device of the
// user is revoked, and the code's time step counts as used. Both need a
// fresh factor in the browser's grant (WithFreshFactor), as a number change
// does. A replacement works the same way: the old app signs in until the
// new one is confirmed. POST {prefix}/totp/remove removes the app.

// handleAppSetup serves GET {prefix}/totp.
func (g *Guard) handleAppSetup(c *exchange) {
	u, ok := g.accountUser(c)
	if !ok {
		return
	}
	has, ok := g.hasApp(c, u)
	if !ok {
		return
	}
	if u.Phone == "" && !has {
		g.withoutPhone(c, u, true) // a first factor before a second one: enrol a number
		return
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return
	}
	if _, ok := g.fresh(c, s, u, g.urls.totp); !ok {
		return
	}
	secret, ok := g.newPendingSecret(c, u)
	if !ok {
		return
	}
	back := c.Query("next")
	if !isLocalPath(back) {
		back = refererPath(c.Request)
	}
	if back == g.urls.totp || strings.HasPrefix(back, g.urls.page+"/") || back == g.urls.page {
		back = "/" // not back into the guard's own pages
	}
	g.setupPage(c, u, secret, has, view{status: http.StatusOK}, back)
}

// handleAppConfirm serves POST {prefix}/totp: the code that confirms the
// app being set up.
func (g *Guard) handleAppConfirm(c *exchange) {
	u, gr, has, ok := g.appAction(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	m := g.lang(c).m
	secret, ok := g.pendingSecret(c, u)
	if !ok {
		// Nothing being set up (or another user's, or an hour old):
		// start again.
		if wantsJSON(c.Request) {
			c.JSON(http.StatusConflict, jsonBody{Error: codeNoChallenge})
			return
		}
		c.Redirect(http.StatusSeeOther, g.urls.totp)
		return
	}
	typed, _ := readField(c, "code")
	back := "/"
	if p := c.PostForm("next"); isLocalPath(p) {
		back = p
	}
	replaced, err := g.totp.Confirm(ctx, g.store, u.ID, secret, typed, gr.ID)
	switch {
	case errors.Is(err, contract.ErrMalformed), errors.Is(err, contract.ErrCodeInvalid):
		code := codeInvalid
		if errors.Is(err, contract.ErrMalformed) {
			code = codeMalformed
		}
		g.setupPage(c, u, secret, has, view{status: http.StatusUnprocessableEntity, code: code, msg: m.AppCodeInvalid, alert: true}, back)
		return
	case err != nil:
		g.fail(c, fmt.Errorf("sms2fa: saving the authenticator app: %w", err))
		return
	}
	g.clearSetup(c)
	g.clearDevice(c) // the store forgot every device of the user
	ev := Event{Kind: EventTOTPAdded, UserID: u.ID, How: g.totp.Name(), IP: c.ClientIP()}
	if replaced {
		ev.How = "replaced"
	}
	g.emit(ctx, ev)
	// A user without recovery codes is shown a set once, as after an
	// enrolment: an app on a lost phone is as lost as the number.
	left, err := g.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		g.fail(c, err)
		return
	}
	var codes []string
	if left == 0 {
		if codes, err = g.RegenerateRecoveryCodes(ctx, u.ID); err != nil {
			g.fail(c, err)
			return
		}
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		on := true
		c.JSON(http.StatusOK, jsonBody{TOTPEnabled: &on, Redirect: back, RecoveryCodes: codes})
		return
	}
	if codes != nil {
		g.showCodes(c, codes, back, m.AppAdded)
		return
	}
	g.renderFlow(c, "done", templates.FlowData{Title: m.AppTitle, Lead: m.AppAdded, Action: back, Submit: m.Continue})
}

// handleAppRemove serves POST {prefix}/totp/remove: the user removes their
// authenticator app. The number, if any, stays their factor; without one
// the user has none, as after removing the number.
func (g *Guard) handleAppRemove(c *exchange) {
	u, gr, has, ok := g.appAction(c)
	if !ok {
		return
	}
	if has {
		removed, err := g.store.RemoveTOTP(c.Request.Context(), u.ID, gr.ID)
		if err != nil {
			g.fail(c, fmt.Errorf("sms2fa: removing the authenticator app: %w", err))
			return
		}
		if removed {
			g.clearDevice(c) // the store forgot every device of the user
			g.emit(c.Request.Context(), Event{Kind: EventTOTPRemoved, UserID: u.ID, How: g.totp.Name(), IP: c.ClientIP()})
		}
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.Status(http.StatusNoContent)
		return
	}
	dest := refererPath(c.Request)
	if p := c.PostForm("next"); isLocalPath(p) {
		dest = p
	}
	c.Redirect(http.StatusSeeOther, dest)
}

// appAction starts a POST of the setup page: same origin, a user with a
// factor (a number or an app) and a fresh one in this browser's grant gr.
// has says whether the user has an app. Otherwise it has answered.
func (g *Guard) appAction(c *exchange) (u User, gr contract.Grant, has, ok bool) {
	if u, ok = g.formUser(c); !ok {
		return
	}
	var f contract.Factor
	if u, f, ok = g.factorOf(c, u); !ok {
		return
	}
	u = withEnrolled(u, f)
	if has, ok = g.hasApp(c, u); !ok {
		return
	}
	if u.Phone == "" && !has {
		g.withoutPhone(c, u, true)
		return u, gr, has, false
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return u, gr, has, false
	}
	gr, ok = g.fresh(c, s, u, refererPath(c.Request))
	return u, gr, has, ok
}

// hasApp reports whether u has set up an authenticator app, whether or not
// its secret opens. ok is false when it has answered (a store failure).
func (g *Guard) hasApp(c *exchange, u User) (has, ok bool) {
	_, has, ok = g.readApp(c, u)
	return has, ok
}

// readApp reads u's authenticator app: found is false when there is none
// (or the method is off), ok false when it has answered (a store failure).
func (g *Guard) readApp(c *exchange, u User) (a contract.TOTP, found, ok bool) {
	if g.totp == nil {
		return a, false, true
	}
	a, err := g.store.TOTP(c.Request.Context(), u.ID)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		return a, false, true
	case err != nil:
		g.fail(c, fmt.Errorf("sms2fa: reading the authenticator app: %w", err))
		return a, false, false
	}
	return a, true, true
}

// setupTTL is how long a secret being set up waits for its confirming
// code: long enough to find the app, and a step-up first.
const setupTTL = time.Hour

// newPendingSecret returns the secret this browser is setting up, making
// one if there is none: a reload shows the same QR code, so an app that
// scanned it still confirms — after a step-up its confirmation asked for
// too. It reports false when it has answered.
func (g *Guard) newPendingSecret(c *exchange, u User) ([]byte, bool) {
	if secret, ok := g.pendingSecret(c, u); ok {
		return secret, true
	}
	secret, err := g.totp.NewSecret()
	if err != nil {
		g.fail(c, err)
		return nil, false
	}
	sealed, err := g.totp.Seal(u.ID, secret)
	if err != nil {
		g.fail(c, err)
		return nil, false
	}
	// A cookie of its own, sent only to the setup routes: the guard's
	// session, which verified requests read when it is there, stays out of
	// it, and a step-up's verified code does not end it.
	g.setCookieAt(c, g.cookies.setup, base64.RawURLEncoding.EncodeToString(sealed), g.urls.totp, int(setupTTL/time.Second))
	return secret, true
}

// pendingSecret opens the secret this browser is setting up for u: sealed
// with the user's ID bound in, so another user's opens nothing.
func (g *Guard) pendingSecret(c *exchange, u User) ([]byte, bool) {
	v, _ := cookieValue(c.Request, g.cookies.setup)
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if v == "" || err != nil {
		return nil, false
	}
	secret, stale, err := g.totp.Unseal(u.ID, sealed)
	return secret, err == nil && !stale
}

// clearSetup deletes the cookie of a secret being set up.
func (g *Guard) clearSetup(c *exchange) { g.setCookieAt(c, g.cookies.setup, "", g.urls.totp, -1) }

// setupPage shows the secret being set up, or, for JSON, its URI and key.
func (g *Guard) setupPage(c *exchange, u User, secret []byte, has bool, v view, back string) {
	l := g.lang(c)
	m := l.m
	uri := g.totp.URI(secret, u.ID)
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.JSON(v.status, jsonBody{Error: v.code, Message: v.msg, TOTPURI: uri, TOTPSecret: g.totp.Key(secret), TOTPEnabled: &has})
		return
	}
	qr, err := g.totp.QR(uri)
	if err != nil {
		g.fail(c, err)
		return
	}
	d := templates.FlowData{
		Title: m.AppTitle, Lead: m.AppSetupLead, Message: v.msg, Alert: v.alert,
		Action: g.urls.totp, FieldLabel: m.AppCodeLabel, Submit: m.AppSubmit, Value: back,
		QR: qr, Key: g.totp.Key(secret), KeyLabel: m.AppKeyLabel,
		URI: template.URL(uri), URILabel: m.AppURILabel, // otpauth:, which html/template would refuse as an href
	}
	if has {
		d.Lead, d.Remove, d.RemoveLabel = m.AppReplaceLead, g.urls.totpRemove, m.AppRemove
	}
	g.renderFlow(c, "totp", d)
}

// ResetTOTP removes userID's authenticator app, as an admin (for a user who
// lost the phone it was on): a factor change, so every grant and
// remembered device of the user is revoked. The number, if any, stays. It
// emits totp_reset when there was an app.
func (g *Guard) ResetTOTP(ctx context.Context, userID string) error {
	removed, err := g.store.RemoveTOTP(ctx, userID, "")
	if err != nil {
		return fmt.Errorf("sms2fa: resetting the authenticator app: %w", err)
	}
	if removed {
		g.emit(ctx, Event{Kind: EventTOTPReset, UserID: userID})
	}
	return nil
}
