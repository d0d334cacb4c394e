package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/sms2fa/sms2fa"
)

// ReplaceRecoveryCodes implements [sms2fa.Store]: the old codes, used or
// not, are gone when the new ones are there, in one transaction. A MAC
// given twice is stored once.
func (s *SQL) ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error {
	if userID == "" {
		return errors.New("store: replace recovery codes: user ID is required")
	}
	for _, m := range macs {
		if len(m) == 0 {
			return errors.New("store: replace recovery codes: empty MAC")
		}
	}
	return s.inTx(ctx, "replace recovery codes", func(ctx context.Context, tx *sqlx.Tx) error {
		// Under the user's lock, so that a code being used right now is
		// either spent before the replacement or refused after it.
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := exec(ctx, tx, s.q.dropRecovery, userID); err != nil {
			return fmt.Errorf("dropping the old codes: %w", err)
		}
		for _, m := range macs {
			if err := exec(ctx, tx, s.q.addRecovery, userID, m, ms(now)); err != nil {
				return fmt.Errorf("storing a code: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode implements [sms2fa.Store]. The code is spent by one
// conditional UPDATE under the user's lock, so of concurrent uses exactly
// one finds it unused; every other is a wrong code and counts as one.
func (s *SQL) UseRecoveryCode(ctx context.Context, userID string, mac []byte, p sms2fa.VerifyParams) (int, sms2fa.Grant, error) {
	if err := p.Policy.Validate(); err != nil {
		return 0, sms2fa.Grant{}, err
	}
	if err := validGrant("use recovery code", p.Grant); err != nil {
		return 0, sms2fa.Grant{}, err
	}
	if userID == "" {
		return 0, sms2fa.Grant{}, errors.New("store: use recovery code: user ID is required")
	}
	var (
		left    int
		granted sms2fa.Grant
		outcome error // ErrCodeInvalid or a lock: the transaction still commits
	)
	err := s.inTx(ctx, "use recovery code", func(ctx context.Context, tx *sqlx.Tx) error {
		u, now, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var spent int64
		if len(mac) > 0 { // an empty MAC matches nothing, but still counts as a guess
			if spent, err = changed(ctx, tx, s.q.useRecovery, ms(now), userID, mac); err != nil {
				return fmt.Errorf("spending the code: %w", err)
			}
		}
		if spent == 1 {
			if err := s.resetFailures(ctx, tx, userID, u, now); err != nil {
				return err
			}
			if granted, err = s.createGrant(ctx, tx, userID, p.Grant, "recovery", true, now); err != nil {
				return err
			}
		} else if outcome, err = s.countFailure(ctx, tx, userID, u, p.Policy.Lockout, now); err != nil {
			return err
		}
		if err := get(ctx, tx, s.q.recoveryLeft, &left, userID); err != nil {
			return fmt.Errorf("counting the codes left: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, sms2fa.Grant{}, err
	}
	return left, granted, outcome
}

// RecoveryCodesLeft implements [sms2fa.Store].
func (s *SQL) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int
	if err := s.q.readRecoveryLeft.GetContext(ctx, &n, userID); err != nil {
		return 0, fmt.Errorf("store: counting recovery codes: %w", err)
	}
	return n, nil
}
