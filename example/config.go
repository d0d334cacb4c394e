package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// config is the example's configuration, read from the environment.
type config struct {
	addr        string
	databaseURL string
	way2apiKey  string
	way2apiBase string
	sessionKey  []byte
	secret      []byte
	codeTTL     time.Duration // 0: the guard's default
	cooldown    time.Duration // 0 with cooldownSet false: the default
	cooldownSet bool
	maxAttempts int // 0: the default
	warnings    []string
}

// configFrom reads the configuration. A bad value is an error naming its
// variable, so the demo fails at start with one line that says what to fix.
func configFrom(getenv func(string) string) (config, error) {
	c := config{
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
	if c.sessionKey, err = key(getenv, "SESSION_KEY", &c, "sessions"); err != nil {
		return c, err
	}
	if c.secret, err = key(getenv, "SMS2FA_SECRET", &c, "pending codes"); err != nil {
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
	if v := getenv("SMS2FA_MAX_ATTEMPTS"); v != "" {
		if c.maxAttempts, err = strconv.Atoi(v); err != nil || c.maxAttempts < 1 {
			return c, fmt.Errorf("SMS2FA_MAX_ATTEMPTS: %q is not a whole number ≥ 1", v)
		}
	}
	return c, nil
}

// key reads a secret of at least 32 bytes, or makes a random one for this
// run and says what that costs.
func key(getenv func(string) string, name string, c *config, lost string) ([]byte, error) {
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

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
