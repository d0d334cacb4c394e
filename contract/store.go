package contract

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps challenges, per-user failure counters, send budgets, grants,
// factors, recovery codes and remembered devices. Every decision about
// expiry, attempts, lockout, cooldown and budgets is made by the store,
// atomically, from its own clock and rows, so that any number of app
// instances sharing one database behave as one. Implementations must be safe
// for concurrent use.
//
// Methods report refusals with the sentinel errors of this package (match them
// with [errors.Is]); a refusal that ends at a known time is a [*LimitError].
// Any other error is a system failure (database unreachable, …) and the guard
// fails closed on it.
type Store interface {
	ChallengeStore
	GrantStore
	FactorStore
	RecoveryStore
	DeviceStore
	TOTPStore
	PrefixStore
}

// ChallengeStore keeps challenges, each user's consecutive failures and
// lock, and the send budgets: everything a code's life touches.
type ChallengeStore interface {
	// Open returns the live challenge of p.UserID and p.Binding for p.Phone, or,
	// when there is none, creates one from p and reports created = true. Only a
	// created challenge should be sent: this is what makes reloading a guarded
	// page free. A live challenge is unconsumed, unexpired and has attempts
	// left.
	//
	// Before creating, Open refuses a locked user ([ErrLocked]) and reserves
	// one send in each of p.Budgets, all or nothing ([ErrBudgetExceeded]).
	// With p.CheckFactor it confirms, in the same step, right after the lock
	// check, that p.Phone is the user's enrolled number, and otherwise
	// returns [ErrFactorChanged] having changed nothing.
	Open(ctx context.Context, p OpenParams) (c Challenge, created bool, err error)

	// Challenge returns the challenge ref names, whatever its state, with the
	// owner's lock. It returns [ErrNotFound] when no challenge has that ID, or
	// when it belongs to another user or session: the two are
	// indistinguishable on purpose.
	Challenge(ctx context.Context, ref Ref) (Challenge, error)

	// Verify checks mac against the challenge's code — in constant time, or
	// inside the database, where timing cannot reveal a keyed MAC (README's
	// security model) — in one atomic step that counts the attempt and, on a
	// match, consumes the challenge. It refuses before any comparison when
	// the user is locked ([ErrLocked]), the challenge is missing
	// ([ErrNotFound]), used
	// ([ErrCodeUsed]), expired ([ErrCodeExpired]) or out of attempts
	// ([ErrTooManyAttempts]); none of those counts an attempt.
	//
	// A wrong code returns [ErrCodeInvalid] and counts one attempt against the
	// challenge and one consecutive failure against the user; the failure that
	// reaches the lockout threshold locks the user and returns [ErrLocked]
	// instead, with the challenge (and [LimitError].Started set). A right
	// code returns nil and resets the user's failures. The returned
	// challenge reflects the state after the call.
	//
	// In the same transaction a right code does what its challenge's flow
	// is for, and returns the grant it created or freshened:
	//   - FlowLogin: creates the grant p.Grant describes (if p.Grant.ID is set);
	//   - FlowStepUp: marks the challenge's grant fresh;
	//   - FlowEnrol: stores the challenge's number as the user's factor (as
	//     SetFactor) and creates the grant p.Grant describes;
	//   - FlowChange: stores the challenge's number as the user's factor,
	//     marks the challenge's grant fresh, revokes every other grant of the
	//     user (why "number_change") and every remembered device.
	// A step-up or change whose grant was revoked or expired meanwhile
	// returns a zero Grant and changes nothing else: the code was right, but
	// the browser must sign in again.
	Verify(ctx context.Context, ref Ref, p VerifyParams) (Challenge, Grant, error)

	// Resend replaces the code of the challenge ref names with p.MAC, renews
	// its lifetime and starts the next, doubled, cooldown. Attempts already
	// made stay counted. A challenge opened for another number than p.Phone
	// (when set) is [ErrNotFound], and so is a login or step-up challenge
	// whose number is no longer the user's enrolled one, read under the
	// user's lock: the user's number changed. It refuses a
	// locked user ([ErrLocked]), a resend inside the cooldown
	// ([ErrResendTooSoon]), an exhausted budget ([ErrBudgetExceeded]) and a
	// challenge that is missing, used or out of attempts ([ErrNotFound],
	// [ErrCodeUsed], [ErrTooManyAttempts]): open a new challenge for those. An
	// expired challenge may be resent.
	Resend(ctx context.Context, ref Ref, p ResendParams) (Challenge, error)

	// SendFailed records that the send of the code whose MAC is mac certainly
	// did not reach the provider, so the user is not stranded behind a
	// cooldown for a code they never got: the cooldown is lifted and the send
	// is not counted towards the next cooldown's doubling. Budgets stay
	// reserved: a failing provider is no reason to allow more traffic. It is a
	// no-op for a challenge that is missing or used, or whose code has been
	// replaced since: a late failure must not undo a later send.
	SendFailed(ctx context.Context, ref Ref, mac []byte) error

	// Cancel withdraws a challenge that Open created but whose code was never
	// handed to the sender (the guard could not save the session that would
	// hold it): the challenge is deleted and the send it reserved in each of
	// budgets — the same budgets given to Open — is given back, so a visitor
	// is never refused for SMS that were never attempted. It is a no-op for a
	// challenge that is missing or used, or whose code (mac) was replaced or
	// sent since.
	Cancel(ctx context.Context, ref Ref, mac []byte, budgets []Budget) error

	// Unlock clears userID's lockout and failure count and empties the
	// user's own send budgets (the "user" family). With number, it also
	// empties the budgets of the user's enrolled number (the "phone"
	// family), read under the user's lock. Budgets of IPs, prefixes and the
	// global one are left alone.
	Unlock(ctx context.Context, userID string, number bool) error
}

