package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// Factor implements [contract.Store]. It reads from the readers' pool: the
// guard asks on every sign-in, and on SQLite this never waits for a writer.
func (s *SQL) Factor(ctx context.Context, userID string) (contract.Factor, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var r factorRow
	err := s.q.getFactor.GetContext(ctx, &r, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Factor{}, contract.ErrNotFound
	}
	if err != nil {
		return contract.Factor{}, fmt.Errorf("store: reading factor: %w", err)
	}
	return r.factor(), nil
}

// AdoptFactor implements [contract.Store]. The insert does nothing when any
// row exists, removed or not, and the read that follows sees whichever
// adoption won: every caller answers with the stored number.
func (s *SQL) AdoptFactor(ctx context.Context, userID, phone, region string) (contract.Factor, bool, error) {
	if userID == "" || phone == "" {
		return contract.Factor{}, false, errors.New("store: adopt factor: user ID and phone are required")
	}
	var (
		f       contract.Factor
		adopted bool
	)
	err := s.inTx(ctx, "adopt factor", func(ctx context.Context, tx *sqlx.Tx) error {
		// Under the user's lock, so that a SetFactor or RemoveFactor running
		// at once reads the row it replaces, adopted or not.
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		n, err := changed(ctx, tx, s.q.adoptFactor, userID, phone, region, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("adopting the factor: %w", err)
		}
		adopted = n == 1
		f, err = s.readFactor(ctx, tx, userID)
		return err
	})
	if err != nil {
		return contract.Factor{}, false, err
	}
	return f, adopted, nil
}

// SetFactor implements [contract.Store].
func (s *SQL) SetFactor(ctx context.Context, userID, phone, region string) (contract.Factor, contract.Factor, error) {
	if userID == "" || phone == "" {
		return contract.Factor{}, contract.Factor{}, errors.New("store: set factor: user ID and phone are required")
	}
	var f, old contract.Factor
	err := s.inTx(ctx, "set factor", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if old, err = s.readFactor(ctx, tx, userID); err != nil {
			return err
		}
		f, err = s.putFactor(ctx, tx, userID, phone, region, false, now)
		return err
	})
	if err != nil {
		return contract.Factor{}, contract.Factor{}, err
	}
	return f, old, nil
}

// RemoveFactor implements [contract.Store]. The row stays, as the marker that
// stops the app's number from being adopted again.
func (s *SQL) RemoveFactor(ctx context.Context, userID string) (contract.Factor, error) {
	if userID == "" {
		return contract.Factor{}, errors.New("store: remove factor: user ID is required")
	}
	var old contract.Factor
	err := s.inTx(ctx, "remove factor", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if old, err = s.readFactor(ctx, tx, userID); err != nil {
			return err
		}
		_, err = s.putFactor(ctx, tx, userID, "", "", true, now)
		return err
	})
	if err != nil {
		return contract.Factor{}, err
	}
	return old, nil
}

// NoteMismatch implements [contract.Store]. One conditional UPDATE: of two
// requests noting the same tag at once, exactly one finds it fresh. A user
// without a factor has nothing to mismatch.
func (s *SQL) NoteMismatch(ctx context.Context, userID, tag string) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.q.noteMismatch.ExecContext(ctx, tag, s.nowArg(), userID, tag)
	if err != nil {
		return false, fmt.Errorf("store: noting a mismatch: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: noting a mismatch: %w", err)
	}
	return n > 0, nil
}

// readFactor reads userID's factor inside tx; the zero Factor if none.
func (s *SQL) readFactor(ctx context.Context, tx *sqlx.Tx, userID string) (contract.Factor, error) {
	var r factorRow
	err := get(ctx, tx, s.q.readFactor, &r, userID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return contract.Factor{}, nil
	case err != nil:
		return contract.Factor{}, fmt.Errorf("reading the factor: %w", err)
	}
	return r.factor(), nil
}

// putFactor stores phone and region as userID's factor, enrolled now — or,
// removed, the marker of a removed one (no number, no enrolment time) — and
// bumps its version. The caller holds the user's lock.
func (s *SQL) putFactor(ctx context.Context, tx *sqlx.Tx, userID, phone, region string, removed bool, now time.Time) (contract.Factor, error) {
	enrolled, flag := ms(now), 0
	if removed {
		enrolled, flag = 0, 1
	}
	var r factorRow
	if err := get(ctx, tx, s.q.putFactor, &r, userID, phone, region, enrolled, flag, ms(now)); err != nil {
		return contract.Factor{}, fmt.Errorf("storing the factor: %w", err)
	}
	return r.factor(), nil
}
