package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// ReplaceRecoveryCodes implements [contract.Store]: the old codes, used or
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

// recoveryRepeat is how long after a recovery code was spent the same
// session may show it again and hear "used" rather than "wrong": long
// enough for a double click or a retried request, short enough that it
// says nothing to anyone later.
const recoveryRepeat = 30 * time.Second

// UseRecoveryCode implements [contract.Store]. The code is spent by one
// conditional UPDATE under the user's lock, so of concurrent uses exactly
// one finds it unused; every other is a wrong code and counts as one.
func (s *SQL) UseRecoveryCode(ctx context.Context, userID string, mac []byte, p contract.VerifyParams) (int, contract.Grant, error) {
	if err := p.Policy.Validate(); err != nil {
		return 0, contract.Grant{}, err
	}
	if err := validGrant("use recovery code", p.Grant); err != nil {
		return 0, contract.Grant{}, err
	}
	if userID == "" {
		return 0, contract.Grant{}, errors.New("store: use recovery code: user ID is required")
	}
	var (
		left    int
		granted contract.Grant
		outcome error // ErrCodeInvalid or a lock: the transaction still commits
	)
	err := s.inTx(ctx, "use recovery code", func(ctx context.Context, tx *sqlx.Tx) error {
		u, now, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var spent, repeated int64
		if len(mac) > 0 { // an empty MAC matches nothing, but still counts as a guess
			if spent, err = changed(ctx, tx, s.q.useRecovery, ms(now), p.Session, userID, mac); err != nil {
				return fmt.Errorf("spending the code: %w", err)
			}
		}
		if spent == 0 && len(mac) > 0 && p.Session != "" {
			// The code this very session spent a moment ago (a double
			// click, parallel submissions of one form) is a repeat, not a
			// guess: it proves the code was right, and counting it would
			// lock out the user who just signed in.
			if err := get(ctx, tx, s.q.recoverySpent, &repeated, userID, mac, ms(now.Add(-recoveryRepeat)), p.Session); err != nil {
				return fmt.Errorf("looking for a repeat: %w", err)
			}
		}
		switch {
		case spent == 1:
			if err := s.resetFailures(ctx, tx, userID, u, now); err != nil {
				return err
			}
			g := newGrant{GrantParams: p.Grant, how: "recovery", fresh: true, cap: p.Policy.MaxGrants}
			if granted, err = s.createGrant(ctx, tx, userID, g, now); err != nil {
				return err
			}
		case repeated > 0:
			outcome = contract.ErrCodeUsed
		default:
			if outcome, err = s.countFailure(ctx, tx, userID, u, p.Policy.Lockout, now); err != nil {
				return err
			}
		}
		if err := get(ctx, tx, s.q.recoveryLeft, &left, userID); err != nil {
			return fmt.Errorf("counting the codes left: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, contract.Grant{}, err
	}
	return left, granted, outcome
}

// RecoveryCodesLeft implements [contract.Store].
func (s *SQL) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int
	if err := s.q.readRecoveryLeft.GetContext(ctx, &n, userID); err != nil {
		return 0, fmt.Errorf("store: counting recovery codes: %w", err)
	}
	return n, nil
}
