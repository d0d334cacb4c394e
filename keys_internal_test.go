package sms2fa

import (
	"encoding/hex"
	"testing"
)

// The guard's own tags are what they always were (computed before the
// methods moved out), and its derivation gives a method only keys under the
// method's own labels: never the mark's, a tag's or another method's.
func TestKeysKnownAnswersAndSeparation(t *testing.T) {
	k, err := newKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hexTag(k.login, "sign-in"); got != "e57071cd347e97c0264f2d6d29652cef" {
		t.Errorf("the login tag changed: %s", got)
	}
	if got := hex.EncodeToString([]byte(tag(k.phone, "+919876543210"))); got != "e537edf81ecf0a516d3f1008d12aafff" {
		t.Errorf("the phone tag changed: %s", got)
	}
	for _, c := range []struct {
		method, label string
		ok            bool
	}{
		{"recovery", "sms2fa v1 recovery code MAC", true},
		{"device", "sms2fa v1 device token rotation", true},
		{"sms", "sms2fa v1 code MAC", true},
		{"sms", "sms2fa v1 sms other", false},
		{"totp", "sms2fa v1 recovery code MAC", false}, // another method's
		{"code", "sms2fa v1 code MAC", false},          // the SMS method's, by name
		{"mark", "sms2fa v1 mark", false},              // the guard's own
		{"phone", "sms2fa v1 phone tag", false},
		{"login", "sms2fa v1 login tag", false},
		{"recovery", "sms2fa v1 recoveryX", false},
	} {
		key, err := k.deriveFor(c.method)(c.label)
		if ok := err == nil && len(key) == 32; ok != c.ok {
			t.Errorf("%s deriving %q: %v (%v), want allowed %v", c.method, c.label, ok, err, c.ok)
		}
	}
}
