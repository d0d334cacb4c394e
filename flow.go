package sms2fa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/sms"
)

// Errors about the user's phone number, found before any send.
var (
	// ErrInvalidPhone: the number is not a valid mobile number. It wraps
	// phone.ErrInvalid or phone.ErrNotMobile.
	ErrInvalidPhone = sms.ErrInvalidPhone
	// ErrCountryNotAllowed: the number's region is not in sms.WithCountries.
	ErrCountryNotAllowed = sms.ErrCountryNotAllowed
)

// The stable "error" values of the JSON answers.
const (
	codeSecondFactorRequired = "second_factor_required"
	codeRecentRequired       = "recent_second_factor_required"
	codeEnrolmentRequired    = "enrolment_required"
	codeRecoveryInvalid      = "recovery_code_invalid"
	codePhoneInvalid         = "phone_invalid"
	codeSameNumber           = "same_number"
	codeUnauthenticated      = "unauthenticated"
	codeMalformed            = "code_malformed"
	codeInvalid              = "code_invalid"
	codeExpired              = "code_expired"
	codeUsed                 = "code_used"
	codeTooManyAttempts      = "too_many_attempts"
	codeLocked               = "locked"
	codeResendTooSoon        = "resend_too_soon"
	codeSendLimited          = "send_limited"
	// codePrefixBlocked (prefixblock.go): a blocked number prefix.
	codeSendFailed    = "send_failed"
	codeNoChallenge   = "no_challenge"
	codePhoneUnusable = "phone_unusable"
	codeCrossOrigin   = "cross_origin"
	codeUnavailable   = "unavailable"
)

// maxBody bounds what verify reads: a code is a few bytes.
const maxBody = 4 << 10

// bookkeepingTimeout bounds the store writes the guard makes after the
// request's own work (recording a failed send), detached from the request.
const bookkeepingTimeout = 5 * time.Second

// attempt is what one request knows about the user's challenge.
type attempt struct {
	user    User
	flow    contract.Flow      // what the challenge is for
	lang    *lang              // the request's language
	num     phone.Number       // zero when the number is unusable, or was not needed
	ch      contract.Challenge // zero when there is none
	created bool               // this request opened ch and sent its code
	refused error              // why no challenge could be opened or resent
	sendErr error              // the send this request made failed
	// fellBack: with check (see ensure), the app's number is not the
	// enrolled one (or cannot be parsed); nothing was answered or opened.
	fellBack bool
	app      bool // the code comes from the user's authenticator app: no challenge
	useApp   bool // an SMS page, for a user who has an app: offer it back
}

// flowOf is what a's code is for: its challenge's flow, as the store
// recorded it, or, for an app code, the session's.
func flowOf(a attempt) contract.Flow {
	if a.ch.Flow != "" {
		return a.ch.Flow
	}
	return a.flow
}

