package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sms2fa/sms2fa"
)

// AddDevice implements [sms2fa.Store]. Its creation and first use are the
// store's "now"; its expiry is the caller's, as given.
func (s *SQL) AddDevice(ctx context.Context, userID, grantID string, d sms2fa.Device, mac []byte) error {
	switch {
	case userID == "" || d.ID == "":
		return errors.New("store: add device: user ID and device ID are required")
	case grantID == "":
		return errors.New("store: add device: the grant of the sign-in is required")
	case len(mac) == 0:
		return errors.New("store: add device: token MAC is required")
	case d.ExpiresAt.IsZero():
		return errors.New("store: add device: expiry is required")
	}
	return s.inTx(ctx, "add device", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID) // revocations hold it too: see RevokeAll
		if err != nil {
			return err
		}
		var live int
		if err := get(ctx, tx, s.q.liveGrant, &live, grantID, userID, ms(now)); err != nil {
			return fmt.Errorf("reading the grant: %w", err)
		}
		f, err := s.readFactor(ctx, tx, userID)
		switch {
		case err != nil:
			return err
		case live == 0, f.Version > 0 && (f.Removed || f.Version != d.FactorVersion):
			return sms2fa.ErrNotFound // as UseDevice would judge it
		}
		return exec(ctx, tx, s.q.addDevice, d.ID, userID, mac, d.FactorVersion, d.Label, ms(d.ExpiresAt), ms(now), ms(now))
	})
}

// UseDevice implements [sms2fa.Store]. Everything happens under the user's
// lock: a locked user is refused first, and two tabs showing one token at
// once are decided one after the other (the second within the grace).
func (s *SQL) UseDevice(ctx context.Context, userID, id string, mac, next []byte, factorVersion int64, grace time.Duration, p sms2fa.VerifyParams) (sms2fa.Grant, bool, error) {
	switch {
	case len(mac) == 0 || len(next) == 0:
		return sms2fa.Grant{}, false, errors.New("store: use device: token MACs are required")
	case grace < 0:
		return sms2fa.Grant{}, false, fmt.Errorf("store: use device: grace must not be negative, got %v", grace)
	}
	if err := validGrant("use device", p.Grant); err != nil {
		return sms2fa.Grant{}, false, err
	}
	var (
		granted sms2fa.Grant
		rotated bool
		outcome error // ErrDeviceReuse: the revocation still commits
	)
	err := s.inTx(ctx, "use device", func(ctx context.Context, tx *sqlx.Tx) error {
		_, now, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var d deviceRow
		err = get(ctx, tx, s.q.getDevice, &d, id, userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return sms2fa.ErrNotFound
		case err != nil:
			return fmt.Errorf("reading the device: %w", err)
		case d.RevokedAt != 0 || d.ExpiresAt <= ms(now) || d.FactorVersion != factorVersion:
			// A device remembered under another number proved that number.
			return sms2fa.ErrNotFound
		}
		// The version the caller read may be stale: judge by the factor as
		// it is now, under the lock (an admin may have moved the number).
		switch f, err := s.readFactor(ctx, tx, userID); {
		case err != nil:
			return err
		case f.Version > 0 && (f.Removed || f.Version != d.FactorVersion):
			return sms2fa.ErrNotFound
		}
		if login := p.Grant.Login; login != "" {
			// A sign-in ended by a logout (or any revocation) stays ended:
			// the device cookie copied with its session cookie must not
			// bring it back.
			var revoked int
			if err := get(ctx, tx, s.q.loginRevoked, &revoked, userID, login); err != nil {
				return fmt.Errorf("checking the sign-in: %w", err)
			}
			if revoked > 0 {
				return sms2fa.ErrNotFound
			}
		}
		switch {
		case subtle.ConstantTimeCompare(d.MAC, mac) == 1:
			n, err := changed(ctx, tx, s.q.rotateDevice, next, ms(now), ms(now), id, userID, mac)
			if err != nil {
				return fmt.Errorf("rotating the token: %w", err)
			}
			if n != 1 {
				return sms2fa.ErrNotFound
			}
			rotated = true
		case len(d.PrevMAC) > 0 && subtle.ConstantTimeCompare(d.PrevMAC, mac) == 1 && ms(now)-d.RotatedAt < grace.Milliseconds():
			// Another tab of the same browser rotated it an instant ago: let
			// this one in without rotating again, or the two would keep
			// rotating each other out.
			n, err := changed(ctx, tx, s.q.touchDevice, ms(now), id, userID)
			if err != nil {
				return fmt.Errorf("recording the use: %w", err)
			}
			if n != 1 {
				return sms2fa.ErrNotFound // revoked between the read and now
			}
		default:
			// A token rotated out longer ago than the grace, or two or more
			// rotations old: someone holds a copy of the cookie and used it
			// since. Neither copy may go on, or a thief who used a copy
			// twice would never be noticed.
			if err := exec(ctx, tx, s.q.revokeDevice, ms(now), id, userID, ms(now)); err != nil {
				return fmt.Errorf("revoking the device: %w", err)
			}
			outcome = sms2fa.ErrDeviceReuse
			return nil
		}
		granted, err = s.createGrant(ctx, tx, userID, p.Grant, "device", false, now)
		return err
	})
	if err != nil {
		return sms2fa.Grant{}, false, err
	}
	return granted, rotated, outcome
}

// Devices implements [sms2fa.Store]. It reads from the readers' pool.
func (s *SQL) Devices(ctx context.Context, userID string) ([]sms2fa.Device, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var rows []deviceRow
	if err := s.q.listDevices.SelectContext(ctx, &rows, userID, s.nowArg()); err != nil {
		return nil, fmt.Errorf("store: listing devices: %w", err)
	}
	out := make([]sms2fa.Device, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.device())
	}
	return out, nil
}

// RevokeDevice implements [sms2fa.Store].
func (s *SQL) RevokeDevice(ctx context.Context, userID, id string) (bool, error) {
	n, err := s.revoke(ctx, "revoke device", userID, s.q.revokeDevice, id, userID)
	return n > 0, err
}
