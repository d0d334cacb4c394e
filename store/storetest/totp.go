package storetest

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/store"
)

// The authenticator (TOTP) cases: a step is accepted once per user,
// atomically with the grant; wrong codes share the account-wide lockout;
// setting, replacing and removing an app is a factor change.
var totpCases = []struct {
	name string
	fn   func(t *testing.T, o Opener)
}{
	{"TOTPSetAndRead", testTOTPSetAndRead},
	{"TOTPStepAcceptedOnce", testTOTPStepOnce},
	{"TOTPConcurrentCodeOneWins", testTOTPRace},
	{"TOTPSignInCodeNotReusedForStepUp", testTOTPStepUp},
	{"TOTPFailuresShareTheLockout", testTOTPLockout},
	{"TOTPChangesAreFactorChanges", testTOTPFactorChange},
	{"TOTPReseal", testTOTPReseal},
	{"TOTPOnlyTheSecretMatched", testTOTPSecretChanged},
	{"TOTPStepJudgedByTheStoreClock", testTOTPWindow},
}

// setTOTP gives user an authenticator whose confirming code was for step.
func (e *env) setTOTP(user string, step int64) {
	e.t.Helper()
	if _, err := e.s.SetTOTP(ctx, user, []byte("sealed:"+user), step, ""); err != nil {
		e.t.Fatalf("SetTOTP(%s) = %v", user, err)
	}
}

// anyStep is a window that takes any step: the cases that are not about
// the store's clock number their steps from 100.
const anyStep = math.MaxInt32

// useTOTP submits a code of user that matched step (-1: none) against the
// secret setTOTP stored, creating grant id. The grant says "sms": the store
// must earn it as "totp" all the same.
func (e *env) useTOTP(user string, step int64, id string) (contract.Grant, error) {
	return e.s.UseTOTP(ctx, user, contract.TOTPUse{Step: step, Sealed: []byte("sealed:" + user), Window: anyStep},
		contract.VerifyParams{Policy: e.pol, Grant: grantParams(id)})
}

func testTOTPSetAndRead(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if _, err := e.s.TOTP(ctx, "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("before setup: %v", err)
	}
	if _, err := e.useTOTP("alice", 10, "g0"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a code without an app: %v", err)
	}
	replaced, err := e.s.SetTOTP(ctx, "alice", []byte("sealed-1"), 100, "")
	if err != nil || replaced {
		t.Fatalf("first setup: replaced %v, %v", replaced, err)
	}
	a, err := e.s.TOTP(ctx, "alice")
	if err != nil || string(a.Sealed) != "sealed-1" || a.LastStep != 100 || !a.Now.Equal(e.clock.Now()) || !a.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("read back: %+v, %v", a, err)
	}
	if replaced, err := e.s.SetTOTP(ctx, "alice", []byte("sealed-2"), 200, ""); err != nil || !replaced {
		t.Fatalf("a replacement: replaced %v, %v", replaced, err)
	}
	if a, _ := e.s.TOTP(ctx, "alice"); string(a.Sealed) != "sealed-2" || a.LastStep != 200 {
		t.Fatalf("after the replacement: %+v", a)
	}
	if _, err := e.s.TOTP(ctx, "bob"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("another user: %v", err)
	}
}

// A step after the last used one is accepted, with a grant, and moves the
// last used step; the same step, or an earlier one, is used: it counts
// nothing and grants nothing.
func testTOTPStepOnce(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.setTOTP("alice", 100)
	if _, err := e.useTOTP("alice", 100, "g0"); !errors.Is(err, contract.ErrCodeUsed) {
		t.Fatalf("the confirming code's step again: %v", err)
	}
	gr, err := e.useTOTP("alice", 101, "g1")
	if err != nil || gr.ID != "g1" || gr.How != "totp" || !gr.FreshAt.Equal(e.clock.Now()) { // How asked: "sms"
		t.Fatalf("the next step: %+v, %v", gr, err)
	}
	for _, step := range []int64{101, 99} {
		if gr, err := e.useTOTP("alice", step, fmt.Sprintf("r%d", step)); !errors.Is(err, contract.ErrCodeUsed) || gr.ID != "" {
			t.Fatalf("step %d after 101: %+v, %v", step, gr, err)
		}
	}
	if a, _ := e.s.TOTP(ctx, "alice"); a.LastStep != 101 {
		t.Fatalf("last step %d, want 101", a.LastStep)
	}
	if _, err := e.s.Grant(ctx, "r101", "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a replay left a grant: %v", err)
	}
}

