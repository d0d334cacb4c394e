package sms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// NewCode makes a code of the configured length for the challenge
// challengeID, and the MAC of it the store keeps.
func (m *Method) NewCode(challengeID string) (code string, mac []byte, err error) {
	if m.key == nil {
		return "", nil, contract.ErrNotBound
	}
	if code, err = newCode(m.codeLength); err != nil {
		return "", nil, err
	}
	return code, m.mac(challengeID, code), nil
}

// mac is HMAC-SHA256(key, challengeID || 0x00 || code): bound to the
// challenge, so a MAC copied to another row never matches there.
func (m *Method) mac(challengeID, code string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(challengeID))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return h.Sum(nil)
}

// Normalize returns a typed code with the spaces and dashes people type
// removed, and false for anything that cannot be a code of the configured
// length.
func (m *Method) Normalize(raw string) (string, bool) { return normalizeCode(raw, m.codeLength) }

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

// redactedCode stands where a code was found in text that leaves the guard.
const redactedCode = "[code]"

// scrubbedError is a sender's error with every copy of the code and of the
// number removed from its text: a provider that echoes the request in an
// error field must not put a live code or a full number in the logs or the
// events. Unwrap keeps errors.Is and errors.As working on the sender's own
// error.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with code and num removed from its message.
func scrub(err error, code string, num phone.Number) error {
	msg := err.Error()
	if out := scrubText(msg, code, num); out != msg {
		return &scrubbedError{err: err, msg: out}
	}
	return err
}

// scrubText replaces num, in every form a provider may write it — E.164
// with and without "+", the national number — with its masked form, and
// then code with [code]. The number goes first: a code whose digits happen
// to sit inside the number would otherwise break every form of it apart and
// leave the digits around the mask readable.
func scrubText(s, code string, num phone.Number) string {
	if num.E164 != "" {
		masked := num.Masked()
		// Longest first: the national number is inside the other two.
		for _, form := range [...]string{num.E164, num.Digits(), num.National} {
			if form != "" {
				s = strings.ReplaceAll(s, form, masked)
			}
		}
	}
	if code != "" {
		s = strings.ReplaceAll(s, code, redactedCode)
	}
	return s
}

func normalizeCode(raw string, length int) (string, bool) {
	if len(raw) > 4*contract.MaxCodeLength {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		switch ch := raw[i]; {
		case ch >= '0' && ch <= '9':
			b.WriteByte(ch)
		case ch == ' ' || ch == '-' || ch == '\t':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == length
}

// ErrMalformed: what was typed cannot be a code of the configured length;
// nothing was checked or counted. It is [contract.ErrMalformed].
var ErrMalformed = contract.ErrMalformed

// Verify checks s.Typed, a code as a person types it, against the challenge
// s.Ref names, in one store step ([contract.ChallengeStore.Verify]) that
// counts the attempt and, when the code is right, does what the
// challenge's flow is for and returns the grant, with the challenge as the
// step left it. The store keeps only a keyed MAC of each code. Something
// that cannot be a code is [ErrMalformed], before the store is asked.
func (m *Method) Verify(ctx context.Context, st contract.Store, s contract.Submission) (contract.Result, error) {
	if m.key == nil {
		return contract.Result{}, contract.ErrNotBound
	}
	code, ok := m.Normalize(s.Typed)
	if !ok {
		return contract.Result{}, ErrMalformed
	}
	p := s.Params
	p.MAC = m.mac(s.Ref.ID, code)
	ch, gr, err := st.Verify(ctx, s.Ref, p)
	return contract.Result{Challenge: ch, Grant: gr}, err
}
