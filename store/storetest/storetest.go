// Package storetest is the conformance suite every dialect of package store
// runs: the same expectations, word for word, against SQLite and Postgres.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
)

// Opener opens a new handle — its own connection pool — on one database made
// for the calling test. The handle is closed when the test ends.
type Opener func(t *testing.T, opts ...store.Option) *store.SQL

// Run runs the suite. fresh returns an Opener on a new, empty database.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, o Opener)
	}{
		{"OpenReusesLiveChallenge", testOpenReuses},
		{"RightCodeIsSingleUse", testSingleUse},
		{"WrongCodesCountAttempts", testWrongCounts},
		{"DeadAfterMaxAttempts", testDeadAfterMax},
		{"Expiry", testExpiry},
		{"OtherUserOrSessionNeverVerifies", testCrossOwner},
		{"ConcurrentRightCodesOneWins", testConcurrentRight},
		{"ConcurrentWrongCodesCountedExactly", testConcurrentWrong},
		{"ConcurrentWrongCodesStopAtMax", testConcurrentWrongMax},
		{"LockoutAcrossChallenges", testLockout},
		{"LockoutDoublesAndCaps", testLockoutDoubling},
		{"SuccessResetsFailures", testSuccessResets},
		{"ConcurrentGuessesAcrossSessionsStopAtLockout", testConcurrentLockout},
		{"ResendCooldownDoubles", testResendCooldown},
		{"ResendReplacesCode", testResendReplaces},
		{"FailedSendLiftsCooldown", testSendFailed},
		{"FailedSendKillsTheCode", testSendFailedKills},
		{"CancelGivesBudgetsBack", testCancel},
		{"AnswersCarryTheStoreClock", testAnswersCarryNow},
		{"RightCodeCreatesGrant", testGrantCreated},
		{"StepUpFreshensItsGrant", testStepUp},
		{"RevokeGrants", testRevokeGrants},
		{"ConcurrentRightCodesOneGrant", testConcurrentGrant},
		{"UnlockClearsLockAndUserBudgets", testUnlock},
		{"Budgets", testBudgets},
		{"BudgetsAllOrNothing", testBudgetsAllOrNothing},
		{"BudgetsListedTwiceCountOnce", testBudgetsDuplicated},
		{"ConcurrentBudgetNoOvershoot", testConcurrentBudget},
		{"Stats", testStats},
		{"Purge", testPurge},
		{"MigrateTwiceAndConcurrently", testMigrations},
		{"ManyHandlesHammering", testHammer},
	}
	cases = append(cases, lifecycleCases...)
	cases = append(cases, totpCases...)
	cases = append(cases, prefixCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, fresh(t))
		})
	}
}

// env is one test's store, clock and helpers.
type env struct {
	t     *testing.T
	s     *store.SQL
	clock *testclock.Clock
	pol   contract.Policy
	n     atomic.Int64
}

func newEnv(t *testing.T, o Opener) *env {
	clock := testclock.New(testclock.Start)
	return &env{t: t, s: o(t, store.WithClock(clock.Now)), clock: clock, pol: contract.DefaultPolicy()}
}

var ctx = context.Background()

const phone = "+919876543210"

// mac stands in for the guard's HMAC: the store compares bytes and never
// needs to know how they were made.
func mac(code string) []byte { return []byte("mac:" + code) }

// open creates a challenge for user in a new session, with code "111111".
func (e *env) open(user string) contract.Ref {
	e.t.Helper()
	ref := e.ref(user)
	c, created, err := e.s.Open(ctx, e.params(ref, "111111"))
	if err != nil || !created || c.ID != ref.ID {
		e.t.Fatalf("Open = %+v, created %v, %v; want a new challenge %s", c, created, err, ref.ID)
	}
	return ref
}

func (e *env) ref(user string) contract.Ref {
	n := e.n.Add(1)
	return contract.Ref{ID: fmt.Sprintf("challenge-%d", n), UserID: user, Binding: fmt.Sprintf("session-%d", n)}
}

func (e *env) params(ref contract.Ref, code string, budgets ...contract.Budget) contract.OpenParams {
	return contract.OpenParams{Ref: ref, Phone: phone, Region: "IN", MAC: mac(code), Policy: e.pol, Budgets: budgets}
}

func (e *env) verify(ref contract.Ref, code string) (contract.Challenge, error) {
	c, _, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac(code), Policy: e.pol})
	return c, err
}

func (e *env) challenge(ref contract.Ref) contract.Challenge {
	e.t.Helper()
	c, err := e.s.Challenge(ctx, ref)
	if err != nil {
		e.t.Fatalf("Challenge(%s) = %v", ref.ID, err)
	}
	return c
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: error = %v, want %v", what, got, want)
	}
}

// wantUntil checks that err is a *LimitError for sentinel ending at until.
func wantUntil(t *testing.T, what string, err, sentinel error, until time.Time) {
	t.Helper()
	var le *contract.LimitError
	if !errors.As(err, &le) || !errors.Is(err, sentinel) {
		t.Fatalf("%s: error = %v, want a LimitError for %v", what, err, sentinel)
	}
	if !le.Until.Equal(until) {
		t.Fatalf("%s: until = %v, want %v", what, le.Until, until)
	}
	if le.Now.IsZero() || le.Now.After(le.Until) {
		t.Fatalf("%s: the refusal's now = %v, until %v: the wait cannot be computed", what, le.Now, le.Until)
	}
}

// wantStarted checks whether the lock err reports was started by the call
// that returned it.
func wantStarted(t *testing.T, what string, err error, started bool) {
	t.Helper()
	var le *contract.LimitError
	if !errors.As(err, &le) || le.Started != started {
		t.Fatalf("%s: %v, Started = %v, want %v", what, err, le != nil && le.Started, started)
	}
}

