package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// AddDevice implements [contract.Store]. Its creation, first use and expiry
// are by the store's clock, like every other time it keeps.
func (s *SQL) AddDevice(ctx context.Context, userID, grantID string, d contract.NewDevice) error {
	switch {
	case userID == "" || d.ID == "":
		return errors.New("store: add device: user ID and device ID are required")
	case grantID == "":
		return errors.New("store: add device: the grant of the sign-in is required")
	case len(d.MAC) == 0:
		return errors.New("store: add device: token MAC is required")
	case d.Lifetime <= 0:
		return fmt.Errorf("store: add device: lifetime must be positive, got %v", d.Lifetime)
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
			return contract.ErrNotFound // as UseDevice would judge it
		}
		return exec(ctx, tx, s.q.addDevice, d.ID, userID, d.MAC, d.FactorVersion, d.Label, ms(now.Add(d.Lifetime)), ms(now), ms(now))
	})
}

// UseDevice implements [contract.Store]. Everything happens under the user's
// lock: a locked user is refused first, and two tabs showing one token at
// once are decided one after the other (the second within the grace).
func (s *SQL) UseDevice(ctx context.Context, userID, id string, mac, next []byte, factorVersion int64, grace time.Duration, p contract.VerifyParams) (contract.Grant, bool, error) {
	switch {
	case len(mac) == 0 || len(next) == 0:
		return contract.Grant{}, false, errors.New("store: use device: token MACs are required")
	case grace < 0:
		return contract.Grant{}, false, fmt.Errorf("store: use device: grace must not be negative, got %v", grace)
	}
	if err := validGrant("use device", p.Grant); err != nil {
		return contract.Grant{}, false, err
	}
	var (
		granted contract.Grant
		rotated bool
		outcome error // ErrDeviceReuse: the revocation still commits
	)
	login := p.Grant.Login
	err := s.inTx(ctx, "use device", func(ctx context.Context, tx *sqlx.Tx) error {
		_, now, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var d deviceRow
		err = get(ctx, tx, s.q.getDevice, &d, id, userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return contract.ErrNotFound
		case err != nil:
			return fmt.Errorf("reading the device: %w", err)
		case d.RevokedAt != 0 || d.ExpiresAt <= ms(now) || d.FactorVersion != factorVersion:
			// A device remembered under another number proved that number.
			return contract.ErrNotFound
		}
		// The version the caller read may be stale: judge by the factor as
		// it is now, under the lock (an admin may have moved the number).
		switch f, err := s.readFactor(ctx, tx, userID); {
		case err != nil:
			return err
		case f.Version > 0 && (f.Removed || f.Version != d.FactorVersion):
			return contract.ErrNotFound
		}
		if login != "" {
			// A sign-in ended by a logout (or any revocation) stays ended:
			// the device cookie copied with its session cookie must not
			// bring it back.
			var revoked int
			if err := get(ctx, tx, s.q.loginRevoked, &revoked, userID, login); err != nil {
				return fmt.Errorf("checking the sign-in: %w", err)
			}
			if revoked > 0 {
				return contract.ErrNotFound
			}
		}
		switch {
		case subtle.ConstantTimeCompare(d.MAC, mac) == 1:
			n, err := changed(ctx, tx, s.q.rotateDevice, next, ms(now), login, ms(now), id, userID, mac)
			if err != nil {
				return fmt.Errorf("rotating the token: %w", err)
			}
			if n != 1 {
				return contract.ErrNotFound
			}
			rotated = true
		case login != "" && login == d.RotatedLogin && ms(now)-d.RotatedAt < grace.Milliseconds() &&
			len(d.PrevMAC) > 0 && subtle.ConstantTimeCompare(d.PrevMAC, mac) == 1:
			// The sign-in that rotated it an instant ago shows it again:
			// another tab of the same browser, or a request whose answer
			// (with the new token) never arrived. It gets in without
			// rotating again, or the two would keep rotating each other
			// out, and is handed the current token if next is it.
			n, err := changed(ctx, tx, s.q.touchDevice, ms(now), id, userID)
			if err != nil {
				return fmt.Errorf("recording the use: %w", err)
			}
			if n != 1 {
				return contract.ErrNotFound // revoked between the read and now
			}
			rotated = subtle.ConstantTimeCompare(d.MAC, next) == 1
		default:
			// A token rotated out by another sign-in, or longer ago than
			// the grace, or two or more rotations old: someone holds a copy
			// of the cookie and used it since. Neither copy may go on, nor
			// anything the device let in — the thief's sign-in among it.
			if err := exec(ctx, tx, s.q.revokeDevice, ms(now), id, userID, ms(now)); err != nil {
				return fmt.Errorf("revoking the device: %w", err)
			}
			if err := exec(ctx, tx, s.q.revokeDeviceGrants, ms(now), userID, id, ms(now)); err != nil {
				return fmt.Errorf("revoking the device's grants: %w", err)
			}
			outcome = contract.ErrDeviceReuse
			return nil
		}
		if login != "" {
			// The browser showed its cookie without the mark of the grant
			// the device made for this sign-in: the same grant serves.
			var g grantRow
			switch err := get(ctx, tx, s.q.deviceGrant, &g, userID, id, login, ms(now)); {
			case err == nil:
				granted = g.grant(now)
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("reading the device's grant: %w", err)
			}
		}
		ng := newGrant{GrantParams: p.Grant, how: "device", device: id, cap: p.Policy.MaxGrants}
		granted, err = s.createGrant(ctx, tx, userID, ng, now)
		return err
	})
	if err != nil {
		return contract.Grant{}, false, err
	}
	return granted, rotated, outcome
}

// Devices implements [contract.Store]. It reads from the readers' pool.
func (s *SQL) Devices(ctx context.Context, userID string) ([]contract.Device, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var rows []deviceRow
	if err := s.q.listDevices.SelectContext(ctx, &rows, userID, s.nowArg()); err != nil {
		return nil, fmt.Errorf("store: listing devices: %w", err)
	}
	out := make([]contract.Device, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.device())
	}
	return out, nil
}

// RevokeDevice implements [contract.Store].
func (s *SQL) RevokeDevice(ctx context.Context, userID, id string) (bool, error) {
	n, err := s.revoke(ctx, "revoke device", userID, s.q.revokeDevice, id, userID)
	return n > 0, err
}
