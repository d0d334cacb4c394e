package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
)

// The automatic prefix block, one case per rule.
var prefixCases = []struct {
	name string
	fn   func(t *testing.T, o Opener)
}{
	{"PrefixThresholdEdges", testPrefixThreshold},
	{"PrefixConversionEdge", testPrefixConversion},
	{"PrefixCodesInFlightNotCounted", testPrefixInFlight},
	{"PrefixFailedAndWithdrawnSendsNotCounted", testPrefixFailedSends},
	{"PrefixBlockDoublesAndCaps", testPrefixDoubling},
	{"PrefixKnownGoodNumberLetThrough", testPrefixKnownGood},
	{"PrefixUnblockStartsAfresh", testPrefixUnblock},
	{"PrefixMonitorRefusesNothing", testPrefixMonitor},
	{"PrefixAllowListed", testPrefixAllowed},
	{"PrefixResendRefused", testPrefixResend},
	{"PrefixTwoInstancesAgree", testPrefixInstances},
	{"PrefixSlidingWindow", testPrefixSliding},
	{"PrefixBlockForgetsCodesSentBeforeIt", testPrefixBlockForgets},
	{"PrefixLateVerifyStillCounts", testPrefixLateVerify},
	{"PrefixPurge", testPrefixPurge},
	{"PrefixBlockStartedAmidConcurrentSends", testPrefixConcurrentMonitor},
}

// pumped is the prefix the cases pump; other is untouched.
const (
	pumped = "+91987654"
	other  = "+91912345"
)

// prefixRule blocks, per window, at least 4 judged sends under 50 %
// verified, for an hour doubling up to 4.
func prefixRule(mode contract.PrefixMode) contract.PrefixRule {
	return contract.PrefixRule{Key: pumped, Mode: mode, MinSends: 4, Conversion: 0.5, For: time.Hour, Max: 4 * time.Hour}
}

// judged is how long after a send its code is judged: the code's lifetime,
// rounded up to the minute, a minute's grace, and a second.
func (e *env) judged() time.Duration { return e.pol.CodeTTL + 2*time.Minute + time.Second }

// send opens a challenge for user in a new session to the i-th number of
// rule's prefix, under rule.
func (e *env) send(rule contract.PrefixRule, user string, i int) (contract.Ref, contract.Challenge, error) {
	ref := e.ref(user)
	p := e.params(ref, "111111")
	p.Phone = fmt.Sprintf("%s%04d", rule.Key, i)
	p.Prefix = rule
	c, _, err := e.s.Open(ctx, p)
	return ref, c, err
}

// pump sends n codes under rule to fresh numbers, for fresh users, and
// verifies the first verified of them; it fails the test on any refusal.
func (e *env) pump(rule contract.PrefixRule, n, verified int) {
	e.t.Helper()
	for i := range n {
		ref, _, err := e.send(rule, fmt.Sprintf("pump-%d", e.n.Load()), 1000+int(e.n.Load()))
		if err != nil {
			e.t.Fatalf("send %d of %d: %v", i+1, n, err)
		}
		if i < verified {
			if _, err := e.verify(ref, "111111"); err != nil {
				e.t.Fatalf("verifying send %d: %v", i+1, err)
			}
		}
	}
}

// wantBlocked checks that err refuses a send for a block of the prefix
// ending at until; started says whether that send started it.
func wantBlocked(t *testing.T, what string, err error, until time.Time, started bool) *contract.PrefixBlock {
	t.Helper()
	wantUntil(t, what, err, contract.ErrPrefixBlocked, until)
	var le *contract.LimitError
	errors.As(err, &le)
	if le.Prefix == nil || le.Prefix.Prefix != pumped || !le.Prefix.Refused || le.Prefix.Started != started {
		t.Fatalf("%s: block %+v, want the refusing block of %s, started %v", what, le.Prefix, pumped, started)
	}
	return le.Prefix
}

func (e *env) prefixState(prefix string) contract.PrefixState {
	e.t.Helper()
	st, err := e.s.Prefix(ctx, prefix)
	if err != nil {
		e.t.Fatalf("Prefix(%s) = %v", prefix, err)
	}
	return st
}

