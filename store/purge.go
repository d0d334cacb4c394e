package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// Purged counts the rows one Purge deleted.
type Purged struct {
	Challenges, Users, Budgets, Stats, Grants, Devices int64
	// Prefixes counts the prefix block's rows: minutes of flight no send
	// judged within a day, and prefixes with nothing left to remember.
	Prefixes int64
}

// Purge deletes rows that can no longer matter: challenges expired longer
// ago than the retention (see WithRetention), counted into the hourly
// statistics as they go, users a day past their last
// lock and a day without news (which resets their lock doubling), budget
// windows that have closed, statistics older than their retention, grants
// that expired (a revoked grant stays until then: it is what keeps a
// remembered device from reviving a sign-in that was logged out), and
// remembered devices that expired or were revoked. Factors and recovery
// codes are never purged: a factor's row, even a removed one, is what stops
// the app's number from being adopted again, and codes live until replaced.
func (s *SQL) Purge(ctx context.Context) (Purged, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var (
		p      Purged
		flight int64
	)
	now, err := s.currentTime(ctx, s.db)
	if err != nil {
		return p, fmt.Errorf("store: purging: %w", err)
	}
	if p.Challenges, err = s.purgeChallenges(ctx, ms(now.Add(-s.retain.challenges))); err != nil {
		return p, fmt.Errorf("store: purging challenges: %w", err)
	}
	for _, step := range []struct {
		what  string
		query *sqlx.Stmt
		args  []any
		n     *int64
	}{
		// A user row remembers failures and the lock doubling. Counting the
		// day from the end of the last lock, not its start, keeps a long lock
		// (WithLockout's max over a day) doubling on the next one.
		// A number known good for its user stays so for KnownNumberFor.
		{"users", s.q.purgeUsers, []any{ms(now.Add(-24 * time.Hour)), ms(now.Add(-24 * time.Hour)),
			ms(now.Add(-contract.KnownNumberFor))}, &p.Users},
		{"budgets", s.q.purgeBudgets, []any{ms(now)}, &p.Budgets},
		{"stats", s.q.purgeStats, []any{hourOf(now.Add(-s.retain.stats))}, &p.Stats},
		{"grants", s.q.purgeGrants, []any{ms(now), ms(now.Add(-s.retain.revoked))}, &p.Grants},
		{"devices", s.q.purgeDevices, []any{ms(now)}, &p.Devices},
		{"prefix flight", s.q.purgeFlight, []any{ms(now.Add(-24 * time.Hour))}, &flight},
		// Two days without a judged send empty both windows; a block that
		// ended over a week ago would not double the next one any more
		// (the default cap is a week).
		{"prefixes", s.q.purgePrefixes, []any{ms(now.Add(-48 * time.Hour)), ms(now.Add(-7 * 24 * time.Hour))}, &p.Prefixes},
	} {
		res, err := step.query.ExecContext(ctx, step.args...)
		if err != nil {
			return p, fmt.Errorf("store: purging %s: %w", step.what, err)
		}
		if *step.n, err = res.RowsAffected(); err != nil {
			return p, fmt.Errorf("store: purging %s: %w", step.what, err)
		}
	}
	p.Prefixes += flight
	return p, nil
}

// purgeChallenges deletes the challenges that expired before cutoff and
// adds them to the hourly statistics, in one step, and returns how many it
// deleted.
func (s *SQL) purgeChallenges(ctx context.Context, cutoff int64) (int64, error) {
	var n int64
	if s.dialect == Postgres {
		err := s.q.purgeChallenges.GetContext(ctx, &n, cutoff)
		return n, err
	}
	err := s.inTxOf(ctx, "purge", false, func(ctx context.Context, tx *sqlx.Tx) error {
		if err := exec(ctx, tx, s.q.rollUp, cutoff); err != nil {
			return fmt.Errorf("counting them into the statistics: %w", err)
		}
		var err error
		n, err = changed(ctx, tx, s.q.purgeChallenges, cutoff)
		return err
	})
	return n, err
}

// StartJanitor starts a goroutine that calls Purge every interval until ctx
// is done, reporting each failure to onErr (which may be nil) and carrying
// on: a missed purge only leaves rows for the next one. It checks its
// arguments before starting, so a bad interval is an error here rather than
// a panic in a goroutine nobody watches.
func (s *SQL) StartJanitor(ctx context.Context, interval time.Duration, onErr func(error)) error {
	if interval <= 0 {
		return fmt.Errorf("store: StartJanitor: the interval must be positive, got %v", interval)
	}
	if ctx == nil {
		return errors.New("store: StartJanitor: nil context")
	}
	go s.janitor(ctx, interval, onErr)
	return nil
}

func (s *SQL) janitor(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Purge(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}
