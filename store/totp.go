package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// totpRow is a user's authenticator as read.
type totpRow struct {
	Now       int64  `db:"now_ms"`
	Sealed    []byte `db:"sealed"`
	LastStep  int64  `db:"last_step"`
	CreatedAt int64  `db:"created_at"`
}

// TOTP implements [contract.TOTPStore]: one indexed read.
func (s *SQL) TOTP(ctx context.Context, userID string) (contract.TOTP, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var r totpRow
	err := s.q.readTOTP.GetContext(ctx, &r, s.nowArg(), userID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return contract.TOTP{}, contract.ErrNotFound
	case err != nil:
		return contract.TOTP{}, fmt.Errorf("store: reading the authenticator: %w", err)
	}
	return contract.TOTP{Sealed: r.Sealed, LastStep: r.LastStep, CreatedAt: fromMS(r.CreatedAt), Now: fromMS(r.Now)}, nil
}

// SetTOTP implements [contract.TOTPStore]: under the user's lock (a lockout
// does not refuse it: the user proved the new app a moment ago), the
// authenticator is stored and every other live grant and every device is
// revoked, in one transaction.
func (s *SQL) SetTOTP(ctx context.Context, userID string, sealed []byte, step int64, keep string) (bool, error) {
	if userID == "" || len(sealed) == 0 || step < 0 {
		return false, errors.New("store: set authenticator: a user, a sealed secret and a step are required")
	}
	var replaced bool
	err := s.inTx(ctx, "set authenticator", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var n int
		if err := get(ctx, tx, s.q.hasTOTP, &n, userID); err != nil {
			return fmt.Errorf("reading the authenticator: %w", err)
		}
		replaced = n > 0
		if err := exec(ctx, tx, s.q.putTOTP, userID, sealed, step, ms(now), ms(now)); err != nil {
			return fmt.Errorf("storing the authenticator: %w", err)
		}
		return s.factorChanged(ctx, tx, userID, keep, now)
	})
	return replaced, err
}

// RemoveTOTP implements [contract.TOTPStore].
func (s *SQL) RemoveTOTP(ctx context.Context, userID, keep string) (bool, error) {
	var removed bool
	err := s.inTx(ctx, "remove authenticator", func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.holdUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		n, err := changed(ctx, tx, s.q.dropTOTP, userID)
		if err != nil {
			return fmt.Errorf("removing the authenticator: %w", err)
		}
		if removed = n > 0; !removed {
			return nil
		}
		return s.factorChanged(ctx, tx, userID, keep, now)
	})
	return removed, err
}

// factorChanged revokes, inside a factor change's transaction, every live
// grant of the user but keep (why "totp_change") and every remembered
// device: whoever else holds the account proved the factor as it was.
func (s *SQL) factorChanged(ctx context.Context, tx *sqlx.Tx, userID, keep string, now time.Time) error {
	if err := exec(ctx, tx, s.q.revokeGrants, ms(now), "totp_change", userID, keep, ms(now)); err != nil {
		return fmt.Errorf("revoking the other grants: %w", err)
	}
	if err := exec(ctx, tx, s.q.revokeDevices, ms(now), userID, ms(now)); err != nil {
		return fmt.Errorf("revoking the devices: %w", err)
	}
	return nil
}

