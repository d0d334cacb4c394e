package totp

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrQuiet is the quiet zone around the code, in modules: the four the QR
// standard asks for, so that a phone's camera finds the edges.
const qrQuiet = 4

// QR draws uri (an otpauth:// URI) as a QR code in inline SVG, for the
// setup page: it makes no request of its own — no image URL, no data: URI,
// no style — so it passes the guard's strict Content-Security-Policy. It is
// built from fixed markup and numbers only, hence safe to put in a page as
// it is. It is a method, so that the guard reaches it through the method
// the app listed: only an app that lists the TOTP method compiles the QR
// encoder.
func (m *Method) QR(uri string) (template.HTML, error) {
	q, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("sms2fa: drawing the QR code: %w", err)
	}
	q.DisableBorder = true
	bits := q.Bitmap()
	size := len(bits) + 2*qrQuiet
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="totp-qr" role="img" aria-label="QR code" shape-rendering="crispEdges" viewBox="0 0 `)
	b.WriteString(strconv.Itoa(size) + " " + strconv.Itoa(size))
	b.WriteString(`"><rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="`)
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				b.WriteString("M" + strconv.Itoa(x+qrQuiet) + " " + strconv.Itoa(y+qrQuiet) + "h1v1h-1z")
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil // fixed markup and integers only
}
