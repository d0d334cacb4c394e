package sms2fa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/sessions"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/templates"
)

// Recovery codes are a method of their own (package recovery); the guard
// shows them once, takes them in a form, and answers.

// RegenerateRecoveryCodes replaces userID's recovery codes and returns the
// new ones, to show once. It is the admin's call, and the guard's after an
// enrolment; a user regenerating their own goes through POST
// {prefix}/recovery-codes, which asks for a fresh code first.
func (g *Guard) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, err := g.recovery.Issue(ctx, g.store, userID)
	if err != nil {
		return nil, err
	}
	g.emit(ctx, Event{Kind: EventRecoveryRenewed, UserID: userID, Count: len(codes)})
	return codes, nil
}

// RecoveryCodesLeft counts userID's unused recovery codes.
func (g *Guard) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	n, err := g.store.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("sms2fa: counting recovery codes: %w", err)
	}
	return n, nil
}

// handleRecoverForm serves GET {prefix}/recover.
func (g *Guard) handleRecoverForm(c *exchange) {
	if _, ok := g.user(c); !ok {
		g.toLogin(c)
		return
	}
	g.recoverForm(c, http.StatusOK, "", false)
}

func (g *Guard) recoverForm(c *exchange, status int, msg string, alert bool) {
	m := g.lang(c).m
	c.Status(status)
	g.renderFlow(c, "recover", templates.FlowData{
		Title: m.RecoverTitle, Lead: m.RecoverLead, Message: msg, Alert: alert,
		Action: g.urls.recover, FieldLabel: m.RecoveryLabel, Submit: m.RecoverSubmit,
		Links: []templates.Link{{URL: g.urls.page, Text: m.Resend}},
	})
}

// handleRecover serves POST {prefix}/recover: a right recovery code creates a
// grant (how "recovery", a fresh factor) as a right SMS code would.
func (g *Guard) handleRecover(c *exchange) {
	u, ok := g.formUser(c)
	if !ok {
		return
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return
	}
	l := g.lang(c)
	m := l.m
	typed, _ := readField(c, "recovery_code") // unreadable: "", which is no code
	id, err := newID()
	if err != nil {
		g.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	p := contract.VerifyParams{Policy: g.cfg.policy, Grant: contract.GrantParams{ID: id, Login: g.loginTag(u), How: g.recovery.Name(), Lifetime: g.cfg.grantTTL},
		Session: g.submitter(s, u)}
	r, err := g.recovery.Verify(ctx, g.store, contract.Submission{UserID: u.ID, Typed: typed, Params: p})
	left, gr := r.Left, r.Grant
	switch {
	case err == nil:
	case errors.Is(err, contract.ErrMalformed):
		g.flowRefusal(c, http.StatusUnprocessableEntity, codeRecoveryInvalid, m.RecoveryInvalid, 0, g.recoverForm)
		return
	case errors.Is(err, contract.ErrCodeUsed):
		// This browser spent this very code a moment ago (a double
		// click, a retried request): the first submission signed it in,
		// so send it on rather than count a failure.
		dest := next(s)
		if wantsJSON(c.Request) {
			c.Header("Cache-Control", "no-store")
			c.JSON(http.StatusConflict, jsonBody{Error: codeUsed, Message: m.RecoveryUsed, Redirect: dest})
			return
		}
		c.Redirect(http.StatusSeeOther, dest)
		return
	case errors.Is(err, contract.ErrCodeInvalid):
		g.emit(ctx, Event{Kind: EventCodeInvalid, UserID: u.ID, How: g.recovery.Name(), IP: c.ClientIP()})
		g.flowRefusal(c, http.StatusUnprocessableEntity, codeRecoveryInvalid, m.RecoveryInvalid, 0, g.recoverForm)
		return
	case errors.Is(err, contract.ErrLocked):
		retry, _ := contract.RetryAfter(err)
		if le := (*contract.LimitError)(nil); errors.As(err, &le) && le.Started { // this very guess locked the user
			g.emit(ctx, Event{Kind: EventCodeInvalid, UserID: u.ID, How: g.recovery.Name(), IP: c.ClientIP()})
			g.emit(ctx, Event{Kind: EventUserLocked, UserID: u.ID, Until: le.Until, How: g.recovery.Name()})
		}
		g.flowRefusal(c, http.StatusTooManyRequests, codeLocked, l.fill(m.Locked, vars{wait: retry}), retry, g.recoverForm)
		return
	default:
		g.fail(c, err)
		return
	}
	// The browser's earlier grant, if any, is replaced by this one.
	if old, ok := g.grantID(c.Request, u); ok && old != gr.ID {
		if _, err := g.revoke(c, u.ID, old, whyReplaced); err != nil {
			g.cfg.logger.ErrorContext(ctx, "sms2fa: revoking a replaced grant", "error", err)
		}
	}
	g.emit(ctx, Event{Kind: EventRecoveryUsed, UserID: u.ID, Count: left, Grant: gr.ID, IP: c.ClientIP()})
	g.emit(ctx, Event{Kind: EventGrantCreated, UserID: u.ID, Grant: gr.ID, How: gr.How, IP: c.ClientIP()})
	dest := next(s)
	if err := g.drop(c, s); err != nil {
		g.fail(c, err)
		return
	}
	if err := g.writeMark(c, u, gr.ID, g.now(), gr.Until()); err != nil {
		g.fail(c, err)
		return
	}
	if wantsJSON(c.Request) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, jsonBody{Verified: true, Redirect: dest, RecoveryCodesLeft: &left})
		return
	}
	d := templates.FlowData{Title: m.RecoveredTitle, Lead: l.fill(m.RecoveredLead, vars{left: left}), Action: dest, Submit: m.Continue}
	if g.recovery.Low(left) {
		d.Message, d.Alert = m.RecoveryLow, true
	}
	g.renderFlow(c, "done", d)
}

