package store

import (
	"context"
	"fmt"
	"time"
)

// Stats counts codes sent and codes verified over a window. SMS-pumping bots
// trigger sends and never verify, so a verified/sent ratio falling below its
// usual level is the alarm; Regions shows where.
type Stats struct {
	Since    time.Time         // start of the first hour counted
	Sent     int64             // sends reserved, less those that certainly failed or were withdrawn (Cancel)
	Verified int64             // challenges completed with the right code
	Regions  map[string]Counts // the same, per ISO 3166 region of the number
}

// Counts is one region's share of [Stats].
type Counts struct {
	Sent, Verified int64
}

// VerifyRate returns Verified/Sent, or 1 when nothing was sent.
func (s Stats) VerifyRate() float64 {
	if s.Sent <= 0 {
		return 1
	}
	return float64(s.Verified) / float64(s.Sent)
}

// Stats returns the sends and verifications of the challenges opened from
// since's hour to now: each challenge counts its sends (a send that certainly
// failed is taken back) and its verification in the hour it was opened. No
// request writes a statistics row: the counts are read from the challenges
// themselves, and from the hourly rows Purge rolls them up into as it deletes
// them, which are kept for the statistics retention (WithRetention).
func (s *SQL) Stats(ctx context.Context, since time.Time) (Stats, error) {
	var rows []struct {
		Region   string `db:"region"`
		Sent     int64  `db:"sent"`
		Verified int64  `db:"verified"`
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	from := hourOf(since)
	if err := s.q.readStats.SelectContext(ctx, &rows, from, from, from); err != nil {
		return Stats{}, fmt.Errorf("store: reading statistics: %w", err)
	}
	st := Stats{Since: fromMS(from), Regions: make(map[string]Counts, len(rows))}
	for _, r := range rows {
		st.Sent += r.Sent
		st.Verified += r.Verified
		st.Regions[r.Region] = Counts{Sent: r.Sent, Verified: r.Verified}
	}
	return st, nil
}
