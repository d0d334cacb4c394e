package way2apitest

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// fields summarises r: the number masked, the code (Value) hidden, the
// headers (the API key among them) and the body (which holds all three) as
// counts.
func (r Request) fields() *contract.Summary {
	b := contract.Summarize("way2apitest.Request").
		Str("Number", maskedNumber(r.Number)).
		Str("Content", r.Content).
		Hidden("Value", r.Value != "", "[code]").
		Str("Purpose", r.Purpose).
		Str("ShareWith", r.ShareWith)
	if len(r.Header) > 0 {
		b.Add("Header", "["+strconv.Itoa(len(r.Header))+" headers]", slog.IntValue(len(r.Header)))
	}
	return b.Bytes("Body", r.Body)
}

// maskedNumber masks a number as the sender's logs do; one without digits
// shows as "[number]".
func maskedNumber(s string) string {
	if s == "" {
		return ""
	}
	if m := phone.Mask(s); m != "" {
		return m
	}
	return "[number]"
}

// String summarises r without the code, the full number, the API key or the
// raw body: tests read the fields they check, and a request printed in a
// test's log must not teach anyone to log codes, numbers or keys.
func (r Request) String() string { return r.fields().String() }

// Format prints [Request.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches the code, the number or the key.
func (r Request) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, r.String()) }

// LogValue logs r as a group, masked as [Request.String] is, for log/slog.
func (r Request) LogValue() slog.Value { return r.fields().LogValue() }
