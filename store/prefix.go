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

// The automatic prefix block (see contract.PrefixRule and the schema's
// 0007_prefixes.sql / 0011_prefixes.sql). The operations count the flight
// of codes themselves (Open, Resend, Verify, SendFailed, Cancel); a send
// judges its prefix: on Postgres in sms2fa_prefix_judge, on SQLite here,
// step for step the same, so that both dialects answer the conformance
// suite alike.

// The two sliding windows, in milliseconds.
const (
	hourMS = int64(time.Hour / time.Millisecond)
	dayMS  = int64(24 * time.Hour / time.Millisecond)
)

// graceMS is how long after its minute ends a minute of flight is judged: a
// verify or a failed send that began before the end (and waited for a lock,
// or for the provider) still finds its minute to count in.
const graceMS = int64(time.Minute / time.Millisecond)

// bucket is one window of a prefix: its current bucket's start and counts,
// and the previous bucket's counts.
type bucket struct {
	start, sends, verified, prevSends, prevVerified int64
}

// rotate moves b to the bucket of now, of length w: one bucket on, the
// current becomes the previous; further, both are past. A clock that went
// back keeps the buckets as they are.
func (b *bucket) rotate(now, w int64) {
	at := now - now%w
	if at <= b.start {
		return
	}
	if at == b.start+w {
		b.prevSends, b.prevVerified = b.sends, b.verified
	} else {
		b.prevSends, b.prevVerified = 0, 0
	}
	b.sends, b.verified, b.start = 0, 0, at
}

// add counts sends judged in the minute ending at endsAt, in the bucket of
// the minute they expired in; older than the previous bucket is outside the
// window.
func (b *bucket) add(endsAt, sends, verified, w int64) {
	t := endsAt - 1
	switch at := t - t%w; at {
	case b.start:
		b.sends, b.verified = b.sends+sends, b.verified+verified
	case b.start - w:
		b.prevSends, b.prevVerified = b.prevSends+sends, b.prevVerified+verified
	}
}

// estimate is the sliding window's judged sends and verified ones at now:
// the current bucket, and the previous weighed by how much of it the window
// still covers. The arithmetic is sms2fa_prefix_judge's, operation for
// operation, so both dialects decide alike at every edge: each product is
// converted explicitly, which rounds it before the sum, as Postgres does —
// Go would otherwise fuse the two (FMA, on arm64 or GOAMD64=v3) and round
// once.
func (b bucket) estimate(now, w int64) contract.PrefixCount {
	share := 1 - float64(now-b.start)/float64(w)
	return contract.PrefixCount{
		Sends:    float64(b.sends) + float64(float64(b.prevSends)*share),
		Verified: float64(b.verified) + float64(float64(b.prevVerified)*share),
	}
}

// prefixRow is a row of sms2fa_prefixes.
type prefixRow struct {
	Prefix       string
	Hour, Day    bucket
	BlockedUntil int64
	Blocks       int
	Allowed      bool
}

// prefixCols are the columns a prefixRow is read from, in scan order.
const prefixCols = `prefix, hour_start, hour_sends, hour_verified, hour_prev_sends, hour_prev_verified,
	day_start, day_sends, day_verified, day_prev_sends, day_prev_verified, blocked_until, blocks, allowed`

func (r *prefixRow) dest() []any {
	return []any{&r.Prefix, &r.Hour.start, &r.Hour.sends, &r.Hour.verified, &r.Hour.prevSends, &r.Hour.prevVerified,
		&r.Day.start, &r.Day.sends, &r.Day.verified, &r.Day.prevSends, &r.Day.prevVerified,
		&r.BlockedUntil, &r.Blocks, &r.Allowed}
}