func testOpenReuses(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")

	again := ref
	again.ID = "challenge-other"
	c, created, err := e.s.Open(ctx, e.params(again, "222222"))
	if err != nil || created || c.ID != ref.ID {
		t.Fatalf("second Open = %s, created %v, %v; want the live %s reused", c.ID, created, err, ref.ID)
	}
	// The reused challenge kept its own code: the second one was never stored.
	wantErr(t, "verify second code", func() error { _, err := e.verify(ref, "222222"); return err }(), contract.ErrCodeInvalid)

	// Another session, or another phone, gets a challenge of its own.
	other := e.ref("alice")
	if _, created, err := e.s.Open(ctx, e.params(other, "333333")); err != nil || !created {
		t.Fatalf("Open for another session: created %v, %v", created, err)
	}
	p := e.params(e.ref("alice"), "444444")
	p.Binding = ref.Binding
	p.Phone = "+919812345678"
	if _, created, err := e.s.Open(ctx, p); err != nil || !created {
		t.Fatalf("Open for a new phone: created %v, %v", created, err)
	}

	// Once the live one is used, Open creates a fresh one.
	if _, err := e.verify(ref, "111111"); err != nil {
		t.Fatal(err)
	}
	fresh := e.ref("alice")
	fresh.Binding = ref.Binding
	if _, created, err := e.s.Open(ctx, e.params(fresh, "555555")); err != nil || !created {
		t.Fatalf("Open after use: created %v, %v", created, err)
	}
}

func testSingleUse(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	c, err := e.verify(ref, "111111")
	wantErr(t, "right code", err, nil)
	if c.ConsumedAt.IsZero() || c.Attempts != 1 {
		t.Fatalf("after success: %+v", c)
	}
	_, err = e.verify(ref, "111111")
	wantErr(t, "right code again", err, contract.ErrCodeUsed)
	if got := e.challenge(ref); got.Attempts != 1 || got.ConsumedAt.IsZero() {
		t.Fatalf("a refused replay changed the challenge: %+v", got)
	}
}

func testWrongCounts(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	for i := 1; i < e.pol.MaxAttempts; i++ {
		c, err := e.verify(ref, "999999")
		wantErr(t, "wrong code", err, contract.ErrCodeInvalid)
		if c.Attempts != i || c.AttemptsLeft() != e.pol.MaxAttempts-i {
			t.Fatalf("after %d wrong: attempts %d, left %d", i, c.Attempts, c.AttemptsLeft())
		}
	}
	c, err := e.verify(ref, "111111")
	wantErr(t, "right code on the last attempt", err, nil)
	if c.Attempts != e.pol.MaxAttempts {
		t.Fatalf("attempts = %d, want %d", c.Attempts, e.pol.MaxAttempts)
	}
}

func testDeadAfterMax(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	for range e.pol.MaxAttempts {
		_, err := e.verify(ref, "999999")
		wantErr(t, "wrong code", err, contract.ErrCodeInvalid)
	}
	_, err := e.verify(ref, "111111")
	wantErr(t, "right code after max", err, contract.ErrTooManyAttempts)
	if c := e.challenge(ref); c.Attempts != e.pol.MaxAttempts || c.Live() {
		t.Fatalf("dead challenge: %+v", c)
	}
}

func testExpiry(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	c := e.challenge(ref)
	if want := testclock.Start.Add(e.pol.CodeTTL); !c.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %v, want %v", c.ExpiresAt, want)
	}
	e.clock.Advance(e.pol.CodeTTL - time.Millisecond)
	if !e.challenge(ref).Live() {
		t.Fatal("challenge dead before its expiry")
	}
	e.clock.Advance(time.Millisecond)
	_, err := e.verify(ref, "111111")
	wantErr(t, "right code at expiry", err, contract.ErrCodeExpired)
	if c := e.challenge(ref); c.Attempts != 0 {
		t.Fatalf("an expired challenge counted an attempt: %+v", c)
	}
	// Open does not hand back an expired challenge.
	again := e.ref("alice")
	again.Binding = ref.Binding
	if _, created, err := e.s.Open(ctx, e.params(again, "222222")); err != nil || !created {
		t.Fatalf("Open after expiry: created %v, %v", created, err)
	}
}

func testCrossOwner(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	otherUser := ref
	otherUser.UserID = "bob"
	otherSession := ref
	otherSession.Binding = "session-of-someone-else"
	for name, r := range map[string]contract.Ref{"other user": otherUser, "other session": otherSession} {
		_, err := e.verify(r, "111111")
		wantErr(t, name+" verifies", err, contract.ErrNotFound)
		_, err = e.s.Challenge(ctx, r)
		wantErr(t, name+" reads", err, contract.ErrNotFound)
		e.clock.Advance(time.Hour)
		_, err = e.s.Resend(ctx, r, contract.ResendParams{MAC: mac("000000"), Policy: e.pol})
		wantErr(t, name+" resends", err, contract.ErrNotFound)
		e.clock.Advance(-time.Hour)
	}
	if c := e.challenge(ref); c.Attempts != 0 || c.Sends != 1 {
		t.Fatalf("foreign requests touched the challenge: %+v", c)
	}
	_, err := e.verify(ref, "111111")
	wantErr(t, "owner verifies", err, nil)
}

// parallel runs fn n times at once and returns the errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors by sentinel; nil counts under "ok", unknown errors fail.
func tally(t *testing.T, errs []error, sentinels ...error) map[string]int {
	t.Helper()
	out := map[string]int{}
next:
	for _, err := range errs {
		if err == nil {
			out["ok"]++
			continue
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				out[s.Error()]++
				continue next
			}
		}
		t.Fatalf("unexpected error: %v", err)
	}
	return out
}

func testConcurrentRight(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const n = 50
	e.pol.MaxAttempts = n // every submission gets checked; only one may win
	ref := e.open("alice")
	errs := parallel(n, func(int) error { _, err := e.verify(ref, "111111"); return err })
	got := tally(t, errs, contract.ErrCodeUsed)
	if got["ok"] != 1 || got[contract.ErrCodeUsed.Error()] != n-1 {
		t.Fatalf("%d concurrent right codes: %v; want exactly one success", n, got)
	}
}

