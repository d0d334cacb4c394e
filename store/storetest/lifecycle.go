package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/testclock"
)

// The lifecycle cases: factors, the enrol and change flows, recovery codes
// and remembered devices.
var lifecycleCases = []struct {
	name string
	fn   func(t *testing.T, o Opener)
}{
	{"FactorAdoptionRace", testFactorAdoptionRace},
	{"AccountForOperators", testAccount},
	{"FactorVersionsAndRemoval", testFactorLifecycle},
	{"FactorMismatchNotedOnce", testNoteMismatch},
	{"OpenChecksTheFactor", testOpenChecksFactor},
	{"ResendChecksTheFactor", testResendChecksFactor},
	{"EnrolStoresFactorAndGrants", testEnrol},
	{"ChangeStoresFactorAndRevokesOthers", testChange},
	{"ChangeWithRevokedGrantChangesNothing", testChangeRevoked},
	{"StaleFlowsChangeNothing", testStaleFlows},
	{"EndedSignInStaysEnded", testEndSignIn},
	{"RecoveryCodes", testRecoveryCodes},
	{"ConcurrentRecoveryUsesOneWins", testRecoveryRace},
	{"RecoveryFailuresShareTheLockout", testRecoveryLockout},
	{"DeviceRotation", testDeviceRotation},
	{"DeviceReuseRevokes", testDeviceReuse},
	{"DeviceGrace", testDeviceGrace},
	{"DeviceGraceIsTheRotatorsOnly", testDeviceGraceOthers},
	{"DeviceGrantServesItsSignInAgain", testDeviceGrantServesItsSignIn},
	{"LiveGrantsCapped", testGrantCap},
	{"RecoveryRepeatBySameSession", testRecoveryRepeat},
	{"UnlockWithNumber", testUnlockNumber},
	{"ConcurrentTabsOneRotation", testDeviceTabs},
	{"DeviceRevocation", testDeviceRevocation},
	{"DeviceBindings", testDeviceBindings},
	{"DeviceExpiryAndPurge", testDeviceExpiry},
	{"DeviceOnlyFromALiveSignIn", testAddDeviceChecks},
	{"RevokeAllRacingDevices", testRevokeAllRace},
}

const (
	otherPhone = "+919812345678"
	grace      = 30 * time.Second
)

// openFlow creates a challenge of flow for user, to number, with code
// "111111".
func (e *env) openFlow(user string, flow contract.Flow, grantID, number string) contract.Ref {
	e.t.Helper()
	ref := e.ref(user)
	p := e.params(ref, "111111")
	p.Flow, p.GrantID, p.Phone = flow, grantID, number
	if _, created, err := e.s.Open(ctx, p); err != nil || !created {
		e.t.Fatalf("Open %s: created %v, %v", flow, created, err)
	}
	return ref
}

// signIn completes a login challenge of user, creating grant id of sign-in
// login.
func (e *env) signIn(user, id, login string) contract.Grant {
	e.t.Helper()
	g := grantParams(id)
	g.Login = login
	_, gr, err := e.s.Verify(ctx, e.open(user), contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: g})
	if err != nil || gr.ID != id {
		e.t.Fatalf("sign in %s: %+v, %v", id, gr, err)
	}
	return gr
}

func (e *env) factor(user string) contract.Factor {
	e.t.Helper()
	f, err := e.s.Factor(ctx, user)
	if err != nil {
		e.t.Fatalf("Factor(%s) = %v", user, err)
	}
	return f
}

