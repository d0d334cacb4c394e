package sms2fa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// The automatic prefix block as the guard sees it: the store counts and
// decides (sms.WithAutoBlock); the guard reports each block it meets —
// events and metrics — answers a refused send like a budget's, with its own
// reason, and lets operators lift, set and allow-list blocks.

// codePrefixBlocked is the JSON error and reason of a send refused by a
// blocked prefix.
const codePrefixBlocked = "prefix_blocked"

// The How of the events about a prefix block.
const (
	blockHowOperator  = "operator"   // prefix_blocked by BlockPrefix, prefix_unblocked by UnblockPrefix
	blockHowAllowed   = "allowed"    // prefix_unblocked by AllowPrefix
	blockHowKnownGood = "known_good" // code_sent to a blocked prefix: the number is known good
)

// prefixMet reports the block a send started, if it did: prefix_blocked,
// How the mode, with the region of the send (for the metrics) and nothing
// else of it (see Event.Block).
func (g *Guard) prefixMet(c *exchange, a attempt, b *contract.PrefixBlock) {
	if b == nil || !b.Started {
		return
	}
	region := a.num.Region
	if region == "" {
		region = a.ch.Region
	}
	g.emit(c.Request.Context(), Event{Kind: EventPrefixBlocked, Region: region, Until: b.Until,
		How: string(g.sms.AutoBlock()), Block: b})
}

// blockHow is the How of a send that went ahead under a block: "monitor"
// (nothing is refused) or "known_good".
func (g *Guard) blockHow() string {
	if g.sms.AutoBlock() == contract.PrefixMonitor {
		return string(contract.PrefixMonitor)
	}
	return blockHowKnownGood
}

// BlockPrefix blocks a number prefix ("+91987654", as the prefix send budget
// and the events write it) for d from the store's now, on every instance
// sharing the store, as the automatic block does; the automatic block's
// doubling starts over from it. It emits prefix_blocked (How "operator").
func (g *Guard) BlockPrefix(ctx context.Context, prefix string, d time.Duration) (contract.PrefixState, error) {
	st, err := g.store.BlockPrefix(ctx, prefix, d)
	if err != nil {
		return st, fmt.Errorf("sms2fa: blocking a prefix: %w", err)
	}
	g.emit(ctx, Event{Kind: EventPrefixBlocked, How: blockHowOperator, Until: st.BlockedUntil,
		Block: &contract.PrefixBlock{Prefix: prefix, Until: st.BlockedUntil, Blocks: st.Blocks}})
	return st, nil
}

// UnblockPrefix lifts a prefix's block, on every instance at their next
// send (nothing caches blocks), and starts its windows afresh — its codes
// still in flight forgotten — so that the sends that blocked it do not
// block it again at once; the next block lasts the first block's length
// again. It emits prefix_unblocked (How "operator") if a block was in
// force, and reports whether one was.
func (g *Guard) UnblockPrefix(ctx context.Context, prefix string) (bool, error) {
	_, was, err := g.store.UnblockPrefix(ctx, prefix)
	if err != nil {
		return false, fmt.Errorf("sms2fa: unblocking a prefix: %w", err)
	}
	if was {
		g.emit(ctx, Event{Kind: EventPrefixUnblocked, How: blockHowOperator, Block: &contract.PrefixBlock{Prefix: prefix}})
	}
	return was, nil
}

// AllowPrefix puts a prefix on the allow list (allow), where no block ever
// refuses it — its sends still counted — or takes it off. Allowing a
// blocked prefix emits prefix_unblocked (How "allowed").
func (g *Guard) AllowPrefix(ctx context.Context, prefix string, allow bool) (contract.PrefixState, error) {
	before, err := g.store.Prefix(ctx, prefix)
	if err != nil && !errors.Is(err, contract.ErrNotFound) {
		return before, fmt.Errorf("sms2fa: allow-listing a prefix: %w", err)
	}
	st, err := g.store.AllowPrefix(ctx, prefix, allow)
	if err != nil {
		return st, fmt.Errorf("sms2fa: allow-listing a prefix: %w", err)
	}
	if allow && before.Blocked() {
		g.emit(ctx, Event{Kind: EventPrefixUnblocked, How: blockHowAllowed, Block: &contract.PrefixBlock{Prefix: prefix}})
	}
	return st, nil
}