func testConcurrentWrong(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const n = 200
	e.pol.MaxAttempts = 1000
	e.pol.Lockout.Threshold = n // the n-th failure, and only it, locks
	ref := e.open("alice")
	errs := parallel(n, func(int) error { _, err := e.verify(ref, "999999"); return err })
	got := tally(t, errs, contract.ErrLocked, contract.ErrCodeInvalid)
	if got[contract.ErrLocked.Error()] != 1 || got[contract.ErrCodeInvalid.Error()] != n-1 {
		t.Fatalf("%d concurrent wrong codes: %v; want %d invalid and one lock", n, got, n-1)
	}
	if c := e.challenge(ref); c.Attempts != n {
		t.Fatalf("attempts = %d after %d concurrent wrong codes", c.Attempts, n)
	}
}

func testConcurrentWrongMax(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const n = 200
	e.pol.Lockout.Threshold = 0
	ref := e.open("alice")
	errs := parallel(n, func(int) error { _, err := e.verify(ref, "999999"); return err })
	got := tally(t, errs, contract.ErrTooManyAttempts, contract.ErrCodeInvalid)
	if got[contract.ErrCodeInvalid.Error()] != e.pol.MaxAttempts || got[contract.ErrTooManyAttempts.Error()] != n-e.pol.MaxAttempts {
		t.Fatalf("%d concurrent wrong codes: %v; want exactly %d checked", n, got, e.pol.MaxAttempts)
	}
	if c := e.challenge(ref); c.Attempts != e.pol.MaxAttempts {
		t.Fatalf("attempts = %d, want %d", c.Attempts, e.pol.MaxAttempts)
	}
}

func testLockout(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 7, Duration: 15 * time.Minute, Max: 24 * time.Hour}
	first := e.open("alice")
	for range e.pol.MaxAttempts {
		_, err := e.verify(first, "999999")
		wantErr(t, "wrong code", err, contract.ErrCodeInvalid)
	}
	// A fresh challenge does not buy fresh guesses: the account has 2 left.
	second := e.open("alice")
	_, err := e.verify(second, "999999")
	wantErr(t, "6th failure", err, contract.ErrCodeInvalid)
	c, err := e.verify(second, "999999")
	until := testclock.Start.Add(15 * time.Minute)
	wantUntil(t, "7th failure", err, contract.ErrLocked, until)
	wantStarted(t, "7th failure", err, true)
	if !c.LockedUntil.Equal(until) {
		t.Fatalf("challenge after lock: %+v", c)
	}

	// Locked: nothing is compared, nothing is opened, nothing is resent.
	_, err = e.verify(second, "111111")
	wantUntil(t, "right code while locked", err, contract.ErrLocked, until)
	wantStarted(t, "right code while locked", err, false)
	if c := e.challenge(second); c.Attempts != 2 || !c.LockedUntil.Equal(until) {
		t.Fatalf("a locked verify touched the challenge: %+v", c)
	}
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "222222"))
	wantUntil(t, "open while locked", err, contract.ErrLocked, until)
	_, err = e.s.Resend(ctx, second, contract.ResendParams{MAC: mac("333333"), Policy: e.pol})
	wantUntil(t, "resend while locked", err, contract.ErrLocked, until)

	// Other users are not affected.
	wantErr(t, "bob verifies", func() error { _, err := e.verify(e.open("bob"), "111111"); return err }(), nil)

	// The lock ends on time, and the user can sign in again.
	e.clock.Advance(15*time.Minute - time.Millisecond)
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "222222"))
	wantUntil(t, "open just before the lock ends", err, contract.ErrLocked, until)
	e.clock.Advance(time.Millisecond)
	wantErr(t, "right code after the lock", func() error { _, err := e.verify(e.open("alice"), "111111"); return err }(), nil)
}

func testLockoutDoubling(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.MaxAttempts = 100
	e.pol.Lockout = contract.Lockout{Threshold: 2, Duration: 15 * time.Minute, Max: time.Hour}
	ref := e.open("alice")
	for i, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, time.Hour} {
		e.clock.Advance(e.pol.CodeTTL / 10) // keep the challenge live
		_, err := e.verify(ref, "999999")
		wantErr(t, "first failure", err, contract.ErrCodeInvalid)
		_, err = e.verify(ref, "999999")
		wantUntil(t, fmt.Sprintf("lock %d", i+1), err, contract.ErrLocked, e.clock.Now().Add(want))
		e.clock.Advance(want)
		// Renew the code so it outlives the locks.
		c, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("111111"), Policy: e.pol})
		if err != nil {
			t.Fatalf("resend after lock %d: %v (%+v)", i+1, err, c)
		}
	}
}

func testSuccessResets(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	// Lock once, so the next lock would be doubled.
	ref := e.open("alice")
	for range 3 {
		e.verify(ref, "999999")
	}
	e.clock.Advance(15 * time.Minute)
	// Two failures, then success: both the count and the doubling reset.
	ref = e.open("alice")
	for range 2 {
		_, err := e.verify(ref, "999999")
		wantErr(t, "wrong", err, contract.ErrCodeInvalid)
	}
	_, err := e.verify(ref, "111111")
	wantErr(t, "right", err, nil)
	ref = e.open("alice")
	for range 2 {
		_, err := e.verify(ref, "999999")
		wantErr(t, "wrong after success", err, contract.ErrCodeInvalid)
	}
	_, err = e.verify(ref, "999999")
	wantUntil(t, "lock after success", err, contract.ErrLocked, e.clock.Now().Add(15*time.Minute))
}

