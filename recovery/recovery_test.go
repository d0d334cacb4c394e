package recovery_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// Issued codes are ten, shown grouped; each works once, however it is typed
// (case, spaces, the letters people confuse), on a real SQLite store;
// something that cannot be a code is refused before the store counts it;
// an unbound method makes and checks nothing.
func TestIssueAndVerify(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "recovery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := recovery.New()
	if _, err := m.Issue(ctx, st, "alice"); !errors.Is(err, contract.ErrNotBound) {
		t.Fatalf("an unbound method issued codes: %v", err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(secret, l), nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(secret, l), nil }); !errors.Is(err, contract.ErrBound) {
		t.Fatalf("a second Bind: %v", err)
	}
	codes, err := m.Issue(ctx, st, "alice")
	if err != nil || len(codes) != 10 || len(codes[0]) != 11 || codes[0][5] != '-' {
		t.Fatalf("issued %q, %v", codes, err)
	}
	verify := func(typed string) (contract.Result, error) {
		return m.Verify(ctx, st, contract.Submission{UserID: "alice", Typed: typed, Params: contract.VerifyParams{
			Policy: contract.DefaultPolicy(),
			Grant:  contract.GrantParams{ID: strings.Repeat("ab", 16), How: m.Name(), Lifetime: contract.DefaultPolicy().CodeTTL},
		}})
	}
	if _, err := verify("not a code"); !errors.Is(err, contract.ErrMalformed) {
		t.Fatalf("not a code: %v", err)
	}
	typed := " " + strings.ToUpper(codes[0][:5]) + " " + codes[0][6:] + " "
	r, err := verify(typed)
	if err != nil || r.Left != 9 || r.Grant.ID == "" {
		t.Fatalf("the first code, typed loosely: left %d, grant %q, %v", r.Left, r.Grant.ID, err)
	}
	if _, err := verify(codes[0]); !errors.Is(err, contract.ErrCodeInvalid) {
		t.Fatalf("the same code again: %v, want it refused as wrong", err)
	}
	if !m.Low(3) || m.Low(4) {
		t.Fatal("Low: three codes left is low, four is not")
	}
	for raw, want := range map[string]string{"ILO01-abcde": "11001abcde", "abcde12345": "abcde12345"} {
		if got, ok := recovery.Normalize(raw); !ok || got != want {
			t.Errorf("Normalize(%q) = %q %v, want %q", raw, got, ok, want)
		}
	}
	if _, ok := recovery.Normalize("abcde1234u"); ok {
		t.Error("a letter outside the alphabet was taken")
	}
}
