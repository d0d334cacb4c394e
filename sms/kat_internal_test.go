package sms

import (
	"encoding/hex"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
)

// katSecret is the guard secret of the known-answer tests: the values below
// were computed by the guard before its methods moved to packages of their
// own, so a code stored then still verifies now.
var katSecret = []byte("0123456789abcdef0123456789abcdef")

// A code's MAC is what it always was: the same label, key and input.
func TestCodeMACKnownAnswer(t *testing.T) {
	m := &Method{}
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(katSecret, l), nil }); err != nil {
		t.Fatal(err)
	}
	const want = "f338a20676aed55129019cac321a638c4e81a6bb99caf2b7e085d2ae83b6e634"
	if got := hex.EncodeToString(m.mac("chal", "123456")); got != want {
		t.Fatalf("the code MAC changed: %s, want %s", got, want)
	}
}
