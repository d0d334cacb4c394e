// Package totp is the authenticator-app method of the second factor: RFC
// 6238 codes (HMAC-SHA1, 6 digits, 30-second steps — what every
// authenticator app reads), checked within a window of ±1 step by default,
// each step usable once per user: the store keeps the last step used and
// claims a new one in the same step that creates the grant, so no code can
// be replayed, not even by a parallel request. Secrets are sealed at rest
// with AES-GCM under a key derived from the guard's secret (the user ID as
// associated data) and never printed.
package totp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
)

const (
	// secretLen is the secret's length: 160 bits, RFC 4226's recommendation
	// for HMAC-SHA1.
	secretLen = 20
	// sealLabel is the HKDF label of the key secrets are sealed with.
	// Changing it makes every sealed secret unreadable.
	sealLabel = "sms2fa v1 totp secret seal"
)

// ErrUnsealable: a stored secret opens under none of the guard's keys (the
// secret was rotated without WithPreviousSecrets, or the row was damaged).
// The guard falls back to SMS for that user. It is
// [contract.ErrUnsealable].
var ErrUnsealable = contract.ErrUnsealable

// Method is the authenticator-app method. Build it with [New]; the guard
// binds its key in its own New.
type Method struct {
	window int
	issuer string
	key    []byte   // seals secrets now
	old    [][]byte // keys of the secrets the app rotated away from, tried after key
}

// Option configures the method.
type Option func(*Method) error

// WithWindow sets how many 30-second steps either side of now a code is
// taken for: 0 to 2, default 1 (a code is good for about a minute and a
// half, which covers a phone's clock a little off and the time to type it).
func WithWindow(steps int) Option {
	return func(m *Method) error {
		if steps < 0 || steps > 2 {
			return fmt.Errorf("sms2fa: the TOTP window must be 0 to 2 steps, got %d", steps)
		}
		m.window = steps
		return nil
	}
}

// WithIssuer names the app in authenticator apps (the otpauth URI's issuer
// and the label's prefix). Default "sms2fa".
func WithIssuer(name string) Option {
	return func(m *Method) error {
		if strings.TrimSpace(name) == "" || strings.Contains(name, ":") {
			return fmt.Errorf("sms2fa: the TOTP issuer must be a non-empty name without a colon, got %q", name)
		}
		m.issuer = name
		return nil
	}
}

// WithPreviousSecrets takes the guard secrets the app used before the
// current one: a secret sealed under one of them is still read, and sealed
// again under the current secret on its next use, so that rotating the
// guard's secret locks no one out of their app.
func WithPreviousSecrets(secrets ...[]byte) Option {
	return func(m *Method) error {
		for _, s := range secrets {
			if len(s) < 32 {
				return fmt.Errorf("sms2fa: a previous secret must be at least 32 bytes, got %d", len(s))
			}
			m.old = append(m.old, contract.DeriveKey(s, sealLabel))
		}
		return nil
	}
}

// New returns the authenticator-app method.
func New(opts ...Option) (*Method, error) {
	m := &Method{window: 1, issuer: "sms2fa"}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Name is "totp", as grants, events and metrics say.
func (m *Method) Name() string { return "totp" }

// Bind takes the method's sealing key from the guard's secret.
func (m *Method) Bind(derive func(label string) ([]byte, error)) error {
	return contract.BindKey(&m.key, derive, sealLabel)
}

// NewSecret returns a new random secret.
func (m *Method) NewSecret() ([]byte, error) {
	s := make([]byte, secretLen)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("sms2fa: reading random bytes: %w", err)
	}
	return s, nil
}

