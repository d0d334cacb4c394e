package sms2fa

import (
	"fmt"
	"log/slog"

	"github.com/sms2fa/sms2fa/contract"
)

// Every exported type of this package that holds a code, a phone number, a
// MAC or a session secret prints a masked summary instead of its fields: with
// String, with every fmt verb (Format) and through log/slog (LogValue). A
// code never appears, a number only masked ("+91 ••••••3210"), a MAC only as
// its length. The methods have value receivers, so that T and *T print alike.

// Placeholders for secrets that are set. They contain no digit, so a mask
// can never form a code or a number.
const (
	maskCode    = "[code]"    // a code
	maskLogin   = "[login]"   // User.Login: the app's session ID or sign-in time
	maskBinding = "[binding]" // Ref.Binding: held by the session
	maskPhone   = "[phone]"   // a number with no digits to keep
)

// --- User

func (u User) fields() *contract.Summary {
	b := contract.Summarize("sms2fa.User").
		Str("ID", u.ID).
		Str("Phone", contract.MaskPhone(u.Phone)).
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
func (u User) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, u.String()) }

// LogValue logs u as a group, masked as [User.String] is, for log/slog: a
// log line must never hold a full number or a session ID.
func (u User) LogValue() slog.Value { return u.fields().LogValue() }

// --- Event (LogValue is in events.go)

// String summarises e as [Event.LogValue] logs it, the numbers masked
// (again, should a hook's event carry a full one): an event printed by
// accident must never put a full number in a log.
func (e Event) String() string {
	b := contract.Summarize("sms2fa.Event")
	for _, a := range e.LogValue().Group() {
		b.Add(a.Key, a.Value.String(), a.Value)
	}
	return b.String()
}

// Format prints [Event.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a field.
func (e Event) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, e.String()) }

// --- FactorInfo

func (x FactorInfo) fields() *contract.Summary {
	return contract.Summarize("sms2fa.FactorInfo").
		Bool("Enrolled", x.Enrolled).
		Str("Phone", contract.MaskPhone(x.Phone)).
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
func (x FactorInfo) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, x.String()) }

// LogValue logs x as a group with the number masked, for log/slog: a log
// line must never hold a full number.
func (x FactorInfo) LogValue() slog.Value { return x.fields().LogValue() }

// --- PageData

// --- FlowData