// testOpenChecksFactor: Open with CheckFactor opens only for the user's
// enrolled, unremoved number, and a refusal takes no budget and opens
// nothing.
func testOpenChecksFactor(t *testing.T, o Opener) {
	e := newEnv(t, o)
	b := budget(1, time.Hour)
	try := func(number string, flow contract.Flow) (contract.OpenParams, error) {
		p := e.params(e.ref("alice"), "111111", b)
		p.Phone, p.Flow, p.CheckFactor = number, flow, true
		_, _, err := e.s.Open(ctx, p)
		return p, err
	}
	refused := func(why, number string) {
		t.Helper()
		p, err := try(number, contract.FlowLogin)
		if !errors.Is(err, contract.ErrFactorChanged) {
			t.Fatalf("%s: Open = %v, want ErrFactorChanged", why, err)
		}
		if _, err := e.s.Challenge(ctx, p.Ref); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("%s: a refused Open left a challenge: %v", why, err)
		}
	}
	refused("no factor", phone)
	// Nor did it write anything: a first sign-in's refusal costs no commit.
	var users int
	if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sms2fa_users WHERE user_id = 'alice'`).Scan(&users); err != nil || users != 0 {
		t.Fatalf("a refused Open for a user without a row: %d user rows, %v", users, err)
	}
	if _, _, err := e.s.AdoptFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	refused("another number", otherPhone)
	// The refusals took no budget: the one send of the hour is still there.
	live, err := try(phone, contract.FlowLogin)
	if err != nil {
		t.Fatalf("the enrolled number: %v", err)
	}
	if _, err := try(phone, contract.FlowLogin); !errors.Is(err, contract.ErrBudgetExceeded) {
		t.Fatalf("a second send in the budget: %v, want ErrBudgetExceeded", err)
	}
	if _, err := e.s.RemoveFactor(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// A live challenge to a number removed since is not reused.
	if _, _, err := e.s.Open(ctx, live); !errors.Is(err, contract.ErrFactorChanged) {
		t.Fatalf("reopening a live challenge after the number was removed: %v, want ErrFactorChanged", err)
	}
	e.clock.Advance(time.Hour)
	refused("a removed number", phone)
	// The lock is checked first: a locked user hears of the lock.
	bob := e.open("bob")
	locking := e.pol
	locking.Lockout.Threshold = 1
	if _, _, err := e.s.Verify(ctx, bob, contract.VerifyParams{MAC: mac("000000"), Policy: locking}); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("locking bob: %v", err)
	}
	p := e.params(e.ref("bob"), "111111")
	p.CheckFactor = true
	if _, _, err := e.s.Open(ctx, p); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("a locked user without a factor: %v, want ErrLocked", err)
	}
	if _, err := try(phone, contract.FlowEnrol); err == nil || errors.Is(err, contract.ErrFactorChanged) {
		t.Fatalf("CheckFactor on an enrolment: %v, want a usage error", err)
	}
}

func testFactorAdoptionRace(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if _, err := e.s.Factor(ctx, "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("Factor before any: %v", err)
	}
	const n = 20
	got := make([]contract.Factor, n)
	adopted := make([]bool, n)
	errs := parallel(n, func(i int) error {
		var err error
		got[i], adopted[i], err = e.s.AdoptFactor(ctx, "alice", fmt.Sprintf("+9198765432%02d", i), "IN")
		return err
	})
	winners := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("adoption %d: %v", i, err)
		}
		if adopted[i] {
			winners++
			if got[i].Phone != fmt.Sprintf("+9198765432%02d", i) {
				t.Fatalf("the winner %d got %+v, not its own number", i, got[i])
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent adoptions: %d adopted, want exactly 1", n, winners)
	}
	stored := e.factor("alice")
	for i := range got {
		if got[i] != stored {
			t.Fatalf("adoption %d saw %+v, the store holds %+v", i, got[i], stored)
		}
	}
	if stored.Version != 1 || stored.Removed || stored.Region != "IN" || !stored.EnrolledAt.Equal(testclock.Start) || stored.UserID != "alice" {
		t.Fatalf("adopted factor = %+v", stored)
	}
}

func testFactorLifecycle(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if f, adopted, err := e.s.AdoptFactor(ctx, "alice", phone, "IN"); err != nil || !adopted || f.Version != 1 {
		t.Fatalf("adopt: %+v, %v, %v", f, adopted, err)
	}
	e.clock.Advance(time.Minute)
	f, old, err := e.s.SetFactor(ctx, "alice", otherPhone, "IN")
	if err != nil || f.Phone != otherPhone || f.Version != 2 || !f.EnrolledAt.Equal(e.clock.Now()) || old.Phone != phone || old.Version != 1 {
		t.Fatalf("set: %+v (old %+v), %v", f, old, err)
	}
	e.clock.Advance(time.Minute)
	old, err = e.s.RemoveFactor(ctx, "alice")
	if err != nil || old.Phone != otherPhone || old.Version != 2 || old.Removed {
		t.Fatalf("remove: old %+v, %v", old, err)
	}
	if f := e.factor("alice"); !f.Removed || f.Phone != "" || f.Version != 3 {
		t.Fatalf("after removal: %+v", f)
	}
	// The removal marker stops the app's number from being adopted again.
	f, adopted, err := e.s.AdoptFactor(ctx, "alice", phone, "IN")
	if err != nil || adopted || !f.Removed || f.Version != 3 {
		t.Fatalf("adopt after removal: %+v, adopted %v, %v", f, adopted, err)
	}
	f, old, err = e.s.SetFactor(ctx, "alice", phone, "IN")
	if err != nil || f.Removed || f.Phone != phone || f.Version != 4 || !old.Removed {
		t.Fatalf("set after removal: %+v (old %+v), %v", f, old, err)
	}
	// Removing a user who never had a factor leaves the marker too; setting
	// one for a user without any starts at version 1.
	old, err = e.s.RemoveFactor(ctx, "bob")
	if err != nil || old != (contract.Factor{}) {
		t.Fatalf("remove without a factor: old %+v, %v", old, err)
	}
	if f := e.factor("bob"); !f.Removed || f.Version != 1 {
		t.Fatalf("bob after removal: %+v", f)
	}
	if _, adopted, _ := e.s.AdoptFactor(ctx, "bob", phone, "IN"); adopted {
		t.Fatal("bob's number was adopted over the removal marker")
	}
	f, old, err = e.s.SetFactor(ctx, "carol", phone, "IN")
	if err != nil || f.Version != 1 || old != (contract.Factor{}) {
		t.Fatalf("set without a factor: %+v (old %+v), %v", f, old, err)
	}
	// A locked user's factor can still be changed: a lock stops guesses,
	// not administration.
	e.pol.Lockout.Threshold = 1
	if _, err := e.verify(e.open("carol"), "9"); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("locking carol: %v", err)
	}
	if f, _, err := e.s.SetFactor(ctx, "carol", otherPhone, "IN"); err != nil || f.Version != 2 {
		t.Fatalf("set while locked: %+v, %v", f, err)
	}
}

func testNoteMismatch(t *testing.T, o Opener) {
	e := newEnv(t, o)
	if fresh, err := e.s.NoteMismatch(ctx, "alice", "t1"); err != nil || fresh {
		t.Fatalf("note without a factor: %v, %v", fresh, err)
	}
	if _, _, err := e.s.AdoptFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		tag   string
		fresh bool
	}{{"t1", true}, {"t1", false}, {"t2", true}, {"t2", false}, {"t1", true}} {
		if fresh, err := e.s.NoteMismatch(ctx, "alice", c.tag); err != nil || fresh != c.fresh {
			t.Fatalf("note %d (%s): %v, %v; want %v", i, c.tag, fresh, err, c.fresh)
		}
	}
	// Concurrent notes of one new tag: one finds it fresh.
	errs := parallel(10, func(int) error {
		fresh, err := e.s.NoteMismatch(ctx, "alice", "t3")
		if err == nil && !fresh {
			err = contract.ErrNotFound // counted as "not fresh"
		}
		return err
	})
	if got := tally(t, errs, contract.ErrNotFound); got["ok"] != 1 {
		t.Fatalf("10 concurrent notes of one tag: %v; want one fresh", got)
	}
	// A new number is a new situation: the same tag is news again.
	if _, _, err := e.s.SetFactor(ctx, "alice", otherPhone, "IN"); err != nil {
		t.Fatal(err)
	}
	if fresh, err := e.s.NoteMismatch(ctx, "alice", "t3"); err != nil || !fresh {
		t.Fatalf("note after a change of number: %v, %v", fresh, err)
	}
}

func testEnrol(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := e.openFlow("alice", contract.FlowEnrol, "", otherPhone)
	// A wrong code stores nothing.
	if _, _, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("9"), Policy: e.pol, Grant: grantParams("g1")}); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("wrong enrol code: %v", err)
	}
	if _, err := e.s.Factor(ctx, "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a wrong code enrolled: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("g1")})
	if err != nil || gr.ID != "g1" || !gr.Live() || !gr.FreshWithin(time.Second) || gr.How != "sms" {
		t.Fatalf("enrol: grant %+v, %v", gr, err)
	}
	if f := e.factor("alice"); f.Phone != otherPhone || f.Region != "IN" || f.Version != 1 || !f.EnrolledAt.Equal(e.clock.Now()) {
		t.Fatalf("enrolled factor = %+v", f)
	}
	// Enrolling over an adopted (or removed) factor replaces it, bumping
	// the version.
	if _, _, err := e.s.AdoptFactor(ctx, "bob", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RemoveFactor(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	ref = e.openFlow("bob", contract.FlowEnrol, "", otherPhone)
	if _, _, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	if f := e.factor("bob"); f.Phone != otherPhone || f.Version != 3 || f.Removed {
		t.Fatalf("bob re-enrolled: %+v", f)
	}
}

// changeSetup gives alice a factor (phone), two sign-ins (g1, g2), a device
// d1 and a live change challenge of g1 to otherPhone; bob gets a grant and
// a device.
func changeSetup(e *env) contract.Ref {
	e.t.Helper()
	if _, _, err := e.s.SetFactor(ctx, "alice", phone, "IN"); err != nil {
		e.t.Fatal(err)
	}
	e.signIn("alice", "g1", "L1")
	e.signIn("alice", "g2", "L2")
	e.signIn("bob", "b1", "L3")
	e.addDevice("alice", "d1", "A", 1, time.Hour)
	e.addDevice("bob", "e1", "A", 1, time.Hour)
	return e.openFlow("alice", contract.FlowChange, "g1", otherPhone)
}

func testChange(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := changeSetup(e)
	e.clock.Advance(3 * time.Minute) // within the code's life; the grants are no longer fresh
	// The change freshens g1 only for g1's own sign-in (L1).
	g9 := grantParams("g9")
	g9.Login = "L1"
	_, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: g9})
	if err != nil || gr.ID != "g1" || !gr.FreshWithin(time.Second) {
		t.Fatalf("change: grant %+v, %v", gr, err)
	}
	if _, err := e.s.Grant(ctx, "g9", "alice"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a change created a grant: %v", err)
	}
	if f := e.factor("alice"); f.Phone != otherPhone || f.Version != 2 || !f.EnrolledAt.Equal(e.clock.Now()) {
		t.Fatalf("changed factor = %+v", f)
	}
	for id, live := range map[string]bool{"g1": true, "g2": false} {
		if g, err := e.s.Grant(ctx, id, "alice"); err != nil || g.Live() != live {
			t.Fatalf("%s after the change: %+v, %v; want live %v", id, g, err, live)
		}
	}
	var how string
	if err := e.s.DB().QueryRowContext(ctx, `SELECT revoked_how FROM sms2fa_grants WHERE id = 'g2'`).Scan(&how); err != nil || how != "number_change" {
		t.Fatalf("g2 revoked as %q, %v; want number_change", how, err)
	}
	if ds, err := e.s.Devices(ctx, "alice"); err != nil || len(ds) != 0 {
		t.Fatalf("alice's devices after the change: %+v, %v", ds, err)
	}
	// Bob is untouched.
	if g, _ := e.s.Grant(ctx, "b1", "bob"); !g.Live() {
		t.Fatal("alice's change revoked bob's grant")
	}
	if ds, _ := e.s.Devices(ctx, "bob"); len(ds) != 1 {
		t.Fatalf("alice's change touched bob's devices: %+v", ds)
	}
}

func testChangeRevoked(t *testing.T, o Opener) {
	e := newEnv(t, o)
	ref := changeSetup(e)
	if live, err := e.s.RevokeGrant(ctx, "g1", "alice", "logout"); err != nil || !live {
		t.Fatalf("revoke g1: %v, %v", live, err)
	}
	c, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol})
	if err != nil || gr != (contract.Grant{}) || c.ConsumedAt.IsZero() {
		t.Fatalf("change of a revoked grant: %+v, grant %+v, %v; want the code consumed and no grant", c, gr, err)
	}
	if f := e.factor("alice"); f.Phone != phone || f.Version != 1 {
		t.Fatalf("a change without a live grant changed the factor: %+v", f)
	}
	if g, _ := e.s.Grant(ctx, "g2", "alice"); !g.Live() {
		t.Fatal("a change without a live grant revoked g2")
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 1 {
		t.Fatalf("a change without a live grant revoked devices: %+v", ds)
	}
	// Expired works the same as revoked.
	ref = e.openFlow("alice", contract.FlowChange, "g2", otherPhone)
	e.clock.Advance(time.Hour) // g2 expires; the code was renewed below
	if _, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("111111"), Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	if _, gr, err := e.s.Verify(ctx, ref, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol}); err != nil || gr.ID != "" {
		t.Fatalf("change of an expired grant: %+v, %v", gr, err)
	}
	if f := e.factor("alice"); f.Version != 1 {
		t.Fatalf("a change of an expired grant changed the factor: %+v", f)
	}
}

// codes returns n recovery code MACs for user, tagged by set.
func codes(user, set string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = mac(fmt.Sprintf("%s-%s-%d", user, set, i))
	}
	return out
}

func (e *env) useCode(user string, m []byte, grantID string) (int, contract.Grant, error) {
	g := contract.GrantParams{}
	if grantID != "" {
		g = grantParams(grantID)
		g.How = "sms" // the store says how, whatever the caller asks
	}
	return e.s.UseRecoveryCode(ctx, user, m, contract.VerifyParams{Policy: e.pol, Grant: g})
}

func testRecoveryCodes(t *testing.T, o Opener) {
	e := newEnv(t, o)
	alice, bob := codes("alice", "1", 10), codes("bob", "1", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", alice); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ReplaceRecoveryCodes(ctx, "bob", bob); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.RecoveryCodesLeft(ctx, "alice"); err != nil || n != 10 {
		t.Fatalf("left = %d, %v", n, err)
	}
	e.clock.Advance(time.Minute)
	left, gr, err := e.useCode("alice", alice[3], "g1")
	if err != nil || left != 9 || gr.ID != "g1" || gr.How != "recovery" || !gr.FreshWithin(time.Second) || !gr.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("use: left %d, grant %+v, %v", left, gr, err)
	}
	if g, err := e.s.Grant(ctx, "g1", "alice"); err != nil || g.How != "recovery" || !g.Live() {
		t.Fatalf("the recovery grant: %+v, %v", g, err)
	}
	// A used code is spent.
	if _, gr, err := e.useCode("alice", alice[3], "g2"); !errors.Is(err, contract.ErrCodeInvalid) || gr.ID != "" {
		t.Fatalf("a used code again: %+v, %v", gr, err)
	}
	// Another user's code never works, and is not spent by trying.
	if left, _, err := e.useCode("alice", bob[0], ""); !errors.Is(err, contract.ErrCodeInvalid) || left != 9 {
		t.Fatalf("bob's code for alice: left %d, %v", left, err)
	}
	if n, _ := e.s.RecoveryCodesLeft(ctx, "bob"); n != 10 {
		t.Fatalf("bob has %d codes left", n)
	}
	// Replacing invalidates every old code, used or not.
	fresh := codes("alice", "2", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", fresh); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.s.RecoveryCodesLeft(ctx, "alice"); n != 10 {
		t.Fatalf("after replacing: %d left", n)
	}
	if _, _, err := e.useCode("alice", alice[0], ""); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("an old code after replacing: %v", err)
	}
	if left, _, err := e.useCode("alice", fresh[0], ""); err != nil || left != 9 {
		t.Fatalf("a new code: left %d, %v", left, err)
	}
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.s.RecoveryCodesLeft(ctx, "alice"); n != 0 {
		t.Fatalf("after replacing with none: %d left", n)
	}
}

func testRecoveryRace(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const n = 20
	e.pol.Lockout.Threshold = 10 * n // every loser is a counted failure, none locks
	cs := codes("alice", "1", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", cs); err != nil {
		t.Fatal(err)
	}
	errs := parallel(n, func(i int) error {
		_, _, err := e.useCode("alice", cs[0], fmt.Sprintf("g%d", i))
		return err
	})
	got := tally(t, errs, contract.ErrCodeInvalid)
	if got["ok"] != 1 || got[contract.ErrCodeInvalid.Error()] != n-1 {
		t.Fatalf("%d concurrent uses of one code: %v; want exactly one success", n, got)
	}
	if left, _ := e.s.RecoveryCodesLeft(ctx, "alice"); left != 9 {
		t.Fatalf("left = %d, want 9", left)
	}
	var grants int
	if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = 'alice'`).Scan(&grants); err != nil || grants != 1 {
		t.Fatalf("%d grants from one code, %v", grants, err)
	}
}

