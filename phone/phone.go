// Package phone validates and normalises the phone numbers that receive SMS
// codes, using github.com/nyaruka/phonenumbers (the Go port of Google's
// libphonenumber) for the per-country numbering plans.
//
// [Parse] turns what a person typed into a [Number] in E.164 form and refuses
// numbers that cannot receive an SMS code. [Number.Masked] and [Mask] give the
// forms that may be shown or logged.
package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/sms2fa/sms2fa/contract"
)

// Sentinel errors of [Parse]; match them with [errors.Is].
var (
	// ErrInvalid: the input is not a valid phone number.
	ErrInvalid = errors.New("phone: invalid number")
	// ErrNotMobile: the number is valid but of a kind that cannot receive an
	// SMS code (fixed line, premium rate, toll free, …).
	ErrNotMobile = errors.New("phone: number cannot receive SMS codes")
	// ErrUnknownRegion: the default region given to [Parse] is not one
	// phonenumbers has a numbering plan for (see [ValidRegion]). It is the
	// caller's mistake, not the number's, so it wraps neither of the above.
	ErrUnknownRegion = errors.New("phone: unknown default region")
)

// RegionNonGeographic is the [Number.Region] of numbers under a global
// network calling code rather than a country's: international toll-free
// (+800), shared-cost (+808) and premium-rate (+979) services, satellite
// networks (+870 Inmarsat, +881 Iridium, Globalstar, …) and international
// mobile and VoIP networks (+878, +882, +883), UAN (+888). It is "001",
// libphonenumber's code for these ("World" in UN M.49).
//
// Several of these accept SMS and reach a real device (satellite phones,
// roaming SIMs), but they are also classic SMS-pumping destinations: the
// termination fees are high and few real users have them. [Parse] accepts
// those that are mobile or VoIP; use [Number.NonGeographic] to refuse them.
const RegionNonGeographic = "001"

// maxInput bounds what Parse looks at: the longest E.164 number has 15 digits,
// so 64 characters leave ample room for spaces, dashes and parentheses while
// keeping hostile input from reaching the regular expressions of phonenumbers
// (which caps at 250 characters itself).
const maxInput = 64

// maxQuoted is how many characters of a refused input an error quotes.
const maxQuoted = 32

// Number is a valid phone number that can receive SMS codes. The zero value is
// no number: its methods return "".
type Number struct {
	E164        string // "+919876543210"
	Region      string // ISO 3166-1 alpha-2 region, e.g. "IN"; "001" for non-geographic numbers (+800, +882, …)
	CountryCode int    // ITU country calling code, e.g. 91
	National    string // national significant number, digits only, e.g. "9876543210"
}

// Parse validates raw and returns it as a [Number]. raw may carry human
// formatting: spaces, dashes, dots, slashes and parentheses
// ("+91 98765 43210", "+91-98765-43210", "+1 (650) 253-0000"). Digits must be
// ASCII.
//
// With defaultRegion == "" raw must be international: a leading "+" and the
// country code. Otherwise defaultRegion (ISO 3166-1 alpha-2, any case) says how
// to read a national number without "+", as in Parse("098765 43210", "IN").
//
// An input that is not a valid number gives an error wrapping [ErrInvalid];
// letters (vanity numbers such as "1-800-FLOWERS") and extensions are refused
// too, since an SMS can reach neither. A valid number that is not a mobile,
// "fixed line or mobile" (as in the US, where the two cannot be told apart) or
// VoIP number gives an error wrapping [ErrNotMobile]. An unknown defaultRegion
// (see [ValidRegion]) is a programming error: the error wraps
// [ErrUnknownRegion] and neither of the other two. Parse never panics.
//
// Numbers under a global network calling code (+870, +882, …) are accepted
// when mobile or VoIP, with Region [RegionNonGeographic]; see
// [Number.NonGeographic].
func Parse(raw, defaultRegion string) (Number, error) {
	s := strings.TrimSpace(raw)
	if err := checkChars(s); err != nil {
		return Number{}, fmt.Errorf("%w %s: %s", ErrInvalid, quote(raw), err)
	}
	region := strings.ToUpper(defaultRegion)
	if region == "" {
		if !strings.HasPrefix(s, "+") {
			return Number{}, fmt.Errorf("%w %s: must start with + and the country code, as in +919876543210", ErrInvalid, quote(raw))
		}
	} else if !ValidRegion(region) {
		return Number{}, fmt.Errorf("%w %s: want an ISO 3166-1 alpha-2 code phonenumbers knows, such as \"IN\"", ErrUnknownRegion, quote(defaultRegion))
	}

	pn, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Number{}, fmt.Errorf("%w %s: %s", ErrInvalid, quote(raw), parseProblem(err))
	}
	// GetNumberType is UNKNOWN exactly when IsValidNumber is false (both match
	// the national number against the region's patterns); calling it alone
	// halves the cost of Parse.
	t := phonenumbers.GetNumberType(pn)
	if t == phonenumbers.UNKNOWN {
		return Number{}, fmt.Errorf("%w %s: %s", ErrInvalid, quote(raw), validity(pn))
	}
	if !canReceiveSMS(t) {
		return Number{}, fmt.Errorf("%w: %s is a %s number", ErrNotMobile, quote(raw), typeName(t))
	}
	return Number{
		E164:        phonenumbers.Format(pn, phonenumbers.E164),
		Region:      phonenumbers.GetRegionCodeForNumber(pn),
		CountryCode: int(pn.GetCountryCode()),
		National:    phonenumbers.GetNationalSignificantNumber(pn),
	}, nil
}

