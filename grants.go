package sms2fa

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/mark"
)

// A completed second factor is a grant: a row in the store, named by a signed
// mark in a cookie of its own (see package internal/mark). A verified request
// checks the mark's signature, its user and its sign-in, and — once per
// recheck interval — that the grant is still live. This file is that path,
// and the ways a grant ends.

// The revocations' "why", as the store records them (a grant's "how" is
// its method's Name).
const (
	whyLogout     = "logout"
	whyEverywhere = "sign_out_everywhere"
	whyReplaced   = "replaced" // by a recovery sign-in in the same browser
)

// Status says how a request passed the guard.
type Status int

// The statuses [StatusOf] reports.
const (
	// NotChecked: the request did not pass a guard (or was refused).
	NotChecked Status = iota
	// Verified: the user completed the second factor; a live grant backs it.
	Verified
	// NoSecondFactor: an optional user without a phone number, let through
	// without a second factor (User.SecondFactor = Optional).
	NoSecondFactor
)

func (s Status) String() string {
	switch s {
	case Verified:
		return "verified"
	case NoSecondFactor:
		return "no_second_factor"
	}
	return "not_checked"
}

// Requirement says whether a user must complete the second factor.
type Requirement int

const (
	// Required (the zero value): the user must complete the second factor;
	// one without a phone number is sent to enrol one (JSON: 401
	// enrolment_required).
	Required Requirement = iota
	// Optional: a user without a phone number passes guarded routes, with
	// status NoSecondFactor; one with a number is asked for the code as
	// anyone else.
	Optional
)

// passed is what a guard leaves in the request's context for the handlers.
type passed struct {
	ok     bool
	user   string
	status Status
}

// passKey is the context key of a passCtx.
type passKey struct{}

// passCtx is the request's context once the guard let it through: its
// parent, and what the guard decided, in one allocation (a context.WithValue
// holding a passed would be two).
type passCtx struct {
	context.Context
	pass passed
}

// Value returns the passCtx itself for passKey, and asks the parent
// otherwise.
func (p *passCtx) Value(key any) any {
	if key == (passKey{}) {
		return p
	}
	return p.Context.Value(key)
}

// UserID returns the ID of the user the guard let through for this request,
// and false outside a guarded route.
func UserID(r *http.Request) (string, bool) {
	p, ok := r.Context().Value(passKey{}).(*passCtx)
	if !ok {
		return "", false
	}
	return p.pass.user, true
}

// StatusOf says how this request passed the guard: Verified, NoSecondFactor,
// or NotChecked outside a guarded route.
func StatusOf(r *http.Request) Status {
	if p, ok := r.Context().Value(passKey{}).(*passCtx); ok {
		return p.pass.status
	}
	return NotChecked
}

// let lets the request through as u, with status st.
func let(c *exchange, u User, st Status) {
	c.pass = passed{ok: true, user: u.ID, status: st}
}

// confirm checks u's mark: within the recheck interval it is enough (no
// store call); past it the store is asked, the mark refreshed on this
// response if the grant is live, and deleted if not. ok means the request
// passes; answered means the store failed and the guard has answered (fail
// closed). Neither: the code step.
func (g *Guard) confirm(c *exchange, u User) (ok, answered bool) {
	m, valid := g.readMark(c.Request, u)
	if !valid {
		return false, false
	}
	switch gone, err := g.seenGone(c, m); {
	case err != nil:
		g.fail(c, err)
		return false, true
	case gone:
		g.clearMark(c)
		return false, false
	}
	now := g.now()
	at := time.Unix(m.At, 0)
	if !at.After(now) && now.Sub(at) < g.cfg.recheck {
		return true, false
	}
	id := hex.EncodeToString(m.Grant[:])
	gr, err := g.store.Grant(c.Request.Context(), id, u.ID)
	switch {
	case err != nil && !errors.Is(err, contract.ErrNotFound):
		g.fail(c, fmt.Errorf("sms2fa: confirming the grant: %w", err))
		return false, true
	case err != nil || !gr.Live():
		return false, g.gone(c, id)
	}
	if err := g.writeMark(c, u, id, now, gr.Until()); err != nil {
		g.fail(c, err)
		return false, true
	}
	return true, false
}

