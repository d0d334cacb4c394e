package sms_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// New refuses what cannot work, each with an error of the module's, and
// asks a checking sender about every flow's message.
func TestNewRefuses(t *testing.T) {
	fake := sender.NewFake()
	for name, opts := range map[string][]sms.Option{
		"code length 3":       {sms.WithCodeLength(3)},
		"code length 9":       {sms.WithCodeLength(9)},
		"lifetime over 10m":   {sms.WithCodeLifetime(11 * time.Minute)},
		"no attempts":         {sms.WithMaxAttempts(0)},
		"content":             {sms.WithContent("SMS")},
		"empty purpose":       {sms.WithPurpose(contract.FlowLogin, "")},
		"unknown flow":        {sms.WithPurpose("signup", "login")},
		"send timeout":        {sms.WithSendTimeout(0)},
		"a budget of 0":       {sms.WithUserLimit(sms.Rate{Limit: 0, Window: time.Hour})},
		"a window under 1s":   {sms.WithIPLimit(sms.Rate{Limit: 1, Window: time.Millisecond})},
		"prefix digits":       {sms.WithPrefixLimit(0)},
		"no countries":        {sms.WithCountries()},
		"not a country":       {sms.WithCountries("India")},
		"not a region":        {sms.WithDefaultRegion("XX")},
		"IPv6 prefix too big": {sms.WithIPv6Prefix(129)},
	} {
		if _, err := sms.New(fake, opts...); err == nil || !strings.HasPrefix(err.Error(), "sms2fa: ") {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
	if _, err := sms.New(nil); err == nil {
		t.Error("no sender: no error")
	}
	if _, err := sms.New(fake, sms.WithCodeLifetime(11*time.Minute), sms.AllowLongCodeLifetime()); err != nil {
		t.Errorf("a long lifetime, allowed: %v", err)
	}
	w, err := sender.NewWay2API("key", sender.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sms.New(w, sms.WithPurpose(contract.FlowStepUp, "not a purpose Way2API knows")); err == nil {
		t.Error("a purpose the sender refuses: no error")
	}
}

// A send draws on one budget per rate of each family, the IPv6 client
// counted by its /64 and the number by its prefix.
func TestBudgets(t *testing.T) {
	m, err := sms.New(sender.NewFake(), sms.WithCountries("IN"), sms.WithPrefixLimit(4, sms.Rate{Limit: 9, Window: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	num, err := m.Number("+91 98765 43210")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, b := range m.Budgets("alice", num, "2001:db8:1:2:3:4:5:6") {
		keys[b.Name] = b.Key
	}
	want := map[string]string{"user": "alice", "phone": "+919876543210", "ip": "2001:db8:1:2::/64", "prefix": "+919876", "global": ""}
	for k, v := range want {
		if keys[k] != v {
			t.Errorf("budget %s keyed %q, want %q", k, keys[k], v)
		}
	}
	if _, err := m.Number("+44 7911 123456"); !errors.Is(err, sms.ErrCountryNotAllowed) {
		t.Errorf("a UK number with only IN allowed: %v", err)
	}
	if _, err := m.Number("12345"); !errors.Is(err, sms.ErrInvalidPhone) {
		t.Errorf("not a number: %v", err)
	}
}

// Verify refuses what cannot be a code before the store is asked — no
// attempt is counted — and hands the store the MAC of the normalized code,
// on a real SQLite store.
func TestVerifyNormalizes(t *testing.T) {
	m, err := sms.New(sender.NewFake())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, _, err := m.NewCode("c"); !errors.Is(err, contract.ErrNotBound) {
		t.Fatalf("a code from an unbound method: %v", err)
	}
	if err := m.Bind(func(label string) ([]byte, error) { return []byte("a test key for " + label), nil }); err != nil {
		t.Fatal(err)
	}
	ref := contract.Ref{ID: "challenge-1", UserID: "alice", Binding: "browser-1"}
	code, mac, err := m.NewCode(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	policy := m.Policy(contract.DefaultPolicy())
	if _, _, err := st.Open(ctx, contract.OpenParams{Ref: ref, Phone: "+919876543210", Region: "IN", MAC: mac, Policy: policy}); err != nil {
		t.Fatal(err)
	}
	submit := func(typed string) (contract.Result, error) {
		return m.Verify(ctx, st, contract.Submission{UserID: "alice", Ref: ref, Typed: typed, Params: contract.VerifyParams{Policy: policy}})
	}
	if _, err := submit(code[:4]); !errors.Is(err, sms.ErrMalformed) {
		t.Fatalf("a short code: %v", err)
	}
	if ch, err := st.Challenge(ctx, ref); err != nil || ch.Attempts != 0 {
		t.Fatalf("after a malformed code: %d attempts, %v; want none counted", ch.Attempts, err)
	}
	r, err := submit(code[:3] + "-" + code[3:])
	if err != nil || r.Challenge.ConsumedAt.IsZero() {
		t.Fatalf("the right code, typed with a dash: %v, consumed %v", err, r.Challenge.ConsumedAt)
	}
}
