package totp

import (
	"encoding/binary"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// RFC 6238 Appendix B: the SHA1 test vectors, 8 digits, for the six times
// given, through the code function the method uses.
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := code(secret, stepAt(time.Unix(v.unix, 0)), 8); got != v.want {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.want)
		}
	}
}

// RFC 4226 Appendix D: the 6-digit HOTP values of the same secret, the
// length the method uses.
func TestRFC4226Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for counter, want := range []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"} {
		if got := code(secret, int64(counter), digits); got != want {
			t.Errorf("counter %d: %s, want %s", counter, got, want)
		}
	}
}

// When one code matches two steps of the window, the latest above the last
// used one is claimed. The secret was found by search: its codes for steps
// 1000 and 1001 are the same (450340).
func TestMatchTwoSteps(t *testing.T) {
	secret := make([]byte, 20)
	binary.BigEndian.PutUint64(secret, 1630691)
	if code(secret, 1000, digits) != "450340" || code(secret, 1001, digits) != "450340" {
		t.Fatal("the searched secret does not collide")
	}
	now := time.Unix(1001*period+5, 0) // in step 1001: the window holds 1000 and 1001
	for _, c := range []struct {
		lastUsed, step int64
		ok             bool
	}{
		{0, 1001, true},
		{1000, 1001, true},
		{1001, 0, false},
	} {
		step, ok := match(secret, "450340", now, 1, c.lastUsed)
		if ok != c.ok || ok && step != c.step {
			t.Errorf("last used %d: step %d %v, want %d %v", c.lastUsed, step, ok, c.step, c.ok)
		}
	}
}

// A code is taken for the steps within the window and after the last used
// step only.
func TestMatch(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := stepAt(now)
	prev := code(secret, cur-1, digits)
	for _, c := range []struct {
		name     string
		typed    string
		window   int
		lastUsed int64
		step     int64
		ok       bool
	}{
		{"the current step", code(secret, cur, digits), 1, 0, cur, true},
		{"one step back, window 1", prev, 1, 0, cur - 1, true},
		{"one step back, window 0", prev, 0, 0, 0, false},
		{"two steps ahead, window 1", code(secret, cur+2, digits), 1, 0, 0, false},
		{"two steps ahead, window 2", code(secret, cur+2, digits), 2, 0, cur + 2, true},
		{"a used step", code(secret, cur, digits), 1, cur, 0, false},
		{"a step before the used one", prev, 1, cur - 1, 0, false},
		{"a wrong code", "000000", 1, 0, 0, false},
	} {
		if c.typed == "000000" && (code(secret, cur-1, digits) == c.typed || code(secret, cur, digits) == c.typed || code(secret, cur+1, digits) == c.typed) {
			t.Fatal("the wrong code is right for this secret: pick another")
		}
		step, ok := match(secret, c.typed, now, c.window, c.lastUsed)
		if ok != c.ok || ok && step != c.step {
			t.Errorf("%s: step %d %v, want %d %v", c.name, step, ok, c.step, c.ok)
		}
	}
}

// A sealed secret opens for its user only, under the current key or a
// previous secret's (stale, to be sealed again), and under no other.
func TestSealing(t *testing.T) {
	oldSecret := []byte("an old guard secret, 32 bytes lo")
	newSecret := []byte("the new guard secret, 32 bytes..")
	bind := func(m *Method, s []byte) {
		if err := m.Bind(func(l string) ([]byte, error) { return contract.DeriveKey(s, l), nil }); err != nil {
			t.Fatal(err)
		}
	}
	before, err := New()
	if err != nil {
		t.Fatal(err)
	}
	bind(before, oldSecret)
	secret, err := before.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := before.Seal("alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, stale, err := before.Unseal("alice", sealed); err != nil || stale || string(got) != string(secret) {
		t.Fatalf("unseal: %v %v", stale, err)
	}
	if _, _, err := before.Unseal("bob", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("another user's row: %v", err)
	}
	rotated, err := New(WithPreviousSecrets(oldSecret))
	if err != nil {
		t.Fatal(err)
	}
	bind(rotated, newSecret)
	if got, stale, err := rotated.Unseal("alice", sealed); err != nil || !stale || string(got) != string(secret) {
		t.Fatalf("after a rotation: stale %v, %v", stale, err)
	}
	forgot, err := New()
	if err != nil {
		t.Fatal(err)
	}
	bind(forgot, newSecret)
	if _, _, err := forgot.Unseal("alice", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("rotated without the previous secret: %v", err)
	}
	if _, _, err := forgot.Unseal("alice", []byte("short")); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("a damaged row: %v", err)
	}
}

// The URI is what authenticator apps read: otpauth://totp/, the issuer in
// the label and the query, the base32 secret, SHA1, 6 digits, 30 s.
func TestURI(t *testing.T) {
	m, err := New(WithIssuer("Demo App"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(m.URI([]byte("12345678901234567890"), "alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Demo App:alice@example.com" ||
		q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "Demo App" ||
		q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("URI %s", u)
	}
	if got := Encode([]byte("12345678901234567890")); got != "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ" {
		t.Fatalf("Encode: %q", got)
	}
	for _, bad := range []Option{WithWindow(3), WithWindow(-1), WithIssuer(""), WithIssuer("a:b"), WithPreviousSecrets([]byte("short"))} {
		if _, err := New(bad); err == nil {
			t.Error("New accepted a bad option")
		}
	}
}

// Code is what an app shows (the last 6 digits of the RFC's 8), and Decode
// reads back what Encode writes, in any case and grouping.
func TestCodeAndDecode(t *testing.T) {
	secret := []byte("12345678901234567890")
	if got := Code(secret, time.Unix(1111111109, 0)); got != "081804" {
		t.Errorf("Code at T=1111111109: %s, want 081804", got)
	}
	enc := Encode(secret)
	if enc != "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ" {
		t.Errorf("Encode: %q", enc)
	}
	for _, k := range []string{enc, "gezdgnbvgy3tqojqgezdgnbvgy3tqojq", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ===="} {
		got, err := Decode(k)
		if err != nil || string(got) != string(secret) {
			t.Errorf("Decode(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := Decode("not base32!"); err == nil {
		t.Error("Decode took a key that is not base32")
	}
}
