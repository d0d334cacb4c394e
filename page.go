package sms2fa

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/templates"
)

// jsonBody is every JSON answer of the guard; empty fields are left out.
type jsonBody struct {
	Error    string `json:"error,omitempty"`
	Reason   string `json:"reason,omitempty"` // why no code was sent: locked, send_limited, prefix_blocked, phone_unusable
	Message  string `json:"message,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	// AlreadyVerified: nothing was pending and the browser holds a mark; no
	// code was checked.
	AlreadyVerified bool   `json:"already_verified,omitempty"`
	Redirect        string `json:"redirect,omitempty"`
	Phone           string `json:"phone,omitempty"`
	VerifyURL       string `json:"verify_url,omitempty"`
	ResendURL       string `json:"resend_url,omitempty"`
	AttemptsLeft    *int   `json:"attempts_left,omitempty"`
	ExpiresIn       *int   `json:"expires_in,omitempty"` // seconds
	ResendIn        *int   `json:"resend_in,omitempty"`  // seconds
	RetryAfter      int    `json:"retry_after,omitempty"`
	SendFailed      bool   `json:"send_failed,omitempty"`
	EnrollURL       string `json:"enroll_url,omitempty"`
	// Method is "totp" when the code to send to verify_url is the one the
	// user's authenticator app shows (resend_url, if set, texts one
	// instead).
	Method string `json:"method,omitempty"`
	// TOTPURI and TOTPSecret are an authenticator app being set up (GET
	// {prefix}/totp); TOTPEnabled says the user has one.
	TOTPURI     string `json:"totp_uri,omitempty"`
	TOTPSecret  string `json:"totp_secret,omitempty"`
	TOTPEnabled *bool  `json:"totp_enabled,omitempty"`
	// UseAppURL, on a texted code's state, takes a user who has an
	// authenticator app back to its code (POST).
	UseAppURL string `json:"use_app_url,omitempty"`
	// RecoveryCodes are shown once: after enrolling, or regenerating.
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	// RecoveryCodesLeft is set after a recovery code was used, and by GET
	// {prefix}/recovery-codes.
	RecoveryCodesLeft *int `json:"recovery_codes_left,omitempty"`
	// NoRecoveryCodes: a right login code of a user without recovery codes.
	NoRecoveryCodes bool `json:"no_recovery_codes,omitempty"`
}

// view is what one answer says, before it is rendered as the page or JSON.
type view struct {
	status int
	code   string // the JSON "error"; empty for good news
	reason string // the JSON "reason": a refusal behind a standing state
	msg    string
	alert  bool
	retry  time.Duration // Retry-After, when the refusal ends at a known time
	bare   bool          // no challenge state to show (a refused cross-site POST)
}

// stateView describes a's standing state: a lock, a refused send, a dead or
// expired code, a failed send — or nothing to report.
func (g *Guard) stateView(a attempt, status int, code string) view {
	m := g.l(a).m
	v := view{status: status, code: code}
	switch {
	case a.refused != nil:
		r := g.refusalView(a, a.refused)
		v.msg, v.alert, v.retry, v.reason = r.msg, true, r.retry, r.code
	case a.ch.Locked():
		v.retry = ceilSeconds(a.ch.Until(a.ch.LockedUntil))
		v.msg, v.alert, v.reason = g.fill(m.Locked, a, v.retry), true, codeLocked
	case a.sendErr != nil && errors.Is(a.sendErr, contract.ErrMaybeSent):
		v.msg = m.SendDelayed
	case a.ch.SendFailed:
		v.msg, v.alert = m.SendFailed, true
	case a.ch.Attempts >= a.ch.MaxAttempts && a.ch.MaxAttempts > 0:
		v.msg, v.alert = g.fill(m.TooManyAttempts, a, 0), true
	case a.ch.ID != "" && a.ch.Until(a.ch.ExpiresAt) == 0:
		v.msg, v.alert = m.CodeExpired, true
	}
	return v
}

// refusalView describes a refusal: a lock, a cooldown, a budget, a number
// that cannot be used, or a code that is expired or out of attempts.
func (g *Guard) refusalView(a attempt, err error) view {
	m := g.l(a).m
	retry, _ := contract.RetryAfter(err)
	v := view{status: http.StatusTooManyRequests, alert: true, retry: retry}
	switch {
	case errors.Is(err, contract.ErrLocked):
		v.code, v.msg = codeLocked, g.fill(m.Locked, a, retry)
	case errors.Is(err, contract.ErrResendTooSoon):
		v.code, v.msg = codeResendTooSoon, g.fill(m.ResendTooSoon, a, retry)
	case errors.Is(err, contract.ErrBudgetExceeded):
		v.code, v.msg = codeSendLimited, g.fill(m.SendLimited, a, retry)
	case errors.Is(err, contract.ErrPrefixBlocked):
		v.code, v.msg = codePrefixBlocked, g.fill(m.PrefixBlocked, a, retry)
	case errors.Is(err, ErrInvalidPhone), errors.Is(err, ErrCountryNotAllowed):
		v.status, v.code, v.msg = http.StatusForbidden, codePhoneUnusable, m.PhoneUnusable
	case errors.Is(err, contract.ErrCodeExpired):
		v.status, v.code, v.msg = http.StatusGone, codeExpired, m.CodeExpired
	default: // ErrTooManyAttempts
		v.status, v.code, v.msg = http.StatusGone, codeTooManyAttempts, g.fill(m.TooManyAttempts, a, 0)
	}
	return v
}

// fill fills a message's placeholders from a.
func (g *Guard) fill(msg string, a attempt, wait time.Duration) string {
	return g.l(a).fill(msg, vars{phone: g.phoneOf(a), length: g.codeLength(a), attempts: a.ch.AttemptsLeft(), wait: wait})
}

// codeLength is how many digits a's code has.
func (g *Guard) codeLength(a attempt) int {
	if a.app {
		return appDigits
	}
	return g.sms.CodeLength()
}

// l is a's language: the request's, or English for a sample.
func (g *Guard) l(a attempt) *lang {
	if a.lang != nil {
		return a.lang
	}
	return g.langs[0]
}

// phoneOf is the masked number the user's code went, or goes, to.
func (g *Guard) phoneOf(a attempt) string {
	if a.num.E164 != "" {
		return a.num.Masked()
	}
	if a.ch.Phone != "" {
		return phone.Mask(a.ch.Phone)
	}
	return ""
}

// resendWait is how long until a resend can succeed, as far as a shows.
func (g *Guard) resendWait(a attempt, v view) time.Duration {
	if v.retry > 0 {
		return v.retry
	}
	if a.ch.ID == "" || a.ch.SendFailed || !a.ch.ConsumedAt.IsZero() || a.ch.Attempts >= a.ch.MaxAttempts {
		return 0 // a resend opens a fresh challenge, with no cooldown
	}
	return ceilSeconds(a.ch.Until(a.ch.NextSendAt))
}

// respond renders v, with a's state, as the page or as JSON.
func (g *Guard) respond(c *exchange, a attempt, v view) {
	if v.retry > 0 {
		c.Header("Retry-After", strconv.Itoa(int(v.retry/time.Second)))
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.JSON(v.status, g.jsonFor(a, v))
		return
	}
	if v.bare {
		c.Data(v.status, "text/plain; charset=utf-8", []byte(v.msg+"\n"))
		return
	}
	// The page itself is the answer, so a browser gets 200 with the message
	// in it: a 4xx document is logged in the console as a failed load, which
	// nothing is. JSON clients get the precise status.
	d := g.pageFor(a, v)
	if d.RecoverURL != "" && a.user.ID != "" {
		// The recovery link is for users who have codes to use.
		n, err := g.store.RecoveryCodesLeft(c.Request.Context(), a.user.ID)
		if err != nil {
			g.cfg.logger.ErrorContext(c.Request.Context(), "sms2fa: counting recovery codes", "error", err)
		}
		if err != nil || n == 0 {
			d.RecoverURL, d.RecoverLink = "", ""
		}
	}
	g.render(c, g.page, d)
}

// render executes t with data into a buffer and only then writes it: a
// template that fails halfway must not leave a 200 with half a page (or
// none). A failure is logged, reported and answered with a plain 500.
func (g *Guard) render(c *exchange, t *template.Template, data any) {
	// The guard's pages are where a login can be phished or framed: never
	// cached, no framing, no third-party anything, forms post only here.
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		err = fmt.Errorf("sms2fa: rendering the %q page: %w", t.Name(), err)
		g.cfg.logger.ErrorContext(c.Request.Context(), "sms2fa: page failed", "error", err)
		g.report(c, err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(g.lang(c).m.Unavailable+"\n"))
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}

// checkTemplate executes the page once with sample data of every kind it
// shows — a code sent, a wrong code, a lock, a failed send — so that a custom
// template that fails is refused by New, not discovered by a user.
func (g *Guard) checkTemplate() error {
	now := time.Now()
	ch := contract.Challenge{
		ID: "sample", Phone: sampleNumber, Region: "IN", CreatedAt: now, ExpiresAt: now.Add(time.Minute),
		MaxAttempts: 5, Attempts: 1, Sends: 1, NextSendAt: now.Add(30 * time.Second), Now: now,
	}
	locked := ch
	locked.LockedUntil = now.Add(time.Hour)
	failed := ch
	failed.SendFailed = true
	for _, s := range []struct {
		a attempt
		v view
	}{
		{attempt{ch: ch}, view{status: http.StatusOK}},
		{attempt{ch: ch}, view{status: http.StatusUnprocessableEntity, code: codeInvalid, msg: "sample", alert: true}},
		{attempt{ch: locked}, g.stateView(attempt{ch: locked}, http.StatusOK, "")},
		{attempt{ch: failed}, g.stateView(attempt{ch: failed}, http.StatusOK, "")},
		{attempt{refused: ErrInvalidPhone}, g.refusalView(attempt{}, ErrInvalidPhone)},
	} {
		if err := g.page.Execute(io.Discard, g.pageFor(s.a, s.v)); err != nil {
			return fmt.Errorf("sms2fa: the page template fails with sample data: %w", err)
		}
	}
	return nil
}

func (g *Guard) pageFor(a attempt, v view) templates.PageData {
	l := g.l(a)
	m := l.m
	wait := g.resendWait(a, v)
	locked := a.ch.Locked() || errors.Is(a.refused, contract.ErrLocked) || v.code == codeLocked
	phoneOK := a.num.E164 != "" || a.ch.Phone != ""
	d := templates.PageData{
		Lang: m.Lang, Title: m.Title, Message: v.msg, Alert: v.alert,
		Phone: g.phoneOf(a), CodeLength: g.codeLength(a), CodeLabel: m.CodeLabel, Submit: m.Submit,
		CanVerify:  a.ch.ID != "" && a.ch.Live() && !locked,
		ShowResend: phoneOK && !locked && !errors.Is(a.refused, ErrInvalidPhone) && !errors.Is(a.refused, ErrCountryNotAllowed),
		ResendWait: int(wait / time.Second),
		Resend:     m.Resend, ResendIn: g.fill(m.ResendIn, a, wait), ResendInTemplate: m.ResendIn, NoScript: m.NoScript,
		Units:     l.units,
		VerifyURL: g.urls.verify, ResendURL: g.urls.resend, StyleURL: g.urls.css, ScriptURL: g.urls.js,
	}
	if a.app {
		return g.appPageFor(a, v, d)
	}
	if a.ch.Flow == contract.FlowStepUp || a.flow == contract.FlowStepUp {
		// A code asked for again says why: a sensitive action.
		d.Title = m.StepUpTitle
		if a.ch.ID != "" && !a.ch.SendFailed {
			d.Lead = g.fill(m.StepUpLead, a, 0)
		}
	} else if a.ch.ID != "" && !a.ch.SendFailed {
		d.Lead = g.fill(m.Lead, a, 0)
	}
	if a.useApp {
		d.UseAppURL, d.UseApp = g.urls.useApp, m.UseApp
	}
	// Remembering a device and recovering apply to signing in only.
	if a.ch.Flow == contract.FlowLogin || a.ch.Flow == "" {
		if g.device != nil {
			d.RememberLabel = l.fill(m.RememberDevice, vars{days: int(g.device.Lifetime() / (24 * time.Hour))})
		}
		d.RecoverURL, d.RecoverLink = g.urls.recover, m.RecoverLink
	}
	return d
}

// appPageFor is the code page asking for the code of the user's
// authenticator app: no number, no resend, and, for a user with a number,
// the form that texts a code instead.
func (g *Guard) appPageFor(a attempt, v view, d templates.PageData) templates.PageData {
	l := g.l(a)
	m := l.m
	d.Phone, d.ShowResend, d.ResendWait = "", false, 0
	d.CanVerify = v.code != codeLocked && v.reason != reasonAppUnusable
	d.Lead = g.fill(m.AppLead, a, 0)
	if a.flow == contract.FlowStepUp {
		d.Title, d.Lead = m.StepUpTitle, g.fill(m.AppStepUpLead, a, 0)
	}
	if a.user.Phone != "" {
		d.UseSMSURL, d.UseSMS = g.urls.resend, m.UseSMS
	}
	if a.flow == contract.FlowLogin {
		// A device is remembered against the number: not without one.
		if g.device != nil && a.user.Phone != "" && d.CanVerify {
			d.RememberLabel = l.fill(m.RememberDevice, vars{days: int(g.device.Lifetime() / (24 * time.Hour))})
		}
		d.RecoverURL, d.RecoverLink = g.urls.recover, m.RecoverLink
	}
	return d
}

// renderFlow renders one of the flow pages with the page's security headers.
func (g *Guard) renderFlow(c *exchange, name string, d templates.FlowData) {
	d.Lang, d.StyleURL = g.lang(c).m.Lang, g.urls.css
	g.render(c, g.flows.Lookup(name), d)
}

func (g *Guard) jsonFor(a attempt, v view) jsonBody {
	if v.bare {
		return jsonBody{Error: v.code, Message: v.msg}
	}
	b := jsonBody{Error: v.code, Reason: v.reason, Message: v.msg, Phone: g.phoneOf(a), VerifyURL: g.urls.verify, ResendURL: g.urls.resend}
	if a.useApp {
		b.UseAppURL = g.urls.useApp
	}
	if a.app {
		b.Method = g.totp.Name()
		if a.user.Phone == "" {
			b.ResendURL = "" // no number to text
		}
		if v.reason == reasonAppUnusable {
			b.VerifyURL = "" // no code can be checked
		}
	}
	if v.retry > 0 {
		b.RetryAfter = int(v.retry / time.Second)
	}
	if a.ch.ID != "" {
		left := a.ch.AttemptsLeft()
		expires := int(ceilSeconds(a.ch.Until(a.ch.ExpiresAt)) / time.Second)
		resend := int(g.resendWait(a, v) / time.Second)
		b.AttemptsLeft, b.ExpiresIn, b.ResendIn = &left, &expires, &resend
		b.SendFailed = a.ch.SendFailed
	}
	return b
}

// sampleNumber is an Indian mobile number in Way2API's documentation, for
// the sample pages New renders.
const sampleNumber = "+919876543210"

// alreadyVerified answers a guard route for a browser with nothing pending
// that holds a mark: on to dest. JSON says so distinctly — no code was
// checked, so it never says "verified".
func (g *Guard) alreadyVerified(c *exchange, dest string) {
	if wantsJSON(c.Request) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, jsonBody{AlreadyVerified: true, Redirect: dest})
		return
	}
	c.Redirect(http.StatusSeeOther, dest)
}

// noChallenge answers a verify with nothing (any more) to verify: code says
// whether there never was a challenge or it was used. The page opens a new
// one.
func (g *Guard) noChallenge(c *exchange, code string) {
	if wantsJSON(c.Request) {
		c.JSON(http.StatusConflict, jsonBody{Error: code, ResendURL: g.urls.resend})
		return
	}
	c.Redirect(http.StatusSeeOther, g.urls.page)
}

// done answers a verified session: on to dest.
func (g *Guard) done(c *exchange, dest string) {
	if wantsJSON(c.Request) {
		c.JSON(http.StatusOK, jsonBody{Verified: true, Redirect: dest})
		return
	}
	c.Redirect(http.StatusSeeOther, dest)
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