// args are r's values for writePrefixSQL, after now (updated_at).
func (r *prefixRow) args(now int64) []any {
	return []any{r.Prefix, r.Hour.start, r.Hour.sends, r.Hour.verified, r.Hour.prevSends, r.Hour.prevVerified,
		r.Day.start, r.Day.sends, r.Day.verified, r.Day.prevSends, r.Day.prevVerified,
		r.BlockedUntil, r.Blocks, boolInt(r.Allowed), now}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// state is r as the operators see it at now, with inFlight sends.
func (r prefixRow) state(now int64, inFlight int) contract.PrefixState {
	r.Hour.rotate(now, hourMS)
	r.Day.rotate(now, dayMS)
	return contract.PrefixState{
		Prefix: r.Prefix, Hour: r.Hour.estimate(now, hourMS), Day: r.Day.estimate(now, dayMS),
		InFlight: inFlight, BlockedUntil: timeOrZero(r.BlockedUntil), Blocks: r.Blocks, Allowed: r.Allowed,
		Now: fromMS(now),
	}
}

// restart starts both windows afresh at now.
func (r *prefixRow) restart(now int64) {
	r.Hour = bucket{start: now - now%hourMS}
	r.Day = bucket{start: now - now%dayMS}
}

// judge decides, at now, whether r's windows block the prefix under rule
// (r has been rotated and has counted what was judged). It reports the block
// it started, if it did.
func (r *prefixRow) judge(rule contract.PrefixRule, now int64) *contract.PrefixBlock {
	// A window whose two buckets together hold fewer than MinSends sends
	// cannot block: most prefixes, most of the time (sms2fa_prefix_judge
	// skips the same).
	enough := func(b bucket) bool { return b.sends+b.prevSends >= int64(rule.MinSends) }
	if r.Allowed || r.BlockedUntil > now || !enough(r.Hour) && !enough(r.Day) {
		return nil
	}
	ppm := rule.ConversionPPM()
	for _, w := range []struct {
		b  *bucket
		ms int64
	}{{&r.Hour, hourMS}, {&r.Day, dayMS}} {
		c := w.b.estimate(now, w.ms)
		if !(c.Sends >= float64(rule.MinSends) && c.Verified*1e6 < float64(ppm)*c.Sends) {
			continue
		}
		if r.BlockedUntil < now-rule.Max.Milliseconds() {
			r.Blocks = 0 // the last block ended long ago: start again at For
		}
		r.BlockedUntil = now + int64(rule.BlockFor(r.Blocks)/time.Millisecond)
		r.Blocks++
		r.restart(now) // a repeat needs new evidence
		return &contract.PrefixBlock{Prefix: r.Prefix, Started: true, Window: time.Duration(w.ms) * time.Millisecond,
			Sends: c.Sends, Verified: c.Verified}
	}
	return nil
}

// prefixRead is a prefix's row as a send reads it (prefixReadCols): zero
// (Prefix "") when it has none, and whether minutes of its flight ended.
type prefixRead struct {
	row prefixRow
	due bool
}

func (p *prefixRead) dest() []any { return append(p.row.dest(), &p.due) }

// judgePrefix is sms2fa_prefix_judge on SQLite, inside Open's or Resend's
// transaction: it counts the minutes of flight of rule.Key that ended, and
// decides. read is the prefix as the transaction already read it (Open's
// one statement), or nil to read it here. It returns the block in force
// (nil if none), Refused set when it refuses this send of phone for userID,
// and whether it wrote anything (a caller that then refuses for another
// reason keeps those writes).
func (s *SQL) judgePrefix(ctx context.Context, tx *sqlx.Tx, rule contract.PrefixRule, userID, phone string, now int64, read *prefixRead) (*contract.PrefixBlock, bool, error) {
	if read == nil {
		read = &prefixRead{}
		if err := tx.StmtxContext(ctx, s.q.readPrefix).QueryRowContext(ctx, rule.Key, now-graceMS, rule.Key).Scan(read.dest()...); err != nil {
			return nil, false, fmt.Errorf("reading the prefix: %w", err)
		}
	}
	r := read.row
	wrote := r.Prefix == "" // a prefix's first send makes its row
	if wrote {
		r.Prefix = rule.Key
		r.restart(now)
	}
	r.Hour.rotate(now, hourMS)
	r.Day.rotate(now, dayMS)
	if read.due {
		folded, err := s.foldFlight(ctx, tx, &r, now)
		if err != nil {
			return nil, false, err
		}
		wrote = wrote || folded
	}
	block := r.judge(rule, now)
	if block != nil {
		// The codes sent before the block are forgotten with its windows:
		// a repeat needs new evidence.
		if err := exec(ctx, tx, s.q.dropFlight, r.Prefix); err != nil {
			return nil, false, fmt.Errorf("forgetting the prefix's flight: %w", err)
		}
		wrote = true
	}
	if wrote {
		if err := exec(ctx, tx, s.q.writePrefix, r.args(now)...); err != nil {
			return nil, false, fmt.Errorf("counting the prefix: %w", err)
		}
	}
	if r.Allowed || r.BlockedUntil <= now {
		return nil, wrote, nil
	}
	if block == nil {
		block = &contract.PrefixBlock{Prefix: r.Prefix}
	}
	block.Until, block.Blocks = fromMS(r.BlockedUntil), r.Blocks
	if rule.Mode == contract.PrefixOn {
		var known int
		if err := get(ctx, tx, s.q.knownNumber, &known, userID, phone, now-contract.KnownNumberFor.Milliseconds()); err != nil {
			return nil, false, fmt.Errorf("reading whether the number is known: %w", err)
		}
		block.Refused = known == 0
	}
	return block, wrote, nil
}

// foldFlight moves the minutes of r's flight that ended a grace before now
// into r's windows, deleting them, and reports whether there were any.
func (s *SQL) foldFlight(ctx context.Context, tx *sqlx.Tx, r *prefixRow, now int64) (bool, error) {
	rows, err := tx.StmtxContext(ctx, s.q.foldFlight).QueryContext(ctx, r.Prefix, now-graceMS)
	if err != nil {
		return false, fmt.Errorf("judging the prefix's sends: %w", err)
	}
	defer rows.Close()
	folded := false
	for rows.Next() {
		var endsAt, sends, verified int64
		if err := rows.Scan(&endsAt, &sends, &verified); err != nil {
			return false, fmt.Errorf("judging the prefix's sends: %w", err)
		}
		verified = min(verified, sends)
		r.Hour.add(endsAt, sends, verified, hourMS)
		r.Day.add(endsAt, sends, verified, dayMS)
		folded = true
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("judging the prefix's sends: %w", err)
	}
	return folded, nil
}

// prefixRefusal is the refusal of a send that block refuses.
func prefixRefusal(block *contract.PrefixBlock, now time.Time) error {
	return &contract.LimitError{Err: contract.ErrPrefixBlocked, Until: block.Until, Now: now, Budget: "prefix_blocked", Prefix: block}
}

// prefixOf is a Postgres function's o_prefix_* columns as a block (nil if
// none was in force).
func prefixOf(key string, r oneshotRow) *contract.PrefixBlock {
	if r.PrefixState == "" {
		return nil
	}
	return &contract.PrefixBlock{
		Prefix: key, Until: fromMS(r.PrefixUntil), Started: r.PrefixStarted,
		Window: time.Duration(r.PrefixWindow) * time.Millisecond, Sends: r.PrefixSends, Verified: r.PrefixVerified,
		Blocks: r.PrefixBlocks, Refused: r.PrefixState == "refused",
	}
}

// Prefix implements [contract.PrefixStore].
func (s *SQL) Prefix(ctx context.Context, prefix string) (contract.PrefixState, error) {
	if !contract.ValidPrefix(prefix) {
		return contract.PrefixState{}, badPrefix(prefix)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var r prefixRow
	err := s.q.getPrefix.QueryRowxContext(ctx, prefix).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return contract.PrefixState{}, contract.ErrNotFound
	}
	if err != nil {
		return contract.PrefixState{}, fmt.Errorf("store: prefix: %w", err)
	}
	states, err := s.prefixStates(ctx, []prefixRow{r}, s.q.prefixFlight, prefix)
	if err != nil {
		return contract.PrefixState{}, fmt.Errorf("store: prefix: %w", err)
	}
	return states[0], nil
}

// Prefixes implements [contract.PrefixStore].
func (s *SQL) Prefixes(ctx context.Context) ([]contract.PrefixState, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.q.allPrefixes.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: prefixes: %w", err)
	}
	var all []prefixRow
	for rows.Next() {
		var r prefixRow
		if err := rows.Scan(r.dest()...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: prefixes: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: prefixes: %w", err)
	}
	states, err := s.prefixStates(ctx, all, s.q.allFlight)
	if err != nil {
		return nil, fmt.Errorf("store: prefixes: %w", err)
	}
	return states, nil
}

// prefixStates is rs as the operators see them now: the flight, read by
// flight (with args), is counted as the next send would — minutes that
// ended a grace ago are judged, the rest are in flight — without writing
// anything.
func (s *SQL) prefixStates(ctx context.Context, rs []prefixRow, flight *sqlx.Stmt, args ...any) ([]contract.PrefixState, error) {
	now, err := s.currentTime(ctx, s.readers)
	if err != nil {
		return nil, err
	}
	n := ms(now)
	byKey := make(map[string]*prefixRow, len(rs))
	inFlight := make(map[string]int, len(rs))
	for i := range rs {
		rs[i].Hour.rotate(n, hourMS)
		rs[i].Day.rotate(n, dayMS)
		byKey[rs[i].Prefix] = &rs[i]
	}
	rows, err := flight.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key                     string
			endsAt, sends, verified int64
		)
		if err := rows.Scan(&key, &endsAt, &sends, &verified); err != nil {
			return nil, err
		}
		r := byKey[key]
		switch {
		case r == nil:
		case endsAt > n-graceMS:
			inFlight[key] += int(sends)
		default:
			verified = min(verified, sends)
			r.Hour.add(endsAt, sends, verified, hourMS)
			r.Day.add(endsAt, sends, verified, dayMS)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]contract.PrefixState, len(rs))
	for i, r := range rs {
		out[i] = r.state(n, inFlight[r.Prefix])
	}
	return out, nil
}

