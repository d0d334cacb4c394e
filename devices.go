package sms2fa

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// Remembered devices. A browser whose holder ticks "Remember this device"
// on the code page gets a device token in a cookie of its own (the guard's
// cookie attributes, long-lived; Logout leaves it). The store keeps only a
// MAC of the token, tied to the user and the factor's version. A later
// sign-in of the same user there gets a grant (how "device") without an SMS —
// never for a sign-in whose grant was revoked — and the token rotates on each
// use. A rotated-out token is taken as a stolen copy — revoking the device
// and every grant it made, the thief's sign-in among them — unless the very
// sign-in that rotated it shows it again within a short grace (two tabs, or
// an answer that never arrived), which is handed the current token again. A
// device never counts as a fresh factor.

// deviceGrace is how long the sign-in that rotated a device's token may
// still show the token it replaced: two tabs of one browser signing in at
// once, or a rotation whose answer was lost.
const deviceGrace = 30 * time.Second

// rememberDevice remembers this browser for u after a right login code,
// which created grant grantID.
func (g *Guard) rememberDevice(c *exchange, u User, f contract.Factor, grantID string) {
	if g.cfg.remember == 0 || u.Login == "" {
		return
	}
	ctx := c.Request.Context()
	id, err := newID()
	if err == nil {
		var token string
		if token, err = newID(); err == nil {
			d := contract.NewDevice{ID: id, Label: deviceLabel(c.Request.UserAgent()), FactorVersion: f.Version,
				Lifetime: g.cfg.remember, MAC: keyedMAC(g.keys.dev, id, token)}
			err = g.store.AddDevice(ctx, u.ID, grantID, d)
			switch {
			case err == nil:
				g.setCookie(c, g.cookies.device, id+"."+token, int(g.cfg.remember/time.Second))
				g.emit(ctx, Event{Kind: EventDeviceRemembered, UserID: u.ID, Device: id, IP: c.ClientIP()})
				return
			case errors.Is(err, contract.ErrNotFound):
				// The sign-in was revoked, or the number changed, since
				// the code was checked: nothing to remember.
				return
			}
		}
	}
	// Not remembering is no reason to fail a sign-in that succeeded.
	g.cfg.logger.ErrorContext(ctx, "sms2fa: remembering a device", "error", err)
	g.report(c, fmt.Errorf("sms2fa: remembering a device: %w", err))
}

// deviceCookie returns the request's device cookie if a remembered device
// could sign u in with it: devices are on and the app names sign-ins.
func (g *Guard) deviceCookie(c *exchange, u User) (string, bool) {
	v, has := cookieValue(c.Request, g.cookies.device)
	return v, has && g.cfg.remember != 0 && u.Login != ""
}

// deviceSignIn signs u in through this browser's device cookie, if it has a
// live one for u's current number. It reports whether it did; failed means
// the guard has answered (fail closed).
func (g *Guard) deviceSignIn(c *exchange, u User, f contract.Factor) (ok, failed bool) {
	v, ok := g.deviceCookie(c, u)
	if !ok {
		return false, false
	}
	id, token, found := strings.Cut(v, ".")
	if !found || len(id) != 2*idBytes || len(token) != 2*idBytes {
		g.clearDevice(c)
		return false, false
	}
	// The successor is derived from the token, not drawn at random: the
	// sign-in that rotated it, showing the old token again within the
	// grace, is handed the same current token.
	next := nextDeviceToken(g.keys.rot, id, token)
	gid, err := newID()
	if err != nil {
		g.fail(c, err)
		return false, true
	}
	ctx := c.Request.Context()
	p := contract.VerifyParams{Policy: g.cfg.policy, Grant: contract.GrantParams{ID: gid, Login: g.loginTag(u), How: howDevice, Lifetime: g.cfg.grantTTL}}
	gr, rotated, err := g.store.UseDevice(ctx, u.ID, id, keyedMAC(g.keys.dev, id, token), keyedMAC(g.keys.dev, id, next), f.Version, deviceGrace, p)
	switch {
	case errors.Is(err, contract.ErrDeviceReuse):
		g.emit(ctx, Event{Kind: EventDeviceReuse, UserID: u.ID, Device: id, IP: c.ClientIP()})
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
	if rotated {
		g.setCookie(c, g.cookies.device, id+"."+next, int(g.cfg.remember/time.Second))
	}
	if err := g.writeMark(c, u, gr.ID, g.now(), gr.Until()); err != nil {
		g.fail(c, err)
		return false, true
	}
	if err := g.forgetGone(c, u); err != nil {
		g.fail(c, err)
		return false, true
	}
	if gr.ID == gid { // not the device's grant of this sign-in, handed back
		g.emit(ctx, Event{Kind: EventGrantCreated, UserID: u.ID, Grant: gr.ID, How: gr.How, Device: id, IP: c.ClientIP()})
	}
	return true, false
}

// nextDeviceToken derives the token that replaces token on device id:
// unpredictable without the guard's secret, and the same every time.
func nextDeviceToken(key []byte, id, token string) string {
	return hex.EncodeToString(keyedMAC(key, id, token)[:idBytes])
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

// deviceLabel names a browser from its User-Agent for a list of devices:
// "Chrome on Linux". It is a hint for the user, never a security decision.
func deviceLabel(ua string) string {
	browser := "A browser"
	for _, b := range [...]struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range [...]struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}