// The right code shown again by the session that spent it, moments later
// (a double click, parallel submissions of one form), is "used", not a
// guess: it neither counts nor locks. From anyone else, or later, it is a
// wrong code as before.
func testRecoveryRepeat(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	cs := codes("alice", "1", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", cs); err != nil {
		t.Fatal(err)
	}
	use := func(code []byte, session, grant string) error {
		_, _, err := e.s.UseRecoveryCode(ctx, "alice", code, contract.VerifyParams{Policy: e.pol, Grant: grantParams(grant), Session: session})
		return err
	}
	const n = 12
	errs := parallel(n, func(i int) error { return use(cs[0], "S1", fmt.Sprintf("p%d", i)) })
	if got := tally(t, errs, contract.ErrCodeUsed); got["ok"] != 1 || got[contract.ErrCodeUsed.Error()] != n-1 {
		t.Fatalf("%d parallel submissions of one right code: %v; want 1 in, the rest used", n, got)
	}
	e.clock.Advance(29 * time.Second)
	if err := use(cs[0], "S1", "x1"); !errors.Is(err, contract.ErrCodeUsed) {
		t.Fatalf("the same session 29 s later: %v; want ErrCodeUsed", err)
	}
	// Not one failure was counted: three wrong codes are needed to lock.
	for i := range 2 {
		if err := use(mac("nope"), "S1", ""); !errors.Is(err, contract.ErrCodeInvalid) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	if err := use(cs[0], "S2", ""); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("the spent code from another session: %v; want it counted (the third failure, locking)", err)
	}
	e.clock.Advance(15 * time.Minute)
	if err := use(cs[0], "S1", ""); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("the same session much later: %v; want a wrong code", err)
	}
	if err := use(cs[1], "", ""); err != nil {
		t.Fatal(err)
	}
	if err := use(cs[1], "", ""); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("a repeat with no session named: %v; want a wrong code", err)
	}
}

