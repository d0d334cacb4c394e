package sms

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Option configures the SMS method. Options are applied in order after the
// defaults; an invalid value makes [New] return an error.
type Option func(*Method) error

// WithCodeLength sets the number of digits in a code, 4 to 8 (Way2API's
// limits). Default 6, the minimum NIST SP 800-63B accepts.
func WithCodeLength(n int) Option {
	return func(m *Method) error {
		if n < contract.MinCodeLength || n > contract.MaxCodeLength {
			return fmt.Errorf("sms2fa: code length must be %d to %d digits, got %d", contract.MinCodeLength, contract.MaxCodeLength, n)
		}
		m.codeLength = n
		return nil
	}
}

// WithCodeLifetime sets how long a code can be entered. Default 5 minutes.
// Over 10 minutes (NIST SP 800-63B's limit) is refused unless
// AllowLongCodeLifetime is also given.
func WithCodeLifetime(d time.Duration) Option {
	return func(m *Method) error { m.codeTTL = d; return nil }
}

// AllowLongCodeLifetime lifts the 10-minute ceiling on WithCodeLifetime, for
// apps that have weighed the longer window for guessing.
func AllowLongCodeLifetime() Option {
	return func(m *Method) error { m.longTTL = true; return nil }
}

// WithMaxAttempts sets how many wrong codes one challenge survives. Default 5
// (Twilio Verify's).
func WithMaxAttempts(n int) Option {
	return func(m *Method) error { m.maxAttempts = n; return nil }
}

// WithResendCooldown sets the wait after the first send before another code
// can be requested; each resend in the same challenge doubles it (30 s, 60 s,
// 120 s, …). Default 30 s. Zero allows immediate resends, leaving only the
// send budgets.
func WithResendCooldown(d time.Duration) Option {
	return func(m *Method) error { m.cooldown = d; return nil }
}

// WithContent sets whether the provider presents the code as an OTP or a PIN.
// Default [contract.ContentOTP].
func WithContent(k contract.Content) Option {
	return func(m *Method) error {
		if k != contract.ContentOTP && k != contract.ContentPIN {
			return fmt.Errorf("sms2fa: content must be %q or %q, got %q", contract.ContentOTP, contract.ContentPIN, k)
		}
		m.content = k
		return nil
	}
}

// WithPurpose sets the purpose sent with the codes of one flow, in the
// provider's vocabulary. Defaults (Way2API's words): FlowLogin "login",
// FlowStepUp "transaction", FlowEnrol "account_verification", FlowChange
// "profile_update". A sender that implements [contract.MessageChecker]
// validates every flow's purpose in New.
func WithPurpose(f contract.Flow, purpose string) Option {
	return func(m *Method) error {
		if !slices.Contains(flows[:], f) {
			return fmt.Errorf("sms2fa: WithPurpose: unknown flow %q", f)
		}
		if purpose == "" {
			return errors.New("sms2fa: WithPurpose: purpose must not be empty")
		}
		m.purposes = maps.Clone(m.purposes)
		m.purposes[f] = purpose
		return nil
	}
}

// WithSendTimeout bounds one call to the sender, its retries included.
// Default 15 s.
func WithSendTimeout(d time.Duration) Option {
	return func(m *Method) error {
		if d <= 0 {
			return fmt.Errorf("sms2fa: send timeout must be positive, got %v", d)
		}
		m.sendTimeout = d
		return nil
	}
}

// WithDefaultRegion reads numbers written without a country code ("98765
// 43210") as numbers of this ISO 3166 region ("IN"). Default: none, so a
// User.Phone must be international (+91…).
func WithDefaultRegion(region string) Option {
	return func(m *Method) error {
		if !phone.ValidRegion(region) {
			return fmt.Errorf("sms2fa: WithDefaultRegion: %q is not a region phone numbers are known for", region)
		}
		m.defaultRegion = strings.ToUpper(region)
		return nil
	}
}