// challenge answers a guarded request that needs a code — to sign in, or a
// fresh one for a step-up of grantID: make sure of a challenge of that flow,
// then send the visitor to the page (or tell a JSON client what to do). Only
// GET and POST open challenges: a HEAD from a link previewer or a CORS
// preflight must not send an SMS. The page remembers where to go afterwards:
// next if set; else a GET's own URL, and for a step-up of a POST, which is
// never replayed, the same-origin page it came from.
//
// With check, u.Phone is the app's number, not read from the factor: Open
// confirms it is the enrolled one as it opens, and challenge reports
// fellBack, having answered nothing, when it is not. Without, the caller
// read the factor and u.Phone is the enrolled number (or, for an enrolment,
// the number to enrol); Open confirms it under the lock all the same, and a
// number changed since the read fails the request (503).
func (g *Guard) challenge(c *exchange, s *sessions.Session, u User, flow contract.Flow, grantID, next string, check bool) (fellBack bool) {
	r := c.Request
	code := codeSecondFactorRequired
	if flow == contract.FlowStepUp {
		code = codeRecentRequired
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		if wantsJSON(r) {
			c.JSON(http.StatusUnauthorized, jsonBody{Error: code, VerifyURL: g.urls.verify, ResendURL: g.urls.resend})
			return
		}
		c.Redirect(http.StatusSeeOther, g.urls.page)
		return false
	}
	// A check that falls back leaves the session as it found it: the long
	// way starts from there, and saves what it changes.
	if check {
		restore := keep(s, keyNext, keyBinding)
		defer func() {
			if fellBack {
				restore()
			}
		}()
	}
	// The flow is recorded by ensure, with the challenge it names: a flow
	// without its challenge would make a pending code pass for another kind.
	next = nextFor(r, flow, next)
	dirty := next != "" && set(s, keyNext, next)
	if g.byApp(c, s, u, check, flow, "", dirty) {
		return false
	}
	a, ok := g.ensure(c, s, u, dirty, flow, grantID, check)
	if !ok {
		return a.fellBack
	}
	switch {
	case wantsJSON(r):
		g.respond(c, a, g.stateView(a, http.StatusUnauthorized, code))
	case a.refused != nil && flow == contract.FlowStepUp:
		// No code went out, and the browser's mark is live: the code page
		// would have nothing pending and send it straight back here. The
		// refusal is the answer, with when to try again.
		g.respond(c, a, g.refusalView(a, a.refused))
	default:
		c.Redirect(http.StatusSeeOther, g.urls.page)
	}
	return false
}

// nextFor is where the code page sends the visitor once verified: next if
// set; else a GET's own URL, and for a step-up of a POST, which is never
// replayed, the same-origin page it came from; "" to leave the session's
// as it is. A JSON client goes where it likes.
func nextFor(r *http.Request, flow contract.Flow, next string) string {
	switch {
	case wantsJSON(r):
		return ""
	case next != "":
		return next
	case r.Method == http.MethodGet:
		return nextOf(r)
	case flow == contract.FlowStepUp:
		return refererPath(r)
	}
	return ""
}

// ensure makes sure the session has a live challenge of flow for u, opening
// one and sending its code if there is none. It saves the session when it
// changed it, and reports false when it has already answered with a failure
// — or, with check (see challenge), when it fell back without answering.
func (g *Guard) ensure(c *exchange, s *sessions.Session, u User, dirty bool, flow contract.Flow, grantID string, check bool) (attempt, bool) {
	a := attempt{user: u, flow: flow, lang: g.lang(c)}
	var (
		num phone.Number
		err error
	)
	if check {
		if num, err = g.sms.EnrolledNumber(u.Phone); err != nil {
			a.fellBack = true
			return a, false
		}
		// The app's number, as the enrolled one is kept: what the session
		// and the events name.
		u.Phone = num.E164
		a.user = u
	} else if num, err = g.sms.Number(u.Phone); err != nil {
		a.refused = err
		g.refusedPhone(c, u, err)
		return a, g.save(c, s, dirty)
	}
	a.num = num
	bind, _ := s.Values[keyBinding].(string)
	if bind == "" {
		if bind, err = newID(); err != nil {
			g.fail(c, err)
			return a, false
		}
		s.Values[keyBinding], dirty = bind, true
	}
	ref := contract.Ref{UserID: u.ID, Binding: bind}
	if ref.ID, err = newID(); err != nil {
		g.fail(c, err)
		return a, false
	}
	code, mac, err := g.sms.NewCode(ref.ID)
	if err != nil {
		g.fail(c, err)
		return a, false
	}
	budgets := g.sms.Budgets(u.ID, num, c.ClientIP())
	// A login or step-up code goes only to the enrolled number as it is
	// under the user's lock. With check, u.Phone is the app's; without,
	// it was read from the factor a moment ago, and a change since then
	// is a failure (503) rather than a code to a number no longer the
	// user's. (check comes only with those two flows.)
	ch, created, err := g.store.Open(c.Request.Context(), contract.OpenParams{
		Ref: ref, Flow: flow, GrantID: grantID, Phone: num.E164, Region: num.Region, MAC: mac, Policy: g.cfg.policy, Budgets: budgets,
		CheckFactor: flow == contract.FlowLogin || flow == contract.FlowStepUp, Prefix: g.sms.PrefixRule(num),
	})
	switch {
	// A lock is checked before the number: for a locked user the long way
	// finds what to show (the enrolled number, or enrolment if it is gone).
	case check && (errors.Is(err, contract.ErrFactorChanged) || errors.Is(err, contract.ErrLocked)):
		a.fellBack = true
		return a, false
	case isRefusal(err):
		a.refused = err
		g.refusedEvent(c, a, err)
	case err != nil:
		g.fail(c, err)
		return a, false
	default:
		a.ch, a.created = ch, created
		g.prefixMet(c, a, ch.Prefix)
		dirty = set(s, keyChallenge, ch.ID) || dirty
		dirty = set(s, keyFlow, string(flow)) || dirty
		dirty = set(s, keyPhone, tag(g.keys.phone, u.Phone)) || dirty
		if appPending(s) { // "Text me a code instead": the challenge is what is pending now
			delete(s.Values, keyApp)
			dirty = true
		}
	}
	// The session is saved before the SMS goes out: if it cannot be saved,
	// no code is sent that the visitor could never enter, and the challenge
	// is withdrawn with the budgets it reserved, so nobody is refused for
	// SMS that were never attempted.
	if !g.save(c, s, dirty) {
		if created {
			g.withdraw(c, ref, mac, budgets)
		}
		return a, false
	}
	if created {
		a.sendErr = g.deliver(c, &a, ref, code, mac, EventCodeSent)
	}
	return a, true
}

