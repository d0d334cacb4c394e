package phone

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/sms2fa/sms2fa/contract"
)

// String returns the masked number, "+91 ••••••3210", as [Number.Masked]
// does; "" for the zero Number. It is not the E.164 form: a Number printed
// by accident (with %v, in an error, in a log line) must never show the full
// number. Code that needs the number itself reads n.E164 (or [Number.Digits]).
//
// A Number built by hand without CountryCode or National is masked from its
// E164 field, as [Mask] does.
func (n Number) String() string {
	if n.CountryCode > 0 && n.National != "" {
		return contract.MaskPhone("+" + strconv.Itoa(n.CountryCode) + n.National)
	}
	return Mask(n.E164)
}

// Format prints [Number.String] for every verb — %v, %+v, %#v, %s, %x, %d, …,
// and %q quoted — so that no verb can print a field, and with it the full
// number, in a log or an error.
func (n Number) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, n.String()) }

// LogValue logs the masked number, [Number.String], for log/slog: a log line
// must never hold a full number.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.String()) }
