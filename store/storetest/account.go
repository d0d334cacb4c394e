package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// Account shows an operator a user's lockout and live grants, newest first,
// by the store's clock, and changes nothing; a user never seen is zero.
func testAccount(t *testing.T, o Opener) {
	e := newEnv(t, o)
	e.pol.Lockout = contract.Lockout{Threshold: 2, Duration: 15 * time.Minute, Max: time.Hour}
	if a, err := e.s.Account(ctx, "nobody"); err != nil || a.Locked() || a.Failures != 0 || len(a.Grants) != 0 || !a.Now.Equal(e.clock.Now()) {
		t.Fatalf("a user never seen: %+v, %v", a, err)
	}
	first := e.signIn("alice", "g1", "login-1")
	e.clock.Advance(time.Minute)
	second := e.signIn("alice", "g2", "login-2")
	gone := e.signIn("alice", "g3", "login-3")
	if _, err := e.s.RevokeGrant(ctx, gone.ID, "alice", "logout"); err != nil {
		t.Fatal(err)
	}
	ref := e.open("alice")
	if _, err := e.verify(ref, "999999"); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("a wrong code: %v", err)
	}
	a, err := e.s.Account(ctx, "alice")
	if err != nil || a.Failures != 1 || a.Locked() || len(a.Grants) != 2 || a.Grants[0].ID != second.ID || a.Grants[1].ID != first.ID {
		t.Fatalf("after one failure: %+v, %v; want 1 failure and grants g2, g1", a, err)
	}
	if _, err := e.verify(ref, "999998"); !errors.Is(err, contract.ErrLocked) {
		t.Fatalf("the failure that locks: %v", err)
	}
	a, err = e.s.Account(ctx, "alice")
	if err != nil || !a.Locked() || !a.LockedUntil.Equal(e.clock.Now().Add(15*time.Minute)) || a.Locks != 1 {
		t.Fatalf("locked: %+v, %v", a, err)
	}
	e.clock.Advance(13 * time.Hour) // past every grant's lifetime and the lock
	if a, err := e.s.Account(ctx, "alice"); err != nil || a.Locked() || len(a.Grants) != 0 {
		t.Fatalf("later: %+v, %v; want no lock and no live grant", a, err)
	}
}