// GrantStore keeps grants: what a completed second factor gives a browser,
// until it expires or is revoked.
type GrantStore interface {
	// Grant returns the grant id of userID, whatever its state, with the
	// store's clock in Now; [ErrNotFound] when there is none (or it was
	// purged). It is the one read a verified request makes per recheck
	// interval: an indexed lookup that never waits for a writer.
	Grant(ctx context.Context, id, userID string) (Grant, error)

	// RevokeGrant revokes the grant id of userID, recording why ("logout",
	// …), and reports whether it was live until now.
	RevokeGrant(ctx context.Context, id, userID, why string) (bool, error)

	// RevokeAll revokes every live grant of userID, recording why, and
	// every remembered device, and returns how many of each were live. It
	// is one step under the user's lock, which a device's sign-in and its
	// remembering take too: either finished before, and what it made is
	// revoked here, or it comes after and is refused.
	RevokeAll(ctx context.Context, userID, why string) (grants, devices int, err error)

	// EndSignIn ends the sign-in login (a tag of User.Login) of userID, for
	// a logout: it revokes every live grant of that sign-in (why "logout")
	// and returns how many, so that a grant another tab or a copied device
	// cookie made for it meanwhile ends too. With none live, it records the
	// end as a revoked grant would — once: a sign-in already ended is not
	// recorded again, however often its logout is replayed. Either way, no
	// remembered device signs that sign-in in again.
	EndSignIn(ctx context.Context, userID, login string) (int, error)
}

