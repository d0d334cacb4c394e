package phone_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sms2fa/sms2fa/phone"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, region string
		want              phone.Number
	}{
		{"India spaced", "+91 98765 43210", "", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"India dashed", "+91-98765-43210", "", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"India second", "+91 98123 45678", "", phone.Number{E164: "+919812345678", Region: "IN", CountryCode: 91, National: "9812345678"}},
		{"India bare E.164", "+919876543210", "", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"India padded", "  +91 98765 43210\n", "", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"India national with region", "098765 43210", "IN", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"region in lower case", "98765 43210", "in", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
		{"international beats region", "+44 7400 123456", "IN", phone.Number{E164: "+447400123456", Region: "GB", CountryCode: 44, National: "7400123456"}},
		{"US fixed-line-or-mobile", "+1 (650) 253-0000", "", phone.Number{E164: "+16502530000", Region: "US", CountryCode: 1, National: "6502530000"}},
		{"US national", "650.253.0000", "US", phone.Number{E164: "+16502530000", Region: "US", CountryCode: 1, National: "6502530000"}},
		{"UK mobile", "+44 7400 123456", "", phone.Number{E164: "+447400123456", Region: "GB", CountryCode: 44, National: "7400123456"}},
		{"UK national", "07400 123456", "GB", phone.Number{E164: "+447400123456", Region: "GB", CountryCode: 44, National: "7400123456"}},
		{"Germany mobile", "+49 1512 3456789", "", phone.Number{E164: "+4915123456789", Region: "DE", CountryCode: 49, National: "15123456789"}},
		{"UK VoIP", "+44 56 1234 5678", "", phone.Number{E164: "+445612345678", Region: "GB", CountryCode: 44, National: "5612345678"}},
		{"unicode dash and no-break space", "+91\u00a098765\u201343210", "", phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := phone.Parse(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, region string
		want              error
		says              string // a fragment of the error message
	}{
		{"empty", "", "", phone.ErrInvalid, "empty"},
		{"blank", "   ", "", phone.ErrInvalid, "empty"},
		{"letters", "+91 98765 abcde", "", phone.ErrInvalid, "letters"},
		{"vanity number", "+1 800 FLOWERS", "", phone.ErrInvalid, "letters"},
		{"extension", "+91 98765 43210 ext 12", "", phone.ErrInvalid, "letters"},
		{"hash extension", "+91 98765 43210#12", "", phone.ErrInvalid, "unexpected character"},
		{"plus in the middle", "91+9876543210", "", phone.ErrInvalid, `"+" may only come first`},
		{"only punctuation", "+()-", "", phone.ErrInvalid, "no digits"},
		{"too short", "+91 98765", "", phone.ErrInvalid, "too short"},
		{"too short for parse", "+9", "", phone.ErrInvalid, ""},
		{"too long", "+91 98765 43210 98765 43210", "", phone.ErrInvalid, "too long"},
		{"very long input", "+" + strings.Repeat("9", 100), "", phone.ErrInvalid, "longer than"},
		{"missing plus", "919876543210", "", phone.ErrInvalid, "must start with +"},
		{"national without region", "098765 43210", "", phone.ErrInvalid, "must start with +"},
		{"unknown country code", "+999 1234 5678", "", phone.ErrInvalid, "country code"},
		{"unassigned range", "+44 7700 900123", "", phone.ErrInvalid, "not a number in use"},
		{"invalid UTF-8", "+91 98765 \xff43210", "", phone.ErrInvalid, "UTF-8"},
		{"control character", "+91 98765\x0043210", "", phone.ErrInvalid, "unexpected character"},
		{"US premium rate", "+1 900 200 0000", "", phone.ErrNotMobile, "premium-rate"},
		{"UK premium rate", "+44 909 879 0000", "", phone.ErrNotMobile, "premium-rate"},
		{"US toll free", "+1 800 555 0100", "", phone.ErrNotMobile, "toll-free"},
		{"India toll free", "+91 1800 425 1234", "", phone.ErrNotMobile, "toll-free"},
		{"India fixed line", "+91 22 2345 6789", "", phone.ErrNotMobile, "fixed-line"},
		{"UK fixed line", "+44 20 7946 0958", "", phone.ErrNotMobile, "fixed-line"},
		{"German shared cost", "+49 180 12345", "", phone.ErrNotMobile, "shared-cost"},
		{"German voicemail", "+49 1779 9123 4567", "", phone.ErrNotMobile, "voicemail"},
		{"UK personal number", "+44 70 1234 5678", "", phone.ErrNotMobile, "personal"},
		{"UK pager", "+44 76 4012 3456", "", phone.ErrNotMobile, "pager"},
		{"UK UAN", "+44 55 1234 5678", "", phone.ErrNotMobile, "UAN"},
		{"global toll free", "+800 1234 5678", "", phone.ErrNotMobile, "toll-free"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := phone.Parse(tt.raw, tt.region)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q, %q) = %+v, %v; want an error wrapping %v", tt.raw, tt.region, got, err, tt.want)
			}
			if got != (phone.Number{}) {
				t.Errorf("Parse(%q) returned %+v along with an error", tt.raw, got)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Parse(%q) error %q does not say %q", tt.raw, err, tt.says)
			}
			if other := map[error]error{phone.ErrInvalid: phone.ErrNotMobile, phone.ErrNotMobile: phone.ErrInvalid}[tt.want]; errors.Is(err, other) {
				t.Errorf("Parse(%q) error %q wraps both sentinels", tt.raw, err)
			}
		})
	}
}