// save writes the session if dirty, failing closed if it cannot.
func (g *Guard) save(c *exchange, s *sessions.Session, dirty bool) bool {
	if !dirty {
		return true
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		g.fail(c, fmt.Errorf("sms2fa: saving the session: %w", err))
		return false
	}
	return true
}

// deliver sends code, whose MAC is mac, for the challenge ref and records a
// certain failure in the store, so the user can retry at once. It returns the
// send's error.
func (g *Guard) deliver(c *exchange, a *attempt, ref contract.Ref, code string, mac []byte, kind EventKind) error {
	receipt, took, err := g.sms.Send(c.Request.Context(), a.num, code, a.flow)
	ev := g.event(c, *a, ref.ID)
	ev.Flow, ev.Latency = a.flow, took
	if err == nil {
		ev.Kind, ev.ProviderID = kind, receipt.ProviderID
		if a.ch.Prefix != nil {
			ev.How = g.blockHow() // sent under a block: the event names no prefix (see Event.Block)
		}
		g.emit(c.Request.Context(), ev)
		return nil
	}
	ev.Kind, ev.Err = EventSendFailed, err
	g.emit(c.Request.Context(), ev)
	g.report(c, fmt.Errorf("sms2fa: sending the code: %w", err))
	if errors.Is(err, contract.ErrMaybeSent) {
		return err // the code may arrive: keep the cooldown
	}
	if g.recordFailedSend(c, ref, mac) {
		a.ch.SendFailed = true
		a.ch.NextSendAt = time.Time{}
	}
	return err
}

// withdraw tells the store that the challenge ref, whose code MAC is mac, was
// never sent, giving back its budgets. A failure to do so leaves the budgets
// taken until their windows end.
func (g *Guard) withdraw(c *exchange, ref contract.Ref, mac []byte, budgets []contract.Budget) {
	g.bookkeep(c, "withdrawing an unsent challenge", func(ctx context.Context) error {
		return g.store.Cancel(ctx, ref, mac, budgets)
	})
}