// FactorStore keeps each user's enrolled phone number: the factor.
type FactorStore interface {
	// Factor returns userID's factor — possibly one with Removed set — or
	// [ErrNotFound] when the store has never had one for the user.
	Factor(ctx context.Context, userID string) (Factor, error)

	// AdoptFactor stores phone (E.164) and region as userID's factor if the
	// store has none at all (not even a removed one), atomically: of
	// concurrent adoptions one wins and every caller gets the stored factor.
	// adopted reports whether this call stored it.
	AdoptFactor(ctx context.Context, userID, phone, region string) (f Factor, adopted bool, err error)

	// SetFactor stores phone and region as userID's factor, enrolled now,
	// replacing any (removed or not), and bumps its version, which every
	// remembered device is tied to. It returns the new factor and the one it
	// replaced (zero if none).
	SetFactor(ctx context.Context, userID, phone, region string) (f, old Factor, err error)

	// RemoveFactor marks userID's factor removed (and bumps its version), so
	// nothing is adopted again; it returns the factor as it was before.
	// Removing a user with no factor stores the removed marker too.
	RemoveFactor(ctx context.Context, userID string) (old Factor, err error)

	// NoteMismatch records that the app handed tag (a keyed tag of a
	// number) for userID while another number is enrolled, and reports
	// whether this tag is new since the last note: the guard reports each
	// mismatch once.
	NoteMismatch(ctx context.Context, userID, tag string) (fresh bool, err error)
}

// TOTPStore keeps each user's authenticator app: its secret, sealed by the
// guard (the store never sees it in the clear), and the last time step a
// code was accepted for, so that no step is accepted twice.
//
// A sign-in is one round trip on Postgres: the claim (UseTOTP), with the
// sealed secret the guard read when it asked for the code; a caller without
// it reads it first (TOTP). Setting up, replacing and removing an app are
// rare and off the request path: each is one transaction.
type TOTPStore interface {
	// TOTP returns userID's authenticator, with the store's clock in Now;
	// [ErrNotFound] when there is none. It is one indexed read.
	TOTP(ctx context.Context, userID string) (TOTP, error)

	// Now is the store's clock, which judges every time: a code confirming
	// a new app is matched against it.
	Now(ctx context.Context) (time.Time, error)

	// SetTOTP makes sealed userID's authenticator — a first one, or one
	// replacing another — with step, the step of the code that confirmed
	// it, as its last used step. It is a factor change: in the same step,
	// under the user's lock, every live grant of the user but keep is
	// revoked (why "totp_change") and every remembered device. It reports
	// whether an authenticator was replaced.
	SetTOTP(ctx context.Context, userID string, sealed []byte, step int64, keep string) (replaced bool, err error)

	// UseTOTP is a TOTP sign-in or step-up, in one step under the user's
	// lock, judged by the store's clock. A locked user is refused
	// ([ErrLocked]) before anything else; a user without an authenticator
	// is [ErrNotFound]; an authenticator whose sealed secret is no longer
	// u.Sealed (replaced, removed and set up again, resealed) is
	// [ErrFactorChanged], counting nothing. With u.Step ≥ 0 — the step
	// the typed code matched — a step more than u.Window steps from the
	// store's clock is a wrong code; a step at or before the last used one
	// is [ErrCodeUsed] and counts nothing; otherwise the step is claimed,
	// the user's failures reset, and the grant p.Grant describes is
	// created (its ID set; earned how "totp", whatever p.Grant.How says),
	// or, with u.Freshen set, that grant is marked fresh if it is live and
	// of the sign-in p.Grant.Login (a zero Grant when it is not: the
	// browser must sign in again). With u.Step < 0 — a code that matched
	// no step — it is a wrong code: [ErrCodeInvalid], one failure counted
	// in the account-wide lockout, or [ErrLocked] (with
	// [LimitError].Started) for the failure that reaches the threshold. On
	// Postgres it is one round trip.
	UseTOTP(ctx context.Context, userID string, u TOTPUse, p VerifyParams) (Grant, error)

	// ResealTOTP replaces userID's sealed secret with sealed, if it is
	// still old: the guard seals a secret again under its current key after
	// reading one sealed under a previous secret. It reports whether it
	// did.
	ResealTOTP(ctx context.Context, userID string, old, sealed []byte) (bool, error)

	// RemoveTOTP removes userID's authenticator, a factor change as in
	// SetTOTP (every live grant but keep, and every device, revoked), and
	// reports whether there was one.
	RemoveTOTP(ctx context.Context, userID, keep string) (bool, error)
}

