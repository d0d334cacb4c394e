package mark

import (
	"strings"
	"testing"
)

func sample() Mark {
	var m Mark
	copy(m.Grant[:], "0123456789abcdef")
	m.At = 1764072000
	return m
}

func TestRoundTrip(t *testing.T) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	v := c.Encode(sample(), "alice", "login-1")
	if len(v) != Len {
		t.Fatalf("len %d, want %d", len(v), Len)
	}
	m, ok := c.Decode(v, "alice", "login-1")
	if !ok || m != sample() {
		t.Fatalf("Decode = %+v, %v", m, ok)
	}
}

func TestRefuses(t *testing.T) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	v := c.Encode(sample(), "alice", "login-1")
	flip := func(i int) string {
		b := []byte(v)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	for name, tc := range map[string]struct{ v, user, login string }{
		"another user":      {v, "bob", "login-1"},
		"another sign-in":   {v, "alice", "login-2"},
		"no sign-in":        {v, "alice", ""},
		"shifted boundary":  {c.Encode(sample(), "alic", "elogin-1"), "alice", "login-1"},
		"grant edited":      {flip(5), "alice", "login-1"},
		"time edited":       {flip(2 + 2*16 + 3), "alice", "login-1"},
		"mac edited":        {flip(Len - 1), "alice", "login-1"},
		"version edited":    {flip(1), "alice", "login-1"},
		"truncated":         {v[:Len-2], "alice", "login-1"},
		"upper case":        {strings.ToUpper(v), "alice", "login-1"},
		"empty":             {"", "alice", "login-1"},
		"another key":       {New([]byte("another key of thirty-two bytes!!"), "sms2fa").Encode(sample(), "alice", "login-1"), "alice", "login-1"},
		"not hex":           {strings.Repeat("z", Len), "alice", "login-1"},
		"another audience":  {New([]byte("a key of thirty-two bytes, at least"), "sms2fa-admin").Encode(sample(), "alice", "login-1"), "alice", "login-1"},
		"audience boundary": {New([]byte("a key of thirty-two bytes, at least"), "sms2fa\x00\x00\x00\x05alic").Encode(sample(), "e", "login-1"), "alice", "login-1"},
	} {
		if _, ok := c.Decode(tc.v, tc.user, tc.login); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	f.Add(c.Encode(sample(), "alice", "x"), "alice", "x")
	f.Add("", "", "")
	f.Add(strings.Repeat("0", Len), "a", "b")
	f.Fuzz(func(t *testing.T, v, user, login string) {
		m, ok := c.Decode(v, user, login)
		if !ok {
			return
		}
		// Whatever decodes must be exactly what the codec would write.
		if again := c.Encode(m, user, login); again != v {
			t.Fatalf("decoded %q, re-encodes as %q", v, again)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	v := c.Encode(sample(), "user-42", "login-value")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Decode(v, "user-42", "login-value"); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	b.ReportAllocs()
	for b.Loop() {
		c.Encode(sample(), "user-42", "login-value")
	}
}
