package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// inTx runs fn in one transaction and commits it if fn returns nil. On SQLite
// the transaction is BEGIN IMMEDIATE (see package store/sqlite); on Postgres
// the hot operations are single function calls instead (oneshot.go). fn
// runs its statements with the ctx it is given, not its caller's.
func (s *SQL) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	return s.inTxOf(ctx, op, true, fn)
}

// inTxOf is inTx; quick says that fn's statements are a request's few
// indexed ones, which on SQLite run without a context that can end (see
// beginSQLite). A purge's are not: they stay interruptible at the
// operation's deadline.
func (s *SQL) inTxOf(ctx context.Context, op string, quick bool, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var (
		tx  *sqlx.Tx
		err error
	)
	if s.dialect == SQLite && quick {
		var release func()
		tx, ctx, release, err = s.beginSQLite(ctx)
		if err == nil {
			defer release()
		}
	} else {
		tx, err = s.db.BeginTxx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", op, err)
	}
	// Rolled back on every way out but a commit, a panic included: on
	// SQLite's usual path no context would ever end the transaction, and
	// the writer connection would stay taken (this runs before release).
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if err := fn(ctx, tx); err != nil {
		if isRefusal(err) {
			return err
		}
		return fmt.Errorf("store: %s: %w", op, err)
	}
	committed = true // a failed commit ends the transaction too
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", op, err)
	}
	return nil
}