// changePrefix runs an operator's change of prefix in one transaction,
// under the prefix's row (made if need be), and returns the state after it.
// With forget, the prefix's codes in flight are forgotten too.
func (s *SQL) changePrefix(ctx context.Context, op, prefix string, forget bool, change func(r *prefixRow, now int64)) (contract.PrefixState, error) {
	if !contract.ValidPrefix(prefix) {
		return contract.PrefixState{}, badPrefix(prefix)
	}
	var st contract.PrefixState
	err := s.inTx(ctx, op, func(ctx context.Context, tx *sqlx.Tx) error {
		now, err := s.currentTime(ctx, tx)
		if err != nil {
			return err
		}
		n := ms(now)
		r := prefixRow{Prefix: prefix}
		r.restart(n)
		if err := exec(ctx, tx, s.q.makePrefix, r.args(n)...); err != nil {
			return fmt.Errorf("making the prefix's row: %w", err)
		}
		if err := tx.StmtxContext(ctx, s.q.lockPrefix).QueryRowContext(ctx, prefix).Scan(r.dest()...); err != nil {
			return fmt.Errorf("reading the prefix: %w", err)
		}
		change(&r, n)
		if err := exec(ctx, tx, s.q.writePrefix, r.args(n)...); err != nil {
			return fmt.Errorf("writing the prefix: %w", err)
		}
		if forget {
			if err := exec(ctx, tx, s.q.dropFlight, prefix); err != nil {
				return fmt.Errorf("forgetting the flight: %w", err)
			}
		}
		st = r.state(n, 0)
		return nil
	})
	if err != nil {
		return st, err
	}
	// The state with its flight, as Prefix reads it; the change is made
	// either way.
	if full, err := s.Prefix(ctx, prefix); err == nil {
		st = full
	}
	return st, nil
}

