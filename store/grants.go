package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// Grant implements [contract.Store]. It reads from the readers' pool: on
// SQLite it never waits for a writer.
func (s *SQL) Grant(ctx context.Context, id, userID string) (contract.Grant, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var r grantRow
	err := s.q.getGrant.GetContext(ctx, &r, s.nowArg(), id, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Grant{}, contract.ErrNotFound
	}
	if err != nil {
		return contract.Grant{}, fmt.Errorf("store: reading grant: %w", err)
	}
	return r.grant(fromMS(r.Now)), nil
}

// RevokeGrant implements [contract.Store].
func (s *SQL) RevokeGrant(ctx context.Context, id, userID, why string) (bool, error) {
	n, err := s.revoke(ctx, "revoke grant", userID, s.q.revokeGrant, why, id, userID)
	return n > 0, err
}

// RevokeAll implements [contract.Store].
func (s *SQL) RevokeAll(ctx context.Context, userID, why string) (grants, devices int, err error) {
	err = s.inTx(ctx, "revoke all", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		d, err := changed(ctx, tx, s.q.revokeDevices, ms(now), userID, ms(now))
		if err != nil {
			return err
		}
		g, err := changed(ctx, tx, s.q.revokeGrants, ms(now), why, userID, "", ms(now))
		grants, devices = int(g), int(d)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return grants, devices, nil
}

// revoke runs st — which revokes live grants or devices of userID picked by
// which, at the store's now — and counts what it revoked. It runs under the
// user's lock, like every operation that creates grants or uses devices: on
// Postgres a sign-in under way finishes before the revocation, or starts
// after it is committed, and is then refused.
func (s *SQL) revoke(ctx context.Context, op, userID string, st *sqlx.Stmt, which ...any) (int64, error) {
	var n int64
	err := s.inTx(ctx, op, func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		args := append(append([]any{ms(now)}, which...), ms(now))
		n, err = changed(ctx, tx, st, args...)
		return err
	})
	return n, err
}

// EndSignIn implements [contract.Store]. The revoked grants are the record of
// the end; only a sign-in with none live gets a row of its own (how
// "ended").
func (s *SQL) EndSignIn(ctx context.Context, userID, login string) (int, error) {
	if login == "" {
		return 0, errors.New("store: end sign-in: the sign-in's tag is required")
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("store: end sign-in: %w", err)
	}
	var n int64
	err := s.inTx(ctx, "end sign-in", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID) // see revoke
		if err != nil {
			return err
		}
		if n, err = changed(ctx, tx, s.q.revokeSignIn, ms(now), userID, login, ms(now)); err != nil || n > 0 {
			return err
		}
		// Ended already (a replayed logout): one record is enough.
		var ended int
		if err := get(ctx, tx, s.q.loginRevoked, &ended, userID, login); err != nil || ended > 0 {
			return err
		}
		return exec(ctx, tx, s.q.endSignIn, "ended-"+hex.EncodeToString(b[:]), userID, login, ms(now), ms(now), ms(now))
	})
	return int(n), err
}

// Unlock implements [contract.Store].
func (s *SQL) Unlock(ctx context.Context, userID string, number bool) error {
	return s.inTx(ctx, "unlock", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := exec(ctx, tx, s.q.unlockUser, ms(now), userID); err != nil {
			return fmt.Errorf("clearing the lock: %w", err)
		}
		if err := exec(ctx, tx, s.q.unlockBudgets, userID); err != nil {
			return fmt.Errorf("emptying the user's budgets: %w", err)
		}
		if !number {
			return nil
		}
		f, err := s.readFactor(ctx, tx, userID)
		if err != nil || f.Phone == "" {
			return err
		}
		if err := exec(ctx, tx, s.q.unlockPhoneBudgets, f.Phone); err != nil {
			return fmt.Errorf("emptying the number's budgets: %w", err)
		}
		return nil
	})
}