// beginSQLite starts a write transaction on SQLite, where one connection
// writes. Waiting for that connection is bounded by ctx's deadline (the
// busy timeout from the operation's start); BEGIN IMMEDIATE's own wait, for
// a writer in another process, by SQLite's busy timeout — the same length,
// so when the connection came at once the operation is still bounded by
// about one busy timeout. The transaction and its statements then run
// under a context that cannot end (the one returned): they hold the file's
// only write lock, so nothing they do waits, while a context that can end
// costs the driver a goroutine per statement to watch it (BENCHMARKS.md).
// A transaction that had to queue for the connection keeps ctx, so that
// BEGIN's wait counts against the time left. release returns the
// connection to the pool once the transaction has ended.
func (s *SQL) beginSQLite(ctx context.Context) (*sqlx.Tx, context.Context, func(), error) {
	start := time.Now()
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if time.Since(start) < time.Millisecond {
		ctx = context.WithoutCancel(ctx)
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return tx, ctx, func() { conn.Close() }, nil
}

// isRefusal reports the errors that are answers, not failures: they pass
// through unwrapped so that callers and logs see the sentinel's own words.
func isRefusal(err error) bool {
	for _, s := range []error{contract.ErrNotFound, contract.ErrCodeInvalid, contract.ErrCodeExpired,
		contract.ErrCodeUsed, contract.ErrTooManyAttempts, contract.ErrLocked,
		contract.ErrResendTooSoon, contract.ErrBudgetExceeded, contract.ErrFactorChanged, contract.ErrPrefixBlocked} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// get runs a prepared query inside tx and scans its one row into dest.
func get(ctx context.Context, tx *sqlx.Tx, st *sqlx.Stmt, dest any, args ...any) error {
	return tx.StmtxContext(ctx, st).GetContext(ctx, dest, args...)
}

// exec runs a prepared statement inside tx.
func exec(ctx context.Context, tx *sqlx.Tx, st *sqlx.Stmt, args ...any) error {
	_, err := changed(ctx, tx, st, args...)
	return err
}

// changed runs a prepared statement inside tx and returns how many rows it
// changed.
func changed(ctx context.Context, tx *sqlx.Tx, st *sqlx.Stmt, args ...any) (int64, error) {
	res, err := tx.StmtxContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// lockUser serialises the user's operations (see prepareQueries), reads the
// user's failure state and the store's clock, and refuses if the user is
// locked. The returned time is "now" for the rest of the transaction.
func (s *SQL) lockUser(ctx context.Context, tx *sqlx.Tx, userID string) (userRow, time.Time, error) {
	var u userRow
	args := []any{s.nowArg(), userID}
	if s.dialect == Postgres {
		args = []any{userID, s.nowArg(), s.nowArg()} // the upsert creates the row it locks
	}
	err := get(ctx, tx, s.q.lockUser, &u, args...)
	switch {
	case errors.Is(err, sql.ErrNoRows): // SQLite, a user without a row
		u.Now = args[0].(int64)
	case err != nil:
		return u, time.Time{}, fmt.Errorf("locking user: %w", err)
	}
	now := fromMS(u.Now)
	if u.LockedUntil > u.Now {
		return u, now, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(u.LockedUntil), Now: now}
	}
	return u, now, nil
}

// holdUser serialises the user's operations as lockUser does, for a change
// that a lockout must not refuse (a factor, recovery codes): it returns the
// store's "now" whether or not the user is locked.
func (s *SQL) holdUser(ctx context.Context, tx *sqlx.Tx, userID string) (time.Time, error) {
	_, now, err := s.lockUser(ctx, tx, userID)
	if errors.Is(err, contract.ErrLocked) {
		err = nil
	}
	return now, err
}

// nowArg is the argument of nowSQL: the test clock's time, or, on Postgres
// without one, NULL (the database's clock).
func (s *SQL) nowArg() any {
	switch {
	case s.clock != nil:
		return ms(s.clock())
	case s.dialect == Postgres:
		return nil
	}
	return ms(time.Now())
}

// currentTime reads the store's clock, for operations that do not lock a
// user first.
func (s *SQL) currentTime(ctx context.Context, q queryer) (time.Time, error) {
	if v, ok := s.nowArg().(int64); ok {
		return fromMS(v), nil
	}
	var v int64
	if err := q.GetContext(ctx, &v, s.db.Rebind(`SELECT `+nowSQL(s.dialect)), nil); err != nil {
		return time.Time{}, fmt.Errorf("reading the database's clock: %w", err)
	}
	return fromMS(v), nil
}

// Now returns the store's clock: the database's on Postgres, the machine's
// on SQLite, or WithClock's.
func (s *SQL) Now(ctx context.Context) (time.Time, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.currentTime(ctx, s.readers)
}

// Open implements [contract.Store].
func (s *SQL) Open(ctx context.Context, p contract.OpenParams) (contract.Challenge, bool, error) {
	if err := validOpen(p); err != nil {
		return contract.Challenge{}, false, err
	}
	flow := p.Flow
	if flow == "" {
		flow = contract.FlowLogin
	}
	if s.dialect == Postgres {
		return s.openOnce(ctx, p, flow) // one round trip: see oneshot.go
	}
	plan, err := s.planBudgets(ctx, p.Budgets)
	if err != nil {
		return contract.Challenge{}, false, err
	}
	var (
		c       contract.Challenge
		created bool
		refusal error // a refusal after the prefix was counted: the counts commit
	)
	err = s.inTx(ctx, "open", func(ctx context.Context, tx *sqlx.Tx) error {
		nowMS := s.nowArg().(int64) // SQLite: the clock is Go's
		var (
			lockedUntil int64
			factorOK    bool
			live        challengeRow
			prefix      prefixRead
			key         = countedPrefix(p.Prefix)
		)
		err := tx.StmtxContext(ctx, s.q.openReads).QueryRowContext(ctx, p.UserID, p.UserID, p.Phone, key, nowMS-graceMS,
			p.UserID, p.Binding, p.Phone, string(flow), p.GrantID, nowMS, key,
		).Scan(append([]any{&lockedUntil, &factorOK, &live.ID, &live.UserID, &live.Flow, &live.GrantID, &live.Phone, &live.Region,
			&live.CreatedAt, &live.ExpiresAt, &live.Attempts, &live.MaxAttempts, &live.Sends, &live.NextSendAt,
			&live.SendFailed, &live.ConsumedAt}, prefix.dest()...)...)
		if err != nil {
			return fmt.Errorf("reading the user and a live challenge: %w", err)
		}
		now := fromMS(nowMS)
		switch {
		case lockedUntil > nowMS:
			return &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(lockedUntil), Now: now}
		case p.CheckFactor && !factorOK:
			return contract.ErrFactorChanged
		case live.ID != "":
			c = live.challenge(now)
			return nil
		}
		block, keep, err := s.sendPrefix(ctx, tx, p.Prefix, p.UserID, p.Phone, plan, now, &prefix)
		if err != nil {
			if keep {
				refusal = err // what the judging counted commits
				return nil
			}
			return err
		}
		row := challengeRow{
			ID: p.ID, UserID: p.UserID, Flow: string(flow), GrantID: p.GrantID, Phone: p.Phone, Region: p.Region,
			CreatedAt: ms(now), ExpiresAt: ms(now.Add(p.Policy.CodeTTL)),
			MaxAttempts: p.Policy.MaxAttempts, Sends: 1,
			NextSendAt: ms(now.Add(p.Policy.CooldownAfter(1))),
		}
		if err := exec(ctx, tx, s.q.insertChallenge, row.ID, row.UserID, row.Flow, row.GrantID, p.Binding, row.Phone,
			row.Region, p.MAC, row.CreatedAt, row.ExpiresAt, row.MaxAttempts, row.NextSendAt, countedPrefix(p.Prefix)); err != nil {
			return fmt.Errorf("inserting the challenge: %w", err)
		}
		if p.Prefix.Counting() {
			if err := exec(ctx, tx, s.q.flightAdd, p.Prefix.Key, row.ExpiresAt); err != nil {
				return fmt.Errorf("counting the send in flight: %w", err)
			}
		}
		c, created = row.challenge(now), true
		c.Prefix = block
		return nil
	})
	if err != nil {
		return contract.Challenge{}, false, err
	}
	if refusal != nil {
		return contract.Challenge{}, false, refusal
	}
	return c, created, nil
}

// countedPrefix is the prefix a send counts against under rule: "" for
// none.
func countedPrefix(rule contract.PrefixRule) string {
	if !rule.Counting() {
		return ""
	}
	return rule.Key
}

// sendPrefix judges the prefix of a send under rule, then takes the
// budgets, inside Open's or Resend's transaction (read: the prefix as
// Open already read it, or nil). It returns the block in
// force (nil if none), or a refusal: the prefix's ([ErrPrefixBlocked]) or a
// budget's. keep says the caller should commit and then answer with the
// refusal, so that what the judging counted stays — a refused send does
// not take back what the sends before it showed — the budgets having been
// rolled back to before them; otherwise a refusal rolls everything back.
func (s *SQL) sendPrefix(ctx context.Context, tx *sqlx.Tx, rule contract.PrefixRule, userID, phone string, plan budgetPlan, now time.Time, read *prefixRead) (block *contract.PrefixBlock, keep bool, err error) {
	if !rule.Counting() {
		return nil, false, s.takeBudgets(ctx, tx, plan, now)
	}
	block, wrote, err := s.judgePrefix(ctx, tx, rule, userID, phone, ms(now), read)
	switch {
	case err != nil:
		return nil, false, err
	case block != nil && block.Refused:
		return block, true, prefixRefusal(block, now)
	case !wrote || len(plan.budgets) == 0:
		err := s.takeBudgets(ctx, tx, plan, now)
		return block, false, withPrefix(err, block)
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT budgets`); err != nil {
		return nil, false, fmt.Errorf("before the budgets: %w", err)
	}
	if err = s.takeBudgets(ctx, tx, plan, now); err == nil || !isRefusal(err) {
		return block, false, err
	}
	if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT budgets`); rerr != nil {
		return nil, false, fmt.Errorf("undoing the budgets: %w", rerr)
	}
	return block, true, withPrefix(err, block)
}

// withPrefix attaches block, if any, to a budget's refusal: the guard
// reports a block this send started even when a budget refused it.
func withPrefix(err error, block *contract.PrefixBlock) error {
	var le *contract.LimitError
	if block != nil && errors.As(err, &le) {
		le.Prefix = block
	}
	return err
}

// Challenge implements [contract.Store].
func (s *SQL) Challenge(ctx context.Context, ref contract.Ref) (contract.Challenge, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var r challengeRow
	err := s.q.getChallenge.GetContext(ctx, &r, s.nowArg(), ref.ID, ref.UserID, ref.Binding)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Challenge{}, contract.ErrNotFound
	}
	if err != nil {
		return contract.Challenge{}, fmt.Errorf("store: reading challenge: %w", err)
	}
	return r.challenge(fromMS(r.Now)), nil
}