// BlockPrefix implements [contract.PrefixStore].
func (s *SQL) BlockPrefix(ctx context.Context, prefix string, d time.Duration) (contract.PrefixState, error) {
	if d < time.Minute {
		return contract.PrefixState{}, fmt.Errorf("store: block prefix: a block lasts at least 1m, got %v", d)
	}
	// An operator's block is not the automatic block's evidence: the
	// doubling starts over from it (it moves the end of the last block,
	// which the doubling's reset is measured from).
	return s.changePrefix(ctx, "block prefix", prefix, false, func(r *prefixRow, now int64) {
		r.BlockedUntil, r.Blocks = now+d.Milliseconds(), 0
	})
}

// UnblockPrefix implements [contract.PrefixStore].
func (s *SQL) UnblockPrefix(ctx context.Context, prefix string) (contract.PrefixState, bool, error) {
	// The codes in flight were sent before the unblock: forgotten, so that
	// they do not block the prefix again when they are judged.
	var was bool
	st, err := s.changePrefix(ctx, "unblock prefix", prefix, true, func(r *prefixRow, now int64) {
		was = !r.Allowed && r.BlockedUntil > now
		r.BlockedUntil, r.Blocks = 0, 0
		r.restart(now)
	})
	return st, was, err
}

// AllowPrefix implements [contract.PrefixStore].
func (s *SQL) AllowPrefix(ctx context.Context, prefix string, allow bool) (contract.PrefixState, error) {
	return s.changePrefix(ctx, "allow prefix", prefix, false, func(r *prefixRow, _ int64) { r.Allowed = allow })
}

func badPrefix(p string) error {
	return fmt.Errorf("store: prefix %q: want + and 2 to 15 digits, as +91987654", p)
}

// timeOrZero is fromMS, with 0 as the zero time.
func timeOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMS(v)
}
