package demo

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigRefusesBadValues(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"ADDR":                   {"ADDR": "8080"},
		"SESSION_KEY":            {"SESSION_KEY": "short"},
		"SMS2FA_SECRET":          {"SMS2FA_SECRET": "short"},
		"SMS2FA_CODE_TTL":        {"SMS2FA_CODE_TTL": "five minutes"},
		"SMS2FA_CODE_TTL 20m":    {"SMS2FA_CODE_TTL": "20m"},
		"SMS2FA_RESEND_COOLDOWN": {"SMS2FA_RESEND_COOLDOWN": "-1s"},
		"SMS2FA_MAX_ATTEMPTS":    {"SMS2FA_MAX_ATTEMPTS": "0"},
		"SMS2FA_RECHECK":         {"SMS2FA_RECHECK": "soon"},
		"SMS2FA_STEP_UP_AGE":     {"SMS2FA_STEP_UP_AGE": "0s"},
		"WAY2API_BASE_URL":       {"WAY2API_BASE_URL": "http://127.0.0.1:1"},
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