// Verify implements [contract.Store].
func (s *SQL) Verify(ctx context.Context, ref contract.Ref, p contract.VerifyParams) (contract.Challenge, contract.Grant, error) {
	pol, mac := p.Policy, p.MAC
	if err := pol.Validate(); err != nil {
		return contract.Challenge{}, contract.Grant{}, err
	}
	if err := validGrant("verify", p.Grant); err != nil {
		return contract.Challenge{}, contract.Grant{}, err
	}
	if s.dialect == Postgres {
		return s.verifyOnce(ctx, ref, p) // one round trip: see oneshot.go
	}
	var (
		c       contract.Challenge
		granted contract.Grant
		outcome error // ErrCodeInvalid or a lock: the transaction still commits
	)
	err := s.inTx(ctx, "verify", func(ctx context.Context, tx *sqlx.Tx) error {
		// BEGIN IMMEDIATE holds the only write lock: what this reads stays
		// true until the transaction ends, and the attempt it counts below
		// commits with the answer it leads to, or not at all.
		nowMS := s.nowArg().(int64) // SQLite: the clock is Go's
		now := fromMS(nowMS)
		var (
			u     userRow
			f     factorRow
			r     challengeRow
			found bool
		)
		err := tx.StmtxContext(ctx, s.q.verifyReads).QueryRowContext(ctx, ref.UserID, ref.UserID, ref.ID, ref.UserID, ref.Binding).Scan(
			&u.Failures, &u.Locks, &u.LockedUntil, &f.Phone, &f.Region, &f.EnrolledAt, &f.Version, &f.Removed,
			&found, &r.MAC, &r.ID, &r.UserID, &r.Flow, &r.GrantID, &r.Phone, &r.Region, &r.CreatedAt, &r.ExpiresAt,
			&r.Attempts, &r.MaxAttempts, &r.Sends, &r.NextSendAt, &r.SendFailed, &r.ConsumedAt, &r.Prefix,
			&u.KnownPhone, &u.KnownAt)
		switch {
		case err != nil:
			return fmt.Errorf("reading the user and the challenge: %w", err)
		case u.LockedUntil > nowMS:
			return &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(u.LockedUntil), Now: now}
		case !found:
			return contract.ErrNotFound
		}
		if err := deadReason(r, now); err != nil {
			return err
		}
		right := subtle.ConstantTimeCompare(r.MAC, mac) == 1
		consumed := int64(0)
		if right {
			consumed = nowMS
		}
		if err := exec(ctx, tx, s.q.countAttempt, consumed, ref.ID); err != nil {
			return fmt.Errorf("counting the attempt: %w", err)
		}
		r.Attempts++
		r.ConsumedAt = consumed
		c = r.challenge(now)
		if right {
			if err := s.settleSMS(ctx, tx, ref.UserID, r, u, now); err != nil {
				return err
			}
			f.UserID = ref.UserID
			granted, err = s.completeFlow(ctx, tx, c, f.factor(), p.Grant, pol.MaxGrants, now)
			return err
		}
		if outcome, err = s.countFailure(ctx, tx, ref.UserID, u, pol.Lockout, now); err != nil {
			return err
		}
		var le *contract.LimitError
		if errors.As(outcome, &le) {
			c.LockedUntil = le.Until
		}
		return nil
	})
	if err != nil {
		return c, contract.Grant{}, err
	}
	return c, granted, outcome
}