func testRecoveryLockout(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 3, Duration: 15 * time.Minute, Max: time.Hour}
	cs := codes("alice", "1", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", cs); err != nil {
		t.Fatal(err)
	}
	// A wrong SMS code and a wrong recovery code draw on one budget.
	if _, err := e.verify(e.open("alice"), "9"); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("wrong sms code: %v", err)
	}
	if left, _, err := e.useCode("alice", mac("nope"), ""); !errors.Is(err, contract.ErrCodeInvalid) || left != 10 {
		t.Fatalf("wrong recovery code: left %d, %v", left, err)
	}
	until := e.clock.Now().Add(15 * time.Minute)
	_, _, err := e.useCode("alice", mac("nope"), "")
	wantUntil(t, "the failure at the threshold", err, contract.ErrLocked, until)
	wantStarted(t, "the failure at the threshold", err, true)
	// Locked: a right code is refused before it is looked at, and not spent.
	_, gr, err := e.useCode("alice", cs[0], "g1")
	wantUntil(t, "a right code while locked", err, contract.ErrLocked, until)
	wantStarted(t, "a right code while locked", err, false)
	if n, _ := e.s.RecoveryCodesLeft(ctx, "alice"); n != 10 || gr.ID != "" {
		t.Fatalf("a locked use spent a code (%d left) or granted %+v", n, gr)
	}
	// After the lock, a right code resets the failures and the doubling.
	e.clock.Advance(15 * time.Minute)
	if _, _, err := e.useCode("alice", cs[0], "g1"); err != nil {
		t.Fatalf("right code after the lock: %v", err)
	}
	for range 2 {
		if _, _, err := e.useCode("alice", mac("nope"), ""); !errors.Is(err, contract.ErrCodeInvalid) {
			t.Fatalf("wrong code after a success: %v", err)
		}
	}
	_, _, err = e.useCode("alice", mac("nope"), "")
	wantUntil(t, "lock after success (not doubled)", err, contract.ErrLocked, e.clock.Now().Add(15*time.Minute))
}

// addDevice remembers device id of user with token, under factor version,
// for life, from a sign-in of its own.
func (e *env) addDevice(user, id, token string, version int64, life time.Duration) {
	e.t.Helper()
	gr := e.signIn(user, fmt.Sprintf("sign-in-%d", e.n.Add(1)), "")
	if err := e.s.AddDevice(ctx, user, gr.ID, e.device(id, token, version, life)); err != nil {
		e.t.Fatalf("AddDevice(%s): %v", id, err)
	}
}

// device describes device id with first token, under factor version, for
// life.
func (e *env) device(id, token string, version int64, life time.Duration) contract.NewDevice {
	return contract.NewDevice{ID: id, Label: "Firefox on Linux", FactorVersion: version, Lifetime: life, MAC: mac(token)}
}

// useDevice shows token on device id of user, rotating it to next, under
// factor version 1 and sign-in login.
func (e *env) useDevice(user, id, token, next, login string) (contract.Grant, error) {
	return e.useDeviceV(user, id, token, next, login, 1)
}

func (e *env) useDeviceV(user, id, token, next, login string, version int64) (contract.Grant, error) {
	gr, _, err := e.useDeviceR(user, id, token, next, login, version)
	return gr, err
}

// useDeviceR is useDeviceV, reporting whether the token rotated.
func (e *env) useDeviceR(user, id, token, next, login string, version int64) (contract.Grant, bool, error) {
	g := grantParams("dg-" + next)
	g.Login, g.How = login, "sms" // the store says how, whatever the caller asks
	return e.s.UseDevice(ctx, user, id, mac(token), mac(next), version, grace, contract.VerifyParams{Policy: e.pol, Grant: g})
}

