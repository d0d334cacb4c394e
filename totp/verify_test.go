package totp

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/testclock"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// The method on a real SQLite store, by the store's clock: a right code
// signs in once; the same code again is used and counts nothing; a wrong
// one is counted; after the guard's secret is rotated the app still works,
// and its secret is sealed again under the new key.
func TestVerifyOnTheStore(t *testing.T) {
	ctx := context.Background()
	st, clock, m := fixture(t)
	if _, err := m.Verify(ctx, st, submission("alice", "123456")); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("no app yet: %v", err)
	}
	secret := setUp(t, st, clock, m, "alice")
	now := code(secret, stepAt(clock.Now()), digits)
	if _, err := m.Verify(ctx, st, submission("alice", "12345")); !errors.Is(err, contract.ErrMalformed) {
		t.Fatalf("five digits: %v", err)
	}
	r, err := m.Verify(ctx, st, submission("alice", now[:3]+" "+now[3:]))
	if err != nil || r.Grant.ID == "" || r.Grant.How != "totp" {
		t.Fatalf("the right code: %+v, %v", r.Grant, err)
	}
	for range 5 { // more than the test's lockout threshold (3): a replay must count nothing
		if _, err := m.Verify(ctx, st, submission("alice", now)); !errors.Is(err, contract.ErrCodeUsed) {
			t.Fatalf("the same code again: %v", err)
		}
	}
	if _, err := m.Verify(ctx, st, submission("alice", wrongCode(secret, clock.Now()))); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("a wrong code: %v", err)
	}

	// The guard's secret is rotated: the app keeps working, its secret is
	// sealed again under the new key, and a guard that forgot the old
	// secret cannot open it.
	clock.Advance(30 * time.Second)
	newSecret := []byte("the guard's new secret, 32 bytes")
	rotated := bound(t, newSecret, WithPreviousSecrets(guardSecret))
	if _, err := bound(t, newSecret).Verify(ctx, st, submission("alice", code(secret, stepAt(clock.Now()), digits))); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("rotated without the previous secret: %v", err)
	}
	if _, err := rotated.Verify(ctx, st, submission("alice", code(secret, stepAt(clock.Now()), digits))); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	a, err := st.TOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, stale, err := bound(t, newSecret).Unseal("alice", a.Sealed); err != nil || stale {
		t.Fatalf("not sealed again under the new key: stale %v, %v", stale, err)
	}
}

// grants numbers the grants submissions ask for.
var grants atomic.Int64

// testPolicy locks a user at the third consecutive failure.
func testPolicy() contract.Policy {
	p := contract.DefaultPolicy()
	p.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	return p
}

func submission(user, typed string) contract.Submission {
	return contract.Submission{UserID: user, Typed: typed, Params: contract.VerifyParams{
		Policy: testPolicy(),
		Grant:  contract.GrantParams{ID: fmt.Sprintf("grant-%d", grants.Add(1)), Login: "sign-in", How: "totp", Lifetime: time.Hour},
	}}
}

// guardSecret is the tests' guard secret.
var guardSecret = []byte("a guard secret of 32 bytes......")

// bound returns a method bound to the guard secret gs.
func bound(t *testing.T, gs []byte, opts ...Option) *Method {
	t.Helper()
	m, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(gs, l), nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// fixture is a SQLite store on a test clock, and a method bound to
// guardSecret.
func fixture(t *testing.T) (*store.SQL, *testclock.Clock, *Method) {
	t.Helper()
	clock := testclock.New(testclock.Start)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "totp.db"), store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, clock, bound(t, guardSecret)
}

// setUp gives user an app whose confirming code was the previous step's,
// sealed by m, and returns its secret.
func setUp(t *testing.T, st *store.SQL, clock *testclock.Clock, m *Method, user string) []byte {
	t.Helper()
	secret, err := m.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := m.Seal(user, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetTOTP(context.Background(), user, sealed, stepAt(clock.Now())-1, ""); err != nil {
		t.Fatal(err)
	}
	return secret
}

// wrongCode is a code that secret's window at now does not hold.
func wrongCode(secret []byte, now time.Time) string {
	for _, w := range []string{"000000", "999999", "123456"} {
		taken := false
		for s := stepAt(now) - 2; s <= stepAt(now)+2; s++ {
			taken = taken || code(secret, s, digits) == w
		}
		if !taken {
			return w
		}
	}
	panic("three codes all in one window")
}

// Confirm takes a code of the new secret by the store's clock, makes it the
// user's app, and uses the confirming code's step: it cannot sign in.
// A wrong code sets nothing up and counts nothing.
func TestConfirm(t *testing.T) {
	ctx := context.Background()
	st, clock, m := fixture(t)
	secret, err := m.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	wrong := wrongCode(secret, clock.Now())
	for range 4 {
		if _, err := m.Confirm(ctx, st, "alice", secret, wrong, ""); !errors.Is(err, contract.ErrCodeInvalid) {
			t.Fatalf("a wrong confirming code: %v", err)
		}
	}
	if _, err := st.TOTP(ctx, "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a wrong code set an app up: %v", err)
	}
	now := code(secret, stepAt(clock.Now()), digits)
	if replaced, err := m.Confirm(ctx, st, "alice", secret, now, ""); err != nil || replaced {
		t.Fatalf("the right confirming code: replaced %v, %v", replaced, err)
	}
	if _, err := m.Verify(ctx, st, submission("alice", now)); !errors.Is(err, contract.ErrCodeUsed) {
		t.Fatalf("the confirming code used to sign in: %v", err)
	}
	clock.Advance(30 * time.Second)
	if _, err := m.Verify(ctx, st, submission("alice", code(secret, stepAt(clock.Now()), digits))); err != nil {
		t.Fatalf("the next step's code, after four wrong confirming codes: %v", err)
	}
}

// A locked user's replayed right code is refused as locked, not as used:
// the lock is checked first, so a locked attacker learns nothing from a
// code. Fifty parallel submissions of one right code through the method
// (read, then claim): exactly one signs in.
func TestVerifyLockedAndParallel(t *testing.T) {
	ctx := context.Background()
	st, clock, m := fixture(t)
	secret := setUp(t, st, clock, m, "alice")
	now := code(secret, stepAt(clock.Now()), digits)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.Verify(ctx, st, submission("alice", now))
		}()
	}
	wg.Wait()
	won, used := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, contract.ErrCodeUsed):
			used++
		default:
			t.Fatalf("a parallel submission: %v", err)
		}
	}
	if won != 1 || used != n-1 {
		t.Fatalf("%d won, %d used; want exactly one to win", won, used)
	}
	for range 3 {
		_, _ = m.Verify(ctx, st, submission("alice", wrongCode(secret, clock.Now())))
	}
	if _, err := m.Verify(ctx, st, submission("alice", now)); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("a locked user's replayed code: %v, want locked", err)
	}
}