// submitter names, for the store, who submits a recovery code: the sign-in
// (its tag), or, for an app that names none, this guard session (a tag of
// its binding). "" when neither is known: every repeat is then a guess.
func (g *Guard) submitter(s *sessions.Session, u User) string {
	if t := g.loginTag(u); t != "" {
		return t
	}
	if b, _ := s.Values[keyBinding].(string); b != "" {
		return "session:" + hexTag(g.keys.login, b)
	}
	return ""
}

// handleRegenerate serves POST {prefix}/recovery-codes: new recovery codes,
// shown once, for a browser with a fresh factor (otherwise a step-up first,
// back to the page the form was on).
func (g *Guard) handleRegenerate(c *exchange) {
	u, ok := g.freshAction(c)
	if !ok {
		return
	}
	codes, err := g.RegenerateRecoveryCodes(c.Request.Context(), u.ID)
	if err != nil {
		g.fail(c, err)
		return
	}
	dest := refererPath(c.Request)
	if p := c.PostForm("next"); isLocalPath(p) { // from the recovery-codes page
		dest = p
	}
	g.showCodes(c, codes, dest, "")
}

// handleCodesPage serves GET {prefix}/recovery-codes: for a verified user
// with a number, how many recovery codes are left (or why to make some,
// when there are none) and a button that makes a new set, shown once. The
// query's same-origin "next" is where the codes page goes on to ("/" by
// default). JSON: {"recovery_codes_left": n}.
func (g *Guard) handleCodesPage(c *exchange) {
	u, ok := g.accountUser(c)
	if !ok {
		return
	}
	if has, ok := g.hasApp(c, u); !ok {
		return
	} else if u.Phone == "" && !has {
		g.withoutPhone(c, u, true)
		return
	}
	if !g.signedIn(c, u, nextOf(c.Request)) {
		return
	}
	left, err := g.RecoveryCodesLeft(c.Request.Context(), u.ID)
	if err != nil {
		g.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.JSON(http.StatusOK, jsonBody{RecoveryCodesLeft: &left})
		return
	}
	l := g.lang(c)
	m := l.m
	dest := c.Query("next")
	if !isLocalPath(dest) {
		dest = "/"
	}
	d := templates.FlowData{Title: m.CodesTitle, Lead: m.NoCodes, Action: g.urls.codes, Submit: m.MakeCodes, Value: dest}
	if left > 0 {
		d.Lead = l.fill(m.HaveCodes, vars{left: left})
	}
	g.renderFlow(c, "make", d)
}

// showCodes answers with recovery codes, shown once, and a way on to dest.
func (g *Guard) showCodes(c *exchange, codes []string, dest, msg string) {
	m := g.lang(c).m
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.JSON(http.StatusOK, jsonBody{Verified: true, Redirect: dest, RecoveryCodes: codes})
		return
	}
	g.renderFlow(c, "codes", templates.FlowData{
		Title: m.CodesTitle, Lead: m.CodesLead, Message: msg, FieldLabel: m.CodesLabel,
		Codes: codes, Action: dest, Submit: m.Continue,
	})
}

// readField reads one form field, or the same key of a JSON body, bounded.
func readField(c *exchange, name string) (string, bool) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if !isJSONBody(c.Request) {
		return c.PostForm(name), true
	}
	var body map[string]any
	if err := json.NewDecoder(c.Request.Body).Decode(&body); err != nil {
		return "", false
	}
	v, ok := body[name].(string)
	return v, ok
}

// flowRefusal answers a refused form: JSON with its code, or the form again
// with the message.
func (g *Guard) flowRefusal(c *exchange, status int, code, msg string, retry time.Duration, form func(*exchange, int, string, bool)) {
	if retry > 0 {
		c.Header("Retry-After", strconv.Itoa(int(retry/time.Second)))
	}
	if wantsJSON(c.Request) {
		c.Header("Cache-Control", "no-store")
		b := jsonBody{Error: code, Message: msg}
		if retry > 0 {
			b.RetryAfter = int(retry / time.Second)
		}
		c.JSON(status, b)
		return
	}
	// The form is the answer, as with the code page: 200 with the message.
	form(c, http.StatusOK, msg, true)
}