// recordFailedSend tells the store that the code whose MAC is mac was never
// sent. A failure to record it only costs the user one cooldown.
func (g *Guard) recordFailedSend(c *exchange, ref contract.Ref, mac []byte) bool {
	return g.bookkeep(c, "recording a failed send", func(ctx context.Context) error {
		return g.store.SendFailed(ctx, ref, mac)
	})
}

// bookkeep runs a store write the guard owes after the request's own work,
// on a context of its own (a send may have used up the request's, or the
// request is being failed); a failure is logged and reported, not answered.
func (g *Guard) bookkeep(c *exchange, what string, fn func(context.Context) error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), bookkeepingTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		g.cfg.logger.ErrorContext(ctx, "sms2fa: "+what, "error", err)
		g.report(c, err)
		return false
	}
	return true
}

// handlePage serves GET {prefix}: the code-entry page, or JSON state.
func (g *Guard) handlePage(c *exchange) {
	u, s, ok := g.begin(c, false)
	if !ok {
		return
	}
	if u, _, ok = g.factorOf(c, u); !ok {
		return
	}
	ref, flow, grantID, ok := g.pendingFor(c, s, u)
	a := attempt{user: u, flow: flow, lang: g.lang(c)}
	if ok {
		ch, err := g.store.Challenge(c.Request.Context(), ref)
		switch {
		case errors.Is(err, contract.ErrNotFound):
			ok = false
		case err != nil:
			g.fail(c, err)
			return
		case !ch.ConsumedAt.IsZero():
			ok = false // used, yet this session is not marked: start again
		default:
			a.ch = ch
			a.num, a.refused = g.sms.Number(ch.Phone) // where this code went
		}
	}
	if !ok && (flow == contract.FlowEnrol || flow == contract.FlowChange) {
		c.Redirect(http.StatusSeeOther, g.urls.enroll) // the number typed is not kept: ask again
		return
	}
	if g.totp != nil && (flow == contract.FlowLogin || flow == contract.FlowStepUp) {
		app, fine := g.appOf(c, u)
		if !fine {
			return
		}
		// Nothing pending by SMS (or a text whose code can no longer be
		// entered): a user with an authenticator app is asked for its
		// code, and no SMS goes out. A text still on its way is the page,
		// which offers the app back.
		if (!ok || !a.ch.Live()) && g.appPage(c, s, u, flow, app) {
			return
		}
		a.useApp = app.sealed != nil
	}
	if !ok && u.Phone == "" {
		g.withoutPhone(c, u, false)
		return
	}
	if !ok {
		if a, ok = g.ensure(c, s, u, false, flow, grantID, false); !ok {
			return
		}
	}
	v := g.stateView(a, http.StatusOK, "")
	if v.msg == "" && c.Query("sent") == "1" {
		v.msg = g.fill(a.lang.m.Resent, a, 0)
	}
	g.respond(c, a, v)
}

// pendingFor returns the challenge the session waits on, its flow and, for a
// step-up, the grant (from the mark) it refreshes. A step-up whose mark is
// gone falls back to signing in.
func (g *Guard) pendingFor(c *exchange, s *sessions.Session, u User) (contract.Ref, contract.Flow, string, bool) {
	ref, flow, ok := g.pending(s, u)
	switch flow {
	case contract.FlowEnrol:
		return ref, flow, "", ok
	case contract.FlowChange:
		id, _ := g.grantID(c.Request, u)
		return ref, flow, id, ok
	case contract.FlowStepUp:
	default:
		return ref, contract.FlowLogin, "", ok
	}
	id, valid := g.grantID(c.Request, u)
	if !valid {
		return ref, contract.FlowLogin, "", false
	}
	return ref, flow, id, ok
}

