// Package demo is what the two examples share: their configuration from the
// environment, their users, pages and metrics, the guard's options, and the
// server they run. Each example builds its own routes (./example on Gin,
// ./example/nethttp on the standard library) from it, so that both serve the
// same HTTP surface.
package demo

import (
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sms"
)

// Config is the examples' configuration, read from the environment.
type Config struct {
	addr        string
	databaseURL string
	way2apiKey  string
	way2apiBase string
	SessionKey  []byte        // SESSION_KEY: the app's session cookies
	Secret      []byte        // SMS2FA_SECRET: the guard's secret
	codeTTL     time.Duration // 0: the guard's default
	cooldown    time.Duration // 0 with cooldownSet false: the default
	cooldownSet bool
	maxAttempts int              // 0: the default
	recheck     time.Duration    // 0: the guard's default
	StepUpAge   time.Duration    // SMS2FA_STEP_UP_AGE: RequireRecent's age for /transfer
	Clock       func() time.Time // tests only: the guard's clock (nil: the real one)
	// TrustedProxies (TRUSTED_PROXIES) are the CIDRs and IPs whose
	// X-Forwarded-For the app believes; nil trusts none, so the per-IP send
	// budget keys on the TCP peer.
	TrustedProxies []string
	// The send budgets, one per SMS2FA_*_LIMIT variable.
	userLimit, phoneLimit, ipLimit, prefixLimit, globalLimit budget
	// The automatic prefix block, from SMS2FA_AUTOBLOCK*: zero values keep
	// the guard's defaults.
	autoBlock           contract.PrefixMode
	autoBlockMinSends   int
	autoBlockConversion float64
	autoBlockFor        time.Duration
	warnings            []string
}

// budget is one send budget from the environment. Unset keeps the guard's
// default; set with no rates ("off") turns the budget off.
type budget struct {
	set   bool
	rates []sms.Rate
}

// ConfigFrom reads the configuration. A bad value is an error naming its
// variable, so the demo fails at start with one line that says what to fix.
func ConfigFrom(getenv func(string) string) (Config, error) {
	c := Config{
		addr:        orDefault(getenv("ADDR"), "127.0.0.1:8080"),
		databaseURL: orDefault(getenv("DATABASE_URL"), "sms2fa-example.db"),
		way2apiKey:  getenv("WAY2API_API_KEY"),
		way2apiBase: getenv("WAY2API_BASE_URL"),
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return c, fmt.Errorf("ADDR: %q is not host:port", c.addr)
	}
	if c.way2apiBase != "" && c.way2apiKey == "" {
		return c, fmt.Errorf("WAY2API_BASE_URL is set but WAY2API_API_KEY is not")
	}
	var err error
	if c.SessionKey, err = key(getenv, "SESSION_KEY", &c, "sessions"); err != nil {
		return c, err
	}
	if c.Secret, err = key(getenv, "SMS2FA_SECRET", &c, "pending codes, recovery codes, remembered devices and every authenticator app set up (users would have to set their app up again)"); err != nil {
		return c, err
	}
	if c.codeTTL, _, err = duration(getenv, "SMS2FA_CODE_TTL"); err != nil {
		return c, err
	}
	if c.codeTTL > 10*time.Minute {
		// The guard refuses more unless told otherwise; NIST SP 800-63B agrees.
		return c, fmt.Errorf("SMS2FA_CODE_TTL: %v is over the 10 minutes an SMS code may live", c.codeTTL)
	}
	if c.cooldown, c.cooldownSet, err = duration(getenv, "SMS2FA_RESEND_COOLDOWN"); err != nil {
		return c, err
	}
	if c.recheck, _, err = duration(getenv, "SMS2FA_RECHECK"); err != nil {
		return c, err
	}
	c.StepUpAge = 5 * time.Minute
	if d, set, err := duration(getenv, "SMS2FA_STEP_UP_AGE"); err != nil {
		return c, err
	} else if set {
		if d <= 0 {
			return c, fmt.Errorf("SMS2FA_STEP_UP_AGE: %q must be a positive duration", getenv("SMS2FA_STEP_UP_AGE"))
		}
		c.StepUpAge = d
	}
	if v := getenv("SMS2FA_MAX_ATTEMPTS"); v != "" {
		if c.maxAttempts, err = strconv.Atoi(v); err != nil || c.maxAttempts < 1 {
			return c, fmt.Errorf("SMS2FA_MAX_ATTEMPTS: %q is not a whole number ≥ 1", v)
		}
	}
	for _, b := range []struct {
		name string
		dst  *budget
	}{
		{"SMS2FA_USER_LIMIT", &c.userLimit},
		{"SMS2FA_PHONE_LIMIT", &c.phoneLimit},
		{"SMS2FA_IP_LIMIT", &c.ipLimit},
		{"SMS2FA_PREFIX_LIMIT", &c.prefixLimit},
		{"SMS2FA_GLOBAL_LIMIT", &c.globalLimit},
	} {
		v := getenv(b.name)
		if v == "" {
			continue
		}
		rates, err := parseRates(v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", b.name, err)
		}
		*b.dst = budget{set: true, rates: rates}
	}
	if err := c.readAutoBlock(getenv); err != nil {
		return c, err
	}
	if v := getenv("TRUSTED_PROXIES"); v != "" {
		if c.TrustedProxies, err = parseProxies(v); err != nil {
			return c, fmt.Errorf("TRUSTED_PROXIES: %w", err)
		}
	}
	return c, nil
}

