package device

import (
	"encoding/hex"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
)

// A device token's MAC and its successor are what they always were
// (computed by the guard before the method moved here): devices remembered
// then still sign in, and still rotate to the token they were told.
func TestDeviceKnownAnswers(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(secret, l), nil }); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(m.mac(m.key, "dev-id", "token")); got != "c45c8c545ac29bba4949ce3f58b4f31448966cfd0e18dcca78bc72969242265a" {
		t.Fatalf("the token MAC changed: %s", got)
	}
	if got := hex.EncodeToString(m.mac(m.rotation, "dev-id", "token")[:idBytes]); got != "3b648bf26c378964978eaa0ee896cb1f" {
		t.Fatalf("the successor changed: %s", got)
	}
}