// Known splits e164, a number in the form Parse returns, into a Number
// without matching it against the numbering plan again: for a number that
// was validated before (one kept after Parse), where Parse's pattern
// matching would be repeated work. It checks the shape only — "+", a
// country calling code phonenumbers knows, then the national number, 15
// digits at most in all — not that the number exists or is a mobile one, so
// use it only where the number is known to have passed Parse. It reports
// false when e164 is not of that shape, or when its country calling code is
// shared by several regions (+1, +7, +44, …): only Parse can tell those
// regions apart.
func Known(e164 string) (Number, bool) {
	if len(e164) < 2 || len(e164) > 16 || e164[0] != '+' {
		return Number{}, false
	}
	digits := e164[1:]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return Number{}, false
		}
	}
	// Country calling codes are prefix-free: at most one of the first one,
	// two or three digits is one.
	for n := 1; n <= 3 && n < len(digits); n++ {
		cc, _ := strconv.Atoi(digits[:n])
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(regions) == 0 {
			continue
		}
		if len(regions) > 1 || digits[0] == '0' {
			return Number{}, false
		}
		return Number{E164: e164, Region: regions[0], CountryCode: cc, National: digits[n:]}, true
	}
	return Number{}, false
}

// ValidRegion reports whether r, in any case, is a region [Parse] accepts as
// its defaultRegion: an ISO 3166-1 alpha-2 code that phonenumbers has a
// numbering plan for, such as "IN" or "gb". It is false for "" (which Parse
// reads as "international numbers only", not as a region), for "ZZ" (unknown)
// and for [RegionNonGeographic], which has no national numbers. Check a
// configured default region with it once, at start-up.
func ValidRegion(r string) bool {
	return len(r) == 2 && phonenumbers.GetSupportedRegions()[strings.ToUpper(r)]
}

// ValidCountry reports whether r may name a country in a list of allowed
// regions (the guard's WithCountries, the metrics' Regions): an upper-case
// ISO 3166 region phone numbers are known for, or RegionNonGeographic.
func ValidCountry(r string) bool {
	return r == RegionNonGeographic || r == strings.ToUpper(r) && ValidRegion(r)
}

// checkChars refuses what no phone number a person types for SMS contains:
// letters (phonenumbers would read "FLOWERS" as keypad digits), extension
// markers, and anything but digits and the usual separators. It also bounds
// the length before phonenumbers sees the input.
func checkChars(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxInput:
		return fmt.Errorf("longer than %d characters", maxInput)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	}
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == '+':
			return errors.New(`"+" may only come first`)
		case r == '-', r == '.', r == '/', r == '(', r == ')', unicode.IsSpace(r), unicode.Is(unicode.Pd, r):
		case unicode.IsLetter(r):
			return errors.New("contains letters")
		default:
			return fmt.Errorf("unexpected character %q", r)
		}
	}
	if digits == 0 {
		return errors.New("contains no digits")
	}
	return nil
}

