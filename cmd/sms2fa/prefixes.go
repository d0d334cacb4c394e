package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/store"
)

// The number prefixes of the automatic prefix block: their figures (in
// stats), and an operator's block, unblock and allow list. A change takes
// effect at every instance's next send: no instance caches blocks.

// prefixView is one prefix, as stats and the prefix commands print it.
type prefixView struct {
	Prefix       string     `json:"prefix"`
	HourSends    float64    `json:"hour_sends"`
	HourVerified float64    `json:"hour_verified"`
	DaySends     float64    `json:"day_sends"`
	DayVerified  float64    `json:"day_verified"`
	Conversion   float64    `json:"conversion"` // the day window's
	InFlight     int        `json:"in_flight"`
	Blocked      bool       `json:"blocked"`
	BlockedUntil *time.Time `json:"blocked_until,omitempty"`
	Blocks       int        `json:"blocks"`
	Allowed      bool       `json:"allowed"`
}

func viewOf(p contract.PrefixState) prefixView {
	v := prefixView{
		Prefix: p.Prefix, HourSends: p.Hour.Sends, HourVerified: p.Hour.Verified,
		DaySends: p.Day.Sends, DayVerified: p.Day.Verified, Conversion: p.Day.Conversion(),
		InFlight: p.InFlight, Blocked: p.Blocked(), Blocks: p.Blocks, Allowed: p.Allowed,
	}
	if v.Blocked {
		until := p.BlockedUntil.UTC()
		v.BlockedUntil = &until
	}
	return v
}

// row is v as a line of the prefix table.
func (v prefixView) row() []string {
	state := ""
	switch {
	case v.Allowed:
		state = "allowed"
	case v.Blocked:
		state = "BLOCKED until " + stamp(*v.BlockedUntil)
	}
	return []string{v.Prefix, figure(v.HourSends), figure(v.HourVerified), figure(v.DaySends), figure(v.DayVerified),
		fmt.Sprintf("%.0f%%", 100*v.Conversion), fmt.Sprint(v.InFlight), state}
}

var prefixHead = []string{"PREFIX", "SENT 1H", "VERIFIED 1H", "SENT 24H", "VERIFIED 24H", "CONVERSION", "IN FLIGHT", "STATE"}

// figure prints a window's estimate: whole when it is, else to a tenth.
func figure(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

// worstFirst orders prefixes for an operator: blocked first, then the
// lowest conversion, then the most sends, then by prefix.
func worstFirst(a, b prefixView) int {
	switch {
	case a.Blocked != b.Blocked:
		if a.Blocked {
			return -1
		}
		return 1
	case a.Conversion != b.Conversion:
		return cmp.Compare(a.Conversion, b.Conversion)
	case a.DaySends != b.DaySends:
		return cmp.Compare(b.DaySends, a.DaySends)
	}
	return strings.Compare(a.Prefix, b.Prefix)
}

// prefixes reads every counted prefix, worst first.
func prefixes(ctx context.Context, st *store.SQL) ([]prefixView, error) {
	all, err := st.Prefixes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]prefixView, 0, len(all))
	for _, p := range all {
		out = append(out, viewOf(p))
	}
	slices.SortFunc(out, worstFirst)
	return out, nil
}

// prefixArg reads a prefix argument as the events and stats print it.
func prefixArg(name, s string) (string, error) {
	if !contract.ValidPrefix(s) {
		return "", usagef("%s: %q is not a number prefix: write + and the digits, as +91987654", name, s)
	}
	return s, nil
}

func block(ctx context.Context, t *tool, args []string) error {
	d := 12 * time.Hour
	a, err := t.flags("block", args, 1, "a prefix like +91987654", func(fs *flag.FlagSet) {
		fs.DurationVar(&d, "for", d, "how long the block lasts")
	})
	if err != nil {
		return err
	}
	if d < time.Minute {
		return usagef("block: -for must be at least 1m, got %v", d)
	}
	p, err := prefixArg("block", a[0])
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		s, err := st.BlockPrefix(ctx, p, d)
		if err != nil {
			return err
		}
		t.changed(ctx, "block", p, "for", d, "until", s.BlockedUntil.UTC())
		v := viewOf(s)
		return t.print(v, func(w io.Writer) { fmt.Fprintf(w, "blocked %s until %s\n", p, stamp(s.BlockedUntil)) })
	})
}

func unblock(ctx context.Context, t *tool, args []string) error {
	a, err := t.flags("unblock", args, 1, "a prefix like +91987654", nil)
	if err != nil {
		return err
	}
	p, err := prefixArg("unblock", a[0])
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		s, was, err := st.UnblockPrefix(ctx, p)
		if err != nil {
			return err
		}
		t.changed(ctx, "unblock", p, "was_blocked", was)
		out := struct {
			prefixView
			WasBlocked bool `json:"was_blocked"`
		}{viewOf(s), was}
		return t.print(out, func(w io.Writer) {
			if was {
				fmt.Fprintf(w, "unblocked %s; its windows start afresh\n", p)
			} else {
				fmt.Fprintf(w, "%s was not blocked; its windows start afresh\n", p)
			}
		})
	})
}

func allow(ctx context.Context, t *tool, args []string) error {
	var remove bool
	a, err := t.flags("allow", args, 1, "a prefix like +91987654", func(fs *flag.FlagSet) {
		fs.BoolVar(&remove, "remove", false, "take the prefix off the allow list")
	})
	if err != nil {
		return err
	}
	p, err := prefixArg("allow", a[0])
	if err != nil {
		return err
	}
	return t.withStore(ctx, func(st *store.SQL) error {
		s, err := st.AllowPrefix(ctx, p, !remove)
		if err != nil {
			return err
		}
		action := "allow"
		if remove {
			action = "disallow"
		}
		t.changed(ctx, action, p)
		return t.print(viewOf(s), func(w io.Writer) {
			if remove {
				fmt.Fprintf(w, "%s is off the allow list: the prefix block judges it again\n", p)
			} else {
				fmt.Fprintf(w, "%s is allow-listed: never blocked, still counted\n", p)
			}
		})
	})
}