func testDeviceRotation(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, 30*24*time.Hour)
	ds, err := e.s.Devices(ctx, "alice")
	if err != nil || len(ds) != 1 || ds[0].ID != "d1" || ds[0].Label != "Firefox on Linux" || ds[0].FactorVersion != 1 ||
		!ds[0].CreatedAt.Equal(testclock.Start) || !ds[0].LastUsedAt.Equal(testclock.Start) || !ds[0].ExpiresAt.Equal(testclock.Start.Add(30*24*time.Hour)) {
		t.Fatalf("Devices = %+v, %v", ds, err)
	}
	e.clock.Advance(time.Hour)
	gr, rotated, err := e.useDeviceR("alice", "d1", "A", "B", "L1", 1)
	if !rotated {
		t.Fatal("use A→B did not report the rotation")
	}
	if err != nil || gr.ID != "dg-B" || gr.How != "device" || !gr.FreshAt.IsZero() || gr.FreshWithin(time.Hour) || !gr.Live() || gr.Login != "L1" {
		t.Fatalf("use A→B: %+v, %v; want a live, never fresh, device grant", gr, err)
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 1 || !ds[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("after use: %+v", ds)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.useDevice("alice", "d1", "B", "C", "L2"); err != nil {
		t.Fatalf("use B→C: %v", err)
	}
	if _, err := e.useDevice("alice", "d1", "C", "D", ""); err != nil {
		t.Fatalf("use C→D: %v", err)
	}
	// A device's token that is neither its current nor its last one — two
	// rotations old, or never issued — means a copy was used since: the
	// device is revoked, as for a reuse.
	e.addDevice("alice", "d2", "P", 1, time.Hour)
	if _, err := e.useDevice("alice", "d2", "P", "Q", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.useDevice("alice", "d2", "Q", "R", ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour / 2)
	if _, err := e.useDevice("alice", "d2", "P", "S", ""); !errors.Is(err, contract.ErrDeviceReuse) {
		t.Fatalf("a token two rotations old: %v", err)
	}
	if _, err := e.useDevice("alice", "d2", "R", "T", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("the current token of a device revoked for reuse: %v", err)
	}
	if _, err := e.useDevice("alice", "d1", "Z", "Y", "other-user-login"); !errors.Is(err, contract.ErrDeviceReuse) {
		t.Fatalf("a token never issued: %v", err)
	}
	e.addDevice("alice", "d1b", "D", 1, time.Hour) // d1 is gone; the locked-user case goes on with a new device
	// A locked user is refused before anything is compared.
	e.pol.Lockout.Threshold = 1
	if _, err := e.verify(e.open("alice"), "9"); !errors.Is(err, contract.ErrLocked) {
		t.Fatal(err)
	}
	_, err = e.useDevice("alice", "d1b", "D", "E", "")
	wantUntil(t, "a device of a locked user", err, contract.ErrLocked, e.clock.Now().Add(e.pol.Lockout.Duration))
	e.clock.Advance(e.pol.Lockout.Duration)
	if _, err := e.useDevice("alice", "d1b", "D", "E", ""); err != nil {
		t.Fatalf("the token a locked use did not rotate: %v", err)
	}
}

func testDeviceReuse(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, 30*24*time.Hour)
	thief, err := e.useDevice("alice", "d1", "A", "B", "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(grace)
	gr, err := e.useDevice("alice", "d1", "A", "X", "")
	if !errors.Is(err, contract.ErrDeviceReuse) || gr.ID != "" {
		t.Fatalf("A after the grace: %+v, %v; want ErrDeviceReuse", gr, err)
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 0 {
		t.Fatalf("a reused device is still listed: %+v", ds)
	}
	if g, err := e.s.Grant(ctx, thief.ID, "alice"); err != nil || g.Live() {
		t.Fatalf("the grant the copy made: %+v, %v; want it revoked with the device", g, err)
	}
	// The revocation committed: the holder of the current token is out too.
	if _, err := e.useDevice("alice", "d1", "B", "C", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("B after the reuse: %v", err)
	}
	if live, err := e.s.RevokeDevice(ctx, "alice", "d1"); err != nil || live {
		t.Fatalf("revoking the reused device: %v, %v; want it already revoked", live, err)
	}
}

func testDeviceGrace(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, 30*24*time.Hour)
	first, err := e.useDevice("alice", "d1", "A", "B", "L1")
	if err != nil {
		t.Fatal(err)
	}
	// The sign-in that rotated A shows it again an instant later (a second
	// tab, or the answer carrying B was lost): it gets in, and is told that
	// B — the successor it asks for — is the device's token.
	e.clock.Advance(grace - time.Millisecond)
	gr, rotated, err := e.useDeviceR("alice", "d1", "A", "B", "L1", 1)
	if err != nil || !rotated || gr.ID != first.ID || gr.How != "device" || !gr.FreshAt.IsZero() {
		t.Fatalf("A within the grace, by the sign-in that rotated it: %+v, rotated %v, %v; want its grant %s again", gr, rotated, err, first.ID)
	}
	// Asking for a successor that is not the device's token hands out none.
	if _, rotated, err := e.useDeviceR("alice", "d1", "A", "X", "L1", 1); err != nil || rotated {
		t.Fatalf("A within the grace, asking for X: rotated %v, %v; want in, not rotated", rotated, err)
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 1 || !ds[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("after a use within the grace: %+v", ds)
	}
	if _, err := e.useDevice("alice", "d1", "B", "C", "L1"); err != nil {
		t.Fatalf("B after a use within the grace: %v", err)
	}
	// X was never stored: shown now, it is a token the device never had.
	if _, err := e.useDevice("alice", "d1", "X", "Y", "L1"); !errors.Is(err, contract.ErrDeviceReuse) {
		t.Fatalf("a successor never handed out: %v; want a reuse", err)
	}
}

// The rotated-out token is the grace's only for the sign-in that rotated
// it: shown by another sign-in — at once or not, whether or not the new
// token was ever shown — or by the same one after the grace, it is a copy.
func testDeviceGraceOthers(t *testing.T, o Opener) {
	e := newEnv(t, o)
	for _, c := range []struct {
		user, login string // a user for each case, and who shows the old token
		after       time.Duration
	}{
		{"alice", "L2", 0}, // another sign-in, at once
		{"bob", "", 0},     // a sign-in the app does not name
		{"carol", "L1", grace},
	} {
		e.addDevice(c.user, "d-"+c.user, "A", 1, 30*24*time.Hour)
		own := e.signIn(c.user, "own-"+c.user, "L9") // a sign-in by code: not the device's
		thief, err := e.useDevice(c.user, "d-"+c.user, "A", "B-"+c.user, "L1")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(c.after)
		if gr, err := e.useDevice(c.user, "d-"+c.user, "A", "X-"+c.user, c.login); !errors.Is(err, contract.ErrDeviceReuse) || gr.ID != "" {
			t.Fatalf("%s: A shown by %q %v after the rotation: %+v, %v; want ErrDeviceReuse", c.user, c.login, c.after, gr, err)
		}
		for id, live := range map[string]bool{thief.ID: false, own.ID: true} {
			if gr, err := e.s.Grant(ctx, id, c.user); err != nil || gr.Live() != live {
				t.Fatalf("%s: grant %s after the reuse: %+v, %v; want live %v", c.user, id, gr, err, live)
			}
		}
		if _, err := e.useDevice(c.user, "d-"+c.user, "B-"+c.user, "C-"+c.user, "L1"); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("%s: B after the reuse: %v", c.user, err)
		}
	}
}

// A browser that keeps showing its device cookie without the mark (the
// mark cookie lost, or a client that never keeps it) is handed the grant
// the device already made for its sign-in, not a new one each time.
func testDeviceGrantServesItsSignIn(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, 30*24*time.Hour)
	first, err := e.useDevice("alice", "d1", "A", "B", "L1")
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{"B", "C", "D", "E", "F"}
	for i, tok := range tokens[:len(tokens)-1] {
		gr, err := e.useDevice("alice", "d1", tok, tokens[i+1], "L1")
		if err != nil || gr.ID != first.ID {
			t.Fatalf("use %d: %+v, %v; want grant %s again", i+2, gr, err, first.ID)
		}
	}
	// Another sign-in gets a grant of its own.
	other, err := e.useDevice("alice", "d1", "F", "G", "L2")
	if err != nil || other.ID == first.ID || other.ID == "" {
		t.Fatalf("another sign-in: %+v, %v; want a grant of its own", other, err)
	}
	// Once the first one ends, the device makes it no new grant.
	if _, err := e.s.RevokeGrant(ctx, first.ID, "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.useDevice("alice", "d1", "G", "H", "L1"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("the device for a revoked sign-in: %v", err)
	}
	if gr, err := e.s.Grant(ctx, other.ID, "alice"); err != nil || !gr.Live() {
		t.Fatalf("the second sign-in's grant: %+v, %v; want it live", gr, err)
	}
}

// liveGrants counts user's live grants.
func (e *env) liveGrants(user string) int {
	e.t.Helper()
	var n int
	q := fmt.Sprintf(`SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = '%s' AND revoked_at = 0 AND expires_at > %d`, user, e.clock.Now().UnixMilli())
	if err := e.s.DB().QueryRowContext(ctx, q).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// Policy.MaxGrants caps a user's live grants whichever way they are made:
// the newest stay, the oldest are revoked.
func testGrantCap(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.MaxGrants = 3
	for i := range 5 {
		e.signIn("alice", fmt.Sprintf("g%d", i), "")
		e.clock.Advance(time.Millisecond)
	}
	e.signIn("bob", "b0", "") // another user's are not counted
	if n := e.liveGrants("alice"); n != 3 {
		t.Fatalf("%d live grants after 5 sign-ins; want the cap, 3", n)
	}
	for id, live := range map[string]bool{"g0": false, "g1": false, "g2": true, "g3": true, "g4": true, "b0": true} {
		user := "alice"
		if id == "b0" {
			user = "bob"
		}
		if gr, err := e.s.Grant(ctx, id, user); err != nil || gr.Live() != live {
			t.Fatalf("grant %s: %+v, %v; want live %v", id, gr, err, live)
		}
	}
	cs := codes("alice", "1", 10)
	if err := e.s.ReplaceRecoveryCodes(ctx, "alice", cs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.UseRecoveryCode(ctx, "alice", cs[0], contract.VerifyParams{Policy: e.pol, Grant: grantParams("r1")}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond)
	e.addDevice("alice", "d1", "A", 1, time.Hour) // signs in once more
	e.clock.Advance(time.Millisecond)
	dg, err := e.useDevice("alice", "d1", "A", "B", "L1")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.liveGrants("alice"); n != 3 {
		t.Fatalf("%d live grants after a recovery code and a device; want 3", n)
	}
	for _, id := range []string{"r1", dg.ID} {
		if gr, err := e.s.Grant(ctx, id, "alice"); err != nil || !gr.Live() {
			t.Fatalf("the newest grant %s: %+v, %v; want live", id, gr, err)
		}
	}
	e.pol.MaxGrants = 0 // no cap
	for i := range 3 {
		e.signIn("alice", fmt.Sprintf("u%d", i), "")
	}
	if n := e.liveGrants("alice"); n != 6 {
		t.Fatalf("%d live grants without a cap; want 6", n)
	}
	// Grants made in the same millisecond are capped exactly, by ID.
	e.pol.MaxGrants = 2
	for i := range 4 {
		e.signIn("carol", fmt.Sprintf("c%d", i), "")
	}
	if n := e.liveGrants("carol"); n != 2 {
		t.Fatalf("%d live grants made in one millisecond; want the cap, 2", n)
	}
	// An expired grant is not live: it neither counts nor is revoked.
	e.signIn("dave", "d-old", "")
	e.clock.Advance(time.Hour) // grantParams' lifetime
	e.signIn("dave", "d1", "")
	e.signIn("dave", "d2", "")
	if n := e.liveGrants("dave"); n != 2 {
		t.Fatalf("%d live grants beside an expired one; want 2", n)
	}
	if gr, err := e.s.Grant(ctx, "d-old", "dave"); err != nil || !gr.RevokedAt.IsZero() {
		t.Fatalf("the expired grant: %+v, %v; want it left as it was", gr, err)
	}
}

func testDeviceRevocation(t *testing.T, o Opener) {
	e := newEnv(t, o)
	for _, id := range []string{"d1", "d2", "d3"} {
		e.addDevice("alice", id, "A", 1, time.Hour)
		e.clock.Advance(time.Second)
	}
	e.addDevice("bob", "e1", "A", 1, time.Hour)
	// Most recently used first.
	if _, err := e.useDevice("alice", "d1", "A", "B", ""); err != nil {
		t.Fatal(err)
	}
	ds, err := e.s.Devices(ctx, "alice")
	if err != nil || len(ds) != 3 || ds[0].ID != "d1" || ds[1].ID != "d3" || ds[2].ID != "d2" {
		t.Fatalf("Devices = %+v, %v; want d1, d3, d2", ds, err)
	}
	if live, err := e.s.RevokeDevice(ctx, "bob", "d1"); err != nil || live {
		t.Fatalf("bob revoked alice's device: %v, %v", live, err)
	}
	if live, err := e.s.RevokeDevice(ctx, "alice", "d1"); err != nil || !live {
		t.Fatalf("revoke d1: %v, %v", live, err)
	}
	if live, err := e.s.RevokeDevice(ctx, "alice", "d1"); err != nil || live {
		t.Fatalf("revoke d1 twice: %v, %v", live, err)
	}
	if _, err := e.useDevice("alice", "d1", "B", "C", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a revoked device: %v", err)
	}
	if _, n, err := e.s.RevokeAll(ctx, "alice", "sign_out_everywhere"); err != nil || n != 2 {
		t.Fatalf("revoke all: %d devices, %v", n, err)
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 0 {
		t.Fatalf("after revoking all: %+v", ds)
	}
	if _, err := e.useDevice("alice", "d2", "A", "B", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a device revoked with all: %v", err)
	}
	if _, n, err := e.s.RevokeAll(ctx, "alice", "sign_out_everywhere"); err != nil || n != 0 {
		t.Fatalf("revoke all again: %d devices, %v", n, err)
	}
	if ds, _ := e.s.Devices(ctx, "bob"); len(ds) != 1 {
		t.Fatalf("revoking alice's devices touched bob's: %+v", ds)
	}
}

func testDeviceBindings(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, time.Hour)
	// Another user never uses it, and trying changes nothing.
	if _, err := e.useDevice("bob", "d1", "A", "B", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("bob on alice's device: %v", err)
	}
	// A device remembered under another factor version proved another number.
	if _, err := e.useDeviceV("alice", "d1", "A", "B", "", 2); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("another factor version: %v", err)
	}
	// A sign-in with a revoked grant stays signed out.
	e.signIn("alice", "g1", "L1")
	if _, err := e.s.RevokeGrant(ctx, "g1", "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.useDevice("alice", "d1", "A", "B", "L1"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a device in a logged-out sign-in: %v", err)
	}
	// None of the refusals rotated the token.
	if _, err := e.useDevice("alice", "d1", "A", "B", "L2"); err != nil {
		t.Fatalf("another sign-in: %v", err)
	}
	if _, err := e.useDevice("alice", "d1", "B", "C", ""); err != nil {
		t.Fatalf("no sign-in tag: %v", err)
	}
}

func testDeviceExpiry(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, time.Hour)
	e.addDevice("alice", "d2", "A", 1, 2*time.Hour)
	e.addDevice("alice", "d3", "A", 1, 2*time.Hour)
	if _, err := e.s.RevokeDevice(ctx, "alice", "d3"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour - time.Millisecond)
	if _, err := e.useDevice("alice", "d1", "A", "B", ""); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.useDevice("alice", "d1", "B", "C", ""); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("at expiry: %v", err)
	}
	if ds, _ := e.s.Devices(ctx, "alice"); len(ds) != 1 || ds[0].ID != "d2" {
		t.Fatalf("live devices = %+v, want d2", ds)
	}
	if live, err := e.s.RevokeDevice(ctx, "alice", "d1"); err != nil || live {
		t.Fatalf("revoking an expired device: %v, %v", live, err)
	}
	// The expired and the revoked device go; the live one stays.
	p, err := e.s.Purge(ctx)
	if err != nil || p.Devices != 2 {
		t.Fatalf("purge: %+v, %v; want 2 devices", p, err)
	}
	if _, err := e.useDevice("alice", "d2", "A", "B2", ""); err != nil {
		t.Fatalf("a live device after a purge: %v", err)
	}
}

