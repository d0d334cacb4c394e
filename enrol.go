package sms2fa

import (
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/templates"
)

// Enrolment and number changes share one form, GET and POST {prefix}/enroll.
// A user without a number enrols: a code goes to the number typed (the
// number lives in the challenge row, never in a cookie), and the right code
// saves it, creates a grant and shows ten recovery codes once. A user with a
// number changes it: that needs a fresh factor in the browser's grant (a step-
// up to the current number first, if not), the code goes to the new number,
// and the right code moves the factor and revokes every other grant and
// every remembered device of the user.

// handleEnrollForm serves GET {prefix}/enroll.
func (g *Guard) handleEnrollForm(c *exchange) {
	u, ok := g.accountUser(c)
	if !ok {
		return
	}
	if u.Phone != "" && !g.signedIn(c, u, g.urls.enroll) {
		return
	}
	g.enrollForm(c, u, http.StatusOK, "", false, "")
}

// accountUser starts an account page (GET): the signed-in user, with Phone
// the enrolled number or "" (see withEnrolled). It reports false when it
// has answered: nobody signed in, or a failure.
func (g *Guard) accountUser(c *exchange) (User, bool) {
	u, ok := g.user(c)
	if !ok {
		g.toLogin(c)
		return u, false
	}
	u, f, ok := g.factorOf(c, u)
	if !ok {
		return u, false
	}
	return withEnrolled(u, f), true
}

// withEnrolled is u with Phone set only if the store holds a number for u: an
// app's number that could never be adopted (not a mobile number, a country
// not served) is no number to change — its holder enrols one.
func withEnrolled(u User, f contract.Factor) User {
	if f.Version == 0 || f.Removed {
		u.Phone = ""
	}
	return u
}

// signedIn reports whether the browser holds a valid mark of u; otherwise it
// sends the visitor through the code step first, back to back afterwards.
func (g *Guard) signedIn(c *exchange, u User, back string) bool {
	if _, ok := g.grantID(c.Request, u); ok {
		return true
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return false
	}
	g.challenge(c, s, u, contract.FlowLogin, "", back, false)
	return false
}

// enrollForm renders the form, for enrolling (u has no number) or changing,
// with typed, what the visitor typed last, in the field.
func (g *Guard) enrollForm(c *exchange, u User, status int, msg string, alert bool, typed string) {
	l := g.lang(c)
	m := l.m
	d := templates.FlowData{Title: m.EnrolTitle, Lead: m.EnrolLead, Message: msg, Alert: alert,
		Action: g.urls.enroll, FieldLabel: m.PhoneLabel, Submit: m.EnrolSubmit, Value: typed}
	if u.Phone != "" {
		d.Title, d.Lead = m.ChangeTitle, l.fill(m.ChangeLead, vars{phone: phone.Mask(u.Phone)})
	}
	c.Status(status)
	g.renderFlow(c, "enroll", d)
}

// handleEnroll serves POST {prefix}/enroll.
func (g *Guard) handleEnroll(c *exchange) {
	u, ok := g.formUser(c)
	if !ok {
		return
	}
	u, f, ok := g.factorOf(c, u)
	if !ok {
		return
	}
	u = withEnrolled(u, f)
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return
	}
	m := g.lang(c).m
	raw, ok := readField(c, "phone")
	form := func(c *exchange, status int, msg string, alert bool) { g.enrollForm(c, u, status, msg, alert, raw) }
	num, err := g.sms.Number(raw)
	if !ok || err != nil {
		g.emit(c.Request.Context(), Event{Kind: EventSendRefused, UserID: u.ID, Phone: phone.Mask(raw), IP: c.ClientIP(), Err: err})
		g.flowRefusal(c, http.StatusUnprocessableEntity, codePhoneInvalid, m.PhoneInvalid, 0, form)
		return
	}
	to := u
	to.Phone = num.E164
	if u.Phone == "" { // enrolling: nothing to prove yet but the new number
		// … unless the user has an authenticator app: a number added
		// without it would be a way around it.
		if has, ok := g.hasApp(c, u); !ok {
			return
		} else if has {
			if _, ok := g.fresh(c, s, u, g.urls.enroll); !ok {
				return
			}
		}
		g.openFlow(c, s, to, contract.FlowEnrol, "", form)
		return
	}
	if num.E164 == u.Phone {
		g.flowRefusal(c, http.StatusConflict, codeSameNumber, m.SameNumber, 0, form)
		return
	}
	gr, ok := g.fresh(c, s, u, g.urls.enroll) // without a grant, a sign-in first
	if !ok {
		return
	}
	set(s, keyNext, refererPath(c.Request))
	g.openFlow(c, s, to, contract.FlowChange, gr.ID, form)
}

