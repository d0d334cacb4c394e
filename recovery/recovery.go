// Package recovery is the recovery-code method of the second factor: ten
// codes per user, each 10 characters of Crockford's base 32 (50 bits) from
// crypto/rand, shown once, grouped for reading (xxxxx-xxxxx), stored only as
// MACs bound to the user, single use, and counted against the same
// account-wide failure budget as SMS codes. The guard (package sms2fa)
// shows and takes them; this package makes, stores and checks them.
package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
)

const (
	count = 10 // codes per user
	size  = 10 // characters: 10 × 5 bits = 50 bits
	// low: at or below this many codes left, the user is told to make new
	// ones.
	low = 3
	// alphabet is Crockford's base 32 in lower case: no i, l, o or u, so
	// that nothing read aloud or copied by hand is ambiguous.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// label is the HKDF label of the key codes are MACed with. Changing it
	// invalidates every stored code.
	label = "sms2fa v1 recovery code MAC"
)

// Method is the recovery-code method. Build it with [New]; the guard binds
// its key in its own New.
type Method struct {
	key []byte
}

// New returns the recovery-code method. It has no settings: ten codes of 50
// bits each.
func New() *Method { return &Method{} }

// Name is "recovery", as grants, events and metrics say.
func (m *Method) Name() string { return "recovery" }

// Bind takes the method's key from the guard's secret.
func (m *Method) Bind(derive func(label string) ([]byte, error)) error {
	return contract.BindKey(&m.key, derive, label)
}

// String names the method without its key.
func (m *Method) String() string { return "recovery.Method" }

// Low reports whether left codes are few enough to ask the user to make new
// ones.
func (m *Method) Low(left int) bool { return left <= low }

// Issue replaces userID's recovery codes in the store and returns the new
// ones, to show once.
func (m *Method) Issue(ctx context.Context, st contract.Store, userID string) ([]string, error) {
	if m.key == nil {
		return nil, contract.ErrNotBound
	}
	codes, err := newCodes(count)
	if err != nil {
		return nil, err
	}
	macs := make([][]byte, len(codes))
	for i, c := range codes {
		n, _ := Normalize(c)
		macs[i] = m.mac(userID, n)
	}
	if err := st.ReplaceRecoveryCodes(ctx, userID, macs); err != nil {
		return nil, fmt.Errorf("sms2fa: storing recovery codes: %w", err)
	}
	return codes, nil
}

// Verify spends the recovery code s.Typed of s.UserID in one store step
// ([contract.RecoveryStore.UseRecoveryCode]), creating the grant
// s.Params.Grant describes, and returns it with the codes left. Something
// that cannot be a recovery code is [contract.ErrMalformed].
func (m *Method) Verify(ctx context.Context, st contract.Store, s contract.Submission) (contract.Result, error) {
	if m.key == nil {
		return contract.Result{}, contract.ErrNotBound
	}
	code, ok := Normalize(s.Typed)
	if !ok {
		return contract.Result{}, contract.ErrMalformed
	}
	left, gr, err := st.UseRecoveryCode(ctx, s.UserID, m.mac(s.UserID, code), s.Params)
	return contract.Result{Grant: gr, Left: left}, err
}

// mac is HMAC-SHA256(key, userID || 0x00 || code): bound to the user, so a
// MAC copied to another user's row never matches.
func (m *Method) mac(userID, code string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return h.Sum(nil)
}

// newCodes returns n codes, each grouped for reading.
func newCodes(n int) ([]string, error) {
	codes := make([]string, n)
	buf := make([]byte, size)
	for i := range codes {
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("sms2fa: reading random bytes: %w", err)
		}
		var b strings.Builder
		for j, x := range buf {
			if j == size/2 {
				b.WriteByte('-')
			}
			b.WriteByte(alphabet[x&31]) // 256 is a multiple of 32: no bias
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// Normalize reads what a person typed as a recovery code: any case, spaces
// and dashes ignored, and the letters Crockford's alphabet leaves out read
// as the digits they look like (i, l → 1; o → 0). It reports false for
// anything that cannot be a code.
func Normalize(raw string) (string, bool) {
	if len(raw) > 4*size {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		ch := raw[i]
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		switch {
		case ch == ' ' || ch == '-' || ch == '\t':
			continue
		case ch == 'i' || ch == 'l':
			ch = '1'
		case ch == 'o':
			ch = '0'
		case !strings.ContainsRune(alphabet, rune(ch)):
			return "", false
		}
		b.WriteByte(ch)
	}
	return b.String(), b.Len() == size
}

// GoString is String, for %#v.
func (m *Method) GoString() string { return m.String() }

// Format prints String for every verb: the method's key never reaches a
// log, whatever the verb.
func (m *Method) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue logs String, for slog.Any.
func (m *Method) LogValue() slog.Value { return slog.StringValue(m.String()) }

// The method's roles, checked by the compiler.
var (
	_ contract.Method = (*Method)(nil)
	_ contract.Keyed  = (*Method)(nil)
	_ contract.Issuer = (*Method)(nil)
)