func testDeviceTabs(t *testing.T, o Opener) {
	// Tabs of one browser restored at once all show token A and ask for the
	// successor derived from it, N: every one gets in, exactly one rotates
	// it, every one is told N is the device's token, and together they make
	// one grant.
	e := newEnv(t, o)
	e.addDevice("alice", "d1", "A", 1, time.Hour)
	const n = 10
	var (
		rotations atomic.Int64
		mu        sync.Mutex
		grants    = map[string]bool{}
	)
	errs := parallel(n, func(i int) error {
		g := grantParams(fmt.Sprintf("tab-%d", i))
		g.Login = "L1"
		gr, rotated, err := e.s.UseDevice(ctx, "alice", "d1", mac("A"), mac("N"), 1, grace, contract.VerifyParams{Policy: e.pol, Grant: g})
		if rotated {
			rotations.Add(1)
		}
		mu.Lock()
		grants[gr.ID] = true
		mu.Unlock()
		return err
	})
	if got := tally(t, errs); got["ok"] != n || rotations.Load() != n || len(grants) != 1 {
		t.Fatalf("%d tabs at once: %v, %d told N is the token, grants %v; want all in, all told, one grant", n, got, rotations.Load(), grants)
	}
	if _, err := e.useDevice("alice", "d1", "N", "M", "L1"); err != nil {
		t.Fatalf("N after the tabs: %v", err)
	}
}