// openFlow opens (or reuses) a challenge of flow for u's number and sends the
// visitor to the code page. A refusal (a lock, a send budget) sent nothing:
// it is answered as every refusal is — JSON 429 with Retry-After — or on
// the form, with its message.
func (g *Guard) openFlow(c *exchange, s *sessions.Session, u User, flow contract.Flow, grantID string, form func(*exchange, int, string, bool)) {
	a, ok := g.ensure(c, s, u, true, flow, grantID, false)
	if !ok {
		return
	}
	if a.refused != nil {
		v := g.refusalView(a, a.refused)
		g.flowRefusal(c, v.status, v.code, v.msg, v.retry, form)
		return
	}
	if wantsJSON(c.Request) {
		g.respond(c, a, g.stateView(a, http.StatusAccepted, ""))
		return
	}
	c.Redirect(http.StatusSeeOther, g.urls.page)
}

// fresh returns the browser's grant if it is live and a code was verified in
// it less than WithFreshFactor ago. Otherwise it has answered: a step-up to
// the current number (back to back afterwards), a sign-in, or a failure.
func (g *Guard) fresh(c *exchange, s *sessions.Session, u User, back string) (contract.Grant, bool) {
	gr, fresh, answered := g.recentGrant(c, u, g.cfg.freshAge)
	switch {
	case answered:
	case fresh:
		return gr, true
	case gr.ID == "":
		g.challenge(c, s, u, contract.FlowLogin, "", back, false)
	default:
		g.challenge(c, s, u, contract.FlowStepUp, gr.ID, back, false)
	}
	return contract.Grant{}, false
}

// freshAction starts a sensitive account action (new recovery codes,
// forgetting a device, removing the number): a same-origin POST by a user
// with a factor (a number, or an authenticator app) and a fresh one.
// Otherwise it has answered.
func (g *Guard) freshAction(c *exchange) (User, bool) {
	u, ok := g.formUser(c)
	if !ok {
		return u, false
	}
	if u, _, ok = g.factorOf(c, u); !ok {
		return u, false
	}
	if u.Phone == "" {
		if has, ok := g.hasApp(c, u); !ok || !has {
			if ok {
				g.withoutPhone(c, u, true)
			}
			return u, false
		}
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return u, false
	}
	_, ok = g.fresh(c, s, u, refererPath(c.Request))
	return u, ok
}

// handleRemove serves POST {prefix}/remove: the user removes their number.
func (g *Guard) handleRemove(c *exchange) {
	u, ok := g.freshAction(c)
	if !ok {
		return
	}
	if err := g.RemoveFactor(c.Request.Context(), u.ID); err != nil {
		g.fail(c, err)
		return
	}
	g.afterAction(c)
}

// afterAction answers a finished account action: 204 for JSON, else back to
// the page the form was on.
func (g *Guard) afterAction(c *exchange) {
	c.Header("Cache-Control", "no-store")
	if wantsJSON(c.Request) {
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, refererPath(c.Request))
}

// enrolled finishes a right code of an enrol or change challenge: the store
// has saved the number (and, for a change, revoked the user's other grants
// and devices). An enrolment shows the new recovery codes once.
func (g *Guard) enrolled(c *exchange, s *sessions.Session, a attempt, old User, gr contract.Grant) {
	dest, ok := g.settle(c, s, a, gr)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	l := g.lang(c)
	m := l.m
	if a.ch.Flow == contract.FlowChange {
		g.clearDevice(c) // the store forgot every device of the user
		g.emit(ctx, Event{Kind: EventFactorChanged, UserID: old.ID, Phone: phone.Mask(a.ch.Phone), OldPhone: phone.Mask(old.Phone), Region: a.ch.Region, IP: c.ClientIP()})
		if wantsJSON(c.Request) {
			c.JSON(http.StatusOK, jsonBody{Verified: true, Redirect: dest})
			return
		}
		g.renderFlow(c, "done", templates.FlowData{Title: m.ChangeTitle, Lead: l.fill(m.Changed, vars{phone: phone.Mask(a.ch.Phone)}), Action: dest, Submit: m.Continue})
		return
	}
	g.emit(ctx, Event{Kind: EventFactorEnrolled, UserID: old.ID, Phone: phone.Mask(a.ch.Phone), Region: a.ch.Region, IP: c.ClientIP()})
	g.emit(ctx, Event{Kind: EventGrantCreated, UserID: old.ID, Grant: gr.ID, How: gr.How, IP: c.ClientIP()})
	codes, err := g.RegenerateRecoveryCodes(ctx, old.ID)
	if err != nil {
		g.fail(c, err)
		return
	}
	g.showCodes(c, codes, dest, m.Enrolled)
}