// resetFailures is what a right code (or recovery code) does to the user's
// failure budget: both the count and the lock doubling start over. A user
// with nothing to reset is not written to.
func (s *SQL) resetFailures(ctx context.Context, tx *sqlx.Tx, userID string, u userRow, now time.Time) error {
	if u.Failures == 0 && u.Locks == 0 {
		return nil
	}
	if err := exec(ctx, tx, s.q.setUser, 0, 0, 0, ms(now), userID); err != nil {
		return fmt.Errorf("resetting failures: %w", err)
	}
	return nil
}

// settleSMS is what a right SMS code does beside its flow, as
// sms2fa_verify does it: the user's failures start over, the number is
// known good for the user (the prefix block: written at most hourly), and
// the send is counted verified in its prefix's flight.
func (s *SQL) settleSMS(ctx context.Context, tx *sqlx.Tx, userID string, r challengeRow, u userRow, now time.Time) error {
	if u.Failures != 0 || u.Locks != 0 || u.KnownPhone != r.Phone || u.KnownAt < ms(now)-int64(time.Hour/time.Millisecond) {
		if err := exec(ctx, tx, s.q.settleSMS, userID, r.Phone, ms(now), ms(now)); err != nil {
			return fmt.Errorf("resetting failures: %w", err)
		}
	}
	if r.Prefix != "" {
		if err := exec(ctx, tx, s.q.flightVerified, r.Prefix, r.ExpiresAt); err != nil {
			return fmt.Errorf("counting the verified send: %w", err)
		}
	}
	return nil
}

