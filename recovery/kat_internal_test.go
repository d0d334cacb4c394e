package recovery

import (
	"encoding/hex"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
)

// A recovery code's MAC is what it always was (computed by the guard before
// the method moved here): codes issued then still work.
func TestRecoveryMACKnownAnswer(t *testing.T) {
	m := New()
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(secret, l), nil }); err != nil {
		t.Fatal(err)
	}
	const want = "8dcea974bd871e9bc8530fd047a9c4cae17afe2dd44b00786165459f2e7d180e"
	if got := hex.EncodeToString(m.mac("alice", "abcde12345")); got != want {
		t.Fatalf("the recovery MAC changed: %s, want %s", got, want)
	}
}