// TOTPUse is one submission of an authenticator's code, for UseTOTP.
type TOTPUse struct {
	// Step is the time step the typed code matched, or -1 for a code that
	// matched none.
	Step int64
	// Sealed is the sealed secret Step was matched with, as read (maybe by
	// an earlier request): the step is claimed only while it is still the
	// user's.
	Sealed []byte
	// Window is how many steps either side of the store's clock Step may
	// lie, so that the store's clock judges the code whatever clock the
	// caller matched it by.
	Window int
	// Freshen, for a step-up, is the grant a right code marks fresh
	// instead of creating one.
	Freshen string
}

// TOTP is a user's authenticator as the store keeps it.
type TOTP struct {
	Sealed    []byte    // the secret, sealed by the guard
	LastStep  int64     // the last time step a code was accepted for; 0 for none
	CreatedAt time.Time // when it was set up (or last replaced)
	Now       time.Time // the store's clock when it was read
}

// RecoveryStore keeps recovery codes, as keyed MACs only.
type RecoveryStore interface {
	// ReplaceRecoveryCodes replaces every recovery code of userID with macs.
	ReplaceRecoveryCodes(ctx context.Context, userID string, macs [][]byte) error

	// UseRecoveryCode spends the unused recovery code of userID whose MAC is
	// mac, in one atomic step, and on success creates the grant p.Grant
	// describes (how "recovery", fresh now) and resets the user's failures:
	// of concurrent uses of one code exactly one wins. A refused user
	// ([ErrLocked]) is checked first. The code it spends records
	// p.Session; the same code shown again by the same (non-empty) Session
	// less than 30 seconds after it was spent — a double click, a retried
	// request — returns [ErrCodeUsed] and counts nothing. Any other MAC that
	// matches no unused code returns [ErrCodeInvalid] and counts one
	// consecutive failure against the same account-wide lockout as a wrong
	// SMS code (the one reaching the threshold returns [ErrLocked], its
	// [LimitError].Started set). left is the unused codes remaining.
	UseRecoveryCode(ctx context.Context, userID string, mac []byte, p VerifyParams) (left int, g Grant, err error)

	// RecoveryCodesLeft counts userID's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// DeviceStore keeps remembered devices: browsers whose holder completed the
// second factor and asked to be remembered. A device holds a token in a
// cookie; the store keeps only MACs of the current and the previous token.
type DeviceStore interface {
	// AddDevice remembers device d of userID, asked for in the sign-in whose
	// grant is grantID. It expires d.Lifetime after the store's now. Under
	// the user's lock, it refuses with [ErrNotFound] unless that grant is
	// live and the device could be used (the factor is d.FactorVersion, or
	// there is none): a sign-out everywhere or a number change that lands
	// after the code was verified leaves no device behind.
	AddDevice(ctx context.Context, userID, grantID string, d NewDevice) error

	// UseDevice signs userID in on device id, whose cookie showed the token
	// whose MAC is mac, and rotates it to next, recording the sign-in
	// p.Grant.Login as the one that rotated it. It succeeds only if the
	// device is userID's, live (not revoked, not expired), tied to
	// factorVersion, and, when p.Grant.Login is not "", no grant of that
	// sign-in was ever revoked. It returns the live grant this device
	// already made for the same (non-empty) sign-in, or else creates the
	// grant p.Grant describes (how "device", never fresh, recording the
	// device), so a browser that keeps showing its cookie makes one grant.
	//
	// The token rotated out is accepted again for grace, and only from the
	// sign-in that rotated it (two tabs of one browser, or an answer that
	// never arrived); then rotated reports whether next — which the caller
	// derives from the token shown — is the device's current token, to be
	// handed to the browser again. Shown by any other sign-in, or after the
	// grace, or a token older than that, is a reuse: the device and every
	// live grant it made are revoked, and the call returns
	// [ErrDeviceReuse]. Anything else is [ErrNotFound].
	UseDevice(ctx context.Context, userID, id string, mac, next []byte, factorVersion int64, grace time.Duration, p VerifyParams) (g Grant, rotated bool, err error)

	// Devices lists userID's live devices, most recently used first.
	Devices(ctx context.Context, userID string) ([]Device, error)

	// RevokeDevice revokes device id of userID and reports whether it was
	// live.
	RevokeDevice(ctx context.Context, userID, id string) (bool, error)
}

// Factor is a user's enrolled phone number.
type Factor struct {
	UserID     string
	Phone      string    // E.164; "" when Removed
	Region     string    // ISO 3166 region of Phone
	EnrolledAt time.Time // when this number was enrolled (or adopted)
	Version    int64     // changes on every change, removal included
	Removed    bool      // the number was removed: nothing is adopted again
}

// NewDevice describes a device for [DeviceStore.AddDevice].
type NewDevice struct {
	ID            string
	Label         string        // from the User-Agent: "Chrome on Linux"
	FactorVersion int64         // the factor version it is remembered under
	Lifetime      time.Duration // until it expires, from the store's now
	MAC           []byte        // the MAC of its first token
}

// Device is a remembered browser.
type Device struct {
	ID            string
	Label         string    // from the User-Agent: "Chrome on Linux"
	FactorVersion int64     // the factor version it was remembered under
	CreatedAt     time.Time // by the store's clock
	LastUsedAt    time.Time
	ExpiresAt     time.Time
}

// ErrDeviceReuse: a remembered device's rotated-out token was shown again
// after the grace period, or by another sign-in — the sign of a copied
// cookie. The device and the grants it made are revoked.
var ErrDeviceReuse = errors.New("sms2fa: a rotated-out device token was reused")

// VerifyParams carries a guess for [Store.Verify].
type VerifyParams struct {
	MAC    []byte // keyed MAC of the guessed code, bound to the challenge ID
	Policy Policy // attempts, lockout and the live-grant cap to apply
	// Grant is the grant a right code creates (login, enrol), or names the
	// sign-in whose grant it freshens (step-up, change).
	Grant GrantParams
	// Session names who submits, for UseRecoveryCode: the sign-in's tag, or
	// the guard session's when the app names no sign-ins; "" for none.
	Session string
}

// GrantParams describes a new grant.
type GrantParams struct {
	ID       string        // random, ≥ 128 bits; empty: create none
	Login    string        // a tag of the sign-in it belongs to, or ""
	How      string        // how it was earned: "sms", "recovery", "device"
	Lifetime time.Duration // until it expires
}

// Grant is a completed second factor as the store keeps it.
type Grant struct {
	ID        string
	UserID    string
	Login     string    // the sign-in tag it was created for, or ""
	How       string    // sms, recovery, device
	CreatedAt time.Time // when the second factor was completed
	FreshAt   time.Time // when a code (never a remembered device) was last verified in it
	ExpiresAt time.Time
	RevokedAt time.Time // zero while not revoked
	Now       time.Time // the store's clock when it answered
}

// Live reports whether the grant was neither revoked nor expired when the
// store answered.
func (g Grant) Live() bool { return g.ID != "" && g.RevokedAt.IsZero() && g.Now.Before(g.ExpiresAt) }

// Until returns how long the grant has left from the store's answer, never
// negative.
func (g Grant) Until() time.Duration { return max(g.ExpiresAt.Sub(g.Now), 0) }

// FreshWithin reports whether a code was verified in the grant less than d
// before the store answered.
func (g Grant) FreshWithin(d time.Duration) bool {
	return g.Live() && !g.FreshAt.IsZero() && g.Now.Sub(g.FreshAt) < d
}

// Ref names a challenge from the point of view of a session: its ID and the
// user and session it belongs to. A challenge is only ever found through all
// three, so a code sent to one user or session never verifies another.
type Ref struct {
	ID      string // the challenge ID (random, ≥ 128 bits)
	UserID  string // the first-factor user's stable ID
	Binding string // a random value held by the session that opened it
}

// Policy carries the limits the store enforces on codes, guesses and grants.
// The guard builds it from its options; [DefaultPolicy] holds the documented
// defaults.
type Policy struct {
	CodeTTL        time.Duration // lifetime of each code
	MaxAttempts    int           // wrong guesses a challenge survives
	ResendCooldown time.Duration // wait after the first send; doubles on each resend
	Lockout        Lockout       // account-wide failure budget
	// MaxGrants caps a user's live grants: creating one more revokes the
	// oldest beyond it (by creation, then ID; why "cap"), in the same store
	// step. 0: no cap.
	MaxGrants int
}

// Lockout is the account-wide failure budget: Threshold consecutive wrong
// codes, across all of a user's challenges, lock the user for Duration; each
// further lock before a success doubles it, up to Max. A right code resets both
// the count and the doubling. Threshold 0 disables lockout.
type Lockout struct {
	Threshold int
	Duration  time.Duration
	Max       time.Duration
}

// DefaultPolicy returns the documented defaults (see the README's table of
// options): codes live 5
// minutes (NIST SP 800-63B allows at most 10), 5 wrong attempts per challenge
// (Twilio Verify), a 30 s resend cooldown doubling per resend, and 10
// consecutive failures locking the user for 15 minutes, doubling per repeat,
// capped at 24 hours; at most 50 live grants per user.
func DefaultPolicy() Policy {
	return Policy{
		CodeTTL:        5 * time.Minute,
		MaxAttempts:    5,
		ResendCooldown: 30 * time.Second,
		Lockout:        Lockout{Threshold: 10, Duration: 15 * time.Minute, Max: 24 * time.Hour},
		MaxGrants:      50,
	}
}

// LockFor returns how long the lock that follows locks earlier locks (since
// the user's last success) lasts: Duration doubled locks times, capped at Max.
func (l Lockout) LockFor(locks int) time.Duration {
	d := l.Duration
	for i := 0; i < locks && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// CooldownAfter returns the wait that follows the sends-th send of a
// challenge: ResendCooldown doubled for each send after the first, capped at
// 24 hours so the arithmetic can never overflow.
func (p Policy) CooldownAfter(sends int) time.Duration {
	const ceiling = 24 * time.Hour
	d := p.ResendCooldown
	for i := 1; i < sends && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.CodeTTL <= 0:
		return fmt.Errorf("sms2fa: code lifetime must be positive, got %v", p.CodeTTL)
	case p.MaxAttempts < 1:
		return fmt.Errorf("sms2fa: max attempts must be at least 1, got %d", p.MaxAttempts)
	case p.ResendCooldown < 0:
		return fmt.Errorf("sms2fa: resend cooldown must not be negative, got %v", p.ResendCooldown)
	case p.Lockout.Threshold < 0:
		return fmt.Errorf("sms2fa: lockout threshold must not be negative, got %d", p.Lockout.Threshold)
	case p.Lockout.Threshold > 0 && (p.Lockout.Duration <= 0 || p.Lockout.Max < p.Lockout.Duration):
		return fmt.Errorf("sms2fa: lockout needs 0 < duration ≤ max, got %v and %v", p.Lockout.Duration, p.Lockout.Max)
	case p.MaxGrants < 0:
		return fmt.Errorf("sms2fa: live grants per user must not be negative, got %d", p.MaxGrants)
	}
	return nil
}

// Budget is one send budget: at most Limit sends per Window for one Key in one
// named family (for example "phone" and "+919876543210"). A window opens with
// its first send and closes Window later, when the count starts again. Budgets
// are rows in the store, so they hold across every instance sharing it.
type Budget struct {
	Name   string        // the family: "user", "phone", "ip", "prefix", "global", …
	Key    string        // what is counted within the family; "" for a global budget
	Limit  int           // sends allowed per window; must be ≥ 1
	Window time.Duration // the window's length
}

// OpenParams describes the challenge [Store.Open] creates when none is live.
// ID and MAC are made by the caller, so that the store never sees the code.
// A live challenge is only reused for the same flow (and, for a step-up, the
// same grant): a step-up code never counts as a login code.
type OpenParams struct {
	Ref              // ID of the new challenge, and its owner
	Flow    Flow     // what it is for; empty means FlowLogin
	GrantID string   // for FlowStepUp and FlowChange, the grant a right code freshens
	Phone   string   // E.164 number the code goes to
	Region  string   // ISO 3166 region of Phone, for the sent/verified statistics
	MAC     []byte   // keyed MAC of the code, bound to Ref.ID
	Policy  Policy   // lifetime, attempts, cooldown and lockout to apply
	Budgets []Budget // reserved, all or nothing, before the challenge is created
	// CheckFactor, for a login or step-up code, makes Open confirm that Phone
	// is the user's enrolled, unremoved factor right after the lock check,
	// before reusing or creating a challenge, in the same transaction (and,
	// on Postgres, the same round trip): the guard's usual path passes the
	// app's number and skips reading the factor first, falling back to
	// reading it on [ErrFactorChanged]. The guard sets it after such a read
	// too, where [ErrFactorChanged] means the number changed in between and
	// fails the request rather than texting the old number.
	CheckFactor bool
	// Prefix is the automatic prefix block: Open counts the send against
	// the prefix and, right after the lock and factor checks and before
	// the budgets, refuses a blocked prefix ([ErrPrefixBlocked]) unless
	// Phone is known good for the user (a code sent to it for this user
	// was verified in the last [KnownNumberFor]).
	Prefix PrefixRule
}

// ResendParams carries a new code for [Store.Resend].
type ResendParams struct {
	Phone   string     // the number the new code goes to; a challenge opened for another is ErrNotFound
	MAC     []byte     // keyed MAC of the new code, bound to the challenge ID
	Policy  Policy     // lifetime and cooldown to apply
	Budgets []Budget   // reserved, all or nothing, before the code is replaced
	Prefix  PrefixRule // as for Open, checked before the budgets
}

// Challenge is the state of one challenge as the store saw it. It never
// carries the code or its MAC.
type Challenge struct {
	ID          string
	UserID      string
	Flow        Flow      // what the challenge is for
	GrantID     string    // for a step-up, the grant it refreshes
	Phone       string    // E.164
	Region      string    // ISO 3166 region of Phone
	CreatedAt   time.Time // when the challenge was opened
	ExpiresAt   time.Time // when the current code stops verifying
	Attempts    int       // guesses checked so far
	MaxAttempts int       // guesses allowed
	Sends       int       // sends counted towards the cooldown
	NextSendAt  time.Time // earliest resend
	SendFailed  bool      // the last send certainly failed; resend is allowed at once
	ConsumedAt  time.Time // zero until the right code was entered
	LockedUntil time.Time // the owner's account lock; zero or past when unlocked
	// Prefix, from Open and Resend, is the block the send's prefix is
	// under though the send went ahead (PrefixMonitor, or a number known
	// good); nil when there is none.
	Prefix *PrefixBlock
	// Now is the store's clock when it answered. Every wait shown to the user
	// is one of the times above minus Now: the app process's own clock never
	// meets a stored time, so instances with skewed clocks show the same
	// waits.
	Now time.Time
}

// AttemptsLeft returns how many more guesses the challenge allows.
func (c Challenge) AttemptsLeft() int { return max(c.MaxAttempts-c.Attempts, 0) }

// Live reports whether the challenge could still be verified when the store
// answered.
func (c Challenge) Live() bool {
	return c.ConsumedAt.IsZero() && !c.SendFailed && c.Now.Before(c.ExpiresAt) && c.Attempts < c.MaxAttempts
}

// Locked reports whether the owner was locked out when the store answered.
func (c Challenge) Locked() bool { return c.LockedUntil.After(c.Now) }

// Until returns how long after the store's answer t is, never negative: the
// wait to show for one of the challenge's times.
func (c Challenge) Until(t time.Time) time.Duration { return max(t.Sub(c.Now), 0) }

// Sentinel errors of the store and the guard. Match them with [errors.Is]; the
// ones that end at a known time come wrapped in a [*LimitError].
var (
	// ErrNotFound: no challenge with that ID for that user and session — or,
	// from the grant, factor and device methods, no such row of that user.
	ErrNotFound = errors.New("sms2fa: no such challenge")
	// ErrCodeInvalid: the code did not match; one attempt was counted.
	ErrCodeInvalid = errors.New("sms2fa: wrong code")
	// ErrCodeExpired: the challenge's code has expired, or its send certainly
	// failed (a code that never left cannot be entered).
	ErrCodeExpired = errors.New("sms2fa: code expired")
	// ErrCodeUsed: the challenge was already verified; a code is single-use.
	ErrCodeUsed = errors.New("sms2fa: code already used")
	// ErrTooManyAttempts: the challenge has had its maximum of wrong guesses
	// and is dead, even for the right code.
	ErrTooManyAttempts = errors.New("sms2fa: too many wrong codes for this challenge")
	// ErrLocked: the user is locked out after too many consecutive failures.
	ErrLocked = errors.New("sms2fa: too many failed attempts; user locked")
	// ErrResendTooSoon: a resend was asked for inside the cooldown.
	ErrResendTooSoon = errors.New("sms2fa: resend too soon")
	// ErrBudgetExceeded: a send budget (per user, phone, IP, prefix or global)
	// is used up for its window.
	ErrBudgetExceeded = errors.New("sms2fa: send budget exceeded")
	// ErrFactorChanged: Open with CheckFactor found that the number given is
	// not the user's enrolled one (none is enrolled, it was removed, or it is
	// another number); nothing was opened.
	ErrFactorChanged = errors.New("sms2fa: the number is not the enrolled factor")
)

// LimitError is a refusal that ends at a known time: a lock, a cooldown, an
// exhausted budget or a blocked prefix. It unwraps to [ErrLocked],
// [ErrResendTooSoon], [ErrBudgetExceeded] or [ErrPrefixBlocked].
type LimitError struct {
	Err    error     // the sentinel
	Until  time.Time // when the refusal ends, by the store's clock
	Now    time.Time // the store's clock when it refused: the wait is Until - Now
	Budget string    // for ErrBudgetExceeded, the budget's Name
	// Started, for ErrLocked: this very call's wrong code started the lock
	// (it was counted); false when the user was locked already and nothing
	// was checked.
	Started bool
	// Prefix, for ErrPrefixBlocked, is the block.
	Prefix *PrefixBlock
}

func (e *LimitError) Error() string {
	if e.Budget != "" {
		return fmt.Sprintf("%v (%s) until %s", e.Err, e.Budget, e.Until.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%v until %s", e.Err, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap returns the sentinel.
func (e *LimitError) Unwrap() error { return e.Err }

// RetryAfter returns how long the refusal in err lasts from when the store
// made it, rounded up to whole seconds (as an HTTP Retry-After header needs),
// if err carries a [*LimitError]. Both ends come from the store's clock, so
// the answer does not depend on the clock of the process asking.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitError
	if !errors.As(err, &le) {
		return 0, false
	}
	return ceilSeconds(le.Until.Sub(le.Now)), true
}

// Rate is one send budget: Limit sends per Window.
type Rate struct {
	Limit  int
	Window time.Duration
}

// Flow names why a code is sent. Each flow has its own provider purpose
// (WithPurpose).
type Flow string

// The flows of the guard.
const (
	FlowLogin  Flow = "login"   // the second factor of a sign-in
	FlowStepUp Flow = "step_up" // a fresh code for a sensitive route
	FlowEnrol  Flow = "enrol"   // proving a new user's number
	FlowChange Flow = "change"  // proving a new number
)

// ceilSeconds rounds d up to whole seconds, as a Retry-After header needs.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
