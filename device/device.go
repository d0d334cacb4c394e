// Package device is the remembered-device method of the second factor. A
// browser whose holder ticks "Remember this device" after a right code gets
// a device token (in a cookie the guard sets); the store keeps only a MAC of
// it, tied to the user and the factor's version. A later sign-in of the same
// user there gets a grant (how "device") without an SMS — never for a
// sign-in whose grant was revoked — and the token rotates on each use. A
// rotated-out token is taken as a stolen copy — revoking the device and
// every grant it made, the thief's sign-in among them — unless the very
// sign-in that rotated it shows it again within a short grace (two tabs, or
// an answer that never arrived), which is handed the current token again. A
// device never counts as a fresh factor.
package device

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

const (
	// grace is how long the sign-in that rotated a device's token may still
	// show the token it replaced: two tabs of one browser signing in at
	// once, or a rotation whose answer was lost.
	grace = 30 * time.Second
	// idBytes is the entropy of device IDs and tokens: 128 bits.
	idBytes = 16
	// The HKDF labels of the method's keys. Changing one invalidates every
	// remembered device.
	labelToken    = "sms2fa v1 device token MAC"
	labelRotation = "sms2fa v1 device token rotation"
)

// Method is the remembered-device method. Build it with [New]; the guard
// binds its keys in its own New.
type Method struct {
	lifetime time.Duration
	key      []byte // the key tokens are MACed with, as the store keeps them
	rotation []byte // the key a token's successor is derived with
}

// Option configures the method.
type Option func(*Method) error

// WithLifetime sets how long "Remember this device" lasts: a sign-in of the
// same user in that browser then needs no SMS for that long (a new grant,
// how "device"). Default 30 days; at least a day. Leave the method out of
// sms2fa.WithMethods to turn remembering off. Remembering works only for
// apps that set User.Login, so that a copy of the cookies taken before a
// logout cannot sign in again through the device.
func WithLifetime(d time.Duration) Option {
	return func(m *Method) error {
		if d < 24*time.Hour {
			return fmt.Errorf("sms2fa: a remembered device's lifetime must be at least a day, got %v (leave the method out to turn remembering off)", d)
		}
		m.lifetime = d
		return nil
	}
}

// New returns the remembered-device method.
func New(opts ...Option) (*Method, error) {
	m := &Method{lifetime: 30 * 24 * time.Hour}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Name is "device", as grants, events and metrics say.
func (m *Method) Name() string { return "device" }

// Bind takes the method's keys from the guard's secret.
func (m *Method) Bind(derive func(label string) ([]byte, error)) error {
	if m.key != nil {
		return contract.ErrBound
	}
	if err := contract.BindKey(&m.rotation, derive, labelRotation); err != nil {
		return err
	}
	return contract.BindKey(&m.key, derive, labelToken)
}

// String names the method without its keys.
func (m *Method) String() string { return "device.Method" }

// Lifetime is how long a remembered browser stays remembered.
func (m *Method) Lifetime() time.Duration { return m.lifetime }

// Remember registers a browser for userID, tied to the grant grantID a right
// code created and to the factor's version, and returns the cookie value
// ("ID.token") that signs it in. The store refuses ([contract.ErrNotFound])
// when the sign-in was revoked or the number changed since the code was
// checked: there is nothing to remember then.
func (m *Method) Remember(ctx context.Context, st contract.Store, userID, grantID string, factorVersion int64, label string) (id, value string, err error) {
	if m.key == nil {
		return "", "", contract.ErrNotBound
	}
	if id, err = newID(); err != nil {
		return "", "", err
	}
	token, err := newID()
	if err != nil {
		return "", "", err
	}
	d := contract.NewDevice{ID: id, Label: label, FactorVersion: factorVersion, Lifetime: m.lifetime, MAC: m.mac(m.key, id, token)}
	if err := st.AddDevice(ctx, userID, grantID, d); err != nil {
		return "", "", err
	}
	return id, id + "." + token, nil
}

// Verify signs s.UserID in with the device cookie's value s.Typed, in one
// store step ([contract.DeviceStore.UseDevice]) that rotates the token and
// creates the grant s.Params.Grant describes — or hands back the live grant
// this sign-in already has from the device. Result.Token is the cookie
// value to set when the token rotated. A value that cannot be a device
// cookie is [contract.ErrMalformed]; a rotated-out token shown by anyone but
// the sign-in that rotated it, within the grace, is
// [contract.ErrDeviceReuse], and the device is revoked.
func (m *Method) Verify(ctx context.Context, st contract.Store, s contract.Submission) (contract.Result, error) {
	if m.key == nil {
		return contract.Result{}, contract.ErrNotBound
	}
	id, token, found := strings.Cut(s.Typed, ".")
	if !found || len(id) != 2*idBytes || len(token) != 2*idBytes {
		return contract.Result{}, contract.ErrMalformed
	}
	// The successor is derived from the token, not drawn at random: the
	// sign-in that rotated it, showing the old token again within the
	// grace, is handed the same current token.
	next := hex.EncodeToString(m.mac(m.rotation, id, token)[:idBytes])
	gr, rotated, err := st.UseDevice(ctx, s.UserID, id, m.mac(m.key, id, token), m.mac(m.key, id, next), s.FactorVersion, grace, s.Params)
	r := contract.Result{Grant: gr, Device: id}
	if err == nil && rotated {
		r.Token = id + "." + next
	}
	return r, err
}

// mac is HMAC-SHA256(key, id || 0x00 || token): bound to the device.
func (m *Method) mac(key []byte, id, token string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(token))
	return h.Sum(nil)
}

// newID returns 128 random bits, hex-encoded.
func newID() (string, error) {
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sms2fa: reading random bytes: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Label names a browser from its User-Agent for a list of devices: "Chrome
// on Linux". It is a hint for the user, never a security decision.
func Label(ua string) string {
	browser := "A browser"
	for _, b := range [...]struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range [...]struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
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
	_ contract.Method     = (*Method)(nil)
	_ contract.Keyed      = (*Method)(nil)
	_ contract.Rememberer = (*Method)(nil)
)
