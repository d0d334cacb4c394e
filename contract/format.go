package contract

import (
	"fmt"
	"log/slog"
	"strings"
)

func (m Message) fields() *Summary {
	return Summarize("contract.Message").
		Str("To", MaskPhone(m.To)).
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
func (m Message) Format(f fmt.State, verb rune) { FormatMasked(f, verb, m.String()) }

// LogValue logs m as a group, the number masked and the code left out, for
// log/slog: a log line must never hold a live code or a full number.
func (m Message) LogValue() slog.Value { return m.fields().LogValue() }

func (c Challenge) fields() *Summary {
	return Summarize("contract.Challenge").
		Str("ID", c.ID).
		Str("UserID", c.UserID).
		Str("Flow", string(c.Flow)).
		Str("GrantID", c.GrantID).
		Str("Phone", MaskPhone(c.Phone)).
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
func (c Challenge) Format(f fmt.State, verb rune) { FormatMasked(f, verb, c.String()) }

// LogValue logs c as a group with its number masked, for log/slog: a log
// line must never hold a full number.
func (c Challenge) LogValue() slog.Value { return c.fields().LogValue() }

func (x Factor) fields() *Summary {
	return Summarize("contract.Factor").
		Str("UserID", x.UserID).
		Str("Phone", MaskPhone(x.Phone)).
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
func (x Factor) Format(f fmt.State, verb rune) { FormatMasked(f, verb, x.String()) }

// LogValue logs x as a group with its number masked, for log/slog: a log
// line must never hold a full number.
func (x Factor) LogValue() slog.Value { return x.fields().LogValue() }

// maskedKey returns a budget's key as it may be shown: the keys of the
// "phone" and "prefix" families, and any key that looks like a number, are
// (parts of) phone numbers and are masked; user IDs and IP addresses, which
// the events show as they are, are kept.
func (b Budget) maskedKey() string {
	if b.Key != "" && (b.Name == "phone" || b.Name == "prefix" || strings.HasPrefix(strings.TrimSpace(b.Key), "+")) {
		return MaskPhone(b.Key)
	}
	return b.Key
}

func (b Budget) fields() *Summary {
	return Summarize("contract.Budget").
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
func (b Budget) Format(f fmt.State, verb rune) { FormatMasked(f, verb, b.String()) }

// LogValue logs b as a group with a number key masked, for log/slog: a log
// line must never hold a full number.
func (b Budget) LogValue() slog.Value { return b.fields().LogValue() }

func (p OpenParams) fields() *Summary {
	return Summarize("contract.OpenParams").
		Str("ID", p.ID).
		Str("UserID", p.UserID).
		Hidden("Binding", p.Binding != "", maskBinding).
		Str("Flow", string(p.Flow)).
		Str("GrantID", p.GrantID).
		Str("Phone", MaskPhone(p.Phone)).
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
func (p OpenParams) Format(f fmt.State, verb rune) { FormatMasked(f, verb, p.String()) }

// LogValue logs p as a group, masked as [OpenParams.String] is, for
// log/slog: a log line must never hold a full number or a code's MAC.
func (p OpenParams) LogValue() slog.Value { return p.fields().LogValue() }

func (p ResendParams) fields() *Summary {
	return Summarize("contract.ResendParams").
		Str("Phone", MaskPhone(p.Phone)).
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
func (p ResendParams) Format(f fmt.State, verb rune) { FormatMasked(f, verb, p.String()) }

// LogValue logs p as a group, masked as [ResendParams.String] is, for
// log/slog: a log line must never hold a full number or a code's MAC.
func (p ResendParams) LogValue() slog.Value { return p.fields().LogValue() }

func (p VerifyParams) fields() *Summary {
	return Summarize("contract.VerifyParams").
		Bytes("MAC", p.MAC).
		Group("Policy", policyFields(p.Policy)).
		Group("Grant", Summarize("contract.GrantParams").
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
func (p VerifyParams) Format(f fmt.State, verb rune) { FormatMasked(f, verb, p.String()) }

// LogValue logs p as a group with the MAC as a length, for log/slog: a keyed
// MAC of a code must never reach a log.
func (p VerifyParams) LogValue() slog.Value { return p.fields().LogValue() }

func (d NewDevice) fields() *Summary {
	return Summarize("contract.NewDevice").
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
func (d NewDevice) Format(f fmt.State, verb rune) { FormatMasked(f, verb, d.String()) }

// LogValue logs d as a group with the MAC as a length, for log/slog: a
// device token's MAC must never reach a log.
func (d NewDevice) LogValue() slog.Value { return d.fields().LogValue() }

func (s Submission) fields() *Summary {
	return Summarize("contract.Submission").
		Str("UserID", s.UserID).
		Hidden("Typed", s.Typed != "", maskCode).
		Group("Ref", Summarize("contract.Ref").
			Str("ID", s.Ref.ID).
			Str("UserID", s.Ref.UserID).
			Hidden("Binding", s.Ref.Binding != "", maskBinding)).
		Group("Params", s.Params.fields()).
		Int("FactorVersion", s.FactorVersion)
}

// String summarises s with what was typed hidden: a code, or a device's
// token, must never reach a log.
func (s Submission) String() string { return s.fields().String() }

// Format prints [Submission.String] for every verb (%v, %+v, %#v, %s, %q,
// %x, %d, …), so that no verb reaches what was typed.
func (s Submission) Format(f fmt.State, verb rune) { FormatMasked(f, verb, s.String()) }

// LogValue logs s as a group, masked as [Submission.String] is, for
// log/slog.
func (s Submission) LogValue() slog.Value { return s.fields().LogValue() }

func (r Result) fields() *Summary {
	return Summarize("contract.Result").
		Str("Grant", r.Grant.ID).
		Group("Challenge", r.Challenge.fields()).
		Int("Left", int64(r.Left)).
		Hidden("Token", r.Token != "", "[token]").
		Str("Device", r.Device)
}

// String summarises r with a device's next token hidden: it signs a browser
// in, and must never reach a log.
func (r Result) String() string { return r.fields().String() }

// Format prints [Result.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the token.
func (r Result) Format(f fmt.State, verb rune) { FormatMasked(f, verb, r.String()) }

// LogValue logs r as a group, masked as [Result.String] is, for log/slog.
func (r Result) LogValue() slog.Value { return r.fields().LogValue() }

func (a TOTP) fields() *Summary {
	return Summarize("contract.TOTP").
		Hidden("Sealed", len(a.Sealed) > 0, maskSealed).
		Int("LastStep", a.LastStep).
		Time("CreatedAt", a.CreatedAt).
		Time("Now", a.Now)
}

// maskSealed stands for an authenticator's sealed secret: it opens only
// under the guard's key, and is printed no more than a MAC.
const maskSealed = "[sealed]"

// String summarises a with its sealed secret hidden.
func (a TOTP) String() string { return a.fields().String() }

// Format prints [TOTP.String] for every verb (%v, %+v, %#v, %s, %q, %x, %d,
// …), so that no verb reaches the sealed secret.
func (a TOTP) Format(f fmt.State, verb rune) { FormatMasked(f, verb, a.String()) }

// LogValue logs a as a group, masked as [TOTP.String] is, for log/slog.
func (a TOTP) LogValue() slog.Value { return a.fields().LogValue() }

func (u TOTPUse) fields() *Summary {
	return Summarize("contract.TOTPUse").
		Int("Step", u.Step).
		Hidden("Sealed", len(u.Sealed) > 0, maskSealed).
		Int("Window", int64(u.Window)).
		Str("Freshen", u.Freshen)
}

// String summarises u with the sealed secret hidden.
func (u TOTPUse) String() string { return u.fields().String() }

// Format prints [TOTPUse.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the sealed secret.
func (u TOTPUse) Format(f fmt.State, verb rune) { FormatMasked(f, verb, u.String()) }

// LogValue logs u as a group, masked as [TOTPUse.String] is, for log/slog.
func (u TOTPUse) LogValue() slog.Value { return u.fields().LogValue() }
