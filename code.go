package sms2fa

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Code lengths Way2API accepts in its `value` field; NIST SP 800-63B asks for
// at least 6 digits, which is the default.
const (
	MinCodeLength     = 4
	MaxCodeLength     = 8
	DefaultCodeLength = 6
)

// MinSecretLength is the shortest secret [New] accepts: 256 bits, the size of
// the HMAC-SHA256 key derived from it.
const MinSecretLength = 32

// idBytes is the entropy of challenge IDs and session bindings: 128 bits.
const idBytes = 16

// newCode returns n decimal digits from crypto/rand, each uniform. A random
// byte is only used when it is below 250, the largest multiple of 10 that fits
// in a byte, so that b%10 carries no modulo bias.
func newCode(n int) (string, error) {
	const limit = 250
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+4) // a little spare: 2.3% of bytes are rejected
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("sms2fa: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if b < limit && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// newID returns 128 random bits, hex-encoded: challenge IDs and session
// bindings.
func newID() (string, error) {
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sms2fa: reading random bytes: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// macKey turns codes into the keyed MACs the store keeps. The key is derived
// from the app's secret with HKDF under a purpose label, so the same secret
// could safely key something else.
type macKey struct{ key []byte }

// macLabel is the HKDF info string; changing it invalidates every stored MAC.
const macLabel = "sms2fa v1 code MAC"

func newMACKey(secret []byte) (macKey, error) {
	if len(secret) < MinSecretLength {
		return macKey{}, fmt.Errorf("sms2fa: secret must be at least %d bytes, got %d", MinSecretLength, len(secret))
	}
	k, err := hkdf.Key(sha256.New, secret, nil, macLabel, sha256.Size)
	if err != nil {
		return macKey{}, fmt.Errorf("sms2fa: deriving the code MAC key: %w", err)
	}
	return macKey{key: k}, nil
}

// sum returns HMAC-SHA256(key, challengeID || 0x00 || code). Binding the
// challenge ID means a MAC copied to another row never matches there.
func (k macKey) sum(challengeID, code string) []byte {
	h := hmac.New(sha256.New, k.key)
	h.Write([]byte(challengeID))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return h.Sum(nil)
}

// String keeps the key out of logs and %v.
func (macKey) String() string { return "macKey{redacted}" }
