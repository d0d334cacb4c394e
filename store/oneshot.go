package store

// On Postgres the operations a request makes — Verify, Open, Resend, and an
// authenticator's UseTOTP (store/totp.go) — each call one function that
// migrations 4 to 11 install (store/schema/postgres/0004_functions.sql to
// 0011_prefixes.sql, which adds the prefix block's judging to Open and
// Resend and its counting to Verify), once,
// in autocommit: one statement, one round trip, one transaction. Why
// functions rather than the transactions the SQLite path runs: behind a load
// balancer each round trip costs more than the work of the statements, and
// a transaction costs BEGIN, one trip per statement and COMMIT. Why not a
// data-modifying CTE: the steps depend on each other's outcome (a right code
// consumes, resets and grants; a wrong one counts and may lock), which a CTE
// cannot express without repeating every condition in every branch. Why not
// a pgx pipeline: its later statements cannot see what the earlier ones
// decided. SQLite keeps its transactions: there is no network.
//
// The functions return one row of plain columns; the Go side turns it into
// the same Challenge, Grant and refusals the transactional path builds, so
// both dialects answer the conformance suite word for word. The row is read
// through the driver package's Conn.QueryRow when it gives one (store/
// postgres does: pgx itself, on a connection of the same pool), else through
// database/sql: on the request path, database/sql's row machinery cost more
// client time than the function's answer is worth (BENCHMARKS.md).

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
)

// oneshotCols lists, for a function's result, its challenge columns
// (c_*) and, if grants, its grant columns (g_*), each with the zero value to
// read when the function left it NULL; budgets adds the refusing budget's
// columns. oneshotRow.dest names the fields they are scanned into, in the
// same order.
func oneshotCols(grants, budgets bool) string {
	cols := []string{`o_outcome`, `o_now`, `COALESCE(o_locked_until, 0)`}
	add := func(zero, prefix, names string) {
		for _, c := range strings.Fields(names) {
			cols = append(cols, fmt.Sprintf(`COALESCE(%s%s, %s)`, prefix, c, zero))
		}
	}
	add(`''`, "c_", `id user_id flow grant_id phone region`)
	add(`0`, "c_", `created_at expires_at attempts max_attempts sends next_send_at send_failed consumed_at`)
	if budgets {
		add(`''`, "o_", `budget`)
		add(`0`, "o_", `until`)
	}
	if grants {
		add(`''`, "g_", `id user_id login how`)
		add(`0`, "g_", `created_at fresh_at expires_at revoked_at`)
	}
	if budgets { // the sends: Open and Resend
		add(`''`, "o_prefix_", `state`)
		add(`0`, "o_prefix_", `until`)
		add(`false`, "o_prefix_", `started`)
		add(`0`, "o_prefix_", `window sends verified blocks`)
	}
	return strings.Join(cols, ", ")
}

// verifySQL calls sms2fa_verify.
func verifySQL() string {
	return `SELECT ` + oneshotCols(true, false) + ` FROM sms2fa_verify(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS INTEGER))`
}

// openSQL calls sms2fa_open.
func openSQL() string {
	return `SELECT ` + oneshotCols(false, true) + ` FROM sms2fa_open(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), ?, ?, ?,
		CAST(? AS INTEGER), ?, ?, ?, ?)`
}

// oneshotRow is a function's answer.
type oneshotRow struct {
	Outcome     string
	Now         int64
	LockedUntil int64
	Budget      string
	BudgetUntil int64
	C           challengeRow
	G           grantRow
	// The prefix block, from Open and Resend: a block in force ("blocked",
	// "refused"; "" for none) and, when this send started it, the figures.
	PrefixState                 string
	PrefixUntil, PrefixWindow   int64
	PrefixStarted               bool
	PrefixSends, PrefixVerified float64
	PrefixBlocks                int
}