// countFailure counts one more consecutive failure against the user whose
// state lockUser read as u — a wrong SMS code and a wrong recovery code draw
// on the same budget — and returns the refusal to answer with:
// ErrCodeInvalid, or, for the failure that reaches the threshold, the lock
// it starts (doubled per lock since the last success). The refusal is an
// answer, not a failure: the caller's transaction must commit.
func (s *SQL) countFailure(ctx context.Context, tx *sqlx.Tx, userID string, u userRow, l contract.Lockout, now time.Time) (outcome, err error) {
	u.Failures++
	outcome = contract.ErrCodeInvalid
	if l.Threshold > 0 && u.Failures >= l.Threshold {
		until := now.Add(l.LockFor(u.Locks))
		u = userRow{Failures: 0, Locks: u.Locks + 1, LockedUntil: ms(until)}
		outcome = &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(u.LockedUntil), Now: now, Started: true}
	}
	if err := exec(ctx, tx, s.q.setUser, u.Failures, u.Locks, u.LockedUntil, ms(now), userID); err != nil {
		return nil, fmt.Errorf("counting the failure: %w", err)
	}
	return outcome, nil
}

// numberGone reports whether a challenge of flow to number is a login or
// step-up code to a number that, by f, is no longer the user's: one that
// proves nothing about the account today.
func numberGone(flow contract.Flow, number string, f contract.Factor) bool {
	return (flow == contract.FlowLogin || flow == contract.FlowStepUp) && f.Version > 0 && (f.Removed || f.Phone != number)
}

// completeFlow does, inside Verify's transaction, what a right code of c's
// flow is for (see [contract.Store.Verify]), given the user's factor f, and
// returns the grant it created or freshened.
func (s *SQL) completeFlow(ctx context.Context, tx *sqlx.Tx, c contract.Challenge, f contract.Factor, p contract.GrantParams, maxGrants int, now time.Time) (contract.Grant, error) {
	// f is the user's factor as it is now, read under the lock: the code
	// proves the challenge's number, and a challenge opened for a number
	// that is no longer the user's — or an enrolment since overtaken by
	// another — proves nothing about the account today.
	known := f.Version > 0 // the store has (or had) a number for the user
	switch {
	case c.Flow == contract.FlowEnrol && known && !f.Removed:
		return contract.Grant{}, nil // enrolled meanwhile: a change needs a fresh factor
	case c.Flow == contract.FlowChange && (!known || f.Removed):
		return contract.Grant{}, nil // removed meanwhile: nothing to change
	case numberGone(c.Flow, c.Phone, f):
		return contract.Grant{}, nil // the number changed since the code was sent
	}
	switch c.Flow {
	case contract.FlowStepUp:
		return s.freshen(ctx, tx, c, p.Login, now)
	case contract.FlowEnrol:
		if _, err := s.putFactor(ctx, tx, c.UserID, c.Phone, c.Region, false, now); err != nil {
			return contract.Grant{}, err
		}
	case contract.FlowChange:
		// The grant first: a browser whose grant was revoked meanwhile has
		// no business changing the number, however right its code.
		g, err := s.freshen(ctx, tx, c, p.Login, now)
		if err != nil || g.ID == "" {
			return g, err
		}
		if _, err := s.putFactor(ctx, tx, c.UserID, c.Phone, c.Region, false, now); err != nil {
			return contract.Grant{}, err
		}
		// Whoever else holds the account — another browser, a remembered
		// device — proved the old number, not this one.
		if err := exec(ctx, tx, s.q.revokeGrants, ms(now), "number_change", c.UserID, c.GrantID, ms(now)); err != nil {
			return contract.Grant{}, fmt.Errorf("revoking the other grants: %w", err)
		}
		if err := exec(ctx, tx, s.q.revokeDevices, ms(now), c.UserID, ms(now)); err != nil {
			return contract.Grant{}, fmt.Errorf("revoking the devices: %w", err)
		}
		return g, nil
	}
	return s.createGrant(ctx, tx, c.UserID, newGrant{GrantParams: p, how: p.How, fresh: true, cap: maxGrants}, now)
}

// freshen marks the grant c was opened for fresh, if it is still live and
// belongs to the sign-in login (a step-up begun under one sign-in never
// freshens another's grant); a zero Grant means it does not.
func (s *SQL) freshen(ctx context.Context, tx *sqlx.Tx, c contract.Challenge, login string, now time.Time) (contract.Grant, error) {
	var g grantRow
	err := get(ctx, tx, s.q.freshenGrant, &g, ms(now), c.GrantID, c.UserID, login, ms(now))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return contract.Grant{}, nil
	case err != nil:
		return contract.Grant{}, fmt.Errorf("freshening the grant: %w", err)
	}
	return g.grant(now), nil
}