// recentGrant reads, from the store, the grant behind u's mark, for a route
// that wants a code verified less than d ago in it: fresh, when it is live
// and was; a live but stale grant (fresh false, gr set) wants a step-up; a
// zero gr means no live grant (its mark, if any, is deleted): a sign-in.
// answered: the store failed and the guard has answered (fail closed).
func (g *Guard) recentGrant(c *exchange, u User, d time.Duration) (gr contract.Grant, fresh, answered bool) {
	id, ok := g.grantID(c.Request, u)
	if !ok {
		return contract.Grant{}, false, false
	}
	gr, err := g.store.Grant(c.Request.Context(), id, u.ID)
	switch {
	case err != nil && !errors.Is(err, contract.ErrNotFound):
		g.fail(c, fmt.Errorf("sms2fa: reading the grant: %w", err))
		return contract.Grant{}, false, true
	case err != nil || !gr.Live():
		return contract.Grant{}, false, g.gone(c, id)
	}
	return gr, gr.FreshWithin(d), false
}

// gone handles a mark whose grant id the store found revoked or expired:
// the mark is deleted, and the guard's session notes the grant, so that a
// client keeping the mark anyway is not let in by it on its next request,
// nor sent from the code page back to the route that sent it there. It
// reports whether it has answered (a session that cannot be saved: fail
// closed).
func (g *Guard) gone(c *exchange, id string) (answered bool) {
	g.clearMark(c)
	s, err := g.session(c)
	if err == nil && set(s, keyGone, id) {
		err = s.Save(c.Request, c.Writer)
	}
	if err != nil {
		g.fail(c, fmt.Errorf("sms2fa: noting a grant gone: %w", err))
		return true
	}
	return false
}

// seenGone reports whether a handler of the guard found the grant m names
// gone for this browser (see gone). A browser without the guard's session
// cookie — every verified one: the session goes once the code is right —
// costs a scan of its Cookie header, no decoding and no allocation.
func (g *Guard) seenGone(c *exchange, m mark.Mark) (bool, error) {
	if _, ok := cookieValue(c.Request, g.cfg.sessionName); !ok {
		return false, nil
	}
	s, err := g.session(c)
	if err != nil {
		return false, err
	}
	return noted(s, hex.EncodeToString(m.Grant[:])), nil
}

// forgetGone drops the note of a grant gone once the browser holds a new
// grant without a code (a remembered device): the session would otherwise
// stay behind, and every verified request would read it. A session with
// nothing else in it goes altogether.
func (g *Guard) forgetGone(c *exchange, u User) error {
	// Read whether or not the request has the cookie: the note may have
	// been written earlier in this very request (the grant found gone just
	// before the device signed in).
	s, err := g.session(c)
	if err != nil {
		return err
	}
	if _, had := s.Values[keyGone]; !had {
		return nil
	}
	delete(s.Values, keyGone)
	if _, _, pending := g.pendingAny(s, u); !pending {
		return g.drop(c, s)
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		return fmt.Errorf("sms2fa: saving the session: %w", err)
	}
	return nil
}