// dest lists r's fields in the order oneshotCols(grants, budgets) names
// the columns.
func (r *oneshotRow) dest(grants, budgets bool) []any {
	c := &r.C
	d := make([]any, 0, 25)
	d = append(d, &r.Outcome, &r.Now, &r.LockedUntil, &c.ID, &c.UserID, &c.Flow, &c.GrantID, &c.Phone, &c.Region,
		&c.CreatedAt, &c.ExpiresAt, &c.Attempts, &c.MaxAttempts, &c.Sends, &c.NextSendAt, &c.SendFailed, &c.ConsumedAt)
	if budgets {
		d = append(d, &r.Budget, &r.BudgetUntil)
	}
	if grants {
		g := &r.G
		d = append(d, &g.ID, &g.UserID, &g.Login, &g.How, &g.CreatedAt, &g.FreshAt, &g.ExpiresAt, &g.RevokedAt)
	}
	if budgets {
		d = append(d, &r.PrefixState, &r.PrefixUntil, &r.PrefixStarted, &r.PrefixWindow, &r.PrefixSends,
			&r.PrefixVerified, &r.PrefixBlocks)
	}
	return d
}

// oneshot runs one of the functions' calls, through the driver package's
// QueryRow if it gave one, and scans its row into dest.
func (s *SQL) oneshot(ctx context.Context, query string, dest []any, args ...any) error {
	if s.row != nil {
		return s.row(ctx, query, args, dest...)
	}
	return s.db.QueryRowContext(ctx, query, args...).Scan(dest...)
}

// verifyOnce is Verify on Postgres: one call of sms2fa_verify. p is valid.
func (s *SQL) verifyOnce(ctx context.Context, ref contract.Ref, p contract.VerifyParams) (contract.Challenge, contract.Grant, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	l, g := p.Policy.Lockout, p.Grant
	var r oneshotRow
	err := s.oneshot(ctx, s.q.verifyOnce, r.dest(true, false), s.nowArg(), ref.ID, ref.UserID, ref.Binding, p.MAC,
		l.Threshold, int64(l.Duration), int64(l.Max), g.ID, g.Login, g.How, g.Lifetime.Milliseconds(), p.Policy.MaxGrants)
	if err != nil {
		return contract.Challenge{}, contract.Grant{}, fmt.Errorf("store: verify: %w", err)
	}
	now := fromMS(r.Now)
	switch r.Outcome {
	case "user_locked":
		return contract.Challenge{}, contract.Grant{}, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(r.LockedUntil), Now: now}
	case "not_found":
		return contract.Challenge{}, contract.Grant{}, contract.ErrNotFound
	case "dead":
		return contract.Challenge{}, contract.Grant{}, deadReason(r.C, now)
	}
	c := r.C.challenge(now)
	switch r.Outcome {
	case "ok":
		var granted contract.Grant
		if r.G.ID != "" {
			granted = r.G.grant(now)
		}
		return c, granted, nil
	case "invalid":
		return c, contract.Grant{}, contract.ErrCodeInvalid
	case "locked":
		c.LockedUntil = fromMS(r.LockedUntil)
		return c, contract.Grant{}, &contract.LimitError{Err: contract.ErrLocked, Until: c.LockedUntil, Now: now, Started: true}
	}
	return contract.Challenge{}, contract.Grant{}, fmt.Errorf("store: verify: unknown outcome %q", r.Outcome)
}

// resendSQL calls sms2fa_resend.
func resendSQL() string {
	return `SELECT ` + oneshotCols(false, true) + ` FROM sms2fa_resend(?, ?, ?, ?, ?, ?, ?, ?,
		CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS INTEGER[]), ?, ?,
		CAST(? AS INTEGER), ?, ?, ?, ?)`
}

// budgetArrays are budgets as the functions take them: one array per
// field, in the order given (sortBudgets's).
func budgetArrays(bs []contract.Budget) (names, keys []string, windows []int64, limits []int32) {
	names, keys = make([]string, len(bs)), make([]string, len(bs))
	windows, limits = make([]int64, len(bs)), make([]int32, len(bs))
	for i, b := range bs {
		names[i], keys[i], windows[i], limits[i] = b.Name, b.Key, b.Window.Milliseconds(), int32(min(b.Limit, math.MaxInt32))
	}
	return names, keys, windows, limits
}