func testConcurrentLockout(t *testing.T, o Opener) {
	e := newEnv(t, o)
	// Many sessions of one user guessing at once: the account budget, not the
	// number of challenges, bounds how many guesses are ever compared.
	const sessions = 40
	refs := make([]contract.Ref, sessions)
	for i := range refs {
		refs[i] = e.open("alice")
	}
	errs := parallel(sessions*e.pol.MaxAttempts, func(i int) error {
		_, err := e.verify(refs[i%sessions], "999999")
		return err
	})
	got := tally(t, errs, contract.ErrLocked, contract.ErrCodeInvalid)
	if checked := got[contract.ErrCodeInvalid.Error()] + 1; checked != e.pol.Lockout.Threshold {
		t.Fatalf("concurrent guesses across %d sessions: %v; want exactly %d compared", sessions, got, e.pol.Lockout.Threshold)
	}
}

func testResendCooldown(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	resend := func() error {
		_, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("111111"), Policy: e.pol})
		return err
	}
	next := testclock.Start.Add(30 * time.Second)
	for _, wait := range []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 240 * time.Second} {
		e.clock.Advance(wait - time.Second)
		wantUntil(t, "inside the cooldown", resend(), contract.ErrResendTooSoon, next)
		e.clock.Advance(time.Second)
		wantErr(t, "after the cooldown", resend(), nil)
		next = e.clock.Now().Add(2 * wait)
		if c := e.challenge(ref); !c.NextSendAt.Equal(next) {
			t.Fatalf("next send at %v, want %v (doubled)", c.NextSendAt, next)
		}
	}
}

func testResendReplaces(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	_, err := e.verify(ref, "999999")
	wantErr(t, "wrong", err, contract.ErrCodeInvalid)
	e.clock.Advance(4 * time.Minute)
	c, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("222222"), Policy: e.pol})
	wantErr(t, "resend", err, nil)
	if c.Attempts != 1 || c.Sends != 2 || !c.ExpiresAt.Equal(e.clock.Now().Add(e.pol.CodeTTL)) {
		t.Fatalf("after resend: %+v (attempts kept, lifetime renewed)", c)
	}
	_, err = e.verify(ref, "111111")
	wantErr(t, "old code", err, contract.ErrCodeInvalid)
	_, err = e.verify(ref, "222222")
	wantErr(t, "new code", err, nil)
	_, err = e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("333333"), Policy: e.pol})
	wantErr(t, "resend a used challenge", err, contract.ErrCodeUsed)

	// A number that changed since the challenge opened is a new challenge.
	moved := e.open("carol")
	e.clock.Advance(time.Minute)
	_, err = e.s.Resend(ctx, moved, contract.ResendParams{Phone: "+919812345678", MAC: mac("666666"), Policy: e.pol})
	wantErr(t, "resend to another number", err, contract.ErrNotFound)
	_, err = e.s.Resend(ctx, moved, contract.ResendParams{Phone: phone, MAC: mac("666666"), Policy: e.pol})
	wantErr(t, "resend to the same number", err, nil)

	// An expired challenge may be resent; a dead one may not.
	exp := e.open("alice")
	e.clock.Advance(e.pol.CodeTTL)
	_, err = e.s.Resend(ctx, exp, contract.ResendParams{MAC: mac("444444"), Policy: e.pol})
	wantErr(t, "resend expired", err, nil)
	_, err = e.verify(exp, "444444")
	wantErr(t, "code of a revived challenge", err, nil)
	dead := e.open("bob")
	for range e.pol.MaxAttempts {
		e.verify(dead, "999999")
	}
	e.clock.Advance(time.Minute)
	_, err = e.s.Resend(ctx, dead, contract.ResendParams{MAC: mac("555555"), Policy: e.pol})
	wantErr(t, "resend dead", err, contract.ErrTooManyAttempts)
}

func testSendFailed(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	if err := e.s.SendFailed(ctx, ref, mac("000000")); err != nil {
		t.Fatal(err)
	}
	if c := e.challenge(ref); c.SendFailed {
		t.Fatal("a failure reported for another code was recorded")
	}
	if err := e.s.SendFailed(ctx, ref, mac("111111")); err != nil {
		t.Fatal(err)
	}
	c := e.challenge(ref)
	if !c.SendFailed || c.Attempts != 0 || c.NextSendAt.After(e.clock.Now()) {
		t.Fatalf("after a failed send: %+v; want no attempt burned and no cooldown", c)
	}
	if err := e.s.SendFailed(ctx, ref, mac("111111")); err != nil { // idempotent
		t.Fatal(err)
	}
	c, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("222222"), Policy: e.pol})
	wantErr(t, "immediate retry", err, nil)
	// The failed send did not count towards the doubling: this is the first
	// real send, so the wait is the base cooldown.
	if c.SendFailed || !c.NextSendAt.Equal(e.clock.Now().Add(e.pol.ResendCooldown)) {
		t.Fatalf("after the retry: %+v", c)
	}
	wantErr(t, "SendFailed on a missing challenge", e.s.SendFailed(ctx, e.ref("nobody"), mac("1")), nil)
	// A late failure of an earlier send does not undo a later one.
	e.clock.Advance(time.Minute)
	if _, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("333333"), Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SendFailed(ctx, ref, mac("222222")); err != nil {
		t.Fatal(err)
	}
	if c := e.challenge(ref); c.SendFailed || !c.NextSendAt.After(e.clock.Now()) {
		t.Fatalf("a stale failure lifted the cooldown of a later send: %+v", c)
	}
}

func testSendFailedKills(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	if err := e.s.SendFailed(ctx, ref, mac("111111")); err != nil {
		t.Fatal(err)
	}
	// The provider may have echoed the code into a log: it must not verify,
	// and trying it must not cost an attempt.
	_, err := e.verify(ref, "111111")
	wantErr(t, "the code of a failed send", err, contract.ErrCodeExpired)
	c := e.challenge(ref)
	if c.Attempts != 0 || c.Live() {
		t.Fatalf("after trying a killed code: %+v; want no attempt counted and not live", c)
	}
	// The next Open of the same session sends a fresh code rather than
	// reusing the dead one.
	again := e.ref("alice")
	again.Binding = ref.Binding
	if c, created, err := e.s.Open(ctx, e.params(again, "222222")); err != nil || !created || c.ID != again.ID {
		t.Fatalf("Open after a failed send = %s, created %v, %v; want a new challenge", c.ID, created, err)
	}
	// A resend revives the failed challenge with a new code.
	if _, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("333333"), Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	_, err = e.verify(ref, "333333")
	wantErr(t, "the resent code", err, nil)
}