// Encode writes secret in base32 without padding, as authenticator apps
// take it, in groups of four for reading.
func Encode(secret []byte) string {
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// Key is [Encode]: the secret as a person types it into an app.
func (m *Method) Key(secret []byte) string { return Encode(secret) }

// URI is the otpauth:// URI an authenticator app reads (from a QR code or a
// link) for secret and account: the issuer, SHA1, 6 digits, 30 seconds.
func (m *Method) URI(secret []byte, account string) string {
	q := url.Values{}
	q.Set("secret", base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
	q.Set("issuer", m.issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	// Key URI format: the label's colon separates issuer and account, so an
	// account's own colons are escaped; spaces are %20, which every app
	// reads, where a query's "+" shows literally in some.
	label := url.PathEscape(m.issuer) + ":" + strings.ReplaceAll(url.PathEscape(account), ":", "%3A")
	return "otpauth://totp/" + label + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// Seal seals secret for userID: AES-256-GCM under the method's key, a
// random nonce first, the user ID as associated data, so that a sealed
// secret copied to another user's row does not open there.
func (m *Method) Seal(userID string, secret []byte) ([]byte, error) {
	aead, err := gcm(m.key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sms2fa: reading random bytes: %w", err)
	}
	return aead.Seal(nonce, nonce, secret, []byte(userID)), nil
}

// Unseal opens a sealed secret of userID, under the current key or, after
// a rotation, a previous one; stale reports the latter, for the caller to
// seal it again under the current key. A secret that opens under no key is
// [ErrUnsealable].
func (m *Method) Unseal(userID string, sealed []byte) (secret []byte, stale bool, err error) {
	for i, key := range append([][]byte{m.key}, m.old...) {
		aead, err := gcm(key)
		if err != nil {
			return nil, false, err
		}
		if len(sealed) < aead.NonceSize() {
			break
		}
		if s, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(userID)); err == nil {
			return s, i > 0, nil
		}
	}
	return nil, false, ErrUnsealable
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) == 0 {
		return nil, contract.ErrNotBound
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sms2fa: the TOTP sealing key: %w", err)
	}
	return cipher.NewGCM(block)
}

// String names the method without its keys.
func (m *Method) String() string { return "totp.Method" }

// GoString is String, for %#v.
func (m *Method) GoString() string { return m.String() }

// Format prints String for every verb: the method's keys never reach a
// log, whatever the verb.
func (m *Method) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue logs String, for slog.Any.
func (m *Method) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Verify checks s.Typed, a code from the user's authenticator app, in one
// store step: the code's step, matched within the window and after the
// last used step, is claimed in the same step that creates the grant
// s.Params.Grant describes — or, with s.Freshen, freshens that grant (a
// step-up). The sealed secret and the time come with s (s.Sealed, s.At),
// or are read from the store first. A code of a step already used is
// [contract.ErrCodeUsed] and counts nothing; a code that matches no step is
// a wrong code, counted in the user's account-wide failures. A user without
// an app is [contract.ErrNotFound]; a secret that is no longer the user's
// is [contract.ErrFactorChanged]; a secret no key opens is
// [ErrUnsealable]; something that cannot be a code is
// [contract.ErrMalformed]. A secret sealed under a previous guard secret is
// sealed again under the current one after a right code.
func (m *Method) Verify(ctx context.Context, st contract.Store, s contract.Submission) (contract.Result, error) {
	if m.key == nil {
		return contract.Result{}, contract.ErrNotBound
	}
	code, ok := normalize(s.Typed)
	if !ok {
		return contract.Result{}, contract.ErrMalformed
	}
	sealed, now := s.Sealed, s.At
	if len(sealed) == 0 || now.IsZero() {
		a, err := st.TOTP(ctx, s.UserID)
		if err != nil {
			return contract.Result{}, err
		}
		sealed, now = a.Sealed, a.Now
	}
	secret, stale, err := m.Unseal(s.UserID, sealed)
	if err != nil {
		return contract.Result{}, err
	}
	// The latest step the code matches, used or not: the store refuses a
	// locked user first, then a step at or before the last used one (a
	// replay, or a double submission: it counts nothing), and claims a
	// later one; when one code matches two steps, the latest is the one
	// above the last used, if any is.
	step, ok := match(secret, code, now, m.window, -1)
	if !ok {
		step = -1 // a wrong code: the store counts it
	}
	gr, err := st.UseTOTP(ctx, s.UserID, contract.TOTPUse{Step: step, Sealed: sealed, Window: m.window, Freshen: s.Freshen}, s.Params)
	if err == nil && stale {
		if again, serr := m.Seal(s.UserID, secret); serr == nil {
			// Best effort: the next use tries again if this one fails.
			_, _ = st.ResealTOTP(ctx, s.UserID, sealed, again)
		}
	}
	return contract.Result{Grant: gr}, err
}

// Confirm checks typed, a code of the new secret, by the store's clock, and
// makes secret userID's app in one store step: a factor change (every live
// grant but keep, and every remembered device, revoked), the code's step
// used, so the code that confirmed the app cannot sign in. A code that
// matches no step is [contract.ErrCodeInvalid], and is not counted: a
// typo while setting up proves nothing about the account.
func (m *Method) Confirm(ctx context.Context, st contract.Store, userID string, secret []byte, typed, keep string) (bool, error) {
	if m.key == nil {
		return false, contract.ErrNotBound
	}
	code, ok := normalize(typed)
	if !ok {
		return false, contract.ErrMalformed
	}
	now, err := st.Now(ctx)
	if err != nil {
		return false, err
	}
	step, ok := match(secret, code, now, m.window, -1)
	if !ok {
		return false, contract.ErrCodeInvalid
	}
	sealed, err := m.Seal(userID, secret)
	if err != nil {
		return false, err
	}
	return st.SetTOTP(ctx, userID, sealed, step, keep)
}

// normalize reads a typed code: digits, with the spaces and dashes people
// type removed; false for anything that cannot be a 6-digit code.
func normalize(raw string) (string, bool) {
	if len(raw) > 4*digits {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '\t':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == digits
}

// The method's roles, checked by the compiler.
var (
	_ contract.Method        = (*Method)(nil)
	_ contract.Keyed         = (*Method)(nil)
	_ contract.Authenticator = (*Method)(nil)
)
