package sms

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Errors about a phone number, found before any send.
var (
	// ErrInvalidPhone: the number is not a valid mobile number. It wraps
	// phone.ErrInvalid or phone.ErrNotMobile.
	ErrInvalidPhone = errors.New("sms2fa: the user's phone number cannot receive codes")
	// ErrCountryNotAllowed: the number's region is not in WithCountries.
	ErrCountryNotAllowed = errors.New("sms2fa: the phone number's country is not allowed")
)

// Number parses a number and applies the country list: without one, every
// geographic region passes and non-geographic numbers do not. Its errors
// never quote the number: they end up in logs.
func (m *Method) Number(raw string) (phone.Number, error) {
	n, err := phone.Parse(raw, m.defaultRegion)
	if err != nil {
		why := phone.ErrInvalid
		if errors.Is(err, phone.ErrNotMobile) {
			why = phone.ErrNotMobile
		}
		return phone.Number{}, fmt.Errorf("%w: %w", ErrInvalidPhone, why)
	}
	if err := m.allowed(n); err != nil {
		return phone.Number{}, err
	}
	return n, nil
}

// EnrolledNumber is Number for a number the store is about to confirm as
// the user's enrolled one: in E.164 form it is split without matching it
// against the numbering plan again, because it passed Number when it was
// enrolled. Anything else is parsed in full.
func (m *Method) EnrolledNumber(raw string) (phone.Number, error) {
	n, ok := phone.Known(raw)
	if !ok {
		return m.Number(raw)
	}
	if err := m.allowed(n); err != nil {
		return phone.Number{}, err
	}
	return n, nil
}

// allowed applies the country list to n: without one, every geographic
// region passes and non-geographic numbers do not.
func (m *Method) allowed(n phone.Number) error {
	ok := !n.NonGeographic()
	if m.countries != nil {
		ok = m.countries[n.Region]
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrCountryNotAllowed, n.Region)
	}
	return nil
}

// Budgets lists the send budgets one send to num for userID, from the
// client address ip, draws on.
func (m *Method) Budgets(userID string, num phone.Number, ip string) []contract.Budget {
	var bs []contract.Budget
	add := func(name, key string, rates []Rate) {
		for _, r := range rates {
			bs = append(bs, contract.Budget{Name: name, Key: key, Limit: r.Limit, Window: r.Window})
		}
	}
	add("user", userID, m.perUser)
	add("phone", num.E164, m.perPhone)
	add("ip", m.ipKey(ip), m.perIP)
	add("prefix", num.Prefix(m.prefixDigits), m.perPrefix)
	add("global", "", m.global)
	return bs
}

// ipKey is what the per-IP budget counts for a client address: an IPv4
// address as it is, an IPv6 one by its first WithIPv6Prefix bits (a /64 by
// default), since one host is usually handed a whole /64.
func (m *Method) ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(m.ipv6Bits)
	if err != nil {
		return ip
	}
	return p.String()
}