// handleVerify serves POST {prefix}/verify. What a right code does follows
// the pending challenge's flow, recorded when it was opened: a login creates
// a grant, a step-up freshens the grant it was opened for.
func (g *Guard) handleVerify(c *exchange) {
	u, s, ok := g.begin(c, true)
	if !ok {
		return
	}
	ref, flow, ok := g.pendingAny(s, u)
	if !ok {
		if appPending(s) {
			// Nothing pending by SMS, and the page asked for the app's
			// code.
			g.verifyApp(c, s, u, flow)
			return
		}
		g.noChallenge(c, codeNoChallenge)
		return
	}
	// An enrolment or a change reports the number it replaces: the user's
	// as the store has it. A login or step-up needs no factor here.
	if flow == contract.FlowEnrol || flow == contract.FlowChange {
		if u, _, ok = g.factorOf(c, u); !ok {
			return
		}
	}
	// The number is shown and logged from the challenge: parsing the user's
	// would cost more than the rest of a verify's own work.
	ctx := c.Request.Context()
	a := attempt{user: u, flow: flow, lang: g.lang(c)}
	typed, remember := g.readSubmission(c)
	// The sign-in goes with every flow: a step-up or change freshens only
	// a grant of this very sign-in.
	p := contract.VerifyParams{Policy: g.cfg.policy, Grant: contract.GrantParams{Login: g.loginTag(u)}}
	if flow == contract.FlowLogin || flow == contract.FlowEnrol {
		id, err := newID()
		if err != nil {
			g.fail(c, err)
			return
		}
		p.Grant.ID, p.Grant.How, p.Grant.Lifetime = id, g.sms.Name(), g.cfg.grantTTL
	}
	// The SMS method checks the code in one store step.
	r, err := g.sms.Verify(ctx, g.store, contract.Submission{UserID: u.ID, Ref: ref, Typed: typed, Params: p})
	ch, gr := r.Challenge, r.Grant
	a.ch = ch
	m := a.lang.m
	switch {
	case errors.Is(err, sms.ErrMalformed):
		if a.ch, ok = g.load(c, ref); ok {
			g.respond(c, a, view{status: http.StatusUnprocessableEntity, code: codeMalformed, msg: g.fill(m.CodeMalformed, a, 0), alert: true})
		}
		return
	case err == nil && (ch.Flow == contract.FlowEnrol || ch.Flow == contract.FlowChange):
		g.enrolled(c, s, a, u, gr)
		return
	case err == nil:
		if remember && ch.Flow == contract.FlowLogin && gr.ID != "" {
			// The factor is read after the code was checked: a number
			// changed in between would tie the device to a number this
			// code never went to. A change after this read bumps the
			// version, which retires the device.
			if f, ferr := g.store.Factor(ctx, u.ID); ferr == nil && proves(f, ch) {
				g.rememberDevice(c, u, f, gr.ID)
			}
		}
		g.granted(c, s, a, gr)
		return
	case errors.Is(err, contract.ErrCodeInvalid):
		g.emit(ctx, g.event(c, a, ref.ID).with(EventCodeInvalid))
		if ch.AttemptsLeft() == 0 {
			g.emit(ctx, g.event(c, a, ref.ID).with(EventChallengeDead))
			g.respond(c, a, view{status: http.StatusGone, code: codeTooManyAttempts, msg: g.fill(m.TooManyAttempts, a, 0), alert: true})
			return
		}
		g.respond(c, a, view{status: http.StatusUnprocessableEntity, code: codeInvalid, msg: g.fill(m.CodeInvalid, a, 0), alert: true})
		return
	case errors.Is(err, contract.ErrLocked):
		if ch.ID != "" { // this very guess locked the user (a refusal before the guess returns no challenge)
			ev := g.event(c, a, ref.ID)
			g.emit(ctx, ev.with(EventCodeInvalid))
			ev.Until = ch.LockedUntil
			g.emit(ctx, ev.with(EventUserLocked))
		}
	case errors.Is(err, contract.ErrCodeUsed):
		g.noChallenge(c, codeUsed)
		return
	case errors.Is(err, contract.ErrNotFound):
		g.noChallenge(c, codeNoChallenge)
		return
	case errors.Is(err, contract.ErrCodeExpired), errors.Is(err, contract.ErrTooManyAttempts):
	default:
		g.fail(c, err)
		return
	}
	if a.ch, ok = g.load(c, ref); ok {
		g.respond(c, a, g.refusalView(a, err))
	}
}