func TestParseQuotesInputSafely(t *testing.T) {
	t.Parallel()
	raw := "+91 \x1b[31m" + strings.Repeat("9", 40)
	_, err := phone.Parse(raw, "")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.ContainsRune(msg, '\x1b') {
		t.Errorf("error carries a raw control character: %q", msg)
	}
	if !strings.Contains(msg, `\x1b`) {
		t.Errorf("error does not quote the input: %q", msg)
	}
	if strings.Contains(msg, strings.Repeat("9", 40)) {
		t.Errorf("error quotes the whole long input: %q", msg)
	}
}

func TestParseUnknownRegion(t *testing.T) {
	t.Parallel()
	for _, region := range []string{"XX", "ZZ", "001", "UK", "IND", " IN", "I"} {
		for _, raw := range []string{"98765 43210", "+91 98765 43210"} {
			_, err := phone.Parse(raw, region)
			if !errors.Is(err, phone.ErrUnknownRegion) || !strings.Contains(err.Error(), "unknown default region") {
				t.Errorf("Parse(%q, %q) = %v, want an error wrapping ErrUnknownRegion", raw, region, err)
			}
			if errors.Is(err, phone.ErrInvalid) || errors.Is(err, phone.ErrNotMobile) {
				t.Errorf("a bad default region is not the number's fault, got %v", err)
			}
		}
	}
}

// TestParseDefaultRegion: the default region says how to read a national
// number, and only that: an international one keeps its own country.
func TestParseDefaultRegion(t *testing.T) {
	t.Parallel()
	india := phone.Number{E164: "+919876543210", Region: "IN", CountryCode: 91, National: "9876543210"}
	uk := phone.Number{E164: "+447400123456", Region: "GB", CountryCode: 44, National: "7400123456"}
	us := phone.Number{E164: "+16502530000", Region: "US", CountryCode: 1, National: "6502530000"}
	tests := []struct {
		raw, region string
		want        phone.Number
	}{
		{"98765 43210", "IN", india},
		{"098765 43210", "in", india},
		{"098765 43210", "IN", india},
		{"98765 43210", "In", india},
		{"9876543210", "IN", india},
		{"+91 98765 43210", "IN", india},
		{"+91 98765 43210", "US", india}, // "+" wins over the region
		{"+91 98765 43210", "GB", india},
		{"0091 98765 43210", "GB", india},   // GB's international prefix 00
		{"011 91 98765 43210", "US", india}, // the US's international prefix 011
		{"+44 7400 123456", "IN", uk},
		{"07400 123456", "gb", uk},
		{"+1 650 253 0000", "IN", us},
		{"(650) 253-0000", "US", us},
		{"+870 301 234 567", "IN", phone.Number{ // non-geographic: no region reads it nationally
			E164: "+870301234567", Region: phone.RegionNonGeographic, CountryCode: 870, National: "301234567"}},
	}
	for _, tt := range tests {
		got, err := phone.Parse(tt.raw, tt.region)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.raw, tt.region, err)
		} else if got != tt.want {
			t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.raw, tt.region, got, tt.want)
		}
	}

	// A national number read with the wrong region is refused, not moved to
	// another country.
	if got, err := phone.Parse("98765 43210", "GB"); !errors.Is(err, phone.ErrInvalid) {
		t.Errorf(`Parse("98765 43210", "GB") = %+v, %v; want ErrInvalid`, got, err)
	}
}

func TestValidRegion(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"IN", "in", "In", "GB", "US", "DE", "AC"} {
		if !phone.ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = false", r)
		}
		if _, err := phone.Parse("+91 98765 43210", r); err != nil {
			t.Errorf("ValidRegion(%q) but Parse refuses it: %v", r, err)
		}
	}
	for _, r := range []string{"", "XX", "ZZ", "zz", "UK", "EU", "IND", " IN", "IN ", "001", phone.RegionNonGeographic, "I", "\u0130N"} {
		if phone.ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = true", r)
		}
	}
}

// TestValidCountry: what a list of allowed countries may name — the guard's
// and the metrics' lists share it.
func TestValidCountry(t *testing.T) {
	t.Parallel()
	for r, want := range map[string]bool{"IN": true, "GB": true, phone.RegionNonGeographic: true,
		"in": false, "XX": false, "UK": false, "India": false, "": false, "IND": false} {
		if got := phone.ValidCountry(r); got != want {
			t.Errorf("ValidCountry(%q) = %v, want %v", r, got, want)
		}
	}
}

// TestParseNonGeographic: numbers under global network calling codes (region
// "001") parse, when mobile or VoIP, with Region "001" and NonGeographic; the
// examples are libphonenumber's own (its metadata's exampleNumber for each
// type), so they are valid numbers of their type.
func TestParseNonGeographic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		e164      string // "" when Parse refuses the number's type
		refusal   string // what the ErrNotMobile error says then
	}{
		{"Inmarsat mobile +870", "+870 301 234 567", "+870301234567", ""},
		{"Inmarsat VoIP +870", "+870 201 234 567", "+870201234567", ""},
		{"UPT VoIP +878", "+878 10 1234 567890", "+878101234567890", ""},
		{"satellite mobile +881", "+881 612 345 678", "+881612345678", ""},
		{"international network mobile +882", "+882 342 1234", "+8823421234", ""},
		{"international network VoIP +882", "+882 390 123 456 789", "+882390123456789", ""},
		{"international network VoIP +883", "+883 510 012 345", "+883510012345", ""},
		{"international toll free +800", "+800 1234 5678", "", "toll-free"},
		{"international shared cost +808", "+808 1234 5678", "", "shared-cost"},
		{"international voicemail +882", "+882 348 512 34567", "", "voicemail"},
		{"international UAN +888", "+888 123 456 789 01", "", "UAN"},
		{"international premium rate +979", "+979 123 456 789", "", "premium-rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := phone.Parse(tt.raw, "")
			if tt.e164 == "" {
				if !errors.Is(err, phone.ErrNotMobile) || !strings.Contains(err.Error(), tt.refusal) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrNotMobile saying %q", tt.raw, n, err, tt.refusal)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.raw, err)
			}
			if n.E164 != tt.e164 || n.Region != phone.RegionNonGeographic {
				t.Errorf("Parse(%q) = %+v, want E.164 %s in region 001", tt.raw, n, tt.e164)
			}
			if !n.NonGeographic() {
				t.Errorf("Parse(%q) = %+v is not NonGeographic", tt.raw, n)
			}
			if !strings.HasPrefix(n.E164, "+"+strconv.Itoa(n.CountryCode)) {
				t.Errorf("Parse(%q) = %+v: country code and E.164 disagree", tt.raw, n)
			}
		})
	}
}

func TestNonGeographic(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"+91 98765 43210", "+1 650 253 0000", "+44 7400 123456", "+49 1512 3456789"} {
		n, err := phone.Parse(raw, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", raw, err)
		}
		if n.NonGeographic() {
			t.Errorf("%+v is NonGeographic", n)
		}
	}
	tests := []struct {
		n    phone.Number
		want bool
	}{
		{phone.Number{}, false},
		{phone.Number{Region: phone.RegionNonGeographic}, true},
		{phone.Number{E164: "+8823421234", CountryCode: 882, National: "3421234"}, true}, // built by hand, no Region
		{phone.Number{E164: "+97912345678", CountryCode: 979}, true},
		{phone.Number{E164: "+919876543210", CountryCode: 91}, false},
		{phone.Number{CountryCode: 999}, false}, // unassigned
	}
	for _, tt := range tests {
		if got := tt.n.NonGeographic(); got != tt.want {
			t.Errorf("%+v.NonGeographic() = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestNumberMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw                   string
		digits, masked, str   string
		prefix0, prefix5, big string
		prefixNeg             string
	}{
		{"+91 98765 43210", "919876543210", "+91 ••••••3210", "+919876543210", "+91", "+9198765", "+919876543210", "+91"},
		{"+91 98123 45678", "919812345678", "+91 ••••••5678", "+919812345678", "+91", "+9198123", "+919812345678", "+91"},
		{"+1 650 253 0000", "16502530000", "+1 ••••••0000", "+16502530000", "+1", "+165025", "+16502530000", "+1"},
		{"+44 7400 123456", "447400123456", "+44 ••••••3456", "+447400123456", "+44", "+4474001", "+447400123456", "+44"},
	}
	for _, tt := range tests {
		n, err := phone.Parse(tt.raw, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.raw, err)
		}
		check := func(what, got, want string) {
			t.Helper()
			if got != want {
				t.Errorf("%s of %s = %q, want %q", what, tt.raw, got, want)
			}
		}
		check("Digits", n.Digits(), tt.digits)
		check("Masked", n.Masked(), tt.masked)
		check("E164", n.E164, tt.str)
		check("String", n.String(), tt.masked)
		check("Prefix(0)", n.Prefix(0), tt.prefix0)
		check("Prefix(5)", n.Prefix(5), tt.prefix5)
		check("Prefix(99)", n.Prefix(99), tt.big)
		check("Prefix(-1)", n.Prefix(-1), tt.prefixNeg)
	}

	var zero phone.Number
	if zero.Masked() != "" || zero.Prefix(3) != "" || zero.Digits() != "" || zero.String() != "" {
		t.Errorf("the zero Number formats as something: %q %q %q %q", zero.Masked(), zero.Prefix(3), zero.Digits(), zero)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"+919876543210", "+91 ••••••3210"},
		{"+16502530000", "+1 ••••••0000"},
		{"+447400123456", "+44 ••••••3456"},
		{"+4915123456789", "+49 •••••••6789"},
		{"+88234567890", "+882 ••••7890"},     // non-geographic, not even valid: still masked
		{"+91 98765-43210", "+91 ••••••3210"}, // formatting is dropped
		{"919876543210", "••••••••3210"},      // no "+": the country code cannot be trusted
		{"+0919876543210", "•••••••••3210"},   // no country code starts with 0
		{"+9991234567", "••••••4567"},         // unassigned country code
		{"+1234", "+1 ••4"},                   // short: at most half shown
		{"+12", "+1 •"},
		{"+1", "•"},
		{"12", "•2"},
		{"", ""},
		{"+", ""},
		{"not a number", ""},
	}
	for _, tt := range tests {
		if got := phone.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzMask checks the one promise that matters for logs: Mask never returns
// all the digits it was given.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"+919876543210", "+1", "12", "", "+0", "+999123", "abc123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := phone.Mask(s)
		var digits, shown int
		for _, r := range s {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		for _, r := range got {
			if r >= '0' && r <= '9' {
				shown++
			}
		}
		if digits > 0 && shown >= digits {
			t.Fatalf("Mask(%q) = %q shows all %d digits", s, got, digits)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Mask(%q) = %q is not UTF-8", s, got)
		}
	})
}

// FuzzParse checks that Parse never panics and that what it accepts is
// self-consistent E.164.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"+91 98765 43210", "+1 (650) 253-0000", "+44 7400 123456", "", "+", "+1 800 FLOWERS", "0091 98765 43210"} {
		f.Add(s, "")
		f.Add(s, "IN")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := phone.Parse(raw, region)
		if err != nil {
			return
		}
		if n.E164 != "+"+n.Digits() || !strings.HasSuffix(n.E164, n.National) || n.CountryCode <= 0 {
			t.Fatalf("Parse(%q, %q) = %+v is inconsistent", raw, region, n)
		}
		again, err := phone.Parse(n.E164, "")
		if err != nil || again != n {
			t.Fatalf("Parse(%q) = %+v, %v; reparsing %q gave %+v", raw, n, err, n.E164, again)
		}
		// Known agrees with Parse on every number Parse returns, or declines.
		if k, ok := phone.Known(n.E164); ok && k != n {
			t.Fatalf("Known(%q) = %+v, Parse gave %+v", n.E164, k, n)
		}
	})
}

// Known splits what Parse returned, as Parse did, and declines anything not
// in that shape or whose region only Parse can tell.
func TestKnown(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"+91 98765 43210", "+49 1512 3456789", "+86 139 1234 5678", "+33 6 12 34 56 78", "+81 90 1234 5678", "+971 50 123 4567"} {
		n, err := phone.Parse(raw, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", raw, err)
		}
		if k, ok := phone.Known(n.E164); !ok || k != n {
			t.Errorf("Known(%q) = %+v, %v; Parse gave %+v", n.E164, k, ok, n)
		}
	}
	if k, ok := phone.Known("+80012345678"); !ok || k.Region != phone.RegionNonGeographic || k.CountryCode != 800 || !k.NonGeographic() {
		t.Errorf("Known(+800…) = %+v, %v", k, ok)
	}
	for _, s := range []string{
		"+16502530000",      // +1 is shared by the US, Canada and others
		"+447400123456",     // +44: GB, GG, IM, JE
		"+79123456789",      // +7: RU, KZ
		"919876543210",      // no +
		"+91 9876543210",    // a space
		"+",                 // nothing
		"+0919876543210",    // no country code starts with 0
		"+9",                // a digit, no country code
		"+9999876543210",    // 999 is nobody's
		"+9198765432101234", // 16 digits
		"+91987654321０",     // a non-ASCII digit
	} {
		if k, ok := phone.Known(s); ok {
			t.Errorf("Known(%q) = %+v, want false", s, k)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, raw := range []string{"+91 98765 43210", "+1 (650) 253-0000"} {
		b.Run(raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := phone.Parse(raw, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		phone.Mask("+919876543210")
	}
}