// WithIPv6Prefix sets how much of an IPv6 client address the per-IP budget
// counts: the first bits bits. Default 64: one host or home is usually
// handed a whole /64, so counting single addresses would give it 2^64
// budgets. 128 counts single addresses.
func WithIPv6Prefix(bits int) Option {
	return func(m *Method) error {
		if bits < 16 || bits > 128 {
			return fmt.Errorf("sms2fa: WithIPv6Prefix: need 16 to 128 bits, got %d", bits)
		}
		m.ipv6Bits = bits
		return nil
	}
}

// WithUserLimit sets the send budgets per user. Default 3 per 10 minutes and
// 10 per day. No rates turns the limit off.
func WithUserLimit(rates ...Rate) Option {
	return budgetOption(rates, func(m *Method) *[]Rate { return &m.perUser })
}

// WithPhoneLimit sets the send budgets per phone number. Default 3 per 10
// minutes and 10 per day (Twilio Verify allows 5 per 10 minutes, Sentry 3 per
// 5 minutes). No rates turns the limit off.
func WithPhoneLimit(rates ...Rate) Option {
	return budgetOption(rates, func(m *Method) *[]Rate { return &m.perPhone })
}

// WithIPLimit sets the send budgets per client IP, as the guard's
// WithClientIP reports it: behind a load balancer, say how to read the
// client's address, or every user behind it shares one budget — and never
// trust a header a client can set. Default 20 per hour (Auth0 allows 50). No
// rates turns it off.
func WithIPLimit(rates ...Rate) Option {
	return budgetOption(rates, func(m *Method) *[]Rate { return &m.perIP })
}

// WithPrefixLimit sets the send budgets per number prefix — the country code
// and the first digits digits of the national number — so that a burst to
// many adjacent numbers, the signature of SMS pumping, trips it. Default 6
// national digits, 20 sends per hour. No rates turns it off.
func WithPrefixLimit(digits int, rates ...Rate) Option {
	return func(m *Method) error {
		if digits < 1 || digits > 12 {
			return fmt.Errorf("sms2fa: prefix digits must be 1 to 12, got %d", digits)
		}
		m.prefixDigits = digits
		return budgetOption(rates, func(m *Method) *[]Rate { return &m.perPrefix })(m)
	}
}

// WithGlobalLimit sets the budget for all sends together: past it, sending
// stops for everyone until the window ends — a circuit breaker for a pumping
// attack that beats every other budget — and the guard's EventGlobalLimit
// says so. Default 10,000 per day; set it to a few times your normal volume.
// No rates turns it off.
func WithGlobalLimit(rates ...Rate) Option {
	return budgetOption(rates, func(m *Method) *[]Rate { return &m.global })
}

// WithCountries allows codes only to numbers of these ISO 3166 regions ("IN",
// "GB", …); others are refused before any send. "001" allows the
// non-geographic numbers (+800, +808, +870, +878, +881, +882, +883, +888,
// +979: international networks and satellite phones). Default: any
// geographic region, and no non-geographic number — those ranges are where
// SMS pumping pays best — with a warning from the guard's New recommending
// this option. Way2API serves +91 (IN) only.
func WithCountries(regions ...string) Option {
	return func(m *Method) error {
		if len(regions) == 0 {
			return errors.New("sms2fa: WithCountries needs at least one region")
		}
		m.countries = make(map[string]bool, len(regions))
		for _, r := range regions {
			if !phone.ValidCountry(r) {
				return fmt.Errorf("sms2fa: %q is not an ISO 3166 region code like IN (or 001)", r)
			}
			m.countries[r] = true
		}
		return nil
	}
}

// budgetOption validates rates and stores a copy in the list field picks.
func budgetOption(rates []Rate, field func(*Method) *[]Rate) Option {
	return func(m *Method) error {
		for _, r := range rates {
			if r.Limit < 1 || r.Window < time.Second {
				return fmt.Errorf("sms2fa: a send budget needs a limit ≥ 1 and a window ≥ 1s, got %d per %v", r.Limit, r.Window)
			}
		}
		*field(m) = append([]Rate(nil), rates...)
		return nil
	}
}