func testCancel(t *testing.T, o Opener) {
	e := newEnv(t, o)
	bs := []contract.Budget{budget(2, time.Hour), {Name: "global", Limit: 2, Window: time.Hour}}
	// Cancelling what Open reserved, any number of times, never uses a budget up.
	for i := range 5 {
		ref := e.ref("alice")
		if _, created, err := e.s.Open(ctx, e.params(ref, "111111", bs...)); err != nil || !created {
			t.Fatalf("open %d: created %v, %v", i, created, err)
		}
		if err := e.s.Cancel(ctx, ref, mac("111111"), bs); err != nil {
			t.Fatalf("cancel %d: %v", i, err)
		}
		if _, err := e.s.Challenge(ctx, ref); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("a cancelled challenge is still there: %v", err)
		}
	}
	if st, err := e.s.Stats(ctx, testclock.Start); err != nil || st.Sent != 0 {
		t.Fatalf("after cancelling every send: %+v, %v; want nothing counted as sent", st, err)
	}
	// A challenge whose code was resent (so sent at least once more), or
	// that was used, is not withdrawn: its sends happened.
	sent := e.ref("alice")
	if _, _, err := e.s.Open(ctx, e.params(sent, "111111", bs...)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(sent, "111111"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Cancel(ctx, sent, mac("111111"), bs); err != nil {
		t.Fatal(err)
	}
	if c := e.challenge(sent); c.ConsumedAt.IsZero() {
		t.Fatalf("cancel undid a used challenge: %+v", c)
	}
	// A wrong MAC (a code replaced since) withdraws nothing either.
	other := e.ref("alice")
	if _, _, err := e.s.Open(ctx, e.params(other, "444444", bs...)); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Cancel(ctx, other, mac("555555"), bs); err != nil {
		t.Fatal(err)
	}
	e.challenge(other)
	// Both budgets now hold exactly the two real sends: a third is refused.
	_, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", bs...))
	wantErr(t, "a third real send", err, contract.ErrBudgetExceeded)
}

func testAnswersCarryNow(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.clock.Advance(90 * time.Second)
	want := e.clock.Now()
	ref := e.ref("alice")
	c, _, err := e.s.Open(ctx, e.params(ref, "111111"))
	if err != nil || !c.Now.Equal(want) {
		t.Fatalf("Open: now = %v, %v; want the store's clock %v", c.Now, err, want)
	}
	if c := e.challenge(ref); !c.Now.Equal(want) || c.Until(c.ExpiresAt) != e.pol.CodeTTL {
		t.Fatalf("Challenge: now = %v, expires in %v; want %v and %v", c.Now, c.Until(c.ExpiresAt), want, e.pol.CodeTTL)
	}
	if c, err := e.verify(ref, "9"); !c.Now.Equal(want) || !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("Verify: now = %v, %v", c.Now, err)
	}
	if now, err := e.s.Now(ctx); err != nil || !now.Equal(want) {
		t.Fatalf("Now = %v, %v; want %v", now, err, want)
	}
	// Without a test clock the store keeps time by the database (Postgres)
	// or the machine (SQLite): on this one machine, both are time.Now.
	s := o(t)
	before := time.Now().Add(-time.Second)
	now, err := s.Now(ctx)
	if err != nil || now.Before(before) || now.After(time.Now().Add(time.Second)) {
		t.Fatalf("the store's own clock says %v (%v); want about %v", now, err, time.Now())
	}
	c, _, err = s.Open(ctx, e.params(e.ref("carol"), "1"))
	if err != nil || c.Now.Before(before) || c.Until(c.ExpiresAt) != e.pol.CodeTTL {
		t.Fatalf("Open on the store's own clock: %+v, %v", c, err)
	}
}

// grantParams is a new grant of an hour.
func grantParams(id string) contract.GrantParams {
	return contract.GrantParams{ID: id, Login: "login-tag", How: "sms", Lifetime: time.Hour}
}

func testGrantCreated(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.open("alice")
	// A wrong code creates nothing.
	if _, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("9"), Policy: e.pol, Grant: grantParams("g1")}); gr.ID != "" || !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("wrong code: grant %+v, %v", gr, err)
	}
	if _, err := e.s.Grant(ctx, "g1", "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a wrong code left a grant: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("g1")})
	if err != nil || gr.ID != "g1" || !gr.Live() || gr.How != "sms" || gr.Login != "login-tag" {
		t.Fatalf("right code: grant %+v, %v", gr, err)
	}
	got, err := e.s.Grant(ctx, "g1", "alice")
	if err != nil || !got.Live() || !got.CreatedAt.Equal(gr.CreatedAt) || got.Until() != time.Hour || got.UserID != "alice" {
		t.Fatalf("Grant = %+v, %v", got, err)
	}
	if !got.FreshWithin(time.Second) {
		t.Fatalf("a new grant is fresh: %+v", got)
	}
	// Another user never reads it.
	if _, err := e.s.Grant(ctx, "g1", "bob"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("bob read alice's grant: %v", err)
	}
	// It expires with its lifetime, and is purged then.
	e.clock.Advance(time.Hour)
	if got, err := e.s.Grant(ctx, "g1", "alice"); err != nil || got.Live() {
		t.Fatalf("after its lifetime: %+v, %v", got, err)
	}
	e.clock.Advance(time.Millisecond)
	if p, err := e.s.Purge(ctx); err != nil || p.Grants != 1 {
		t.Fatalf("purge: %+v, %v", p, err)
	}
}

