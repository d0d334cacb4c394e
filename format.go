package sms2fa

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/sms2fa/sms2fa/internal/redact"
	"github.com/sms2fa/sms2fa/phone"
)

// Every exported type of this package that holds a code, a phone number, a
// MAC or a session secret prints a masked summary instead of its fields: with
// String, with every fmt verb (Format) and through log/slog (LogValue). A
// code never appears, a number only masked ("+91 ••••••3210"), a MAC only as
// its length. The methods have value receivers, so that T and *T print alike.

// Placeholders for secrets that are set. They contain no digit, so a mask
// can never form a code or a number.
const (
	maskCode    = redactedCode // a code
	maskLogin   = "[login]"    // User.Login: the app's session ID or sign-in time
	maskBinding = "[binding]"  // Ref.Binding: held by the session
	maskValue   = "[value]"    // what was typed into a form
	maskPhone   = "[phone]"    // a number with no digits to keep
)

// maskedPhone returns s, a phone number as the store, the app or a person
// writes it, in the masked form logs and events show ("+91 ••••••3210"). A
// number already masked is returned as it is, so that masking twice shows
// the same; anything else goes through [phone.Mask], which never returns
// more than the last four digits.
func maskedPhone(s string) string {
	if s == "" || isMasked(s) {
		return s
	}
	if m := phone.Mask(s); m != "" {
		return m
	}
	return maskPhone
}

