package contract

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Automatic prefix blocking: SMS pumping texts fresh numbers whose codes
// nobody ever types, many of them under one number prefix. The store counts,
// per prefix, the sends whose codes can no longer be entered ("judged") and
// how many of those were verified, over sliding windows of an hour and a
// day, and blocks a prefix whose conversion falls below the rule's. The
// counts and the blocks are rows, judged by the store's clock, so every
// instance sharing the database refuses the same prefixes at the same time.

// PrefixMode says what the automatic prefix block does.
type PrefixMode string

// The modes of the automatic prefix block.
const (
	// PrefixOff counts nothing and refuses nothing.
	PrefixOff PrefixMode = "off"
	// PrefixMonitor counts and decides as PrefixOn does, and the guard
	// reports each block (events, metrics), but no send is refused: the
	// way to roll it out. A block it decided is kept: switched to
	// PrefixOn, it refuses until it ends.
	PrefixMonitor PrefixMode = "monitor"
	// PrefixOn refuses sends to a blocked prefix, but to numbers known
	// good (see KnownNumberFor).
	PrefixOn PrefixMode = "on"
)

// ParsePrefixMode reads "off", "monitor" or "on".
func ParsePrefixMode(s string) (PrefixMode, error) {
	switch m := PrefixMode(s); m {
	case PrefixOff, PrefixMonitor, PrefixOn:
		return m, nil
	}
	return "", fmt.Errorf("sms2fa: the prefix block's mode must be off, monitor or on, got %q", s)
}

// KnownNumberFor is how long after a code sent to it was verified a number
// is known good for its user: a prefix block never refuses it. Attackers
// pump fresh numbers; real users have a history.
const KnownNumberFor = 30 * 24 * time.Hour

// PrefixRule is the automatic block as one send applies it (OpenParams and
// ResendParams). The zero rule (no Key) counts nothing.
type PrefixRule struct {
	// Key is the send's number prefix, as the prefix send budget keys it
	// ("+91987654"); "" counts nothing and refuses nothing.
	Key  string
	Mode PrefixMode
	// MinSends is how many judged sends a window needs before its
	// conversion can block; Conversion the verified share under which it
	// blocks (0 < Conversion < 1).
	MinSends   int
	Conversion float64
	// For is the first block's length; each further block doubles it, up
	// to Max. A block that starts more than Max after the last one ended
	// starts again at For.
	For, Max time.Duration
}

// Counting reports whether the rule counts the send at all.
func (r PrefixRule) Counting() bool { return r.Key != "" && r.Mode != PrefixOff && r.Mode != "" }

// Validate reports the first setting that cannot work.
func (r PrefixRule) Validate() error {
	if !r.Counting() {
		return nil
	}
	switch {
	case !ValidPrefix(r.Key):
		return fmt.Errorf("sms2fa: prefix %q: want + and 2 to 15 digits, as +91987654", r.Key)
	case r.Mode != PrefixMonitor && r.Mode != PrefixOn:
		return fmt.Errorf("sms2fa: prefix block mode %q: want off, monitor or on", r.Mode)
	case r.MinSends < 1:
		return fmt.Errorf("sms2fa: prefix block: at least 1 send must be judged, got %d", r.MinSends)
	case !(r.Conversion > 0 && r.Conversion < 1):
		return fmt.Errorf("sms2fa: prefix block: conversion must lie in (0, 1), got %v", r.Conversion)
	case r.For < time.Minute || r.Max < r.For:
		return fmt.Errorf("sms2fa: prefix block: need 1m ≤ for ≤ max, got %v and %v", r.For, r.Max)
	}
	return nil
}

// ConversionPPM is Conversion in parts per million, as the stores compare
// it: verified × 10⁶ < ConversionPPM × sends blocks, exactly, without a
// fraction rounding differently in Go and in SQL.
func (r PrefixRule) ConversionPPM() int64 {
	// The explicit conversion rounds the product before the sum: Go may
	// otherwise fuse them (FMA, on arm64 or GOAMD64=v3), and instances of
	// one fleet would round differently at the .5 edges.
	return int64(float64(r.Conversion*1e6) + 0.5)
}

