package sms2fa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
)

// Remembered devices are a method of their own (package device); the guard
// offers remembering after a right login code, sets and reads the cookie,
// and asks the method before sending a code. A device never counts as a
// fresh factor.

// rememberDevice remembers this browser for u after a right login code,
// which created grant grantID.
func (g *Guard) rememberDevice(c *exchange, u User, f contract.Factor, grantID string) {
	if g.device == nil || u.Login == "" {
		return
	}
	ctx := c.Request.Context()
	id, value, err := g.device.Remember(ctx, g.store, u.ID, grantID, f.Version, device.Label(c.Request.UserAgent()))
	switch {
	case err == nil:
		g.setCookie(c, g.cookies.device, value, int(g.device.Lifetime()/time.Second))
		g.emit(ctx, Event{Kind: EventDeviceRemembered, UserID: u.ID, Device: id, IP: c.ClientIP()})
		return
	case errors.Is(err, contract.ErrNotFound):
		// The sign-in was revoked, or the number changed, since the code
		// was checked: nothing to remember.
		return
	}
	// Not remembering is no reason to fail a sign-in that succeeded.
	g.cfg.logger.ErrorContext(ctx, "sms2fa: remembering a device", "error", err)
	g.report(c, fmt.Errorf("sms2fa: remembering a device: %w", err))
}

// deviceCookie returns the request's device cookie if a remembered device
// could sign u in with it: devices are on and the app names sign-ins.
func (g *Guard) deviceCookie(c *exchange, u User) (string, bool) {
	v, has := cookieValue(c.Request, g.cookies.device)
	return v, has && g.device != nil && u.Login != ""
}

// deviceSignIn signs u in through this browser's device cookie, if it has a
// live one for u's current number. It reports whether it did; failed means
// the guard has answered (fail closed).
func (g *Guard) deviceSignIn(c *exchange, u User, f contract.Factor) (ok, failed bool) {
	v, ok := g.deviceCookie(c, u)
	if !ok {
		return false, false
	}
	gid, err := newID()
	if err != nil {
		g.fail(c, err)
		return false, true
	}
	ctx := c.Request.Context()
	r, err := g.device.Verify(ctx, g.store, contract.Submission{UserID: u.ID, Typed: v, FactorVersion: f.Version,
		Params: contract.VerifyParams{Policy: g.cfg.policy, Grant: contract.GrantParams{ID: gid, Login: g.loginTag(u), How: g.device.Name(), Lifetime: g.cfg.grantTTL}}})
	switch {
	case errors.Is(err, contract.ErrMalformed):
		g.clearDevice(c)
		return false, false
	case errors.Is(err, contract.ErrDeviceReuse):
		g.emit(ctx, Event{Kind: EventDeviceReuse, UserID: u.ID, Device: r.Device, IP: c.ClientIP()})
		g.clearDevice(c)
		return false, false
	case errors.Is(err, contract.ErrNotFound), isRefusal(err):
		// Another user's, revoked, expired, from before a number change, of
		// a signed-out sign-in — or the user is locked: the code step
		// decides.
		if errors.Is(err, contract.ErrNotFound) {
			g.clearDevice(c)
		}
		return false, false
	case err != nil:
		g.fail(c, fmt.Errorf("sms2fa: signing in by device: %w", err))
		return false, true
	}
	if r.Token != "" {
		g.setCookie(c, g.cookies.device, r.Token, int(g.device.Lifetime()/time.Second))
	}
	gr := r.Grant
	if err := g.writeMark(c, u, gr.ID, g.now(), gr.Until()); err != nil {
		g.fail(c, err)
		return false, true
	}
	if err := g.forgetGone(c, u); err != nil {
		g.fail(c, err)
		return false, true
	}
	if gr.ID == gid { // not the device's grant of this sign-in, handed back
		g.emit(ctx, Event{Kind: EventGrantCreated, UserID: u.ID, Grant: gr.ID, How: gr.How, Device: r.Device, IP: c.ClientIP()})
	}
	return true, false
}

// clearDevice deletes the device cookie.
func (g *Guard) clearDevice(c *exchange) { g.setCookie(c, g.cookies.device, "", -1) }

// Devices lists userID's remembered devices, most recently used first.
func (g *Guard) Devices(ctx context.Context, userID string) ([]contract.Device, error) {
	ds, err := g.store.Devices(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("sms2fa: listing devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice forgets one remembered device of userID, as an admin (a user
// forgetting their own goes through POST {prefix}/devices/:id/revoke, which
// asks for a fresh code first).
func (g *Guard) RevokeDevice(ctx context.Context, userID, id string) error {
	live, err := g.store.RevokeDevice(ctx, userID, id)
	if err != nil {
		return fmt.Errorf("sms2fa: revoking the device: %w", err)
	}
	if live {
		g.emit(ctx, Event{Kind: EventDeviceRevoked, UserID: userID, Device: id, Count: 1})
	}
	return nil
}

// handleRevokeDevice serves POST {prefix}/devices/:id/revoke.
func (g *Guard) handleRevokeDevice(c *exchange) {
	u, ok := g.freshAction(c)
	if !ok {
		return
	}
	if err := g.RevokeDevice(c.Request.Context(), u.ID, c.id); err != nil {
		g.fail(c, err)
		return
	}
	g.afterAction(c)
}