// prefixArgs are the functions' p_prefix … p_known_ms: rule's, or an
// empty prefix (nothing counted) when it counts nothing.
func prefixArgs(rule contract.PrefixRule) []any {
	if !rule.Counting() {
		return []any{"", "", 0, int64(0), int64(0), int64(0), int64(0)}
	}
	return []any{rule.Key, string(rule.Mode), min(rule.MinSends, math.MaxInt32), rule.ConversionPPM(),
		int64(rule.For), int64(rule.Max), contract.KnownNumberFor.Milliseconds()}
}

// openOnce is Open on Postgres: one call of sms2fa_open. p is valid.
func (s *SQL) openOnce(ctx context.Context, p contract.OpenParams, flow contract.Flow) (contract.Challenge, bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	names, keys, windows, limits := budgetArrays(sortBudgets(p.Budgets))
	var r oneshotRow
	args := append([]any{s.nowArg(), p.ID, p.UserID, p.Binding, p.Phone, p.Region,
		string(flow), p.GrantID, p.MAC, p.Policy.CodeTTL.Milliseconds(), p.Policy.MaxAttempts,
		p.Policy.CooldownAfter(1).Milliseconds(), names, keys, windows, limits, p.CheckFactor}, prefixArgs(p.Prefix)...)
	err := s.oneshot(ctx, s.q.openOnce, r.dest(false, true), args...)
	if err != nil {
		return contract.Challenge{}, false, fmt.Errorf("store: open: %w", err)
	}
	now := fromMS(r.Now)
	block := prefixOf(p.Prefix.Key, r)
	switch r.Outcome {
	case "prefix_blocked":
		return contract.Challenge{}, false, prefixRefusal(block, now)
	case "user_locked":
		return contract.Challenge{}, false, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(r.LockedUntil), Now: now}
	case "factor_changed":
		return contract.Challenge{}, false, contract.ErrFactorChanged
	case "budget":
		return contract.Challenge{}, false, &contract.LimitError{Err: contract.ErrBudgetExceeded, Until: fromMS(r.BudgetUntil), Now: now, Budget: r.Budget, Prefix: block}
	case "live", "created":
		c := r.C.challenge(now)
		c.Prefix = block
		return c, r.Outcome == "created", nil
	}
	return contract.Challenge{}, false, fmt.Errorf("store: open: unknown outcome %q", r.Outcome)
}

// resendOnce is Resend on Postgres: one call of sms2fa_resend. p is valid.
func (s *SQL) resendOnce(ctx context.Context, ref contract.Ref, p contract.ResendParams) (contract.Challenge, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	names, keys, windows, limits := budgetArrays(sortBudgets(p.Budgets))
	var r oneshotRow
	args := append([]any{s.nowArg(), ref.ID, ref.UserID, ref.Binding, p.Phone, p.MAC,
		p.Policy.CodeTTL.Milliseconds(), int64(p.Policy.ResendCooldown), names, keys, windows, limits}, prefixArgs(p.Prefix)...)
	err := s.oneshot(ctx, s.q.resendOnce, r.dest(false, true), args...)
	if err != nil {
		return contract.Challenge{}, fmt.Errorf("store: resend: %w", err)
	}
	now := fromMS(r.Now)
	block := prefixOf(p.Prefix.Key, r)
	switch r.Outcome {
	case "prefix_blocked":
		return contract.Challenge{}, prefixRefusal(block, now)
	case "user_locked":
		return contract.Challenge{}, &contract.LimitError{Err: contract.ErrLocked, Until: fromMS(r.LockedUntil), Now: now}
	case "not_found":
		return contract.Challenge{}, contract.ErrNotFound
	case "dead":
		return contract.Challenge{}, deadReason(r.C, now)
	case "too_soon":
		return contract.Challenge{}, &contract.LimitError{Err: contract.ErrResendTooSoon, Until: fromMS(r.C.NextSendAt), Now: now}
	case "budget":
		return contract.Challenge{}, &contract.LimitError{Err: contract.ErrBudgetExceeded, Until: fromMS(r.BudgetUntil), Now: now, Budget: r.Budget, Prefix: block}
	case "resent":
		c := r.C.challenge(now)
		c.Prefix = block
		return c, nil
	}
	return contract.Challenge{}, fmt.Errorf("store: resend: unknown outcome %q", r.Outcome)
}