func testStepUp(t *testing.T, o Opener) {
	e := newEnv(t, o)
	login := e.open("alice")
	if _, _, err := e.s.Verify(ctx, login, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("g1")}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if gr, _ := e.s.Grant(ctx, "g1", "alice"); gr.FreshWithin(5 * time.Minute) {
		t.Fatalf("ten minutes on, the grant is still fresh: %+v", gr)
	}
	// A step-up challenge of the same session never reuses a login one, and
	// the other way round.
	up := e.ref("alice")
	up.Binding = login.Binding
	p := e.params(up, "222222")
	p.Flow, p.GrantID = contract.FlowStepUp, "g1"
	c, created, err := e.s.Open(ctx, p)
	if err != nil || !created || c.Flow != contract.FlowStepUp || c.GrantID != "g1" {
		t.Fatalf("step-up open: %+v, created %v, %v", c, created, err)
	}
	again := e.ref("alice")
	again.Binding = login.Binding
	if c, created, err := e.s.Open(ctx, e.params(again, "333333")); err != nil || !created || c.Flow != contract.FlowLogin {
		t.Fatalf("a login open beside a live step-up: %+v, created %v, %v", c, created, err)
	}
	// The right step-up code freshens g1 and creates nothing, whatever the
	// caller asks.
	_, gr, err := e.s.Verify(ctx, up, contract.VerifyParams{MAC: mac("222222"), Policy: e.pol, Grant: grantParams("g2")})
	if err != nil || gr.ID != "g1" || !gr.FreshWithin(time.Second) {
		t.Fatalf("step-up verify: %+v, %v", gr, err)
	}
	if _, err := e.s.Grant(ctx, "g2", "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a step-up created a grant: %v", err)
	}
	// A step-up of a grant revoked meanwhile freshens nothing.
	up2 := e.ref("alice")
	p = e.params(up2, "444444")
	p.Flow, p.GrantID = contract.FlowStepUp, "g1"
	if _, _, err := e.s.Open(ctx, p); err != nil {
		t.Fatal(err)
	}
	if live, err := e.s.RevokeGrant(ctx, "g1", "alice", "logout"); err != nil || !live {
		t.Fatalf("revoke: %v, %v", live, err)
	}
	_, gr, err = e.s.Verify(ctx, up2, contract.VerifyParams{MAC: mac("444444"), Policy: e.pol})
	if err != nil || gr.ID != "" {
		t.Fatalf("step-up of a revoked grant: %+v, %v", gr, err)
	}
}

func testRevokeGrants(t *testing.T, o Opener) {
	e := newEnv(t, o)
	for _, id := range []string{"a1", "a2", "a3"} {
		ref := e.open("alice")
		if _, _, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams(id)}); err != nil {
			t.Fatal(err)
		}
	}
	bob := e.open("bob")
	if _, _, err := e.s.Verify(ctx, bob, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("b1")}); err != nil {
		t.Fatal(err)
	}
	if live, err := e.s.RevokeGrant(ctx, "a1", "bob", "logout"); err != nil || live {
		t.Fatalf("bob revoked alice's grant: %v, %v", live, err)
	}
	if live, err := e.s.RevokeGrant(ctx, "a1", "alice", "logout"); err != nil || !live {
		t.Fatalf("revoke a1: %v, %v", live, err)
	}
	if live, err := e.s.RevokeGrant(ctx, "a1", "alice", "logout"); err != nil || live {
		t.Fatalf("revoking twice: %v, %v", live, err)
	}
	if n, d, err := e.s.RevokeAll(ctx, "alice", "sign_out_everywhere"); err != nil || n != 2 || d != 0 {
		t.Fatalf("sign out everywhere: %d grants, %d devices, %v; want a2 and a3", n, d, err)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if gr, err := e.s.Grant(ctx, id, "alice"); err != nil || gr.Live() {
			t.Fatalf("%s: %+v, %v; want revoked", id, gr, err)
		}
	}
	if n, _, err := e.s.RevokeAll(ctx, "alice", "sign_out_everywhere"); err != nil || n != 0 {
		t.Fatalf("signing out everywhere again: %d, %v", n, err)
	}
	if gr, _ := e.s.Grant(ctx, "b1", "bob"); !gr.Live() {
		t.Fatal("signing alice out everywhere revoked bob's grant")
	}
	// Revoked grants outlive their revocation until they expire: a device
	// sign-in asks whether a grant of its sign-in was ever revoked.
	if p, err := e.s.Purge(ctx); err != nil || p.Grants != 0 {
		t.Fatalf("purge right after revoking: %+v, %v; want the revoked grants kept until they expire", p, err)
	}
	if gr, err := e.s.Grant(ctx, "a1", "alice"); err != nil || gr.RevokedAt.IsZero() {
		t.Fatalf("a revoked grant after a purge: %+v, %v", gr, err)
	}
	e.clock.Advance(time.Hour + time.Millisecond)
	if p, err := e.s.Purge(ctx); err != nil || p.Grants != 1 {
		t.Fatalf("purge past expiry: %+v, %v; want bob's expired grant gone, alice's revoked ones kept", p, err)
	}
	// A revoked grant of a named sign-in stays for the revoked-grant
	// retention (31 days): no remembered device signs that sign-in back in.
	e.clock.Advance(31 * 24 * time.Hour)
	if p, err := e.s.Purge(ctx); err != nil || p.Grants != 3 {
		t.Fatalf("purge past the retention: %+v, %v; want alice's 3 revoked grants gone", p, err)
	}
}