func testPrefixThreshold(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	// Three judged sends, none verified: below the minimum of four.
	e.pump(rule, 3, 0)
	e.clock.Advance(e.judged())
	e.pump(rule, 1, 0) // the fourth is let through
	if st := e.prefixState(pumped); st.Hour.Sends != 3 || st.Hour.Verified != 0 || st.InFlight != 1 || st.Blocked() {
		t.Fatalf("after 3 judged sends and one in flight: %+v", st)
	}
	e.clock.Advance(e.judged())
	// Four judged, none verified: the next send is the first refused,
	// and it started the block, with the figures that decided.
	_, _, err := e.send(rule, "mallory", 1)
	b := wantBlocked(t, "the send after the threshold", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	if b.Window != time.Hour || b.Sends != 4 || b.Verified != 0 || b.Blocks != 1 {
		t.Fatalf("the figures that decided: %+v, want 4 sends, 0 verified, in the hour window, block 1", b)
	}
	_, _, err = e.send(rule, "mallory", 2)
	wantBlocked(t, "the next send", err, b.Until, false)
	if st := e.prefixState(pumped); !st.Blocked() || st.Blocks != 1 || !st.BlockedUntil.Equal(b.Until) {
		t.Fatalf("state: %+v", st)
	}
	// Another prefix is untouched.
	o2 := rule
	o2.Key = other
	if _, _, err := e.send(o2, "alice", 1); err != nil {
		t.Fatalf("a send to another prefix: %v", err)
	}
	// The block ends when it says.
	e.clock.Advance(time.Hour)
	if _, _, err := e.send(rule, "mallory", 3); err != nil {
		t.Fatalf("a send after the block: %v", err)
	}
}

func testPrefixConversion(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	// Exactly half verified is not below half.
	e.pump(rule, 4, 2)
	e.clock.Advance(e.judged())
	e.pump(rule, 1, 0)
	if st := e.prefixState(pumped); st.Hour.Sends != 4 || st.Hour.Verified != 2 || st.Blocked() {
		t.Fatalf("at 50%% exactly: %+v", st)
	}
	e.clock.Advance(e.judged())
	// 2 of 5 is below: blocked.
	_, _, err := e.send(rule, "mallory", 1)
	b := wantBlocked(t, "at 40%", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	if b.Sends != 5 || b.Verified != 2 {
		t.Fatalf("figures %+v, want 5 sends, 2 verified", b)
	}
}

func testPrefixInFlight(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	// Ten codes nobody entered, still enterable: nothing is held against
	// the prefix, however many.
	e.pump(rule, 10, 0)
	e.clock.Advance(e.pol.CodeTTL - time.Second)
	e.pump(rule, 1, 0)
	if st := e.prefixState(pumped); st.Hour.Sends != 0 || st.InFlight != 11 || st.Blocked() {
		t.Fatalf("with every code in flight: %+v", st)
	}
	// An abandoned code (never entered, never resent) counts once it
	// expires.
	e.clock.Advance(e.judged())
	_, _, err := e.send(rule, "mallory", 1)
	wantBlocked(t, "once they expired", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
}

func testPrefixFailedSends(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	bs := []contract.Budget{budget(100, time.Hour)}
	// Sends that certainly failed, and sends withdrawn before they were
	// handed to the sender, never reached anyone: a provider's outage
	// must not block a prefix.
	for i := range 6 {
		ref := e.ref(fmt.Sprintf("u%d", i))
		p := e.params(ref, "111111", bs...)
		p.Phone, p.Prefix = fmt.Sprintf("%s%04d", pumped, i), rule
		if _, _, err := e.s.Open(ctx, p); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := e.s.SendFailed(ctx, ref, mac("111111")); err != nil {
				t.Fatal(err)
			}
		} else if err := e.s.Cancel(ctx, ref, mac("111111"), bs); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(e.judged())
	if _, _, err := e.send(rule, "alice", 1); err != nil {
		t.Fatalf("after failed and withdrawn sends: %v", err)
	}
	if st := e.prefixState(pumped); st.Hour.Sends != 0 || st.InFlight != 1 {
		t.Fatalf("failed and withdrawn sends were counted: %+v", st)
	}
}

func testPrefixDoubling(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 4 * time.Hour} {
		e.pump(rule, 4, 0)
		e.clock.Advance(e.judged())
		_, _, err := e.send(rule, "mallory", i)
		b := wantBlocked(t, fmt.Sprintf("block %d", i+1), err, e.clock.Now().Truncate(time.Millisecond).Add(want), true)
		if b.Blocks != i+1 {
			t.Fatalf("block %d: Blocks = %d", i+1, b.Blocks)
		}
		// The windows started afresh: the sends that blocked it do not
		// block it again once it ends.
		e.clock.Advance(want)
		if _, _, err := e.send(rule, "mallory", 100+i); err != nil {
			t.Fatalf("after block %d: %v", i+1, err)
		}
		e.clock.Advance(e.judged())
		if _, _, err := e.send(rule, "mallory", 200+i); err != nil {
			t.Fatalf("after block %d, one judged send: %v", i+1, err)
		}
	}
	// An operator's block starts the doubling over.
	st, err := e.s.BlockPrefix(ctx, pumped, time.Minute)
	if err != nil || st.Blocks != 0 {
		t.Fatalf("BlockPrefix = %+v, %v; want the doubling started over", st, err)
	}
	e.clock.Advance(time.Minute)
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	_, _, err = e.send(rule, "mallory", 8)
	wantBlocked(t, "the block after an operator's", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	// A block long after the last one ended (over the cap) starts again
	// at an hour.
	e.clock.Advance(5 * time.Hour)
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	_, _, err = e.send(rule, "mallory", 9)
	wantBlocked(t, "a block after a long quiet", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
}

func testPrefixKnownGood(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	// alice signed in with her number in the pumped prefix.
	ref, _, err := e.send(rule, "alice", 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(ref, "111111"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e.judged())
	e.pump(rule, 6, 0) // 1 of 7 verified
	e.clock.Advance(e.judged())
	_, _, err = e.send(rule, "mallory", 1)
	b := wantBlocked(t, "a fresh number", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	// alice's number is known good for her: let through, the block shown.
	_, c, err := e.send(rule, "alice", 7)
	if err != nil || c.Prefix == nil || c.Prefix.Refused || !c.Prefix.Until.Equal(b.Until) {
		t.Fatalf("alice's known number: %+v, %v; want it sent, under the block", c.Prefix, err)
	}
	// The same number for another user, or another number of alice's, is
	// not known good.
	_, _, err = e.send(rule, "bob", 7)
	wantBlocked(t, "alice's number for bob", err, b.Until, false)
	_, _, err = e.send(rule, "alice", 8)
	wantBlocked(t, "another number of alice's", err, b.Until, false)
	// Still known good on day 29 (a new block: the last one ended long
	// before, so it lasts an hour again)...
	e.clock.Advance(testclock.Start.Add(29 * 24 * time.Hour).Sub(e.clock.Now()))
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	_, _, err = e.send(rule, "mallory", 2)
	wantBlocked(t, "a block on day 29", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	if _, c, err := e.send(rule, "alice", 7); err != nil || c.Prefix == nil || c.Prefix.Refused {
		t.Fatalf("alice's number on day 29: %+v, %v; want it sent, under the block", c.Prefix, err)
	}
	// ...and no longer once KnownNumberFor has passed since her code.
	e.clock.Advance(testclock.Start.Add(contract.KnownNumberFor + time.Hour).Sub(e.clock.Now()))
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	_, _, err = e.send(rule, "alice", 7)
	wantBlocked(t, "alice's number a month on", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
}

func testPrefixUnblock(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	_, _, err := e.send(rule, "mallory", 1)
	wantBlocked(t, "before the unblock", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	if _, was, err := e.s.UnblockPrefix(ctx, other); err != nil || was {
		t.Fatalf("unblocking a prefix never blocked: %v, %v", was, err)
	}
	// Sends let through by the known-good rule meanwhile are in flight;
	// they are forgotten by the unblock, as the windows are.
	st, was, err := e.s.UnblockPrefix(ctx, pumped)
	if err != nil || !was || st.Blocked() || st.Hour.Sends != 0 || st.Day.Sends != 0 || st.Blocks != 0 {
		t.Fatalf("UnblockPrefix = %+v, %v, %v", st, was, err)
	}
	e.pump(rule, 3, 0)
	e.clock.Advance(e.judged())
	if _, _, err := e.send(rule, "mallory", 2); err != nil {
		t.Fatalf("after the unblock, 3 judged sends: %v", err)
	}
	// Blocked by hand: refused at once, for as long as said.
	st, err = e.s.BlockPrefix(ctx, pumped, 3*time.Hour)
	if err != nil || !st.Blocked() {
		t.Fatalf("BlockPrefix = %+v, %v", st, err)
	}
	_, _, err = e.send(rule, "carol", 1)
	wantBlocked(t, "blocked by hand", err, st.BlockedUntil, false)
	if _, err := e.s.BlockPrefix(ctx, "91987654", time.Hour); err == nil {
		t.Fatal("BlockPrefix took a prefix without +")
	}
	if _, err := e.s.Prefix(ctx, "+44777"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a prefix never counted: %v, want ErrNotFound", err)
	}
}

func testPrefixMonitor(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixMonitor)
	e.pump(rule, 4, 0)
	e.clock.Advance(e.judged())
	// The block is decided and reported, and nothing is refused.
	_, c, err := e.send(rule, "mallory", 1)
	if err != nil || c.Prefix == nil || !c.Prefix.Started || c.Prefix.Refused || c.Prefix.Blocks != 1 {
		t.Fatalf("monitor at the threshold: %+v, %v", c.Prefix, err)
	}
	_, c, err = e.send(rule, "mallory", 2)
	if err != nil || c.Prefix == nil || c.Prefix.Started || c.Prefix.Refused {
		t.Fatalf("monitor, blocked: %+v, %v", c.Prefix, err)
	}
	if st := e.prefixState(pumped); !st.Blocked() {
		t.Fatalf("monitor keeps the block it decided: %+v", st)
	}
	// Off counts nothing at all.
	off := rule
	off.Key, off.Mode = other, contract.PrefixOff
	e.pump(off, 4, 0)
	if _, err := e.s.Prefix(ctx, other); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("mode off counted: %v", err)
	}
}

func testPrefixAllowed(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	if st, err := e.s.AllowPrefix(ctx, pumped, true); err != nil || !st.Allowed {
		t.Fatalf("AllowPrefix = %+v, %v", st, err)
	}
	e.pump(rule, 8, 0)
	e.clock.Advance(e.judged())
	if _, c, err := e.send(rule, "mallory", 1); err != nil || c.Prefix != nil {
		t.Fatalf("an allow-listed prefix: %+v, %v", c.Prefix, err)
	}
	if st := e.prefixState(pumped); st.Hour.Sends != 8 || st.Blocked() {
		t.Fatalf("an allow-listed prefix is still counted: %+v", st)
	}
	// Taken off the list, it is judged again.
	if _, err := e.s.AllowPrefix(ctx, pumped, false); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.send(rule, "mallory", 2)
	wantBlocked(t, "off the allow list", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
}

func testPrefixResend(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	ref, _, err := e.send(rule, "mallory", 1)
	if err != nil {
		t.Fatal(err)
	}
	// A resend is a send: its replaced code is judged when it would have
	// expired, unverified.
	e.clock.Advance(e.pol.ResendCooldown)
	for i := range 3 {
		if _, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("22222" + fmt.Sprint(i)), Policy: e.pol, Prefix: rule}); err != nil {
			t.Fatalf("resend %d: %v", i+1, err)
		}
		e.clock.Advance(e.pol.CooldownAfter(i + 2))
	}
	e.clock.Advance(e.judged())
	_, err = e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("333333"), Policy: e.pol, Prefix: rule})
	wantBlocked(t, "a resend after 4 unverified codes", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
}

// twoInstances opens two handles on the test's database with one clock,
// as two app instances sharing it; their users, sessions and numbers
// differ.
func twoInstances(t *testing.T, o Opener) (a, b *env) {
	clock := testclock.New(testclock.Start)
	a = &env{t: t, s: o(t, store.WithClock(clock.Now)), clock: clock, pol: contract.DefaultPolicy()}
	b = &env{t: t, s: o(t, store.WithClock(clock.Now)), clock: clock, pol: contract.DefaultPolicy()}
	b.n.Store(1000)
	return a, b
}

// race sends n codes at once under rule, alternately through a and b, to
// fresh numbers and users, drawing on budgets; then, if then is not nil,
// runs it on the send's instance and challenge. It returns each send's
// error and how many of them started a block.
func race(t *testing.T, a, b *env, rule contract.PrefixRule, n int, budgets []contract.Budget, then func(e *env, ref contract.Ref) error) ([]error, int) {
	t.Helper()
	started := make([]bool, n)
	errs := parallel(n, func(i int) error {
		e := a
		if i%2 == 1 {
			e = b
		}
		ref := contract.Ref{ID: fmt.Sprintf("race-%d", i), UserID: fmt.Sprintf("racer-%d", i), Binding: "s"}
		p := e.params(ref, "111111", budgets...)
		p.Phone, p.Prefix = fmt.Sprintf("%s%04d", rule.Key, 5000+i), rule
		c, _, err := e.s.Open(ctx, p)
		block := c.Prefix
		var le *contract.LimitError
		if errors.As(err, &le) {
			block = le.Prefix
		}
		started[i] = block != nil && block.Started
		if err == nil && then != nil {
			err = then(e, ref)
		}
		return err
	})
	count := 0
	for _, s := range started {
		if s {
			count++
		}
	}
	return errs, count
}

func testPrefixInstances(t *testing.T, o Opener) {
	a, b := twoInstances(t, o)
	rule := prefixRule(contract.PrefixOn)
	a.pump(rule, 2, 0)
	b.pump(rule, 2, 0)
	a.clock.Advance(a.judged())
	// Twenty sends at once through two instances: the first judged
	// starts the block, exactly once, and every send is refused.
	errs, started := race(t, a, b, rule, 20, nil, nil)
	if got := tally(t, errs, contract.ErrPrefixBlocked); got[contract.ErrPrefixBlocked.Error()] != 20 {
		t.Fatalf("concurrent sends after the threshold: %v, want all 20 refused", got)
	}
	if started != 1 {
		t.Fatalf("%d sends started the block, want exactly 1", started)
	}
	if st := b.prefixState(pumped); st.Blocks != 1 {
		t.Fatalf("blocks = %d, want 1", st.Blocks)
	}
	// An unblock through one instance is the next send's news on the
	// other: nothing is cached.
	if _, _, err := a.s.UnblockPrefix(ctx, pumped); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.send(rule, "racer-0", 9); err != nil {
		t.Fatalf("a send after the unblock, on the other instance: %v", err)
	}
}

func testPrefixSliding(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	rule.MinSends = 6
	e.pump(rule, 4, 0) // at 12:00, judged at 12:05
	e.clock.Advance(e.judged())
	e.pump(rule, 1, 0) // judges the four; 4 < 6
	// At 13:30 the hour window still covers half of the 12:00 bucket; the
	// day window covers it all. The fifth send's code expired at 12:11:01:
	// the state counts it judged, as the next send will.
	e.clock.Advance(testclock.Start.Add(90 * time.Minute).Sub(e.clock.Now()))
	if st := e.prefixState(pumped); st.Hour.Sends != 2.5 || st.Day.Sends != 5 || st.InFlight != 0 {
		t.Fatalf("at 13:30: hour %+v, day %+v, in flight %d; want 2.5 and 5 judged sends, none in flight", st.Hour, st.Day, st.InFlight)
	}
	e.pump(rule, 1, 0) // judges the fifth: day 5 < 6
	e.clock.Advance(e.judged())
	// The sixth judged send blocks through the day window alone: the
	// hour's estimate is about 3.
	_, _, err := e.send(rule, "mallory", 1)
	b := wantBlocked(t, "six judged in the day", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	if b.Window != 24*time.Hour || b.Sends != 6 {
		t.Fatalf("decided by %+v, want the day window's 6 sends", b)
	}
}

func testPrefixBlockForgets(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	e.pump(rule, 4, 0) // at 12:00, judged from 12:06
	e.clock.Advance(2 * time.Minute)
	e.pump(rule, 6, 0) // at 12:02, judged from 12:08: in flight when the block starts
	e.clock.Advance(e.judged() - 2*time.Minute - time.Second)
	_, _, err := e.send(rule, "mallory", 1)
	wantBlocked(t, "the block", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), true)
	// Nothing was sent during the block; the six codes sent before it are
	// not held against the prefix once it ends.
	e.clock.Advance(time.Hour)
	if _, _, err := e.send(rule, "mallory", 2); err != nil {
		t.Fatalf("the first send after the block: %v", err)
	}
	if st := e.prefixState(pumped); st.Hour.Sends != 0 || st.Day.Sends != 0 || st.InFlight != 1 {
		t.Fatalf("after the block: %+v; want nothing judged, the one send in flight", st)
	}
}

func testPrefixLateVerify(t *testing.T, o Opener) {
	e := newEnv(t, o)
	// late is a second instance whose verifies began just before the codes
	// expired (and waited on a lock): its clock lags a little.
	late := &env{t: t, clock: testclock.New(testclock.Start), pol: e.pol}
	late.s = o(t, store.WithClock(late.clock.Now))
	rule := prefixRule(contract.PrefixOn)
	refs := make([]contract.Ref, 4)
	for i := range refs {
		ref, _, err := e.send(rule, fmt.Sprintf("u%d", i), i)
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = ref
	}
	// Their minute has ended for one instance, which sends again within
	// the grace; the other's verifies land after that send.
	e.clock.Advance(e.pol.CodeTTL + 30*time.Second)
	if _, _, err := e.send(rule, "mallory", 9); err != nil {
		t.Fatal(err)
	}
	late.clock.Advance(e.pol.CodeTTL - time.Millisecond)
	for _, ref := range refs {
		if _, err := late.verify(ref, "111111"); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(e.judged())
	if _, _, err := e.send(rule, "mallory", 10); err != nil {
		t.Fatalf("four verified codes blocked the prefix: %v", err)
	}
	if st := e.prefixState(pumped); st.Hour.Sends != 5 || st.Hour.Verified != 4 {
		t.Fatalf("judged: %+v; want 5 sends, 4 verified", st.Hour)
	}
}

func testPrefixPurge(t *testing.T, o Opener) {
	e := newEnv(t, o)
	rule := prefixRule(contract.PrefixOn)
	// alice's number is known good; a quiet prefix's row and an old
	// minute of flight nobody judged are left behind.
	ref, _, err := e.send(rule, "alice", 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(ref, "111111"); err != nil {
		t.Fatal(err)
	}
	quiet := rule
	quiet.Key = other
	if _, _, err := e.send(quiet, "bob", 1); err != nil {
		t.Fatal(err)
	}
	// Three days on, the purge drops what can no longer matter — the
	// quiet prefix's unjudged minute and its row, alice's challenge — but
	// not what a block needs: alice is still known good.
	e.clock.Advance(72 * time.Hour)
	p, err := e.s.Purge(ctx)
	if err != nil || p.Prefixes < 2 {
		t.Fatalf("Purge = %+v, %v; want the quiet prefix's minute and row among what it deleted", p, err)
	}
	if _, err := e.s.Prefix(ctx, other); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("the quiet prefix's row outlived the purge: %v", err)
	}
	if _, err := e.s.BlockPrefix(ctx, pumped, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, c, err := e.send(rule, "alice", 7); err != nil || c.Prefix == nil || c.Prefix.Refused {
		t.Fatalf("alice after the purge: %+v, %v; want her known good", c.Prefix, err)
	}
	// Once KnownNumberFor has passed, her row goes too, and she is not.
	e.clock.Advance(contract.KnownNumberFor)
	if _, err := e.s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.BlockPrefix(ctx, pumped, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.send(rule, "alice", 7)
	wantBlocked(t, "alice a month on", err, e.clock.Now().Truncate(time.Millisecond).Add(time.Hour), false)
}

// A block started by a send that goes ahead (monitor), while other sends
// to the prefix hold the shared budgets and add their codes: every send
// succeeds, the block starts once, and no two wait on each other.
func testPrefixConcurrentMonitor(t *testing.T, o Opener) {
	a, b := twoInstances(t, o)
	rule := prefixRule(contract.PrefixMonitor)
	budgets := []contract.Budget{{Name: "global", Limit: 1 << 20, Window: time.Hour}, {Name: "prefix", Key: pumped, Limit: 1 << 20, Window: time.Hour}}
	a.pump(rule, 4, 0)
	a.clock.Advance(a.judged())
	errs, started := race(t, a, b, rule, 24, budgets, func(e *env, ref contract.Ref) error {
		// A third of the sends (race-0, -3, -6, -9, -10, …: the digit
		// bytes '0', '3', '6', '9' are multiples of 3) are withdrawn at
		// once, as a failed session save does.
		if ref.ID[len(ref.ID)-1]%3 != 0 {
			return nil
		}
		return e.s.Cancel(ctx, ref, mac("111111"), budgets)
	})
	if got := tally(t, errs); got["ok"] != 24 {
		t.Fatalf("concurrent sends as a block starts: %v, want all 24 fine", got)
	}
	if started != 1 {
		t.Fatalf("%d sends started the block, want exactly 1", started)
	}
}