// isMasked reports whether s has the shape [phone.Mask] gives, "+91
// ••••••3210" or "••••3210": an optional "+", at most three digits and a
// space, at least one "•", then at most four digits. Such a string can hold
// no more of a number than a mask shows.
func isMasked(s string) bool {
	if strings.HasPrefix(s, "+") {
		i := 1
		for i < len(s) && i <= 3 && isDigit(s[i]) {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != ' ' {
			return false
		}
		s = s[i+1:]
	}
	const bullet = "•"
	rest := strings.TrimLeft(s, bullet)
	if rest == s || len(rest) > 4 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isDigit(rest[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// --- Message

func (m Message) fields() *redact.Fields {
	return redact.Of("sms2fa.Message").
		Str("To", maskedPhone(m.To)).
		Hidden("Code", m.Code != "", maskCode).
		Str("Content", string(m.Content)).
		Str("Purpose", m.Purpose)
}

// String summarises m with the number masked and without the code: a
// message printed by accident must never put a live code or a full number in
// a log.
func (m Message) String() string { return m.fields().String() }

// Format prints [Message.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the code or the full number.
func (m Message) Format(f fmt.State, verb rune) { redact.Format(f, verb, m.String()) }

// LogValue logs m as a group, the number masked and the code left out, for
// log/slog: a log line must never hold a live code or a full number.
func (m Message) LogValue() slog.Value { return m.fields().LogValue() }

// --- Challenge

func (c Challenge) fields() *redact.Fields {
	return redact.Of("sms2fa.Challenge").
		Str("ID", c.ID).
		Str("UserID", c.UserID).
		Str("Flow", string(c.Flow)).
		Str("GrantID", c.GrantID).
		Str("Phone", maskedPhone(c.Phone)).
		Str("Region", c.Region).
		Time("CreatedAt", c.CreatedAt).
		Time("ExpiresAt", c.ExpiresAt).
		Int("Attempts", int64(c.Attempts)).
		Int("MaxAttempts", int64(c.MaxAttempts)).
		Int("Sends", int64(c.Sends)).
		Time("NextSendAt", c.NextSendAt).
		Bool("SendFailed", c.SendFailed).
		Time("ConsumedAt", c.ConsumedAt).
		Time("LockedUntil", c.LockedUntil).
		Time("Now", c.Now)
}

// String summarises c with its number masked: a challenge printed by
// accident must never put a full number in a log.
func (c Challenge) String() string { return c.fields().String() }

// Format prints [Challenge.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the full number.
func (c Challenge) Format(f fmt.State, verb rune) { redact.Format(f, verb, c.String()) }

// LogValue logs c as a group with its number masked, for log/slog: a log
// line must never hold a full number.
func (c Challenge) LogValue() slog.Value { return c.fields().LogValue() }

// --- Factor

func (x Factor) fields() *redact.Fields {
	return redact.Of("sms2fa.Factor").
		Str("UserID", x.UserID).
		Str("Phone", maskedPhone(x.Phone)).
		Str("Region", x.Region).
		Time("EnrolledAt", x.EnrolledAt).
		Int("Version", x.Version).
		Bool("Removed", x.Removed)
}

// String summarises x with its number masked: a factor printed by accident
// must never put a full number in a log.
func (x Factor) String() string { return x.fields().String() }

// Format prints [Factor.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the full number.
func (x Factor) Format(f fmt.State, verb rune) { redact.Format(f, verb, x.String()) }

// LogValue logs x as a group with its number masked, for log/slog: a log
// line must never hold a full number.
func (x Factor) LogValue() slog.Value { return x.fields().LogValue() }

// --- Budget

// maskedKey returns a budget's key as it may be shown: the keys of the
// "phone" and "prefix" families, and any key that looks like a number, are
// (parts of) phone numbers and are masked; user IDs and IP addresses, which
// the events show as they are, are kept.
func (b Budget) maskedKey() string {
	if b.Key != "" && (b.Name == "phone" || b.Name == "prefix" || strings.HasPrefix(strings.TrimSpace(b.Key), "+")) {
		return maskedPhone(b.Key)
	}
	return b.Key
}

func (b Budget) fields() *redact.Fields {
	return redact.Of("sms2fa.Budget").
		Str("Name", b.Name).
		Str("Key", b.maskedKey()).
		Int("Limit", int64(b.Limit)).
		Duration("Window", b.Window)
}

// String summarises b with a number key masked: the "phone" budget is keyed
// by the full number, which must never reach a log.
func (b Budget) String() string { return b.fields().String() }

// Format prints [Budget.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a full number.
func (b Budget) Format(f fmt.State, verb rune) { redact.Format(f, verb, b.String()) }

// LogValue logs b as a group with a number key masked, for log/slog: a log
// line must never hold a full number.
func (b Budget) LogValue() slog.Value { return b.fields().LogValue() }

func budgetFields(bs []Budget) []*redact.Fields {
	out := make([]*redact.Fields, len(bs))
	for i, b := range bs {
		out[i] = b.fields()
	}
	return out
}

// policyFields summarises a Policy (which holds no secret) for the params
// that carry one.
func policyFields(p Policy) *redact.Fields {
	return redact.Of("sms2fa.Policy").
		Duration("CodeTTL", p.CodeTTL).
		Int("MaxAttempts", int64(p.MaxAttempts)).
		Duration("ResendCooldown", p.ResendCooldown).
		Group("Lockout", redact.Of("sms2fa.Lockout").
			Int("Threshold", int64(p.Lockout.Threshold)).
			Duration("Duration", p.Lockout.Duration).
			Duration("Max", p.Lockout.Max)).
		Int("MaxGrants", int64(p.MaxGrants))
}

// --- OpenParams

func (p OpenParams) fields() *redact.Fields {
	return redact.Of("sms2fa.OpenParams").
		Str("ID", p.ID).
		Str("UserID", p.UserID).
		Hidden("Binding", p.Binding != "", maskBinding).
		Str("Flow", string(p.Flow)).
		Str("GrantID", p.GrantID).
		Str("Phone", maskedPhone(p.Phone)).
		Str("Region", p.Region).
		Bytes("MAC", p.MAC).
		Group("Policy", policyFields(p.Policy)).
		List("Budgets", budgetFields(p.Budgets)).
		Bool("CheckFactor", p.CheckFactor)
}

// String summarises p with its number masked, its MAC as a length and its
// session binding hidden: parameters printed by accident must never put a
// full number or a code's MAC in a log.
func (p OpenParams) String() string { return p.fields().String() }

// Format prints [OpenParams.String] for every verb (%v, %+v, %#v, %s, %q,
// %x, %d, …), so that no verb reaches the number, the MAC or the binding.
func (p OpenParams) Format(f fmt.State, verb rune) { redact.Format(f, verb, p.String()) }

// LogValue logs p as a group, masked as [OpenParams.String] is, for
// log/slog: a log line must never hold a full number or a code's MAC.
func (p OpenParams) LogValue() slog.Value { return p.fields().LogValue() }

// --- ResendParams

func (p ResendParams) fields() *redact.Fields {
	return redact.Of("sms2fa.ResendParams").
		Str("Phone", maskedPhone(p.Phone)).
		Bytes("MAC", p.MAC).
		Group("Policy", policyFields(p.Policy)).
		List("Budgets", budgetFields(p.Budgets))
}

// String summarises p with its number masked and its MAC as a length:
// parameters printed by accident must never put a full number or a code's
// MAC in a log.
func (p ResendParams) String() string { return p.fields().String() }

// Format prints [ResendParams.String] for every verb (%v, %+v, %#v, %s, %q,
// %x, %d, …), so that no verb reaches the number or the MAC.
func (p ResendParams) Format(f fmt.State, verb rune) { redact.Format(f, verb, p.String()) }

// LogValue logs p as a group, masked as [ResendParams.String] is, for
// log/slog: a log line must never hold a full number or a code's MAC.
func (p ResendParams) LogValue() slog.Value { return p.fields().LogValue() }

// --- VerifyParams

func (p VerifyParams) fields() *redact.Fields {
	return redact.Of("sms2fa.VerifyParams").
		Bytes("MAC", p.MAC).
		Group("Policy", policyFields(p.Policy)).
		Group("Grant", redact.Of("sms2fa.GrantParams").
			Str("ID", p.Grant.ID).
			Str("Login", p.Grant.Login).
			Str("How", p.Grant.How).
			Duration("Lifetime", p.Grant.Lifetime)).
		Str("Session", p.Session)
}

// String summarises p with the guessed code's MAC as a length: a keyed MAC
// of a code must never reach a log.
func (p VerifyParams) String() string { return p.fields().String() }

// Format prints [VerifyParams.String] for every verb (%v, %+v, %#v, %s, %q,
// %x, %d, …), so that no verb reaches the MAC.
func (p VerifyParams) Format(f fmt.State, verb rune) { redact.Format(f, verb, p.String()) }

// LogValue logs p as a group with the MAC as a length, for log/slog: a keyed
// MAC of a code must never reach a log.
func (p VerifyParams) LogValue() slog.Value { return p.fields().LogValue() }

// --- NewDevice

func (d NewDevice) fields() *redact.Fields {
	return redact.Of("sms2fa.NewDevice").
		Str("ID", d.ID).
		Str("Label", d.Label).
		Int("FactorVersion", d.FactorVersion).
		Duration("Lifetime", d.Lifetime).
		Bytes("MAC", d.MAC)
}

// String summarises d with its token's MAC as a length: a device token's MAC
// must never reach a log.
func (d NewDevice) String() string { return d.fields().String() }

// Format prints [NewDevice.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the MAC.
func (d NewDevice) Format(f fmt.State, verb rune) { redact.Format(f, verb, d.String()) }

// LogValue logs d as a group with the MAC as a length, for log/slog: a
// device token's MAC must never reach a log.
func (d NewDevice) LogValue() slog.Value { return d.fields().LogValue() }

// --- User

func (u User) fields() *redact.Fields {
	b := redact.Of("sms2fa.User").
		Str("ID", u.ID).
		Str("Phone", maskedPhone(u.Phone)).
		Hidden("Login", u.Login != "", maskLogin)
	switch u.SecondFactor {
	case Required:
	case Optional:
		b.Str("SecondFactor", "optional")
	default:
		b.Int("SecondFactor", int64(u.SecondFactor))
	}
	return b
}

// String summarises u with the number masked and the sign-in's Login (often
// the app's session ID) hidden: a user printed by accident must never put a
// full number or a session ID in a log.
func (u User) String() string { return u.fields().String() }

// Format prints [User.String] for every verb (%v, %+v, %#v, %s, %q, %x, %d,
// …), so that no verb reaches the full number or the Login.
func (u User) Format(f fmt.State, verb rune) { redact.Format(f, verb, u.String()) }

// LogValue logs u as a group, masked as [User.String] is, for log/slog: a
// log line must never hold a full number or a session ID.
func (u User) LogValue() slog.Value { return u.fields().LogValue() }

// --- Event (LogValue is in events.go)

// String summarises e as [Event.LogValue] logs it, the numbers masked
// (again, should a hook's event carry a full one): an event printed by
// accident must never put a full number in a log.
func (e Event) String() string {
	b := redact.Of("sms2fa.Event")
	for _, a := range e.LogValue().Group() {
		b.Add(a.Key, a.Value.String(), a.Value)
	}
	return b.String()
}

// Format prints [Event.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a field.
func (e Event) Format(f fmt.State, verb rune) { redact.Format(f, verb, e.String()) }

// --- FactorInfo

func (x FactorInfo) fields() *redact.Fields {
	return redact.Of("sms2fa.FactorInfo").
		Bool("Enrolled", x.Enrolled).
		Str("Phone", maskedPhone(x.Phone)).
		Str("Region", x.Region).
		Int("Version", x.Version).
		Int("RecoveryCodes", int64(x.RecoveryCodes)).
		Bool("NoRecoveryCodes", x.NoRecoveryCodes())
}

// String summarises x with the number masked (it is masked already; a
// FactorInfo built elsewhere is masked again): a full number must never
// reach a log.
func (x FactorInfo) String() string { return x.fields().String() }

// Format prints [FactorInfo.String] for every verb (%v, %+v, %#v, %s, %q,
// %x, %d, …), so that no verb reaches a field.
func (x FactorInfo) Format(f fmt.State, verb rune) { redact.Format(f, verb, x.String()) }

// LogValue logs x as a group with the number masked, for log/slog: a log
// line must never hold a full number.
func (x FactorInfo) LogValue() slog.Value { return x.fields().LogValue() }

// --- PageData

func (d PageData) fields() *redact.Fields {
	return redact.Of("sms2fa.PageData").
		Str("Lang", d.Lang).
		Str("Phone", maskedPhone(d.Phone)).
		Int("CodeLength", int64(d.CodeLength)).
		Bool("Alert", d.Alert).
		Bool("CanVerify", d.CanVerify).
		Bool("ShowResend", d.ShowResend).
		Int("ResendWait", int64(d.ResendWait)).
		Str("VerifyURL", d.VerifyURL).
		Str("ResendURL", d.ResendURL)
}

// String summarises d — the number masked, the page's texts left out — for
// debugging; templates read d's fields and never this. A full number must
// never reach a log.
func (d PageData) String() string { return d.fields().String() }

// Format prints [PageData.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a field.
func (d PageData) Format(f fmt.State, verb rune) { redact.Format(f, verb, d.String()) }

// LogValue logs d as a group, masked as [PageData.String] is, for log/slog.
func (d PageData) LogValue() slog.Value { return d.fields().LogValue() }

// --- FlowData

func (d FlowData) fields() *redact.Fields {
	b := redact.Of("sms2fa.FlowData").
		Str("Lang", d.Lang).
		Str("Title", d.Title).
		Str("Action", d.Action).
		Bool("Alert", d.Alert).
		Hidden("Value", d.Value != "", maskValue)
	if len(d.Codes) > 0 {
		b.Add("Codes", "["+strconv.Itoa(len(d.Codes))+" codes]", slog.IntValue(len(d.Codes)))
	}
	return b
}

// String summarises d for debugging without the recovery codes it shows
// once (only how many) or the value typed into its form (a number or a
// recovery code); templates read d's fields and never this.
func (d FlowData) String() string { return d.fields().String() }

// Format prints [FlowData.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a recovery code or a typed number.
func (d FlowData) Format(f fmt.State, verb rune) { redact.Format(f, verb, d.String()) }

// LogValue logs d as a group, masked as [FlowData.String] is, for log/slog:
// a log line must never hold a recovery code or a full number.
func (d FlowData) LogValue() slog.Value { return d.fields().LogValue() }