// readAutoBlock reads the SMS2FA_AUTOBLOCK* variables, refusing what the
// guard would refuse at start, so the error names the variable.
func (c *Config) readAutoBlock(getenv func(string) string) error {
	if v := getenv("SMS2FA_AUTOBLOCK"); v != "" {
		m, err := contract.ParsePrefixMode(v)
		if err != nil {
			return fmt.Errorf("SMS2FA_AUTOBLOCK: %q is not off, monitor or on", v)
		}
		c.autoBlock = m
	}
	if v := getenv("SMS2FA_AUTOBLOCK_MIN_SENDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || strings.HasPrefix(v, "+") {
			return fmt.Errorf("SMS2FA_AUTOBLOCK_MIN_SENDS: %q is not a whole number ≥ 1", v)
		}
		c.autoBlockMinSends = n
	}
	if v := getenv("SMS2FA_AUTOBLOCK_CONVERSION"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f < 1) {
			return fmt.Errorf("SMS2FA_AUTOBLOCK_CONVERSION: %q is not a fraction between 0 and 1 like 0.35", v)
		}
		c.autoBlockConversion = f
	}
	d, set, err := duration(getenv, "SMS2FA_AUTOBLOCK_FOR")
	switch {
	case err != nil:
		return err
	case set && (d < time.Minute || d > 7*24*time.Hour):
		return fmt.Errorf("SMS2FA_AUTOBLOCK_FOR: %q must lie between 1m and 168h (a block doubles up to 7 days)", getenv("SMS2FA_AUTOBLOCK_FOR"))
	}
	c.autoBlockFor = d
	return nil
}

// parseRates reads a send budget: "off" (no rates: the budget is off), or
// comma-separated N/DURATION windows such as "20/1h" or "3/10m,10/24h". It
// refuses what the guard would refuse at start (a limit below 1, a window
// below 1s), so the error names the variable instead of the option.
func parseRates(v string) ([]sms.Rate, error) {
	if strings.TrimSpace(v) == "off" {
		return nil, nil
	}
	var rates []sms.Rate
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q has an empty window; write N/DURATION like 20/1h, several comma-separated, or off", v)
		}
		n, d, ok := strings.Cut(item, "/")
		if !ok {
			return nil, fmt.Errorf("%q is not N/DURATION like 20/1h (or off)", item)
		}
		limit, err := strconv.Atoi(n)
		if err != nil || limit < 1 || strings.HasPrefix(n, "+") {
			return nil, fmt.Errorf("%q: the limit must be a whole number ≥ 1 (write off to turn the budget off)", item)
		}
		window, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("%q: the window must be a Go duration like 10m or 24h", item)
		}
		if window < time.Second {
			return nil, fmt.Errorf("%q: the window must be at least 1s", item)
		}
		rates = append(rates, sms.Rate{Limit: limit, Window: window})
	}
	return rates, nil
}

// parseProxies reads comma-separated CIDRs or bare IPs, in the form gin's
// Engine.SetTrustedProxies takes (and parsed as it parses them).
func parseProxies(v string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q has an empty entry; write CIDRs or IPs like 10.0.0.0/8,192.168.1.1", v)
		}
		if strings.Contains(item, "/") {
			if _, _, err := net.ParseCIDR(item); err != nil {
				return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", item)
			}
		} else if net.ParseIP(item) == nil {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR", item)
		}
		out = append(out, item)
	}
	return out, nil
}

// key reads a secret of at least 32 bytes, or makes a random one for this
// run and says what that costs.
func key(getenv func(string) string, name string, c *Config, lost string) ([]byte, error) {
	if v := getenv(name); v != "" {
		if len(v) < 32 {
			return nil, fmt.Errorf("%s: need at least 32 bytes, got %d", name, len(v))
		}
		return []byte(v), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("%s: generating a random key: %w", name, err)
	}
	c.warnings = append(c.warnings, fmt.Sprintf("%s is not set: using a random one, so %s will not survive a restart", name, lost))
	return b, nil
}

func duration(getenv func(string) string, name string) (time.Duration, bool, error) {
	v := getenv(name)
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("%s: %q is not a Go duration like 5m or 30s", name, v)
	}
	return d, true, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
