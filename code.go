package sms2fa

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
)

// MinSecretLength is the shortest secret [New] accepts: 256 bits, the size of
// the HMAC-SHA256 key derived from it.
const MinSecretLength = 32

// idBytes is the entropy of challenge IDs and session bindings: 128 bits.
const idBytes = 16

// newID returns 128 random bits, hex-encoded: challenge IDs and session
// bindings.
func newID() (string, error) {
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sms2fa: reading random bytes: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// keys are the MAC keys the guard derives from the app's secret, one per
// use, each with HKDF under a label of its own: a value MACed for one use
// can never be passed off as another, and no key is the secret itself.
type keys struct {
	phone []byte // the number a pending challenge was opened for, in the cookie
	login []byte // User.Login, in the cookie and the grant
	mark  []byte // the signed mark a verified browser carries
	// derive derives a method's key under the method's own label (see
	// contract.Keyed).
	derive func(label string) []byte
}

// The HKDF info strings. Changing one invalidates every value MACed with its
// key: the code label is the one codes were always MACed under.
const (
	labelPhone = "sms2fa v1 phone tag"
	labelLogin = "sms2fa v1 login tag"
	labelMark  = "sms2fa v1 mark"
)

func newKeys(secret []byte) (keys, error) {
	if len(secret) < MinSecretLength {
		return keys{}, fmt.Errorf("sms2fa: secret must be at least %d bytes, got %d", MinSecretLength, len(secret))
	}
	var k keys
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{{&k.phone, labelPhone}, {&k.login, labelLogin}, {&k.mark, labelMark}} {
		key, err := hkdf.Key(sha256.New, secret, nil, d.label, sha256.Size)
		if err != nil {
			return keys{}, fmt.Errorf("sms2fa: deriving the %q key: %w", d.label, err)
		}
		*d.dst = key
	}
	// A copy of the secret lives on in this closure, as long as the guard,
	// for the methods' keys (deriveFor); nothing else reaches it.
	secret = bytes.Clone(secret)
	k.derive = func(label string) []byte { return contract.DeriveKey(secret, label) }
	return k, nil
}

// smsLabel is the HKDF label of the SMS codes' key: the one codes were
// always MACed under (package sms names it too).
const smsLabel = "sms2fa v1 code MAC"

// deriveFor returns the derive function a method named name is bound with
// (contract.Keyed): it gives keys labelled "sms2fa v1 <name> …" only, and
// never one of the guard's own, so that no method — the app's own included
// — can derive the key of the mark, of the tags, or of another method. The
// SMS method, which predates the rule, is given its one label.
func (k keys) deriveFor(name string) func(label string) ([]byte, error) {
	return func(label string) ([]byte, error) {
		ok := strings.HasPrefix(label, "sms2fa v1 "+name+" ")
		if name == "sms" {
			ok = label == smsLabel
		}
		switch label {
		case labelPhone, labelLogin, labelMark:
			ok = false
		case smsLabel:
			ok = ok && name == "sms"
		}
		if !ok {
			return nil, fmt.Errorf("sms2fa: the %q method may not derive a key labelled %q: a method's labels start with \"sms2fa v1 %s \"", name, label, name)
		}
		return k.derive(label), nil
	}
}

// tagLen is how much of a MAC a cookie keeps: 128 bits tell values apart
// and cannot be reversed to the number or the session ID they stand for.
const tagLen = 16

// tag returns the first tagLen bytes of HMAC-SHA256(key, v), as a string
// (session values are strings).
func tag(key []byte, v string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(v))
	return string(h.Sum(nil)[:tagLen])
}

// hexTag is tag in hex, for a column of text.
func hexTag(key []byte, v string) string { return hex.EncodeToString([]byte(tag(key, v))) }

// String keeps the keys out of logs and every fmt verb.
func (keys) String() string { return "keys{redacted}" }

// GoString is String, for %#v.
func (k keys) GoString() string { return k.String() }

// Format prints String whatever the verb, so %x or %+v cannot reach a key.
func (k keys) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }
