package sms

import (
	"testing"

	"github.com/sms2fa/sms2fa/phone"
)

// Codes are n decimal digits, each uniform: a byte is used only below 250,
// so b%10 favours no digit. A chi-square test over 300,000 digits, per
// position and overall, would miss modulo bias of one byte in 256 only by
// luck: the threshold, 42.6 for 9 degrees of freedom, is exceeded by
// chance once in a million runs, and plain b%10 on every byte exceeds it
// (a 2.5% bias on digits 0–5 gives ≈ 100 over this many digits).
func TestNewCodeDigitsAreUniform(t *testing.T) {
	for _, n := range []int{4, 6, 8, 10} {
		c, err := newCode(n)
		if err != nil || len(c) != n {
			t.Fatalf("newCode(%d) = %q, %v", n, c, err)
		}
	}
	const n, codes = 6, 50_000
	var pos [n][10]int
	var all [10]int
	for range codes {
		c, err := newCode(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			d := c[i] - '0'
			if d > 9 {
				t.Fatalf("code %q has a non-digit", c)
			}
			pos[i][d]++
			all[d]++
		}
	}
	chi := func(counts [10]int, total int) float64 {
		want := float64(total) / 10
		var x float64
		for _, got := range counts {
			x += (float64(got) - want) * (float64(got) - want) / want
		}
		return x
	}
	const critical = 42.6 // chi-square, 9 degrees of freedom, p = 1e-6
	if x := chi(all, n*codes); x > critical {
		t.Errorf("digits overall: chi-square %.1f > %.1f: %v", x, critical, all)
	}
	for i, counts := range pos {
		if x := chi(counts, codes); x > critical {
			t.Errorf("digit %d: chi-square %.1f > %.1f: %v", i, x, critical, counts)
		}
	}
}

// scrubText masks the number before the code: a code whose digits sit inside
// the number must not break the number's forms apart.
func TestScrubTextNumberFirst(t *testing.T) {
	num, err := phone.Parse("+919876543210", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"to +919876543210", "to 919876543210", "to 9876543210"} {
		got := scrubText(text, "987654", num)
		if got != "to "+num.Masked() {
			t.Errorf("scrubText(%q) = %q, want the masked number %q", text, got, "to "+num.Masked())
		}
	}
}