// newGrant is a grant to create inside a transaction.
type newGrant struct {
	contract.GrantParams
	how    string // earned how, whatever p.How says for devices and recovery codes
	fresh  bool   // a code was verified in it just now — never for a remembered device, which proves a cookie, not the number
	device string // the remembered device that made it, if one did
	cap    int    // Policy.MaxGrants
}

// createGrant creates the grant n describes (none if its ID is empty) and
// revokes the user's oldest live grants beyond the cap, oldest by creation
// (then ID) first.
func (s *SQL) createGrant(ctx context.Context, tx *sqlx.Tx, userID string, n newGrant, now time.Time) (contract.Grant, error) {
	if n.ID == "" {
		return contract.Grant{}, nil
	}
	g := grantRow{ID: n.ID, UserID: userID, Login: n.Login, How: n.how,
		CreatedAt: ms(now), ExpiresAt: ms(now.Add(n.Lifetime))}
	if n.fresh {
		g.FreshAt = ms(now)
	}
	if err := exec(ctx, tx, s.q.insertGrant, g.ID, g.UserID, g.Login, g.How, g.CreatedAt, g.FreshAt, g.ExpiresAt, n.device); err != nil {
		return contract.Grant{}, fmt.Errorf("creating the grant: %w", err)
	}
	if n.cap > 0 {
		if err := exec(ctx, tx, s.q.capGrants, ms(now), userID, ms(now), g.ID, userID, ms(now), n.cap); err != nil {
			return contract.Grant{}, fmt.Errorf("capping the live grants: %w", err)
		}
	}
	return g.grant(now), nil
}

// validGrant checks the grant a successful call would create.
func validGrant(op string, p contract.GrantParams) error {
	if p.ID != "" && p.Lifetime <= 0 {
		return fmt.Errorf("store: %s: grant lifetime must be positive, got %v", op, p.Lifetime)
	}
	return nil
}

// deadReason names what makes a challenge unusable, in the order a user
// should hear it: used beats out-of-attempts beats expired. A code whose send
// certainly failed never left: it is as good as expired.
func deadReason(r challengeRow, now time.Time) error {
	switch {
	case r.ConsumedAt != 0:
		return contract.ErrCodeUsed
	case r.Attempts >= r.MaxAttempts:
		return contract.ErrTooManyAttempts
	case r.ExpiresAt <= ms(now), r.SendFailed != 0:
		return contract.ErrCodeExpired
	}
	return nil
}

// Resend implements [contract.Store].
func (s *SQL) Resend(ctx context.Context, ref contract.Ref, p contract.ResendParams) (contract.Challenge, error) {
	if err := validResend(p); err != nil {
		return contract.Challenge{}, err
	}
	if s.dialect == Postgres {
		return s.resendOnce(ctx, ref, p) // one round trip: see oneshot.go
	}
	plan, err := s.planBudgets(ctx, p.Budgets)
	if err != nil {
		return contract.Challenge{}, err
	}
	var (
		c       contract.Challenge
		refusal error // a refusal after the prefix was counted: the counts commit
	)
	err = s.inTx(ctx, "resend", func(ctx context.Context, tx *sqlx.Tx) error {
		_, now, err := s.lockUser(ctx, tx, ref.UserID)
		if err != nil {
			return err
		}
		var r challengeRow
		err = get(ctx, tx, s.q.getOwned, &r, ref.ID, ref.UserID, ref.Binding)
		if errors.Is(err, sql.ErrNoRows) || err == nil && p.Phone != "" && p.Phone != r.Phone {
			return contract.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("reading challenge: %w", err)
		}
		switch f, err := s.readFactor(ctx, tx, ref.UserID); {
		case err != nil:
			return err
		case numberGone(contract.Flow(r.Flow), r.Phone, f):
			return contract.ErrNotFound // as Verify judges it, under the lock
		}
		if err := deadReason(r, now); err != nil && !errors.Is(err, contract.ErrCodeExpired) {
			return err
		}
		if r.NextSendAt > ms(now) {
			return &contract.LimitError{Err: contract.ErrResendTooSoon, Until: fromMS(r.NextSendAt), Now: now}
		}
		block, keep, err := s.sendPrefix(ctx, tx, p.Prefix, ref.UserID, r.Phone, plan, now, nil)
		if err != nil {
			if keep {
				refusal = err // what the judging counted commits
				return nil
			}
			return err
		}
		next := now.Add(p.Policy.CooldownAfter(r.Sends + 1))
		var out challengeRow
		if err := get(ctx, tx, s.q.replaceCode, &out, p.MAC, ms(now.Add(p.Policy.CodeTTL)), ms(next), countedPrefix(p.Prefix), ref.ID); err != nil {
			return fmt.Errorf("replacing the code: %w", err)
		}
		if out.Prefix != "" { // the new code joins its minute; the replaced one stays in its own (and prefix)
			if err := exec(ctx, tx, s.q.flightAdd, out.Prefix, out.ExpiresAt); err != nil {
				return fmt.Errorf("counting the send in flight: %w", err)
			}
		}
		c = out.challenge(now)
		c.Prefix = block
		return nil
	})
	if err == nil && refusal != nil {
		return contract.Challenge{}, refusal
	}
	return c, err
}

