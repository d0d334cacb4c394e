package sms2fa

import (
	"context"
	"errors"
	"fmt"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Who owns the number: the store keeps each user's factor. User.Phone is a
// number the app has already verified: when the store has no factor at all
// for the user, it is adopted (atomically: of two first requests, one
// adopts). After that the store's factor wins; a User.Phone that differs is
// reported once (phone_mismatch) and ignored, and the app moves a number with
// EnrolFactor. A removed factor stays removed: nothing is adopted again.

// factorOf resolves the number u's codes go to, returning u with Phone set
// to it (E.164), or to "" when the user has none (never had one, or it was
// removed). A User.Phone that cannot receive codes and was never adopted is
// left as given, for the flow to refuse as before. On a store failure the
// guard has answered (fail closed) and ok is false.
func (g *Guard) factorOf(c *exchange, u User) (_ User, _ contract.Factor, ok bool) {
	ctx := c.Request.Context()
	f, err := g.store.Factor(ctx, u.ID)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		if u.Phone == "" {
			return u, contract.Factor{}, true
		}
		num, perr := g.sms.Number(u.Phone)
		if perr != nil {
			return u, contract.Factor{}, true
		}
		var adopted bool
		if f, adopted, err = g.store.AdoptFactor(ctx, u.ID, num.E164, num.Region); err != nil {
			g.fail(c, fmt.Errorf("sms2fa: adopting the number: %w", err))
			return u, contract.Factor{}, false
		}
		if adopted {
			g.emit(ctx, Event{Kind: EventFactorAdopted, UserID: u.ID, Phone: num.Masked(), Region: num.Region})
		}
	case err != nil:
		g.fail(c, fmt.Errorf("sms2fa: reading the factor: %w", err))
		return u, contract.Factor{}, false
	}
	if f.Removed {
		u.Phone = ""
		return u, f, true
	}
	if u.Phone != "" && !g.samePhone(u.Phone, f.Phone) {
		fresh, err := g.store.NoteMismatch(ctx, u.ID, hexTag(g.keys.phone, u.Phone))
		if err != nil {
			g.cfg.logger.ErrorContext(ctx, "sms2fa: noting a number mismatch", "error", err)
		} else if fresh {
			g.emit(ctx, Event{Kind: EventPhoneMismatch, UserID: u.ID, Phone: phone.Mask(f.Phone), OldPhone: phone.Mask(u.Phone)})
		}
	}
	u.Phone = f.Phone
	return u, f, true
}

// samePhone reports whether the app's number is the enrolled one.
func (g *Guard) samePhone(raw, e164 string) bool {
	if raw == e164 {
		return true
	}
	n, err := g.sms.Number(raw)
	return err == nil && n.E164 == e164
}

// FactorInfo is what an account page shows of a user's second factor.
type FactorInfo struct {
	Enrolled      bool   // the user has a number
	Phone         string // masked: +91 ••••••3210
	Region        string
	Version       int64
	RecoveryCodes int  // unused recovery codes left
	App           bool // the user has an authenticator app (see GET {prefix}/totp)
}

// NoRecoveryCodes reports an enrolled user without one unused recovery code
// — such as a user whose number the app already knew, adopted without the
// enrolment that shows a set. Offer GET {prefix}/recovery-codes, which makes
// a set and shows it once; never force it.
func (x FactorInfo) NoRecoveryCodes() bool { return (x.Enrolled || x.App) && x.RecoveryCodes == 0 }

// Factor describes userID's enrolled number and authenticator app, for an
// account page or an admin. A user whose number was never adopted reports
// Enrolled false.
func (g *Guard) Factor(ctx context.Context, userID string) (FactorInfo, error) {
	var info FactorInfo
	if g.totp != nil {
		switch _, err := g.store.TOTP(ctx, userID); {
		case err == nil:
			info.App = true
		case !errors.Is(err, contract.ErrNotFound):
			return FactorInfo{}, fmt.Errorf("sms2fa: reading the authenticator app: %w", err)
		}
	}
	f, err := g.store.Factor(ctx, userID)
	if errors.Is(err, contract.ErrNotFound) && !info.App {
		return info, nil
	}
	if err != nil && !errors.Is(err, contract.ErrNotFound) {
		return FactorInfo{}, fmt.Errorf("sms2fa: reading the factor: %w", err)
	}
	left, err := g.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		return FactorInfo{}, err
	}
	info.Enrolled, info.Region, info.Version, info.RecoveryCodes = !f.Removed && f.Phone != "", f.Region, f.Version, left
	if info.Enrolled {
		info.Phone = phone.Mask(f.Phone)
	}
	return info, nil
}

// EnrolFactor stores phone as userID's number — one the app has verified
// itself — replacing any other: this is also how an app or an admin moves a
// user to a new number. The number must pass the guard's country rules.
// Remembered devices, tied to the old number, stop working; grants stay. It
// emits factor_enrolled or factor_changed.
func (g *Guard) EnrolFactor(ctx context.Context, userID, number string) error {
	num, err := g.sms.Number(number)
	if err != nil {
		return err
	}
	f, old, err := g.store.SetFactor(ctx, userID, num.E164, num.Region)
	if err != nil {
		return fmt.Errorf("sms2fa: storing the number: %w", err)
	}
	g.emitFactorSet(ctx, userID, f, old)
	return nil
}

// emitFactorSet reports a number stored over old.
func (g *Guard) emitFactorSet(ctx context.Context, userID string, f, old contract.Factor) {
	ev := Event{Kind: EventFactorEnrolled, UserID: userID, Phone: phone.Mask(f.Phone), Region: f.Region}
	if old.Phone != "" && !old.Removed {
		ev.Kind, ev.OldPhone = EventFactorChanged, phone.Mask(old.Phone)
	}
	g.emit(ctx, ev)
}

// RemoveFactor removes userID's number, as an admin: the user then has no
// second factor (an optional user passes; a required one is sent to enrol),
// and nothing is adopted from User.Phone again. Remembered devices stop
// working.
func (g *Guard) RemoveFactor(ctx context.Context, userID string) error {
	old, err := g.store.RemoveFactor(ctx, userID)
	if err != nil {
		return fmt.Errorf("sms2fa: removing the number: %w", err)
	}
	g.emit(ctx, Event{Kind: EventFactorRemoved, UserID: userID, OldPhone: phone.Mask(old.Phone)})
	return nil
}

// proves reports whether a right code of ch proves f: the code went to f's
// number, which is still enrolled.
func proves(f contract.Factor, ch contract.Challenge) bool {
	return !f.Removed && f.Phone != "" && f.Phone == ch.Phone
}
