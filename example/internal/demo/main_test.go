package demo

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigRefusesBadValues(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"ADDR":                            {"ADDR": "8080"},
		"SESSION_KEY":                     {"SESSION_KEY": "short"},
		"SMS2FA_SECRET":                   {"SMS2FA_SECRET": "short"},
		"SMS2FA_CODE_TTL":                 {"SMS2FA_CODE_TTL": "five minutes"},
		"SMS2FA_CODE_TTL 20m":             {"SMS2FA_CODE_TTL": "20m"},
		"SMS2FA_RESEND_COOLDOWN":          {"SMS2FA_RESEND_COOLDOWN": "-1s"},
		"SMS2FA_MAX_ATTEMPTS":             {"SMS2FA_MAX_ATTEMPTS": "0"},
		"SMS2FA_RECHECK":                  {"SMS2FA_RECHECK": "soon"},
		"SMS2FA_STEP_UP_AGE":              {"SMS2FA_STEP_UP_AGE": "0s"},
		"WAY2API_BASE_URL":                {"WAY2API_BASE_URL": "http://127.0.0.1:1"},
		"SMS2FA_AUTOBLOCK":                {"SMS2FA_AUTOBLOCK": "yes"},
		"SMS2FA_AUTOBLOCK_MIN_SENDS":      {"SMS2FA_AUTOBLOCK_MIN_SENDS": "0"},
		"SMS2FA_AUTOBLOCK_MIN_SENDS 1.5":  {"SMS2FA_AUTOBLOCK_MIN_SENDS": "1.5"},
		"SMS2FA_AUTOBLOCK_CONVERSION":     {"SMS2FA_AUTOBLOCK_CONVERSION": "35%"},
		"SMS2FA_AUTOBLOCK_CONVERSION 1":   {"SMS2FA_AUTOBLOCK_CONVERSION": "1"},
		"SMS2FA_AUTOBLOCK_CONVERSION 0":   {"SMS2FA_AUTOBLOCK_CONVERSION": "0"},
		"SMS2FA_AUTOBLOCK_CONVERSION NaN": {"SMS2FA_AUTOBLOCK_CONVERSION": "NaN"},
		"SMS2FA_AUTOBLOCK_FOR":            {"SMS2FA_AUTOBLOCK_FOR": "30s"},
		"SMS2FA_AUTOBLOCK_FOR 8d":         {"SMS2FA_AUTOBLOCK_FOR": "200h"},
		"SMS2FA_AUTOBLOCK_FOR word":       {"SMS2FA_AUTOBLOCK_FOR": "twelve hours"},
	} {
		_, err := ConfigFrom(env(vars))
		if err == nil || !strings.HasPrefix(err.Error(), strings.Fields(name)[0]) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line naming %s", vars, err, name)
		}
	}
	c, err := ConfigFrom(env(nil))
	if err != nil || c.addr != "127.0.0.1:8080" || c.databaseURL != "sms2fa-example.db" || len(c.warnings) != 2 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	if len(c.autoBlockOptions()) != 0 {
		t.Fatal("with no SMS2FA_AUTOBLOCK* set, the demo overrides the method's defaults")
	}
	c, err = ConfigFrom(env(map[string]string{"SMS2FA_AUTOBLOCK": "monitor", "SMS2FA_AUTOBLOCK_MIN_SENDS": "7",
		"SMS2FA_AUTOBLOCK_CONVERSION": "0.5", "SMS2FA_AUTOBLOCK_FOR": "2h"}))
	if err != nil || c.autoBlock != "monitor" || c.autoBlockMinSends != 7 || c.autoBlockConversion != 0.5 || c.autoBlockFor != 2*time.Hour {
		t.Fatalf("SMS2FA_AUTOBLOCK*: %v, %v %d %v %v", err, c.autoBlock, c.autoBlockMinSends, c.autoBlockConversion, c.autoBlockFor)
	}
	if n := len(c.autoBlockOptions()); n != 3 {
		t.Fatalf("%d options from the four variables, want 3 (mode, threshold, length)", n)
	}
}

func TestRunFailsAtStartOnBadValues(t *testing.T) {
	dir := t.TempDir()
	for name, vars := range map[string]map[string]string{
		"DATABASE_URL":    {"DATABASE_URL": filepath.Join(dir, "no", "such", "dir", "x.db")},
		"WAY2API_API_KEY": {"DATABASE_URL": filepath.Join(dir, "a.db"), "WAY2API_API_KEY": "key with spaces"},
		"SMS2FA_CODE_TTL": {"DATABASE_URL": filepath.Join(dir, "b.db"), "SMS2FA_CODE_TTL": "20m"},
	} {
		err := Run(context.Background(), env(vars), io.Discard, nil, ServerTimeouts, nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: run = %v", name, err)
		}
	}
}
