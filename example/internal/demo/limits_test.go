package demo

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/sms"
)

func TestParseRates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []sms.Rate // nil with ok: off
		ok   bool
	}{
		{"20/1h", []sms.Rate{{Limit: 20, Window: time.Hour}}, true},
		{"10/24h", []sms.Rate{{Limit: 10, Window: 24 * time.Hour}}, true},
		{"3/10m,10/24h", []sms.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}, true},
		{"3/10m, 10/24h", []sms.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}, true},
		{"1/1s", []sms.Rate{{Limit: 1, Window: time.Second}}, true},
		{"5/1h30m", []sms.Rate{{Limit: 5, Window: 90 * time.Minute}}, true},
		{"off", nil, true},
		{"0/1h", nil, false},
		{"-1/1h", nil, false},
		{"+5/1h", nil, false},
		{"5", nil, false},
		{"5/", nil, false},
		{"/1h", nil, false},
		{"5/xyz", nil, false},
		{"5/1", nil, false}, // a duration needs its unit
		{"5/0s", nil, false},
		{"5/-1h", nil, false},
		{"5/500ms", nil, false}, // the guard needs windows ≥ 1s
		{"3/10m,", nil, false},
		{",3/10m", nil, false},
		{"3/10m,,10/24h", nil, false},
		{" ", nil, false},
		{"off,3/10m", nil, false},
		{"OFF", nil, false},
		{"99999999999999999999/1h", nil, false},
	} {
		got, err := parseRates(tc.in)
		switch {
		case tc.ok && err != nil:
			t.Errorf("parseRates(%q): %v", tc.in, err)
		case tc.ok && !reflect.DeepEqual(got, tc.want):
			t.Errorf("parseRates(%q) = %v, want %v", tc.in, got, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("parseRates(%q) = %v, want an error", tc.in, got)
		}
	}
}

var budgetVars = []string{"SMS2FA_USER_LIMIT", "SMS2FA_PHONE_LIMIT", "SMS2FA_IP_LIMIT", "SMS2FA_PREFIX_LIMIT", "SMS2FA_GLOBAL_LIMIT"}

// Every bad budget or proxy list stops the demo with one line that names
// its variable, like the other settings.
func TestConfigRefusesBadBudgetsAndProxies(t *testing.T) {
	type bad struct{ name, value string }
	var cases []bad
	for _, name := range budgetVars {
		for _, v := range []string{"0/1h", "5", "5/xyz", "5/0s", "-1/1h", "5/500ms", "3/10m,", "3/10m,,10/24h", "off,1/1h"} {
			cases = append(cases, bad{name, v})
		}
	}
	for _, v := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1,", ",10.0.0.1", "10.0.0.0/8,,192.168.0.1", "fe80::1%eth0", "1.2.3.4:80"} {
		cases = append(cases, bad{"TRUSTED_PROXIES", v})
	}
	for _, tc := range cases {
		_, err := ConfigFrom(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: error %v, want one line naming %s", tc.name, tc.value, err, tc.name)
		}
	}
	// run refuses before it listens or opens a store.
	err := Run(t.Context(), env(map[string]string{"SMS2FA_IP_LIMIT": "5/500ms", "DATABASE_URL": t.TempDir() + "/x.db"}), io.Discard, nil, ServerTimeouts, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "SMS2FA_IP_LIMIT: ") {
		t.Errorf("run with a bad SMS2FA_IP_LIMIT: %v", err)
	}
}

func TestConfigBudgetsAndProxies(t *testing.T) {
	c, err := ConfigFrom(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []budget{c.userLimit, c.phoneLimit, c.ipLimit, c.prefixLimit, c.globalLimit} {
		if b.set {
			t.Errorf("unset budget read as %+v; want the guard's default", b)
		}
	}
	if c.TrustedProxies != nil {
		t.Errorf("TRUSTED_PROXIES unset: %v, want nil (trust no proxy)", c.TrustedProxies)
	}
	c, err = ConfigFrom(env(map[string]string{
		"SMS2FA_USER_LIMIT":   "3/10m,10/24h",
		"SMS2FA_PHONE_LIMIT":  "off",
		"SMS2FA_IP_LIMIT":     "20/1h",
		"SMS2FA_PREFIX_LIMIT": "50/1h",
		"SMS2FA_GLOBAL_LIMIT": "500/24h",
		"TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.1.7,::1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]budget{
		"user":   {true, []sms.Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}}},
		"phone":  {true, nil},
		"ip":     {true, []sms.Rate{{Limit: 20, Window: time.Hour}}},
		"prefix": {true, []sms.Rate{{Limit: 50, Window: time.Hour}}},
		"global": {true, []sms.Rate{{Limit: 500, Window: 24 * time.Hour}}},
	}
	got := map[string]budget{"user": c.userLimit, "phone": c.phoneLimit, "ip": c.ipLimit, "prefix": c.prefixLimit, "global": c.globalLimit}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("budgets = %+v, want %+v", got, want)
	}
	if want := []string{"10.0.0.0/8", "192.168.1.7", "::1"}; !reflect.DeepEqual(c.TrustedProxies, want) {
		t.Errorf("trusted proxies = %q, want %q", c.TrustedProxies, want)
	}
}