// granted finishes a right code: the mark names the grant the store created
// or freshened, the pending state goes, and the visitor goes on to where they
// were going. A step-up whose grant was revoked meanwhile has nothing to
// freshen: the mark goes too, and the route asks for a sign-in code.
func (g *Guard) granted(c *exchange, s *sessions.Session, a attempt, gr contract.Grant) {
	dest, ok := g.settle(c, s, a, gr)
	if !ok {
		return
	}
	ev := g.event(c, a, a.ch.ID)
	ctx := c.Request.Context()
	ev.Grant, ev.How = gr.ID, gr.How
	if flowOf(a) == contract.FlowStepUp {
		g.emit(ctx, ev.with(EventGrantRefreshed))
	} else {
		g.emit(ctx, ev.with(EventGrantCreated))
	}
	if !wantsJSON(c.Request) || flowOf(a) != contract.FlowLogin {
		g.done(c, dest)
		return
	}
	// A JSON client is told when the user has no recovery codes, to offer
	// them (GET {prefix}/recovery-codes); the answer is otherwise the same.
	b := jsonBody{Verified: true, Redirect: dest}
	switch n, err := g.store.RecoveryCodesLeft(ctx, a.user.ID); {
	case err != nil:
		g.cfg.logger.ErrorContext(ctx, "sms2fa: counting recovery codes", "error", err)
	case n == 0:
		b.NoRecoveryCodes = true
	}
	c.JSON(http.StatusOK, b)
}

// handleResend serves POST {prefix}/resend.
func (g *Guard) handleResend(c *exchange) {
	u, s, ok := g.begin(c, true)
	if !ok {
		return
	}
	if u, _, ok = g.factorOf(c, u); !ok {
		return
	}
	a := attempt{user: u, flow: contract.FlowLogin, lang: g.lang(c)}
	ref, flow, grantID, ok := g.pendingFor(c, s, u)
	a.flow = flow
	if flow == contract.FlowEnrol || flow == contract.FlowChange {
		// The new number lives in the challenge row only.
		ch, err := g.store.Challenge(c.Request.Context(), ref)
		if !ok || err != nil || !ch.ConsumedAt.IsZero() {
			if err != nil && !errors.Is(err, contract.ErrNotFound) {
				g.fail(c, err)
				return
			}
			c.Redirect(http.StatusSeeOther, g.urls.enroll)
			return
		}
		u.Phone = ch.Phone
		a.user = u
	}
	num, err := g.sms.Number(u.Phone)
	if err != nil {
		a.refused = err
		g.refusedPhone(c, u, err)
		g.respond(c, a, g.refusalView(a, err))
		return
	}
	a.num = num
	if ok {
		code, mac, err := g.sms.NewCode(ref.ID)
		if err != nil {
			g.fail(c, err)
			return
		}
		p := contract.ResendParams{Phone: num.E164, MAC: mac, Policy: g.cfg.policy, Budgets: g.sms.Budgets(u.ID, num, c.ClientIP()),
			Prefix: g.sms.PrefixRule(num)}
		a.ch, err = g.store.Resend(c.Request.Context(), ref, p)
		switch {
		case err == nil:
			a.created = true
			g.prefixMet(c, a, a.ch.Prefix)
			a.sendErr = g.deliver(c, &a, ref, code, mac, EventCodeResent)
		case errors.Is(err, contract.ErrNotFound), errors.Is(err, contract.ErrCodeUsed), errors.Is(err, contract.ErrTooManyAttempts):
			ok = false // nothing to resend: open a new challenge below
		case isRefusal(err):
			a.refused = err
			g.refusedEvent(c, a, err)
			a.ch, _ = g.store.Challenge(c.Request.Context(), ref) // for the page; the refusal stands either way
			if !g.offerApp(c, &a) {
				return
			}
			g.respond(c, a, g.refusalView(a, err))
			return
		default:
			g.fail(c, err)
			return
		}
	}
	if !ok {
		if a, ok = g.ensure(c, s, u, false, flow, grantID, false); !ok {
			return
		}
		if a.refused != nil {
			if !g.offerApp(c, &a) {
				return
			}
			g.respond(c, a, g.refusalView(a, a.refused))
			return
		}
	}
	switch {
	case a.sendErr != nil && !errors.Is(a.sendErr, contract.ErrMaybeSent):
		g.respond(c, a, view{status: http.StatusBadGateway, code: codeSendFailed, msg: a.lang.m.SendFailed, alert: true})
	case !a.created:
		// Another request of this session opened a challenge meanwhile and
		// sent its code; this one sent nothing.
		if wantsJSON(c.Request) {
			g.respond(c, a, g.stateView(a, http.StatusOK, ""))
		} else {
			c.Redirect(http.StatusSeeOther, g.urls.page)
		}
	case wantsJSON(c.Request):
		v := g.stateView(a, http.StatusOK, "")
		v.msg = g.fill(a.lang.m.Resent, a, 0)
		g.respond(c, a, v)
	default:
		c.Redirect(http.StatusSeeOther, g.urls.page+"?sent=1")
	}
}