// SendFailed implements [contract.Store].
func (s *SQL) SendFailed(ctx context.Context, ref contract.Ref, mac []byte) error {
	// It takes back the send the challenge counted (the statistics count
	// sends from there) and its prefix's flight, lifts the cooldown and
	// kills the code. A missing, used, replaced or already recorded
	// challenge is left alone. On Postgres one statement does it all.
	args := []any{s.nowArg(), []byte{}, ref.ID, ref.UserID, ref.Binding, mac}
	if s.dialect == Postgres {
		ctx, cancel := s.op(ctx)
		defer cancel()
		if _, err := s.q.releaseSend.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: record failed send: %w", err)
		}
		return nil
	}
	return s.inTx(ctx, "record failed send", func(ctx context.Context, tx *sqlx.Tx) error {
		var gone struct {
			Prefix  string `db:"prefix"`
			Expires int64  `db:"expires_at"`
			Now     int64  `db:"next_send_at"` // set to the store's now
		}
		err := get(ctx, tx, s.q.releaseSend, &gone, args...)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		case gone.Prefix == "":
			return nil
		}
		return exec(ctx, tx, s.q.flightGiveBack, gone.Prefix, gone.Expires, gone.Now-graceMS)
	})
}

// Cancel implements [contract.Store].
func (s *SQL) Cancel(ctx context.Context, ref contract.Ref, mac []byte, budgets []contract.Budget) error {
	if err := validBudgets(budgets); err != nil {
		return err
	}
	plan, err := s.planBudgets(ctx, budgets)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "cancel", func(ctx context.Context, tx *sqlx.Tx) error {
		var gone struct {
			Created int64  `db:"created_at"`
			Expires int64  `db:"expires_at"`
			Prefix  string `db:"prefix"`
		}
		err := get(ctx, tx, s.q.cancel, &gone, ref.ID, ref.UserID, ref.Binding, mac)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // missing, used, resent or failed: its sends happened
		}
		if err != nil {
			return fmt.Errorf("withdrawing the challenge: %w", err)
		}
		// In the plan's order, the order Open takes them in, and before the
		// flight, as Open does: on Postgres two transactions never wait on
		// each other's rows crosswise.
		for _, b := range plan.budgets {
			if err := exec(ctx, tx, s.q.giveBack, b.Name, b.Key, b.Window.Milliseconds(), gone.Created); err != nil {
				return fmt.Errorf("giving back budget %s: %w", b.Name, err)
			}
		}
		if gone.Prefix != "" {
			now, err := s.currentTime(ctx, tx)
			if err != nil {
				return err
			}
			if err := exec(ctx, tx, s.q.flightGiveBack, gone.Prefix, gone.Expires, ms(now)-graceMS); err != nil {
				return fmt.Errorf("taking the send out of its prefix's flight: %w", err)
			}
		}
		return nil // statistics count from the challenge: deleting it takes its send back
	})
}

// budgetPlan is the budgets of one send, in the order they are taken, and
// the statement that takes them.
type budgetPlan struct {
	budgets []contract.Budget
	stmt    *sqlx.Stmt
}

// planBudgets sorts and de-duplicates bs and finds their statement. It runs
// before the transaction starts: preparing needs a connection, and on SQLite
// the transaction holds the only one.
func (s *SQL) planBudgets(ctx context.Context, bs []contract.Budget) (budgetPlan, error) {
	if len(bs) == 0 {
		return budgetPlan{}, nil
	}
	bs = sortBudgets(bs)
	st, err := s.budgetStmt(ctx, len(bs))
	return budgetPlan{budgets: bs, stmt: st}, err
}