func testConcurrentGrant(t *testing.T, o Opener) {
	// Of many parallel right codes, one wins and exactly one grant exists.
	e := newEnv(t, o)
	ref := e.open("alice")
	var grants atomic.Int64
	errs := parallel(20, func(i int) error {
		_, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams(fmt.Sprintf("g%d", i))})
		if err == nil && gr.ID != "" {
			grants.Add(1)
		}
		if err != nil && !errors.Is(err, contract.ErrCodeUsed) {
			return err
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if grants.Load() != 1 {
		t.Fatalf("%d grants from one code", grants.Load())
	}
}

func testUnlock(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout.Threshold = 2
	ref := e.open("alice")
	e.verify(ref, "9")
	if _, err := e.verify(ref, "8"); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("second failure: %v", err)
	}
	user := contract.Budget{Name: "user", Key: "alice", Limit: 1, Window: time.Hour}
	ph := contract.Budget{Name: "phone", Key: phone, Limit: 2, Window: time.Hour}
	if err := e.s.Unlock(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(ref, "111111"); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	for _, b := range []contract.Budget{user, ph, ph} {
		if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", b)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", user))
	wantErr(t, "user budget before unlock", err, contract.ErrBudgetExceeded)
	if err := e.s.Unlock(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	// The user's budget is empty again; the phone's is not.
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "1", user))
	wantErr(t, "user budget after unlock", err, nil)
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "1", ph))
	wantErr(t, "phone budget after unlock", err, contract.ErrBudgetExceeded)
	if err := e.s.Unlock(ctx, "nobody", false); err != nil {
		t.Fatalf("unlocking a user with no rows: %v", err)
	}
}

// Unlock with number empties the enrolled number's budgets too, and only
// that number's.
func testUnlockNumber(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if _, _, err := e.s.SetFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	ph := contract.Budget{Name: "phone", Key: phone, Limit: 1, Window: time.Hour}
	other := contract.Budget{Name: "phone", Key: otherPhone, Limit: 1, Window: time.Hour}
	for _, b := range []contract.Budget{ph, other} {
		if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Unlock(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", ph))
	wantErr(t, "the number's budget after a plain unlock", err, contract.ErrBudgetExceeded)
	if err := e.s.Unlock(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "1", ph))
	wantErr(t, "the number's budget after an unlock with it", err, nil)
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "1", other))
	wantErr(t, "another number's budget", err, contract.ErrBudgetExceeded)
	if err := e.s.Unlock(ctx, "nobody", true); err != nil {
		t.Fatalf("unlocking, with the number, a user with none: %v", err)
	}
}

func budget(limit int, window time.Duration) contract.Budget {
	return contract.Budget{Name: "phone", Key: phone, Limit: limit, Window: window}
}

func testBudgets(t *testing.T, o Opener) {
	e := newEnv(t, o)
	b := budget(3, 10*time.Minute)
	e.clock.Advance(time.Minute)
	for range 3 {
		if _, created, err := e.s.Open(ctx, e.params(e.ref("alice"), "111111", b)); err != nil || !created {
			t.Fatalf("open within budget: %v", err)
		}
	}
	until := testclock.Start.Add(11 * time.Minute)
	_, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "111111", b))
	wantUntil(t, "4th open", err, contract.ErrBudgetExceeded, until)
	var le *contract.LimitError
	if errors.As(err, &le); le.Budget != "phone" {
		t.Fatalf("budget name = %q", le.Budget)
	}
	// Resends draw on the same budget.
	ref := e.open("bob") // no budget passed: not counted
	e.clock.Advance(time.Minute)
	_, err = e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("2"), Policy: e.pol, Budgets: []contract.Budget{b}})
	wantUntil(t, "resend over budget", err, contract.ErrBudgetExceeded, until)
	if c := e.challenge(ref); c.Sends != 1 {
		t.Fatalf("a refused resend changed the challenge: %+v", c)
	}
	// The window closes 10 minutes after its first send, and counting starts over.
	e.clock.Advance(until.Sub(e.clock.Now()))
	for range 3 {
		if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "111111", b)); err != nil {
			t.Fatalf("open in the next window: %v", err)
		}
	}
	_, _, err = e.s.Open(ctx, e.params(e.ref("alice"), "111111", b))
	wantUntil(t, "4th open in the next window", err, contract.ErrBudgetExceeded, until.Add(10*time.Minute))
}

func testBudgetsAllOrNothing(t *testing.T, o Opener) {
	e := newEnv(t, o)
	roomy := contract.Budget{Name: "user", Key: "alice", Limit: 2, Window: time.Hour}
	tight := contract.Budget{Name: "ip", Key: "192.0.2.1", Limit: 1, Window: time.Hour}
	if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", tight)); err != nil {
		t.Fatal(err)
	}
	ref := e.ref("alice")
	_, _, err := e.s.Open(ctx, e.params(ref, "1", roomy, tight))
	wantErr(t, "open over the ip budget", err, contract.ErrBudgetExceeded)
	if _, err := e.s.Challenge(ctx, ref); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a refused open left a challenge: %v", err)
	}
	// The user budget was not charged for the refused open: two still fit.
	for range 2 {
		if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", roomy)); err != nil {
			t.Fatalf("user budget was charged by a refused open: %v", err)
		}
	}
}

func testBudgetsDuplicated(t *testing.T, o Opener) {
	e := newEnv(t, o)
	b := budget(2, time.Hour)
	for range 2 {
		if _, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", b, b)); err != nil {
			t.Fatalf("a budget listed twice: %v", err)
		}
	}
	_, _, err := e.s.Open(ctx, e.params(e.ref("alice"), "1", b))
	wantErr(t, "third send", err, contract.ErrBudgetExceeded)
}

func testConcurrentBudget(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const n, limit = 60, 10
	global := contract.Budget{Name: "global", Limit: limit, Window: 24 * time.Hour}
	errs := parallel(n, func(i int) error {
		_, _, err := e.s.Open(ctx, e.params(e.ref(fmt.Sprintf("user-%d", i)), "1", global))
		return err
	})
	got := tally(t, errs, contract.ErrBudgetExceeded)
	if got["ok"] != limit || got[contract.ErrBudgetExceeded.Error()] != n-limit {
		t.Fatalf("%d concurrent opens on a budget of %d: %v", n, limit, got)
	}
}