// settle ends a right code's pending state and marks the browser with gr,
// and returns where the visitor was going. It reports false when it has
// answered: a failure, or a grant gone meanwhile (a step-up or change of a
// revoked grant), which sends the visitor on to sign in again.
func (g *Guard) settle(c *exchange, s *sessions.Session, a attempt, gr contract.Grant) (string, bool) {
	dest := next(s)
	if err := g.drop(c, s); err != nil {
		g.fail(c, err)
		return "", false
	}
	ev := g.event(c, a, a.ch.ID)
	if a.app {
		ev.How = g.totp.Name()
	}
	g.emit(c.Request.Context(), ev.with(EventVerified))
	if gr.ID == "" {
		g.clearMark(c)
		g.done(c, dest)
		return "", false
	}
	if err := g.writeMark(c, a.user, gr.ID, g.now(), gr.Until()); err != nil {
		g.fail(c, err)
		return "", false
	}
	return dest, true
}

// formUser starts a POST of the guard's own forms: same origin only, and
// someone signed in with the first factor. It reports false when it has
// answered.
func (g *Guard) formUser(c *exchange) (User, bool) {
	if !g.sameOrigin(c) {
		return User{}, false
	}
	u, ok := g.user(c)
	if !ok {
		g.toLogin(c)
	}
	return u, ok
}

// begin does what every guard route starts with: refuse cross-origin POSTs,
// find the user and read the session. A browser with nothing pending and
// the mark of a grant not found gone is already verified, and is sent on its
// way. A pending challenge is served whatever the mark says: the mark may
// be a copy kept past its grant's revocation, and only a checked code
// answers "verified". It reports false when it has answered.
func (g *Guard) begin(c *exchange, post bool) (User, *sessions.Session, bool) {
	if post && !g.sameOrigin(c) {
		return User{}, nil, false
	}
	u, ok := g.user(c)
	if !ok {
		g.toLogin(c)
		return u, nil, false
	}
	s, err := g.session(c)
	if err != nil {
		g.fail(c, err)
		return u, nil, false
	}
	if _, _, pending := g.pendingAny(s, u); !pending && !appPending(s) {
		if id, ok := g.grantID(c.Request, u); ok && !noted(s, id) {
			g.alreadyVerified(c, next(s))
			return u, nil, false
		}
	}
	return u, s, true
}

// sameOrigin refuses a cross-origin POST (403) and reports whether the
// request may go on.
func (g *Guard) sameOrigin(c *exchange) bool {
	if err := g.cop.Check(c.Request); err != nil {
		g.respond(c, attempt{}, view{status: http.StatusForbidden, code: codeCrossOrigin, msg: g.lang(c).m.CrossOrigin, alert: true, bare: true})
		return false
	}
	return true
}

