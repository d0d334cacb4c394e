package totp

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// The QR code is well-formed SVG with one square per dark module and a
// quiet zone, and references nothing outside the page: no link, no
// data: URI, no style.
func TestQR(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	uri := m.URI([]byte("12345678901234567890"), "alice@example.com")
	svg, err := m.QR(uri)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
	for _, bad := range []string{"href", "data:", "style", "<script", "url("} {
		if strings.Contains(string(svg), bad) {
			t.Errorf("the SVG holds %q", bad)
		}
	}
	q, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	dark := 0
	for _, row := range q.Bitmap() {
		for _, on := range row {
			if on {
				dark++
			}
		}
	}
	if got := strings.Count(string(svg), "h1v1h-1z"); got != dark || dark == 0 {
		t.Fatalf("%d squares for %d dark modules", got, dark)
	}
	size := len(q.Bitmap()) + 2*qrQuiet
	if !strings.Contains(string(svg), `viewBox="0 0 `+strconv.Itoa(size)+" "+strconv.Itoa(size)+`"`) {
		t.Fatalf("no %d-module view box with the quiet zone: %.120s", size, svg)
	}
}