// parseProblem says in words why phonenumbers.Parse refused a number.
func parseProblem(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "unknown country code"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "not a phone number"
	}
	return err.Error()
}

// validity says in words why a parsed number is not valid.
func validity(pn *phonenumbers.PhoneNumber) string {
	switch phonenumbers.IsPossibleNumberWithReason(pn) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "unknown country code"
	case phonenumbers.TOO_SHORT:
		return "too short"
	case phonenumbers.TOO_LONG:
		return "too long"
	case phonenumbers.INVALID_LENGTH:
		return "wrong number of digits"
	}
	if r := phonenumbers.GetRegionCodeForNumber(pn); r != "" && r != phonenumbers.UNKNOWN_REGION {
		return "not a number in use in " + r
	}
	return fmt.Sprintf("not a number in use under country code +%d", pn.GetCountryCode())
}

// canReceiveSMS reports whether numbers of type t can receive an SMS code.
// Everything else is refused: fixed lines cannot take SMS, pagers and
// voicemail access numbers do not reach a person's phone, and premium-rate,
// shared-cost, toll-free and UAN numbers are where SMS pumping (toll fraud)
// sends its traffic — premium-rate above all, since their owner is paid for
// every message an attacker makes us send.
func canReceiveSMS(t phonenumbers.PhoneNumberType) bool {
	switch t {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE, phonenumbers.VOIP:
		return true
	}
	return false
}

// typeName names a number type for an error message.
func typeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed-line"
	case phonenumbers.TOLL_FREE:
		return "toll-free"
	case phonenumbers.PREMIUM_RATE:
		return "premium-rate"
	case phonenumbers.SHARED_COST:
		return "shared-cost"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal (forwarding)"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "universal access (UAN)"
	case phonenumbers.VOICEMAIL:
		return "voicemail access"
	}
	return "unknown-type"
}

// quote renders untrusted input for an error message: Go-quoted, so control
// characters and quotes are escaped, and cut to maxQuoted characters.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(string([]rune(s)[:maxQuoted])) + "…"
}

// NonGeographic reports whether n is under a global network calling code
// (+800, +808, +870, +878, +881, +882, +883, +888, +979) rather than a
// country's, that is whether its Region is [RegionNonGeographic]. It also
// answers for a Number built by hand without a Region, from its CountryCode.
// The zero Number is not non-geographic.
func (n Number) NonGeographic() bool {
	return n.Region == RegionNonGeographic || (n.CountryCode > 0 && phonenumbers.GetSupportedGlobalNetworkCallingCodes()[n.CountryCode])
}

// Digits returns the E.164 form without "+", as SMS gateways such as Way2API
// want it: "919876543210".
func (n Number) Digits() string { return strings.TrimPrefix(n.E164, "+") }

// Masked returns the number as it may be shown to its owner or written to a
// log: the country code, a space, one "•" per hidden digit and the last four
// digits, as in "+91 ••••••3210". At least half of the national number is
// always hidden.
func (n Number) Masked() string {
	if n.E164 == "" {
		return ""
	}
	return contract.MaskPhone(n.E164)
}

// Prefix returns "+", the country code and the first digits of the national
// number, as in "+9198765" for Prefix(5) of +919876543210; digits is clamped
// to [0, len(National)]. Send budgets keyed by a prefix catch bursts to
// adjacent numbers, the signature of SMS pumping.
func (n Number) Prefix(digits int) string {
	if n.E164 == "" {
		return ""
	}
	digits = min(max(digits, 0), len(n.National))
	return "+" + strconv.Itoa(n.CountryCode) + n.National[:digits]
}

// Mask masks a number for logs, as [contract.MaskPhone] does, without
// validating it; a string with no digits gives "".
func Mask(e164 string) string {
	if !strings.ContainsAny(e164, "0123456789") {
		return ""
	}
	return contract.MaskPhone(e164)
}