// Of 50 parallel submissions of one right code, exactly one wins; the rest
// are used, and none counts as a failure.
func testTOTPRace(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout.Threshold = 3 // a loser counted as a failure would lock
	e.setTOTP("alice", 100)
	const n = 50
	errs := parallel(n, func(i int) error {
		_, err := e.useTOTP("alice", 101, fmt.Sprintf("g%d", i))
		return err
	})
	if got := tally(t, errs, contract.ErrCodeUsed); got["ok"] != 1 || got[contract.ErrCodeUsed.Error()] != n-1 {
		t.Fatalf("%d parallel submissions of one code: %v; want exactly one in", n, got)
	}
	var grants int
	if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = 'alice'`).Scan(&grants); err != nil || grants != 1 {
		t.Fatalf("%d grants from one code, %v", grants, err)
	}
	if _, err := e.useTOTP("alice", 102, "next"); err != nil {
		t.Fatalf("the next step after the race: %v (a loser locked the user?)", err)
	}
}

// A step-up by TOTP freshens the sign-in's grant; the code that signed in
// cannot be used again for it, and a grant of another sign-in, or revoked,
// is not freshened.
func testTOTPStepUp(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.setTOTP("alice", 100)
	gr, err := e.useTOTP("alice", 101, "g1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	stepUp := func(step int64, grant, login string) (contract.Grant, error) {
		g := grantParams("")
		g.Login = login
		return e.s.UseTOTP(ctx, "alice", contract.TOTPUse{Step: step, Sealed: []byte("sealed:alice"), Window: anyStep, Freshen: grant},
			contract.VerifyParams{Policy: e.pol, Grant: g})
	}
	if _, err := stepUp(101, gr.ID, "login-tag"); !errors.Is(err, contract.ErrCodeUsed) {
		t.Fatalf("the sign-in code again, for a step-up: %v", err)
	}
	if got, err := stepUp(121, gr.ID, "another-sign-in"); err != nil || got.ID != "" {
		t.Fatalf("a step-up from another sign-in: %+v, %v; want no grant", got, err)
	}
	got, err := stepUp(122, gr.ID, "login-tag")
	if err != nil || got.ID != gr.ID || !got.FreshAt.Equal(e.clock.Now()) {
		t.Fatalf("a step-up: %+v, %v", got, err)
	}
	if _, err := e.s.RevokeGrant(ctx, gr.ID, "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	if got, err := stepUp(123, gr.ID, "login-tag"); err != nil || got.ID != "" {
		t.Fatalf("a step-up of a revoked grant: %+v, %v; want no grant", got, err)
	}
}

// Wrong TOTP codes count in the same account-wide lockout as SMS and
// recovery codes; a lock refuses even a right code, and a success resets.
func testTOTPLockout(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	e.setTOTP("alice", 100)
	if _, err := e.verify(e.open("alice"), "999999"); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("a wrong SMS code: %v", err)
	}
	if _, err := e.useTOTP("alice", -1, "g1"); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("a wrong TOTP code: %v", err)
	}
	_, err := e.useTOTP("alice", -1, "g2")
	wantUntil(t, "the third failure", err, contract.ErrLocked, e.clock.Now().Add(15*time.Minute))
	var le *contract.LimitError
	if !errors.As(err, &le) || !le.Started {
		t.Fatalf("the failure that locked: %v, want Started", err)
	}
	if _, err := e.useTOTP("alice", 101, "g3"); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("a right code while locked: %v", err)
	}
	if a, _ := e.s.TOTP(ctx, "alice"); a.LastStep != 100 {
		t.Fatalf("a refused code claimed its step: %d", a.LastStep)
	}
	e.clock.Advance(16 * time.Minute)
	if _, err := e.useTOTP("alice", -1, "g4"); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("after the lock: %v", err)
	}
	if _, err := e.useTOTP("alice", 101, "g5"); err != nil {
		t.Fatalf("a right code: %v", err)
	}
	for i := range 2 {
		if _, err := e.useTOTP("alice", -1, fmt.Sprintf("w%d", i)); !errors.Is(err, contract.ErrCodeInvalid) {
			t.Fatalf("failure %d after a success: %v (the success did not reset?)", i+1, err)
		}
	}
}

// Setting up, replacing or removing an app revokes every other live grant
// (why "totp_change") and every remembered device, keeping the grant of the
// browser that made the change.
func testTOTPFactorChange(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if _, _, err := e.s.AdoptFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	here := e.signIn("alice", "here", "login-here")
	there := e.signIn("alice", "there", "login-there")
	if err := e.s.AddDevice(ctx, "alice", there.ID, contract.NewDevice{ID: "d1", FactorVersion: e.factor("alice").Version, Lifetime: 24 * time.Hour, MAC: []byte("device-mac")}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		if g, err := e.s.Grant(ctx, here.ID, "alice"); err != nil || !g.Live() {
			t.Fatalf("%s: the changing browser's grant: %+v, %v", what, g, err)
		}
		g, err := e.s.Grant(ctx, there.ID, "alice")
		if err != nil || g.Live() {
			t.Fatalf("%s: the other grant is live: %+v, %v", what, g, err)
		}
		if ds, err := e.s.Devices(ctx, "alice"); err != nil || len(ds) != 0 {
			t.Fatalf("%s: devices %v, %v", what, ds, err)
		}
	}
	if _, err := e.s.SetTOTP(ctx, "alice", []byte("sealed"), 100, here.ID); err != nil {
		t.Fatal(err)
	}
	check("setup")
	// A replacement is a change too.
	there = e.signIn("alice", "there-1", "login-there")
	if err := e.s.AddDevice(ctx, "alice", there.ID, contract.NewDevice{ID: "d2", FactorVersion: e.factor("alice").Version, Lifetime: 24 * time.Hour, MAC: []byte("device-mac-2")}); err != nil {
		t.Fatal(err)
	}
	if replaced, err := e.s.SetTOTP(ctx, "alice", []byte("sealed-2"), 200, here.ID); err != nil || !replaced {
		t.Fatalf("replace: %v %v", replaced, err)
	}
	check("replacement")
	var why string
	q := `SELECT revoked_how FROM sms2fa_grants WHERE id = ?`
	if e.s.Dialect() == store.Postgres {
		q = `SELECT revoked_how FROM sms2fa_grants WHERE id = $1`
	}
	if err := e.s.DB().QueryRowContext(ctx, q, there.ID).Scan(&why); err != nil || why != "totp_change" {
		t.Fatalf("revoked how %q, %v", why, err)
	}
	there = e.signIn("alice", "there-2", "login-there")
	if err := e.s.AddDevice(ctx, "alice", there.ID, contract.NewDevice{ID: "d3", FactorVersion: e.factor("alice").Version, Lifetime: 24 * time.Hour, MAC: []byte("device-mac-3")}); err != nil {
		t.Fatal(err)
	}
	if removed, err := e.s.RemoveTOTP(ctx, "alice", here.ID); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	check("removal")
	if _, err := e.s.TOTP(ctx, "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("after removal: %v", err)
	}
	if removed, err := e.s.RemoveTOTP(ctx, "alice", here.ID); err != nil || removed {
		t.Fatalf("removing it again: %v %v", removed, err)
	}
}

// A secret sealed again (after the guard's secret was rotated) replaces
// the old one only if it is still the old one.
func testTOTPReseal(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.setTOTP("alice", 100)
	if ok, err := e.s.ResealTOTP(ctx, "alice", []byte("not the stored one"), []byte("new")); err != nil || ok {
		t.Fatalf("reseal of another secret: %v %v", ok, err)
	}
	if ok, err := e.s.ResealTOTP(ctx, "alice", []byte("sealed:alice"), []byte("resealed")); err != nil || !ok {
		t.Fatalf("reseal: %v %v", ok, err)
	}
	if a, _ := e.s.TOTP(ctx, "alice"); string(a.Sealed) != "resealed" || a.LastStep != 100 {
		t.Fatalf("after the reseal: %+v", a)
	}
}

// A code matched against a secret that is no longer the user's (replaced,
// or resealed, since it was read) claims nothing and counts nothing: the
// caller reads the secret again.
func testTOTPSecretChanged(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout.Threshold = 1 // a counted failure would lock at once
	e.setTOTP("alice", 100)
	for _, step := range []int64{101, -1} {
		_, err := e.s.UseTOTP(ctx, "alice", contract.TOTPUse{Step: step, Sealed: []byte("an older secret"), Window: anyStep},
			contract.VerifyParams{Policy: e.pol, Grant: grantParams(fmt.Sprint("g", step))})
		if !errors.Is(err, contract.ErrFactorChanged) {
			t.Fatalf("step %d of another secret: %v, want ErrFactorChanged", step, err)
		}
	}
	if a, _ := e.s.TOTP(ctx, "alice"); a.LastStep != 100 {
		t.Fatalf("another secret's code claimed step %d", a.LastStep)
	}
	if _, err := e.useTOTP("alice", 101, "g"); err != nil {
		t.Fatalf("the secret's own code: %v (a failure was counted?)", err)
	}
}

// A step more than the window away from the store's clock is a wrong code,
// whatever clock the caller matched it by; within the window it is taken.
func testTOTPWindow(t *testing.T, o Opener) {
	e := newEnv(t, o)
	now := e.clock.Now().Unix() / 30
	e.setTOTP("alice", now-10)
	use := func(step int64, id string) error {
		_, err := e.s.UseTOTP(ctx, "alice", contract.TOTPUse{Step: step, Sealed: []byte("sealed:alice"), Window: 1},
			contract.VerifyParams{Policy: e.pol, Grant: grantParams(id)})
		return err
	}
	for _, step := range []int64{now - 2, now + 2} {
		if err := use(step, fmt.Sprint("g", step)); !errors.Is(err, contract.ErrCodeInvalid) {
			t.Fatalf("step now%+d with a window of 1: %v, want a wrong code", step-now, err)
		}
	}
	if err := use(now-1, "g-1"); err != nil {
		t.Fatalf("step now-1: %v", err)
	}
	if err := use(now+1, "g+1"); err != nil {
		t.Fatalf("step now+1: %v", err)
	}
}