func testStats(t *testing.T, o Opener) {
	e := newEnv(t, o)
	a := e.open("alice")
	e.open("bob")
	p := e.params(e.ref("carol"), "111111")
	p.Phone, p.Region = "+14155550100", "US"
	if _, _, err := e.s.Open(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SendFailed(ctx, p.Ref, p.MAC); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(a, "111111"); err != nil {
		t.Fatal(err)
	}
	st, err := e.s.Stats(ctx, testclock.Start)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 2 || st.Verified != 1 || st.Regions["IN"] != (store.Counts{Sent: 2, Verified: 1}) || st.Regions["US"] != (store.Counts{}) {
		t.Fatalf("stats = %+v", st)
	}
	if r := st.VerifyRate(); r != 0.5 {
		t.Fatalf("verify rate = %v", r)
	}
	st, err = e.s.Stats(ctx, testclock.Start.Add(time.Hour))
	if err != nil || st.Sent != 0 {
		t.Fatalf("stats from the next hour = %+v, %v", st, err)
	}

	// A resend counts; a withdrawn challenge does not.
	b := e.open("bob")
	e.clock.Advance(e.pol.CooldownAfter(1))
	if _, err := e.s.Resend(ctx, b, contract.ResendParams{Phone: phone, MAC: mac("222222"), Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	w := e.params(e.ref("dave"), "333333")
	if _, _, err := e.s.Open(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Cancel(ctx, w.Ref, w.MAC, nil); err != nil {
		t.Fatal(err)
	}
	want := store.Stats{Sent: 4, Verified: 1, Regions: map[string]store.Counts{"IN": {Sent: 4, Verified: 1}, "US": {}}}
	same := func(when string) {
		t.Helper()
		st, err := e.s.Stats(ctx, testclock.Start)
		if err != nil || st.Sent != want.Sent || st.Verified != want.Verified || st.Regions["IN"] != want.Regions["IN"] {
			t.Fatalf("%s: stats = %+v, %v; want %+v", when, st, err, want)
		}
	}
	same("before purging")
	// Purging the challenges moves their counts into the hourly rows.
	e.clock.Advance(e.pol.CodeTTL + time.Hour + time.Millisecond)
	if p, err := e.s.Purge(ctx); err != nil || p.Challenges != 4 {
		t.Fatalf("purge = %+v, %v; want 4 challenges", p, err)
	}
	same("after purging")
}

func testPurge(t *testing.T, o Opener) {
	e := newEnv(t, o)
	old := e.open("alice")
	b := budget(5, time.Minute)
	if _, _, err := e.s.Open(ctx, e.params(e.ref("bob"), "1", b)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e.pol.CodeTTL + time.Hour + time.Millisecond) // past expiry and the 1h retention
	live := e.open("carol")
	p, err := e.s.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Challenges != 2 || p.Budgets != 1 {
		t.Fatalf("purged %+v; want the 2 old challenges and the closed budget", p)
	}
	if _, err := e.s.Challenge(ctx, old); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("purged challenge still readable: %v", err)
	}
	e.challenge(live)
	if _, err := e.verify(live, "111111"); err != nil {
		t.Fatalf("purge broke a live challenge: %v", err)
	}
}

func testMigrations(t *testing.T, o Opener) {
	// Eight handles migrating one empty database at once, then once more.
	errs := parallel(8, func(int) error {
		s := o(t)
		_, err := s.Stats(ctx, time.Now())
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migration: %v", err)
		}
	}
	s := o(t)
	var versions []int
	rows, err := s.DB().QueryContext(ctx, `SELECT version FROM sms2fa_schema ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	// Postgres has more: the functions that make each operation one round
	// trip (4), redone without statistics writes (5), Open refusing another
	// number before it writes (6), Resend checking the factor (7); both
	// then remember devices' grants and cap a user's grants (5 and 8), and
	// keep authenticators (6 and 9); Postgres's TOTP sign-in then checks the
	// secret it was matched with in its one call (10). Both then count
	// sends per number prefix and block pumped ones (7 and 11).
	want := "[1 2 3 4 5 6 7]"
	if s.Dialect() == store.Postgres {
		want = "[1 2 3 4 5 6 7 8 9 10 11]"
	}
	if fmt.Sprint(versions) != want {
		t.Fatalf("schema versions = %v, want %s", versions, want)
	}
	o(t, store.WithoutMigrations()) // accepts the migrated schema
}

func testHammer(t *testing.T, o Opener) {
	// Fifty goroutines on two handles (two pools, as two processes would
	// have) open, guess and verify at once: every answer must be an answer,
	// never a "database is locked".
	clock := testclock.New(testclock.Start)
	// This test is about answers, not latency: under the race detector on a
	// busy machine, 25 writers queued on one SQLite handle may wait longer
	// than the default bound on one operation.
	patient := store.WithBusyTimeout(time.Minute)
	handles := []*store.SQL{o(t, store.WithClock(clock.Now), patient), o(t, store.WithClock(clock.Now), patient)}
	pol := contract.DefaultPolicy()
	errs := parallel(50, func(i int) error {
		s := handles[i%2]
		for j := range 4 {
			ref := contract.Ref{ID: fmt.Sprintf("h-%d-%d", i, j), UserID: fmt.Sprintf("user-%d", i), Binding: fmt.Sprintf("b-%d-%d", i, j)}
			p := contract.OpenParams{Ref: ref, Phone: phone, Region: "IN", MAC: mac("1"), Policy: pol,
				Budgets: []contract.Budget{{Name: "global", Limit: 1000, Window: time.Hour}}}
			if _, _, err := s.Open(ctx, p); err != nil {
				return err
			}
			if _, _, err := s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("2"), Policy: pol}); !errors.Is(err, contract.ErrCodeInvalid) {
				return fmt.Errorf("wrong code: %w", err)
			}
			g := contract.GrantParams{ID: "g-" + ref.ID, How: "sms", Lifetime: time.Hour}
			if _, gr, err := s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("1"), Policy: pol, Grant: g}); err != nil || gr.ID != g.ID {
				if err == nil {
					err = fmt.Errorf("grant %q, want %q", gr.ID, g.ID)
				}
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("under load: %v", err)
		}
	}
}
