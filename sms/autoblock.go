package sms

import (
	"fmt"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// The automatic prefix block: per number prefix (the prefix send budget's:
// WithPrefixLimit's digits, whether or not that budget is on), the store
// counts the sends whose codes can no longer be entered and how many were
// verified, over sliding windows of an hour and a day, and blocks a prefix
// whose codes are rarely entered — the mark of SMS pumping — refusing its
// sends in the store step that would have made them, on every instance
// sharing the database. A number verified for its user in the last 30 days
// is never refused. See the README's "Automatic prefix blocking".

// Defaults of the automatic prefix block.
const (
	defaultBlockMinSends   = 20
	defaultBlockConversion = 0.35
	defaultBlockFor        = 12 * time.Hour
	// maxBlock caps the doubling of repeated blocks.
	maxBlock = 7 * 24 * time.Hour
)

// autoBlock is the method's prefix block settings.
type autoBlock struct {
	mode       contract.PrefixMode
	minSends   int
	conversion float64
	blockFor   time.Duration
}

// WithAutoBlock sets what the automatic prefix block does: [contract.PrefixOn]
// (the default) refuses sends to a blocked prefix, [contract.PrefixMonitor]
// decides and reports blocks (events, metrics) but refuses nothing — the
// way to roll it out — and [contract.PrefixOff] counts nothing.
func WithAutoBlock(mode contract.PrefixMode) Option {
	return func(m *Method) error {
		if _, err := contract.ParsePrefixMode(string(mode)); err != nil {
			return err
		}
		m.block.mode = mode
		return nil
	}
}

// WithAutoBlockThreshold sets when a prefix is blocked: once a window (an
// hour, or a day) holds at least minSends judged sends of which fewer than
// conversion (a fraction in (0, 1)) were verified. Default 20 sends, 0.35.
func WithAutoBlockThreshold(minSends int, conversion float64) Option {
	return func(m *Method) error {
		if minSends < 1 {
			return fmt.Errorf("sms2fa: WithAutoBlockThreshold: at least 1 send, got %d", minSends)
		}
		if !(conversion > 0 && conversion < 1) {
			return fmt.Errorf("sms2fa: WithAutoBlockThreshold: the conversion must lie in (0, 1), got %v", conversion)
		}
		m.block.minSends, m.block.conversion = minSends, conversion
		return nil
	}
}

// WithAutoBlockFor sets how long a prefix's first block lasts; each further
// block doubles it, up to 7 days (a block starting over 7 days after the
// last one ended starts again here). At least a minute; default 12 hours.
func WithAutoBlockFor(d time.Duration) Option {
	return func(m *Method) error {
		if d < time.Minute || d > maxBlock {
			return fmt.Errorf("sms2fa: WithAutoBlockFor: want 1m to %v, got %v", maxBlock, d)
		}
		m.block.blockFor = d
		return nil
	}
}

// PrefixRule is the automatic block as a send to num applies it.
func (m *Method) PrefixRule(num phone.Number) contract.PrefixRule {
	if m.block.mode == contract.PrefixOff {
		return contract.PrefixRule{}
	}
	return contract.PrefixRule{
		Key: num.Prefix(m.prefixDigits), Mode: m.block.mode, MinSends: m.block.minSends,
		Conversion: m.block.conversion, For: m.block.blockFor, Max: maxBlock,
	}
}

// AutoBlock reports the prefix block's mode.
func (m *Method) AutoBlock() contract.PrefixMode { return m.block.mode }
