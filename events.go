package sms2fa

import (
	"context"
	"log/slog"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// EventKind names what happened.
type EventKind string

// The events the guard emits. Each is also logged.
const (
	EventCodeSent      EventKind = "code_sent"      // a new challenge's code was sent
	EventCodeResent    EventKind = "code_resent"    // a new code replaced the old one
	EventSendFailed    EventKind = "send_failed"    // the sender returned an error
	EventSendRefused   EventKind = "send_refused"   // a budget, the country list or the number refused a send
	EventGlobalLimit   EventKind = "global_limit"   // the global budget is spent: sending has stopped for everyone
	EventVerified      EventKind = "verified"       // the right code; the session is marked
	EventCodeInvalid   EventKind = "code_invalid"   // a wrong code, counted
	EventChallengeDead EventKind = "challenge_dead" // a challenge used its last attempt
	EventUserLocked    EventKind = "user_locked"    // consecutive failures locked the user

	EventGrantCreated   EventKind = "grant_created"   // a second factor was completed: a new grant (How says how)
	EventGrantRefreshed EventKind = "grant_refreshed" // a step-up code freshened a grant
	EventGrantRevoked   EventKind = "grant_revoked"   // grants were revoked (How says why; Count how many)
	EventUnlocked       EventKind = "user_unlocked"   // an admin cleared the user's lockout and budgets

	EventFactorEnrolled   EventKind = "factor_enrolled"   // a number was enrolled (Phone, masked)
	EventFactorAdopted    EventKind = "factor_adopted"    // the app's User.Phone became the user's factor
	EventFactorChanged    EventKind = "factor_changed"    // the number changed (OldPhone → Phone, masked): tell the user
	EventFactorRemoved    EventKind = "factor_removed"    // the number was removed (OldPhone, masked)
	EventPhoneMismatch    EventKind = "phone_mismatch"    // User.Phone differs from the enrolled number, which is kept (once per number)
	EventRecoveryUsed     EventKind = "recovery_used"     // a recovery code signed the user in (Count: codes left)
	EventRecoveryRenewed  EventKind = "recovery_renewed"  // new recovery codes replaced the old ones
	EventDeviceRemembered EventKind = "device_remembered" // a browser was remembered (Device)
	EventDeviceRevoked    EventKind = "device_revoked"    // remembered devices were forgotten (Count)
	EventDeviceReuse      EventKind = "device_reuse"      // a rotated-out device token came back: the device is revoked
	EventTOTPAdded        EventKind = "totp_added"        // an authenticator app was set up (How "replaced" when it replaced one)
	EventTOTPRemoved      EventKind = "totp_removed"      // the user removed their authenticator app
	EventTOTPReset        EventKind = "totp_reset"        // an admin removed the user's authenticator app (Guard.ResetTOTP)
	EventTOTPUnsealable   EventKind = "totp_unsealable"   // the app's secret opens under no key of the guard: the user gets an SMS instead

	EventPrefixBlocked   EventKind = "prefix_blocked"   // a number prefix was blocked (Block: the prefix and the figures that decided; How: on, monitor, operator)
	EventPrefixUnblocked EventKind = "prefix_unblocked" // an operator lifted a prefix's block (How: operator, allowed)
)

// Event is one thing the guard did, for auditing and alerting. It never
// carries the code, and the phone number is masked.
type Event struct {
	Kind         EventKind
	Time         time.Time
	UserID       string
	Phone        string        // masked: +91 ••••••3210
	Region       string        // ISO 3166 region of the number
	IP           string        // the client, as WithClientIP reads it
	ChallengeID  string        // correlates the events of one challenge
	AttemptsLeft int           // after a verify
	Until        time.Time     // end of a lock or of a refused budget's window
	Budget       string        // which budget refused: user, phone, ip, prefix, global
	ProviderID   string        // the provider's reference for a send (Way2API order_id)
	Flow         contract.Flow // code_sent, code_resent, send_failed: what the code was for
	Latency      time.Duration // code_sent, code_resent, send_failed: how long the sender took
	Grant        string        // the grant an event is about; empty for several (all of a user's, or of a sign-in)
	// How: for grant_created, how it was earned (sms, recovery, device,
	// totp); grant_revoked, why (logout, sign_out_everywhere, replaced);
	// device_revoked, sign_out_everywhere when all went; verified,
	// code_invalid and user_locked, "recovery" for a recovery code and
	// "totp" for an authenticator app's (empty for SMS); totp_added,
	// "replaced" for a replacement; prefix_blocked, the block's mode (on,
	// monitor) or "operator"; code_sent and code_resent under a prefix
	// block, "monitor" or "known_good" (the number is known good).
	How      string
	Count    int    // grant_revoked, device_revoked: how many; recovery_used: codes left; recovery_renewed: codes made
	OldPhone string // factor_changed, factor_removed: the number before, masked
	Device   string // device events: the device's ID
	Err      error  // what failed, for send_failed and send_refused
	// Block is the number prefix block of prefix_blocked and
	// prefix_unblocked: the prefix, and, for a block a send started, the
	// figures that decided (Window, Sends, Verified). These two events
	// name nothing of a user — no UserID, Phone, IP or ChallengeID — and
	// no other event names a prefix: the prefix shows a number's first
	// digits, the masked number its last ones, and two events that could
	// be joined would show it whole.
	Block *contract.PrefixBlock
}

// level says how loudly an event is logged: refusals and failures are what
// operators alert on.
func (e Event) level() slog.Level {
	switch e.Kind {
	case EventSendFailed, EventGlobalLimit:
		return slog.LevelError
	case EventSendRefused, EventUserLocked, EventChallengeDead, EventPhoneMismatch, EventDeviceReuse, EventTOTPUnsealable,
		EventPrefixBlocked:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// LogValue lists the fields that are set, the numbers masked (again, should
// an event carry a full one): a log line must never hold a full number.
func (e Event) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", string(e.Kind)), slog.String("user", e.UserID)}
	add := func(key, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(key, v))
		}
	}
	if e.Block == nil { // see Block: never a prefix and a masked number together
		add("phone", contract.MaskPhone(e.Phone))
	}
	add("region", e.Region)
	add("ip", e.IP)
	add("challenge", e.ChallengeID)
	add("budget", e.Budget)
	add("provider_id", e.ProviderID)
	add("grant", e.Grant)
	add("how", e.How)
	add("old_phone", contract.MaskPhone(e.OldPhone))
	add("device", e.Device)
	switch e.Kind {
	case EventGrantRevoked, EventDeviceRevoked, EventRecoveryUsed:
		attrs = append(attrs, slog.Int("count", e.Count))
	}
	if e.Kind == EventCodeInvalid || e.Kind == EventChallengeDead {
		attrs = append(attrs, slog.Int("attempts_left", e.AttemptsLeft))
	}
	if b := e.Block; b != nil {
		add("prefix", b.Prefix)
		if b.Started {
			attrs = append(attrs, slog.Duration("window", b.Window), slog.Float64("sends", b.Sends),
				slog.Float64("verified", b.Verified), slog.Int("blocks", b.Blocks))
		}
	}
	if !e.Until.IsZero() {
		attrs = append(attrs, slog.Time("until", e.Until))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// emit logs e and hands it to the event hook.
func (g *Guard) emit(ctx context.Context, e Event) {
	e.Time = g.cfg.now()
	g.cfg.logger.LogAttrs(ctx, e.level(), "sms2fa "+string(e.Kind), slog.Any("event", e))
	for _, f := range g.cfg.onEvent {
		f(ctx, e)
	}
}
