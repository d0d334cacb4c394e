package contract

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Placeholders for secrets that are set. They contain no digit, so a mask
// can never form a code or a number.
const (
	maskCode    = "[code]"    // a code
	maskLogin   = "[login]"   // User.Login: the app's session ID or sign-in time
	maskBinding = "[binding]" // Ref.Binding: held by the session
	maskValue   = "[value]"   // what was typed into a form
	maskPhone   = "[phone]"   // a number with no digits to keep
)

// MaskPhone returns s, a phone number as a store, an app or a person writes
// it, in the masked form logs and events show ("+91 ••••••3210"): the country
// code when it is known and s starts with "+", one "•" per hidden digit, and
// at most the last four digits — never more than half of the digits after
// the country code, whatever the input. A number already masked is returned
// as it is, so that masking twice shows the same; a string with no digits
// gives "[phone]".
func MaskPhone(s string) string {
	if s == "" || isMasked(s) {
		return s
	}
	if m := maskDigits(s); m != "" {
		return m
	}
	return maskPhone
}

// isMasked reports whether s has the shape [MaskPhone] gives, "+91
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

func budgetFields(bs []Budget) []*Summary {
	out := make([]*Summary, len(bs))
	for i, b := range bs {
		out[i] = b.fields()
	}
	return out
}

// policyFields summarises a Policy (which holds no secret) for the params
// that carry one.
func policyFields(p Policy) *Summary {
	return Summarize("contract.Policy").
		Duration("CodeTTL", p.CodeTTL).
		Int("MaxAttempts", int64(p.MaxAttempts)).
		Duration("ResendCooldown", p.ResendCooldown).
		Group("Lockout", Summarize("contract.Lockout").
			Int("Threshold", int64(p.Lockout.Threshold)).
			Duration("Duration", p.Lockout.Duration).
			Duration("Max", p.Lockout.Max)).
		Int("MaxGrants", int64(p.MaxGrants))
}

// maskDigits masks a number that is already in E.164 form without
// validating it. It keeps the country code when phonenumbers knows it and the
// string starts with "+"; otherwise only the last digits. It shows at most the
// last four digits and at most half of the digits after the country code, so
// it never returns the whole number, whatever the input. Characters other than
// ASCII digits are dropped.
func maskDigits(e164 string) string {
	digits := make([]byte, 0, len(e164))
	for i := 0; i < len(e164); i++ {
		if c := e164[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) == 0 {
		return ""
	}
	if strings.HasPrefix(strings.TrimSpace(e164), "+") {
		if cc := countryCode(digits); cc > 0 {
			return mask(string(digits[:cc]), string(digits[cc:]))
		}
	}
	return hide(string(digits))
}

// countryCode returns the length of the country code that digits starts with,
// or 0 if phonenumbers knows none. Country codes are a prefix code (ITU-T
// E.164 §6.2.1): at most one of the 1-, 2- and 3-digit prefixes is assigned.
// At least one digit is left for the national number.
func countryCode(digits []byte) int {
	const maxCountryCode = 3 // digits, ITU-T E.164
	if digits[0] == '0' {
		return 0
	}
	for n := 1; n <= maxCountryCode && n < len(digits); n++ {
		cc, _ := strconv.Atoi(string(digits[:n]))
		if phonenumbers.GetRegionCodeForCountryCode(cc) != phonenumbers.UNKNOWN_REGION {
			return n
		}
	}
	return 0
}

// shown is how many trailing digits a masked number keeps: the last four, the
// convention of banks and of the code-entry page ("+91 ••••••3210").
const shown = 4

// mask formats a country code and a national number as "+cc ••••1234".
func mask(cc, national string) string {
	return "+" + cc + " " + hide(national)
}

// hide replaces all but the last digits of s with "•": at most shown digits,
// and never more than half of s, so that short inputs stay mostly hidden.
func hide(s string) string {
	keep := min(shown, len(s)/2)
	return strings.Repeat("•", len(s)-keep) + s[len(s)-keep:]
}