// Logout ends the second factor of this browser: its grant is revoked in the
// store — so a copy of the cookies taken earlier stops working within the
// recheck interval — and the guard's cookies are deleted. When the app names
// sign-ins (User.Login), the whole sign-in ends: every grant of it, such as
// one a copied device cookie made meanwhile, and no remembered device brings
// it back. Call it from the app's logout while the app still knows who is
// signed in (the mark is bound to the user), before anything is written to
// w. The cookies are deleted even when revoking fails, and the error is
// returned.
func (g *Guard) Logout(w http.ResponseWriter, r *http.Request) error {
	c := g.newExchange(w, r)
	var err error
	if u, ok := g.user(c); ok {
		if u.Login != "" {
			// Every grant of this sign-in, the mark's among them: the mark is
			// bound to the sign-in.
			ctx := c.Request.Context()
			n, eerr := g.store.EndSignIn(ctx, u.ID, g.loginTag(u))
			if eerr != nil {
				err = fmt.Errorf("sms2fa: ending the sign-in: %w", eerr)
			} else if n > 0 {
				// Grant names none: which of the sign-in's grants were
				// live, the browser's own or a copy's, is not known here.
				g.emit(ctx, Event{Kind: EventGrantRevoked, UserID: u.ID, How: whyLogout, Count: n, IP: c.ClientIP()})
			}
		} else if id, ok := g.grantID(c.Request, u); ok {
			_, err = g.revoke(c, u.ID, id, whyLogout)
		}
	}
	g.clearMark(c)
	g.clearSetup(c)
	s, serr := g.session(c)
	if serr == nil {
		serr = g.drop(c, s)
	}
	return errors.Join(err, serr)
}

// revoke revokes one grant, says so in an event, and reports whether it was
// live until now.
func (g *Guard) revoke(c *exchange, userID, grantID, why string) (bool, error) {
	live, err := g.store.RevokeGrant(c.Request.Context(), grantID, userID, why)
	if err != nil {
		return false, fmt.Errorf("sms2fa: revoking the grant: %w", err)
	}
	if live {
		g.emit(c.Request.Context(), Event{Kind: EventGrantRevoked, UserID: userID, Grant: grantID, How: why, Count: 1, IP: c.ClientIP()})
	}
	return live, nil
}

// SignOutEverywhere revokes every grant of userID — every browser where the
// user completed the second factor — and every remembered device, and
// returns how many grants were live. Each stops working within the recheck
// interval. Call it from a "sign out of all my devices" button, or as an
// admin for a compromised account.
func (g *Guard) SignOutEverywhere(ctx context.Context, userID string) (int, error) {
	// One step: a device signing in, or being remembered, meanwhile either
	// finished before — and is revoked with the rest — or is refused.
	n, d, err := g.store.RevokeAll(ctx, userID, whyEverywhere)
	if err != nil {
		return 0, fmt.Errorf("sms2fa: signing out everywhere: %w", err)
	}
	g.emit(ctx, Event{Kind: EventGrantRevoked, UserID: userID, How: whyEverywhere, Count: n})
	if d > 0 {
		g.emit(ctx, Event{Kind: EventDeviceRevoked, UserID: userID, How: whyEverywhere, Count: d})
	}
	return n, nil
}

// Unlock clears userID's lockout and the user's own send budgets, for an
// admin who has checked that the account is in the right hands. Budgets of
// the number, the IP, the prefix and the global one stay: they protect more
// than this user. See UnlockWithNumber.
func (g *Guard) Unlock(ctx context.Context, userID string) error {
	return g.unlock(ctx, userID, false)
}

// UnlockWithNumber is Unlock that also empties the send budgets of the
// user's enrolled number: someone with only the password can spend them
// (3 codes per 10 minutes, 10 a day, by default) and leave the real user
// without a code for the rest of the day.
func (g *Guard) UnlockWithNumber(ctx context.Context, userID string) error {
	return g.unlock(ctx, userID, true)
}

func (g *Guard) unlock(ctx context.Context, userID string, number bool) error {
	if err := g.store.Unlock(ctx, userID, number); err != nil {
		return fmt.Errorf("sms2fa: unlocking: %w", err)
	}
	ev := Event{Kind: EventUnlocked, UserID: userID}
	if number {
		ev.Budget = "phone"
	}
	g.emit(ctx, ev)
	return nil
}
