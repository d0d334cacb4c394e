//go:build !race

// The race detector makes sync.Pool drop items at random, so allocations are
// only counted without it.

package mark

import "testing"

func TestDecodeAllocatesNothing(t *testing.T) {
	c := New([]byte("a key of thirty-two bytes, at least"), "sms2fa")
	v := c.Encode(sample(), "alice", "login-1")
	if n := testing.AllocsPerRun(100, func() { c.Decode(v, "alice", "login-1") }); n != 0 {
		t.Fatalf("Decode allocates %v times", n)
	}
}