// A right code proves the number its challenge went to, for the account as
// it was then: a flow overtaken since changes nothing. An enrolment kept
// alive while the user enrolled another number must not take the account
// over; a login code to a number since replaced must not sign in; a step-up
// begun under one sign-in must not freshen another sign-in's grant.
func testStaleFlows(t *testing.T, o Opener) {
	e := newEnv(t, o)
	stale := e.openFlow("alice", contract.FlowEnrol, "", otherPhone)       // an attacker's number
	if _, _, err := e.s.SetFactor(ctx, "alice", phone, "IN"); err != nil { // alice enrols her own
		t.Fatal(err)
	}
	if _, gr, err := e.s.Verify(ctx, stale, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("g-attacker")}); err != nil || gr.ID != "" {
		t.Fatalf("a stale enrolment: %+v, %v; want no grant", gr, err)
	}
	if f := e.factor("alice"); f.Phone != phone || f.Version != 1 {
		t.Fatalf("a stale enrolment changed the factor: %+v", f)
	}

	login := e.open("alice") // a code to alice's number
	if _, _, err := e.s.SetFactor(ctx, "alice", otherPhone, "IN"); err != nil {
		t.Fatal(err)
	}
	if _, gr, err := e.s.Verify(ctx, login, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: grantParams("g-old-number")}); err != nil || gr.ID != "" {
		t.Fatalf("a code to the old number: %+v, %v; want no grant", gr, err)
	}

	if _, _, err := e.s.SetFactor(ctx, "bob", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	e.signIn("bob", "b1", "L1")
	e.clock.Advance(time.Hour / 2)
	up := e.openFlow("bob", contract.FlowStepUp, "b1", phone)
	other := grantParams("")
	other.Login = "L2"
	if _, gr, err := e.s.Verify(ctx, up, contract.VerifyParams{MAC: mac("111111"), Policy: e.pol, Grant: other}); err != nil || gr.ID != "" {
		t.Fatalf("a step-up under another sign-in: %+v, %v; want nothing freshened", gr, err)
	}
	if gr, _ := e.s.Grant(ctx, "b1", "bob"); gr.FreshWithin(time.Minute) {
		t.Fatalf("another sign-in freshened b1: %+v", gr)
	}
}