// sortBudgets returns bs sorted and de-duplicated, in the order budgets are
// taken.
func sortBudgets(bs []contract.Budget) []contract.Budget {
	bs = slices.Clone(bs)
	// One fixed order, so that two Postgres transactions never wait on each
	// other's rows in opposite orders.
	slices.SortFunc(bs, func(a, b contract.Budget) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return int(a.Window - b.Window)
	})
	return slices.CompactFunc(bs, func(a, b contract.Budget) bool { // one statement may upsert a row only once
		return a.Name == b.Name && a.Key == b.Key && a.Window.Milliseconds() == b.Window.Milliseconds()
	})
}

// takeBudgets reserves one send in every budget of p, in one statement, or
// none: a refusal returns an error and the caller's transaction rolls back.
func (s *SQL) takeBudgets(ctx context.Context, tx *sqlx.Tx, p budgetPlan, now time.Time) error {
	if len(p.budgets) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(p.budgets))
	for _, b := range p.budgets {
		args = append(args, b.Name, b.Key, b.Window.Milliseconds(), ms(now), b.Limit)
	}
	// The rows the upsert changed come back; a full budget's does not. They
	// are read without sqlx's reflection: this runs on every send.
	rows, err := tx.StmtxContext(ctx, p.stmt).QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("taking budgets: %w", err)
	}
	defer rows.Close()
	taken := make([]bool, len(p.budgets))
	var got int
	for rows.Next() {
		var name, key sql.RawBytes
		var window int64
		if err := rows.Scan(&name, &key, &window); err != nil {
			return fmt.Errorf("taking budgets: %w", err)
		}
		for i, b := range p.budgets {
			if !taken[i] && string(name) == b.Name && string(key) == b.Key && window == b.Window.Milliseconds() {
				taken[i] = true
				got++
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("taking budgets: %w", err)
	}
	if got == len(p.budgets) {
		return nil
	}
	for i, b := range p.budgets {
		if taken[i] {
			continue
		}
		window := b.Window.Milliseconds()
		var started int64
		if err := get(ctx, tx, s.q.budgetStart, &started, b.Name, b.Key, window); err != nil {
			return fmt.Errorf("reading budget %s: %w", b.Name, err)
		}
		return &contract.LimitError{Err: contract.ErrBudgetExceeded, Until: fromMS(started + window), Now: now, Budget: b.Name}
	}
	return fmt.Errorf("taking budgets: %d of %d rows came back, none missing", got, len(p.budgets))
}

// budgetStmt returns the prepared statement that takes n budgets, preparing
// it on first use: the guard sends the same few counts over and over.
func (s *SQL) budgetStmt(ctx context.Context, n int) (*sqlx.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.budgetStmts[n]; ok {
		return st, nil
	}
	st, err := s.db.PreparexContext(ctx, s.db.Rebind(takeBudgetsSQL(n)))
	if err != nil {
		return nil, fmt.Errorf("preparing the budget statement: %w", err)
	}
	s.budgetStmts[n] = st
	return st, nil
}

func validOpen(p contract.OpenParams) error {
	switch {
	case p.ID == "" || p.UserID == "" || p.Binding == "":
		return errors.New("store: open: challenge ID, user ID and binding are required")
	case p.Phone == "":
		return errors.New("store: open: phone is required")
	case len(p.MAC) == 0:
		return errors.New("store: open: code MAC is required")
	case p.CheckFactor && p.Flow != "" && p.Flow != contract.FlowLogin && p.Flow != contract.FlowStepUp:
		return fmt.Errorf("store: open: CheckFactor is for login and step-up codes, not %s", p.Flow)
	}
	if err := p.Policy.Validate(); err != nil {
		return err
	}
	if err := p.Prefix.Validate(); err != nil {
		return err
	}
	return validBudgets(p.Budgets)
}

func validResend(p contract.ResendParams) error {
	if len(p.MAC) == 0 {
		return errors.New("store: resend: code MAC is required")
	}
	if err := p.Policy.Validate(); err != nil {
		return err
	}
	if err := p.Prefix.Validate(); err != nil {
		return err
	}
	return validBudgets(p.Budgets)
}

func validBudgets(bs []contract.Budget) error {
	for _, b := range bs {
		if b.Name == "" || b.Limit < 1 || b.Window < time.Millisecond {
			return fmt.Errorf("store: budget %q: need a name, a limit ≥ 1 and a window ≥ 1ms, got %d per %v", b.Name, b.Limit, b.Window)
		}
	}
	return nil
}
