package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// Account is what an operator is shown of one user's standing in the store
// (cmd/sms2fa's user command): the lockout and the live grants. The factor,
// the recovery codes, the authenticator and the devices have reads of
// their own.
type Account struct {
	Failures    int              // consecutive wrong codes counted towards the next lock
	Locks       int              // locks since the last success: the next one lasts longer
	LockedUntil time.Time        // zero, or past Now: not locked
	Grants      []contract.Grant // live grants, newest first
	Now         time.Time        // the store's clock
}

// Locked reports whether the user is locked out now.
func (a Account) Locked() bool { return a.LockedUntil.After(a.Now) }

// Account reads userID's lockout and live grants, by the store's clock:
// two indexed reads from the readers' pool, changing nothing. A user the
// store has never seen has a zero Account (with Now set).
func (s *SQL) Account(ctx context.Context, userID string) (Account, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var u userRow
	err := s.q.userState.GetContext(ctx, &u, s.nowArg(), userID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		now, err := s.currentTime(ctx, s.readers)
		if err != nil {
			return Account{}, err
		}
		u = userRow{Now: ms(now)}
	case err != nil:
		return Account{}, fmt.Errorf("store: reading the user: %w", err)
	}
	a := Account{Failures: u.Failures, Locks: u.Locks, Now: fromMS(u.Now)}
	if u.LockedUntil > 0 {
		a.LockedUntil = fromMS(u.LockedUntil)
	}
	var rows []grantRow
	if err := s.q.userGrants.SelectContext(ctx, &rows, userID, u.Now); err != nil {
		return Account{}, fmt.Errorf("store: listing grants: %w", err)
	}
	for _, r := range rows {
		a.Grants = append(a.Grants, r.grant(a.Now))
	}
	return a, nil
}