// ResealTOTP implements [contract.TOTPStore]: one conditional update.
func (s *SQL) ResealTOTP(ctx context.Context, userID string, old, sealed []byte) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.q.resealTOTP.ExecContext(ctx, sealed, s.nowArg(), userID, old)
	if err != nil {
		return false, fmt.Errorf("store: resealing the authenticator: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// UseTOTP implements [contract.TOTPStore]. On Postgres it is one call of
// sms2fa_use_totp; on SQLite, one transaction doing the same steps.
func (s *SQL) UseTOTP(ctx context.Context, userID string, use contract.TOTPUse, p contract.VerifyParams) (contract.Grant, error) {
	if err := p.Policy.Validate(); err != nil {
		return contract.Grant{}, err
	}
	if err := validGrant("use authenticator", p.Grant); err != nil {
		return contract.Grant{}, err
	}
	if userID == "" || len(use.Sealed) == 0 || use.Window < 0 {
		return contract.Grant{}, errors.New("store: use authenticator: a user, the sealed secret and a window are required")
	}
	if s.dialect == Postgres {
		return s.useTOTPOnce(ctx, userID, use, p)
	}
	var (
		granted contract.Grant
		outcome error // ErrCodeInvalid, ErrCodeUsed or a lock: the transaction still commits
	)
	err := s.inTx(ctx, "use authenticator", func(ctx context.Context, tx *sqlx.Tx) error {
		u, now, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var sealed []byte
		switch err := get(ctx, tx, s.q.sealedTOTP, &sealed, userID); {
		case errors.Is(err, sql.ErrNoRows):
			outcome = contract.ErrNotFound
			return nil
		case err != nil:
			return fmt.Errorf("reading the authenticator: %w", err)
		case !bytes.Equal(sealed, use.Sealed):
			outcome = contract.ErrFactorChanged
			return nil
		}
		step := use.Step
		if step >= 0 && abs(step-now.Unix()/totpPeriod) > int64(use.Window) {
			step = -1 // not a code of now, by the store's clock
		}
		if step < 0 {
			outcome, err = s.countFailure(ctx, tx, userID, u, p.Policy.Lockout, now)
			return err
		}
		claimed, err := changed(ctx, tx, s.q.claimTOTP, step, ms(now), userID, step)
		if err != nil {
			return fmt.Errorf("claiming the step: %w", err)
		}
		if claimed == 0 {
			outcome = contract.ErrCodeUsed
			return nil
		}
		if err := s.resetFailures(ctx, tx, userID, u, now); err != nil {
			return err
		}
		if use.Freshen != "" {
			granted, err = s.freshen(ctx, tx, contract.Challenge{UserID: userID, GrantID: use.Freshen}, p.Grant.Login, now)
			return err
		}
		granted, err = s.createGrant(ctx, tx, userID, newGrant{GrantParams: p.Grant, how: "totp", fresh: true, cap: p.Policy.MaxGrants}, now)
		return err
	})
	if err != nil {
		return contract.Grant{}, err
	}
	return granted, outcome
}

// useTOTPSQL calls sms2fa_use_totp.
func useTOTPSQL() string {
	return `SELECT o_outcome, o_now, COALESCE(o_locked_until, 0),
		COALESCE(g_id, ''), COALESCE(g_user_id, ''), COALESCE(g_login, ''), COALESCE(g_how, ''),
		COALESCE(g_created_at, 0), COALESCE(g_fresh_at, 0), COALESCE(g_expires_at, 0), COALESCE(g_revoked_at, 0)
		FROM sms2fa_use_totp(?, ?, ?, ?, CAST(? AS INTEGER), ?, ?, ?, ?, ?, ?, ?, CAST(? AS INTEGER))`
}

// totpPeriod is RFC 6238's time step, in seconds.
const totpPeriod = 30

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// useTOTPOnce is UseTOTP on Postgres: one call of sms2fa_use_totp.
func (s *SQL) useTOTPOnce(ctx context.Context, userID string, use contract.TOTPUse, p contract.VerifyParams) (contract.Grant, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	l, gp := p.Policy.Lockout, p.Grant
	var (
		r oneshotRow
		g = &r.G
	)
	dest := []any{&r.Outcome, &r.Now, &r.LockedUntil, &g.ID, &g.UserID, &g.Login, &g.How, &g.CreatedAt, &g.FreshAt, &g.ExpiresAt, &g.RevokedAt}
	err := s.oneshot(ctx, s.q.useTOTPOnce, dest, s.nowArg(), userID, use.Step, use.Sealed, use.Window, use.Freshen,
		l.Threshold, int64(l.Duration), int64(l.Max), gp.ID, gp.Login, gp.Lifetime.Milliseconds(), p.Policy.MaxGrants)
	if err != nil {
		return contract.Grant{}, fmt.Errorf("store: use authenticator: %w", err)
	}
	now := fromMS(r.Now)
	switch r.Outcome {
	case "user_locked":
		return contract.Grant{}, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(r.LockedUntil), Now: now}
	case "not_found":
		return contract.Grant{}, contract.ErrNotFound
	case "changed":
		return contract.Grant{}, contract.ErrFactorChanged
	case "used":
		return contract.Grant{}, contract.ErrCodeUsed
	case "ok":
		if r.G.ID == "" {
			return contract.Grant{}, nil
		}
		return r.G.grant(now), nil
	case "invalid":
		return contract.Grant{}, contract.ErrCodeInvalid
	case "locked":
		return contract.Grant{}, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(r.LockedUntil), Now: now, Started: true}
	}
	return contract.Grant{}, fmt.Errorf("store: use authenticator: unknown outcome %q", r.Outcome)
}