// load reads the challenge ref names, for a page after a refusal. A missing
// one sends the visitor to the page, which opens a new one.
func (g *Guard) load(c *exchange, ref contract.Ref) (contract.Challenge, bool) {
	ch, err := g.store.Challenge(c.Request.Context(), ref)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		g.noChallenge(c, codeNoChallenge)
		return ch, false
	case err != nil:
		g.fail(c, err)
		return ch, false
	}
	return ch, true
}

// readSubmission returns the code as typed — form field "code", or JSON
// {"code": "…"}; "" for a body that cannot be read — and whether the
// "remember" box was ticked (JSON "remember": true).
func (g *Guard) readSubmission(c *exchange) (typed string, remember bool) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if isJSONBody(c.Request) {
		var body struct {
			Code     string `json:"code"`
			Remember bool   `json:"remember"`
		}
		if err := json.NewDecoder(c.Request.Body).Decode(&body); err != nil {
			return "", false
		}
		return body.Code, body.Remember
	}
	return c.PostForm("code"), c.PostForm("remember") != ""
}

// isRefusal reports a refusal that ends at a known time or concerns the
// number: answers for the user, not failures.
func isRefusal(err error) bool {
	var le *contract.LimitError
	return errors.As(err, &le) || errors.Is(err, ErrInvalidPhone) || errors.Is(err, ErrCountryNotAllowed)
}

// refusedPhone reports a number that cannot be sent to. The event masks the
// number as the app gave it, unparsed.
func (g *Guard) refusedPhone(c *exchange, u User, err error) {
	g.emit(c.Request.Context(), Event{Kind: EventSendRefused, UserID: u.ID, Phone: phone.Mask(u.Phone), IP: c.ClientIP(), Err: err})
}

// refusedEvent reports a send a budget or a blocked prefix refused, and a
// prefix block the refused send started.
func (g *Guard) refusedEvent(c *exchange, a attempt, err error) {
	var le *contract.LimitError
	if !errors.As(err, &le) || !errors.Is(err, contract.ErrBudgetExceeded) && !errors.Is(err, contract.ErrPrefixBlocked) {
		return // a lock was reported when it happened
	}
	g.prefixMet(c, a, le.Prefix)
	ev := g.event(c, a, a.ch.ID)
	ev.Kind, ev.Budget, ev.Until, ev.Err = EventSendRefused, le.Budget, le.Until, err
	if le.Budget == "global" {
		ev.Kind = EventGlobalLimit
	}
	g.emit(c.Request.Context(), ev)
}

// event starts an event about a's user and number.
func (g *Guard) event(c *exchange, a attempt, challengeID string) Event {
	region := a.num.Region
	if region == "" {
		region = a.ch.Region
	}
	return Event{
		UserID: a.user.ID, Phone: g.phoneOf(a), Region: region, IP: c.ClientIP(),
		ChallengeID: challengeID, AttemptsLeft: a.ch.AttemptsLeft(),
	}
}

func (e Event) with(k EventKind) Event { e.Kind = k; return e }

// user asks the app's UserFunc who is signed in. A panic in it is raised
// again, for the app's recovery middleware to answer, after one log line
// naming the likely cause: the app's session middleware does not run before
// the guard's routes, so the session the UserFunc reads is not there.
func (g *Guard) user(c *exchange) (User, bool) {
	defer func() {
		if p := recover(); p != nil {
			g.cfg.logger.ErrorContext(c.Request.Context(), "sms2fa: the UserFunc panicked; most likely the app's session "+
				"middleware does not run before the guard's routes (it must wrap the guard's Handler and Require)",
				"panic", fmt.Sprint(p), "path", c.Request.URL.Path)
			panic(p)
		}
	}()
	return g.userFn(c.Request)
}