// BlockFor is how long the block that follows blocks earlier ones lasts:
// For doubled blocks times, capped at Max.
func (r PrefixRule) BlockFor(blocks int) time.Duration {
	d := r.For
	for i := 0; i < blocks && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// ValidPrefix reports whether s is written as a number prefix is: "+" and
// 2 to 15 digits (a country code and at least one digit).
func ValidPrefix(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// PrefixBlock is a prefix's block as a send met it: in a [*LimitError]
// refusing the send ([ErrPrefixBlocked]), or in the [Challenge] Open or
// Resend made anyway — in PrefixMonitor, or for a number known good.
type PrefixBlock struct {
	Prefix string
	Until  time.Time // when it ends, by the store's clock
	// Started: this send's own count started the block; Window, Sends and
	// Verified are then the figures that decided (the window, 1 h or 24 h,
	// its judged sends and the verified among them, as the sliding window
	// estimates them).
	Started  bool
	Window   time.Duration
	Sends    float64
	Verified float64
	Blocks   int  // automatic blocks of the prefix since the doubling last started over, this one included (0 under an operator's block)
	Refused  bool // the send was refused (PrefixOn, and not known good)
}

// ErrPrefixBlocked: the number's prefix is blocked — its recent codes were
// rarely entered, the mark of SMS pumping — and the number is not known
// good for the user. It comes in a [*LimitError] whose Prefix says more.
var ErrPrefixBlocked = errors.New("sms2fa: the number's prefix is blocked")

// PrefixStore keeps the prefixes' counts and blocks for the operators. The
// counting and the deciding are Open's and Resend's (OpenParams.Prefix).
type PrefixStore interface {
	// Prefix returns one prefix's state; [ErrNotFound] when the store has
	// never counted it.
	Prefix(ctx context.Context, prefix string) (PrefixState, error)
	// Prefixes returns every prefix the store counts, blocked or
	// allow-listed, in no particular order.
	Prefixes(ctx context.Context) ([]PrefixState, error)
	// BlockPrefix blocks prefix for d from the store's now (at least a
	// minute). An operator's block is not counted as the automatic
	// block's: the doubling starts over from it.
	BlockPrefix(ctx context.Context, prefix string, d time.Duration) (PrefixState, error)
	// UnblockPrefix lifts prefix's block and starts both windows afresh,
	// its codes still in flight forgotten, so that the sends that blocked
	// it do not block it again at once; the doubling starts again too. It
	// reports whether a block was in force.
	UnblockPrefix(ctx context.Context, prefix string) (PrefixState, bool, error)
	// AllowPrefix puts prefix on the allow list (allow) — never blocked,
	// still counted — or takes it off.
	AllowPrefix(ctx context.Context, prefix string, allow bool) (PrefixState, error)
}

// PrefixState is one prefix as the store keeps it.
type PrefixState struct {
	Prefix string
	// Hour and Day are the sliding windows' judged sends and verified ones
	// (estimates: the previous bucket weighed by how much of it the window
	// still covers).
	Hour, Day    PrefixCount
	InFlight     int       // sends whose codes can still be entered
	BlockedUntil time.Time // zero or past when not blocked
	Blocks       int       // automatic blocks since the doubling last started over (an unblock or an operator's block starts it over)
	Allowed      bool      // allow-listed: never blocked
	Now          time.Time // the store's clock when it answered
}

// Blocked reports whether a block was in force when the store answered.
func (p PrefixState) Blocked() bool { return !p.Allowed && p.BlockedUntil.After(p.Now) }

// PrefixCount is one window's judged sends and verified ones.
type PrefixCount struct {
	Sends, Verified float64
}

// Conversion is Verified / Sends, or 1 with no sends.
func (c PrefixCount) Conversion() float64 {
	if c.Sends <= 0 {
		return 1
	}
	return c.Verified / c.Sends
}