// Ending a sign-in revokes every live grant of it — the browser's own and
// one another tab or a copied device cookie made meanwhile — and no other
// sign-in's. A sign-in ended without a live grant (a logout after the grant
// expired) is remembered like a revoked grant. Either way no device signs it
// in again, for the revoked-grant retention; other sign-ins are untouched.
func testEndSignIn(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.signIn("alice", "a1", "L0")
	e.signIn("alice", "a2", "L0")
	e.signIn("alice", "a3", "L9")
	if n, err := e.s.EndSignIn(ctx, "alice", "L0"); err != nil || n != 2 {
		t.Fatalf("ending a sign-in with two live grants: %d revoked, %v", n, err)
	}
	for id, live := range map[string]bool{"a1": false, "a2": false, "a3": true} {
		if gr, err := e.s.Grant(ctx, id, "alice"); err != nil || gr.Live() != live {
			t.Fatalf("grant %s after its sign-in ended: %+v, %v", id, gr, err)
		}
	}
	if n, err := e.s.EndSignIn(ctx, "alice", "L0"); err != nil || n != 0 {
		t.Fatalf("ending it again: %d revoked, %v", n, err)
	}
	e.addDevice("alice", "d1", "A", 1, 60*24*time.Hour)
	if _, err := e.useDevice("alice", "d1", "A", "B", "L0"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a device for a sign-in ended by revoking its grants: %v", err)
	}
	for range 5 { // a replayed logout
		if n, err := e.s.EndSignIn(ctx, "alice", "L1"); err != nil || n != 0 {
			t.Fatalf("ending a sign-in with no grant: %d, %v", n, err)
		}
	}
	var ended int
	if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = 'alice' AND login = 'L1'`).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("%d records of one ended sign-in, %v; want 1", ended, err)
	}
	if _, err := e.useDevice("alice", "d1", "A", "B", "L1"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("a device for an ended sign-in: %v", err)
	}
	if _, err := e.useDevice("alice", "d1", "A", "B", "L2"); err != nil {
		t.Fatalf("a device for another sign-in: %v", err)
	}
	e.clock.Advance(30 * 24 * time.Hour)
	if _, err := e.s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.useDevice("alice", "d1", "B", "C", "L1"); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("an ended sign-in after a month's purge: %v", err)
	}
	if _, err := e.s.EndSignIn(ctx, "alice", ""); err == nil {
		t.Fatal("ending a sign-in without a tag was accepted")
	}
}

// A device is remembered only from a live grant of its user, under the
// factor version it would be used with: a revocation or a number change
// that landed after the code was verified leaves nothing behind.
func testAddDeviceChecks(t *testing.T, o Opener) {
	e := newEnv(t, o)
	add := func(grant, id string, version int64) error {
		return e.s.AddDevice(ctx, "alice", grant, e.device(id, "A", version, 24*time.Hour))
	}
	e.signIn("alice", "g1", "")
	e.signIn("bob", "b1", "")
	if err := add("g1", "d1", 0); err != nil {
		t.Fatalf("from a live grant, no factor: %v", err)
	}
	for _, c := range []struct{ name, grant string }{{"an unknown grant", "nope"}, {"another user's grant", "b1"}} {
		if err := add(c.grant, "dx", 0); !errors.Is(err, contract.ErrNotFound) {
			t.Fatalf("from %s: %v", c.name, err)
		}
	}
	if err := add("", "dx", 0); err == nil || errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("without a grant: %v; want a usage error", err)
	}
	if _, _, err := e.s.SetFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	f := e.factor("alice")
	if err := add("g1", "dx", f.Version-1); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("under a factor version that is not the user's: %v", err)
	}
	if err := add("g1", "d2", f.Version); err != nil {
		t.Fatalf("under the user's factor version: %v", err)
	}
	if _, err := e.s.RevokeGrant(ctx, "g1", "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	if err := add("g1", "dx", f.Version); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("from a revoked grant: %v", err)
	}
	e.signIn("alice", "g2", "")
	e.clock.Advance(time.Hour) // grantParams' lifetime
	if err := add("g2", "dx", f.Version); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("from an expired grant: %v", err)
	}
	e.signIn("alice", "g3", "")
	if _, err := e.s.RemoveFactor(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := add("g3", "dx", e.factor("alice").Version); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("after the number was removed: %v", err)
	}
	if ds, err := e.s.Devices(ctx, "alice"); err != nil || len(ds) != 2 {
		t.Fatalf("devices: %+v, %v; want d1 and d2", ds, err)
	}
}

// RevokeAll is one step against devices signing in and being remembered at
// the same time: once it returns, nothing any of them made is live.
func testRevokeAllRace(t *testing.T, o Opener) {
	e := newEnv(t, o)
	const users = 3
	var (
		mu      sync.Mutex
		made    []string // grants made by devices
		started = make(chan struct{}, 2*users)
		errs    = make(chan error, 2*users)
	)
	for i := range users {
		id := fmt.Sprintf("d%d", i)
		e.addDevice("alice", id, "t0", 1, time.Hour)
		source := e.signIn("alice", fmt.Sprintf("g%d", i), "")
		go func() { // a device signing in, over and over
			token := "t0"
			for n := 1; ; n++ {
				next := fmt.Sprintf("%s-t%d", id, n)
				g := grantParams("dg-" + next)
				gr, _, err := e.s.UseDevice(ctx, "alice", id, mac(token), mac(next), 1, grace, contract.VerifyParams{Policy: e.pol, Grant: g})
				if n == 1 {
					started <- struct{}{}
				}
				switch {
				case errors.Is(err, contract.ErrNotFound):
					errs <- nil
					return
				case err != nil:
					errs <- fmt.Errorf("device %s: %w", id, err)
					return
				}
				mu.Lock()
				made = append(made, gr.ID)
				mu.Unlock()
				token = next
			}
		}()
		go func() { // a device being remembered, over and over, until refused
			for n := 1; ; n++ {
				err := e.s.AddDevice(ctx, "alice", source.ID, e.device(fmt.Sprintf("%s-new%d", id, n), "A", 1, time.Hour))
				if n == 1 {
					started <- struct{}{}
				}
				if err != nil {
					if errors.Is(err, contract.ErrNotFound) {
						err = nil
					}
					errs <- err
					return
				}
			}
		}()
	}
	for range 2 * users {
		<-started
	}
	grants, devices, err := e.s.RevokeAll(ctx, "alice", "sign_out_everywhere")
	if err != nil || grants < users || devices < users {
		t.Fatalf("RevokeAll = %d grants, %d devices, %v", grants, devices, err)
	}
	for range 2 * users {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range made { // every goroutine has stopped: errs said so
		if gr, err := e.s.Grant(ctx, id, "alice"); err != nil || gr.Live() {
			t.Fatalf("grant %s, made by a device, after RevokeAll: %+v, %v", id, gr, err)
		}
	}
	if ds, err := e.s.Devices(ctx, "alice"); err != nil || len(ds) != 0 {
		t.Fatalf("devices after RevokeAll: %+v, %v", ds, err)
	}
	if n, d, err := e.s.RevokeAll(ctx, "bob", "sign_out_everywhere"); err != nil || n != 0 || d != 0 {
		t.Fatalf("RevokeAll of a user with nothing: %d, %d, %v", n, d, err)
	}
}

// A resend judges the number as the verify would, under the user's lock: a
// login or step-up code to a number that is no longer the user's is not
// sent again, whatever number the caller read a moment before. Without a
// factor, or for an enrolment (a number no factor holds yet), it resends.
func testResendChecksFactor(t *testing.T, o Opener) {
	e := newEnv(t, o)
	resend := func(ref contract.Ref) error {
		e.clock.Advance(e.pol.CooldownAfter(10)) // past any cooldown
		_, err := e.s.Resend(ctx, ref, contract.ResendParams{MAC: mac("222222"), Policy: e.pol})
		return err
	}
	login := e.open("alice")
	if err := resend(login); err != nil {
		t.Fatalf("without a factor: %v", err)
	}
	if _, _, err := e.s.AdoptFactor(ctx, "alice", phone, "IN"); err != nil {
		t.Fatal(err)
	}
	if err := resend(login); err != nil {
		t.Fatalf("to the enrolled number: %v", err)
	}
	enrol := e.openFlow("bob", contract.FlowEnrol, "", otherPhone)
	// A change to another number than the enrolled one is what a change is.
	gr := e.signIn("alice", "g1", "L1")
	change := e.openFlow("alice", contract.FlowChange, gr.ID, otherPhone)
	if err := resend(change); err != nil {
		t.Fatalf("a change: %v", err)
	}
	if _, _, err := e.s.SetFactor(ctx, "alice", otherPhone, "IN"); err != nil {
		t.Fatal(err)
	}
	if err := resend(login); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("to a number replaced since: %v", err)
	}
	if _, err := e.s.RemoveFactor(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := resend(login); !errors.Is(err, contract.ErrNotFound) {
		t.Fatalf("to a number removed since: %v", err)
	}
	if err := resend(enrol); err != nil {
		t.Fatalf("an enrolment: %v", err)
	}
}
