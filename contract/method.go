package contract

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"html/template"
	"time"
)

// Method is one way to complete the second factor: a code texted to the
// user (package sms), a recovery code (package recovery), a remembered
// device (package device), and an authenticator app (package totp). A method checks a
// submission in one store step and returns what it earned; it returns
// values and errors and never touches HTTP: the guard (package sms2fa) alone
// reads the request, writes cookies, keeps the session and answers. An app
// lists the methods it wants with sms2fa.WithMethods; what a method can do
// besides verifying is a separate small interface ([Keyed], [Issuer],
// [Rememberer], [Authenticator]).
type Method interface {
	// Name names the method in grants (Grant.How), events and metrics:
	// "sms", "recovery", "device", "totp".
	Name() string
	// Verify checks s in one store step and returns what it earned: the
	// grant, and what the method adds (the challenge of a code, the
	// recovery codes left, a device's next token). A wrong submission
	// counts in the user's account-wide failures, as the store's methods
	// say. Something that cannot be a submission of this method at all is
	// ErrMalformed, before the store is asked.
	Verify(ctx context.Context, st Store, s Submission) (Result, error)
}

// Submission is what a user (or a browser) submitted to a method, with what
// the guard knows of the request.
type Submission struct {
	UserID string
	Typed  string // what the user typed: a code; or the device cookie's value
	// Ref names the pending challenge, for a method that sent one (sms).
	Ref Ref
	// Params are the store step's: the policy, the grant a right
	// submission creates (its ID, the sign-in's tag, how, lifetime) and who
	// submits (VerifyParams.Session). The method fills in its own parts
	// (the MAC of what was typed).
	Params VerifyParams
	// FactorVersion is the version of the user's factor, for a method bound
	// to it (a remembered device).
	FactorVersion int64
	// Freshen, for a step-up, is the grant a right submission marks fresh
	// instead of creating Params.Grant (totp; an SMS step-up names its
	// grant in its challenge).
	Freshen string
	// Sealed and At, for an authenticator app (totp), spare the method
	// its read of the store: the user's sealed secret as the guard read it
	// when it asked for the code, and the time to match the code at (the
	// guard's clock). The store then claims the step only if that secret
	// is still the user's, and only near its own clock. Unset, the method
	// reads both from the store.
	Sealed []byte
	At     time.Time
}

// Result is what a right submission earned.
type Result struct {
	Grant     Grant     // the grant created or freshened; zero if none
	Challenge Challenge // sms: the challenge, after the step (also on a wrong code)
	Left      int       // recovery: the codes left
	Token     string    // device: the cookie value to set, when the token rotated
	Device    string    // device: the ID of the device that signed in
}

// ErrMalformed: what was submitted cannot be a submission of the method (a
// code of the wrong length, a token of the wrong shape); nothing was checked
// or counted.
var ErrMalformed = errors.New("sms2fa: not a code")

// Keyed is a method that keeps MACs of its secrets, or seals them. The guard
// calls Bind once, in New, before any other call, with a function deriving a
// key from the guard's secret under a label (HKDF): one key per purpose,
// never the secret itself. derive gives only keys labelled "sms2fa v1 " +
// the method's Name + " …", never one of the guard's own. A method bound
// already (to another guard) refuses a second Bind: a method instance
// belongs to one guard. A method not bound refuses to make or check a
// secret.
type Keyed interface {
	Bind(derive func(label string) ([]byte, error)) error
}

// ErrUnsealable: a sealed secret opens under none of the guard's keys (the
// guard's secret was rotated without telling the method the previous one,
// or the row was damaged). The guard falls back to SMS for that user.
var ErrUnsealable = errors.New("sms2fa: the authenticator secret cannot be unsealed")

// Authenticator is a method a user sets up with a shared secret: an
// authenticator app (package totp). The guard drives the setup: it makes a
// secret, keeps it sealed in its session until the user confirms it with a
// code, and shows it as a QR code and a link.
type Authenticator interface {
	// NewSecret makes a new secret.
	NewSecret() ([]byte, error)
	// Seal and Unseal keep a secret of userID unreadable outside the
	// guard; stale reports a secret sealed under a previous guard secret.
	Seal(userID string, secret []byte) ([]byte, error)
	Unseal(userID string, sealed []byte) (secret []byte, stale bool, err error)
	// URI is what the app reads (otpauth://…), for account; QR draws it;
	// Key writes the secret as a person types it into an app.
	URI(secret []byte, account string) string
	Key(secret []byte) string
	QR(uri string) (template.HTML, error)
	// Confirm checks typed, a code of the new secret, by the store's clock,
	// and makes the secret userID's app (a factor change: every live grant
	// but keep, and every device, revoked), the code's step used. A code
	// that matches no step is ErrCodeInvalid (not counted: the user proves
	// nothing about the account with a secret the guard just made).
	Confirm(ctx context.Context, st Store, userID string, secret []byte, typed, keep string) (replaced bool, err error)
}

// ErrNotBound: a method was used before a guard bound its keys.
var ErrNotBound = errors.New("sms2fa: the method is not bound to a guard (sms2fa.New binds it)")

// ErrBound: a method instance was given to a second guard.
var ErrBound = errors.New("sms2fa: the method is bound to a guard already: give each guard its own instance")

// Issuer is a method whose secrets the guard hands out to show once
// (recovery codes).
type Issuer interface {
	// Issue replaces userID's secrets in the store and returns the new ones.
	Issue(ctx context.Context, st Store, userID string) ([]string, error)
	// Low reports whether left unused secrets are few enough to ask the
	// user to make new ones.
	Low(left int) bool
}

// Rememberer is a method that signs a browser in silently (a remembered
// device): the guard offers it after a right code, and asks it before
// sending one.
type Rememberer interface {
	// Remember registers a browser for userID, tied to the grant a right
	// code created and to the factor's version, labelled for the user's
	// list of devices, and returns its ID and the cookie value that signs it
	// in.
	Remember(ctx context.Context, st Store, userID, grantID string, factorVersion int64, label string) (id, value string, err error)
	// Lifetime is how long a remembered browser stays remembered; 0: off.
	Lifetime() time.Duration
}

// DeriveKey derives the 32-byte key for label from secret with HKDF-SHA256:
// how the guard derives every key it uses, and what a method's Bind
// receives. A method that must also read what older secrets sealed (after
// the app rotated its secret) derives their keys with it too.
func DeriveKey(secret []byte, label string) []byte {
	// HKDF with a 32-byte output of SHA-256 cannot fail.
	key, _ := hkdf.Key(sha256.New, secret, nil, label, sha256.Size)
	return key
}

// BindKey is the body of a Keyed method's Bind for one key: it derives the
// key labelled label into *key, refusing a method bound already
// ([ErrBound]) or a label derive refuses.
func BindKey(key *[]byte, derive func(label string) ([]byte, error), label string) error {
	if *key != nil {
		return ErrBound
	}
	k, err := derive(label)
	if err != nil {
		return err
	}
	*key = k
	return nil
}
