package sender_test

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

// pointers matches the addresses %#v prints, which may hold any digits.
var pointers = regexp.MustCompile(`0x[0-9a-f]+`)

// leaksCode reports whether s holds the test code or any run of four or more
// of its digits in a row: a code cut in half by a length limit still gives
// most of it away.
func leaksCode(s string) bool {
	s = pointers.ReplaceAllString(s, "0x")
	for n := 4; n <= len(testCode); n++ {
		for i := 0; i+n <= len(testCode); i++ {
			if strings.Contains(s, testCode[i:i+n]) {
				return true
			}
		}
	}
	return false
}

// renderings returns every way the guard or an app might print err or rec:
// the fields, err.Error(), fmt's verbs, and slog's JSON and text handlers.
func renderings(t *testing.T, rec contract.Receipt, err error) map[string]string {
	t.Helper()
	out := map[string]string{
		"Receipt.ProviderID": rec.ProviderID,
		"Receipt.Status":     rec.Status,
		"receipt %+v":        fmt.Sprintf("%+v", rec),
	}
	if err == nil {
		return out
	}
	out["err.Error()"] = err.Error()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out["err "+verb] = fmt.Sprintf(verb, err)
	}
	if e, ok := err.(*sender.Error); ok {
		out["Error.Code"], out["Error.Message"], out["Error.OrderID"] = e.Code, e.Message, e.OrderID
		out["*Error %#v"] = fmt.Sprintf("%#v", *e)
		out["*Error %+v"] = fmt.Sprintf("%+v", *e)
	}
	// No time attribute: a timestamp's digits could match by chance.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var j, x bytes.Buffer
	slog.New(slog.NewJSONHandler(&j, noTime)).Error("send_failed", "err", err, slog.Any("error", err))
	slog.New(slog.NewTextHandler(&x, noTime)).Error("send_failed", "err", err, slog.Any("error", err))
	out["slog JSON"], out["slog text"] = j.String(), x.String()
	return out
}

// sendEchoing sends message() to a stand-in that answers every try with
// status and body, checks that Send succeeded exactly when ok, and returns
// every rendering of the receipt and the error.
func sendEchoing(t *testing.T, status int, body string, ok bool) map[string]string {
	t.Helper()
	resp := way2apitest.Body(status, "application/json", body)
	w, _ := newSender(t, newServer(t, resp, resp, resp))
	rec, err := w.Send(t.Context(), message())
	if (err == nil) != ok {
		t.Fatalf("Send = %+v, %v; want an error: %v", rec, err, !ok)
	}
	return renderings(t, rec, err)
}

// TestWay2APIMasksEchoedCode covers a provider that echoes the code back in
// any field of its answer, failure or success: the code must reach no field
// of the receipt or the error, and no rendering of either.
func TestWay2APIMasksEchoedCode(t *testing.T) {
	t.Parallel()
	c := testCode
	// long puts the code across the 256-byte cut of Message: cutting before
	// masking would keep five of its six digits.
	long := strings.Repeat("x", 248) + c + " was refused"
	tests := []struct {
		name   string
		status int
		body   string
		ok     bool   // a receipt, not an error, is expected
		field  string // the field that must show the mask
		mask   string // what of the mask it shows, when not all of "[code]"
	}{
		{name: "422 error_code echoes the code", status: 422, body: `{"success":false,"message":"Input rejected.","data":{"error_code":"BAD_VALUE_` + c + `"}}`, field: "Error.Code"},
		{name: "422 error_code is the code", status: 422, body: `{"success":false,"message":"","data":{"error_code":"` + c + `"}}`, field: "Error.Code"},
		{name: "422 order_id echoes the code", status: 422, body: `{"success":false,"message":"Input rejected.","data":{"error_code":"VALIDATION_ERROR","order_id":"W2A_` + c + `"}}`, field: "Error.OrderID"},
		{name: "422 order_id is the code as a number", status: 422, body: `{"success":false,"message":"","data":{"error_code":"VALIDATION_ERROR","order_id":` + c + `}}`, field: "Error.OrderID"},
		{name: "422 message echoes the code", status: 422, body: `{"success":false,"message":"value ` + c + ` is not allowed","data":{"error_code":"VALIDATION_ERROR"}}`, field: "Error.Message"},
		{name: "422 message echoes the code across the length cut", status: 422, body: `{"success":false,"message":"` + long + `","data":{"error_code":"VALIDATION_ERROR"}}`, field: "Error.Message", mask: "x[code…"},
		{name: "422 message escapes the code", status: 422, body: `{"success":false,"message":"value \u0035\u0032\u0038\u0039\u0031\u0034","data":{"error_code":"VALIDATION_ERROR"}}`, field: "Error.Message"},
		{name: "200 success false echoes everywhere", status: 200, body: `{"success":false,"message":"` + c + `","data":{"error_code":"E` + c + `","order_id":"O` + c + `"}}`, field: "Error.OrderID"},
		{name: "200 sms_status echoes the code", status: 200, body: `{"success":true,"message":"","data":{"order_id":"W2A_1","result":{"sms_status":"` + c + `"}}}`, field: "err.Error()"},
		{name: "200 order_id echoes the code", status: 200, body: `{"success":true,"message":"","data":{"order_id":"W2A_` + c + `","result":{"sms_status":"sent"}}}`, ok: true, field: "Receipt.ProviderID"},
		{name: "202 order_id echoes the code", status: 202, body: `{"success":true,"message":"Accepted.","data":{"order_id":"` + c + `"}}`, ok: true, field: "Receipt.ProviderID"},
		{name: "500 echoes the code until tries run out", status: 500, body: `{"success":false,"message":"` + c + `","data":{"error_code":"` + c + `","order_id":"` + c + `"}}`, field: "Error.Message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := sendEchoing(t, tt.status, tt.body, tt.ok)
			for name, s := range out {
				if leaksCode(s) {
					t.Errorf("%s leaks the code: %s", name, s)
				}
			}
			mask := cmp.Or(tt.mask, "[code]")
			if !strings.Contains(out[tt.field], mask) {
				t.Errorf("%s = %q, want the code masked as %s", tt.field, out[tt.field], mask)
			}
		})
	}
}

// TestWay2APIMasksEchoedKey: a provider that echoes the API key in an
// identifier gets it masked there too, not only in its message.
func TestWay2APIMasksEchoedKey(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Body(401, "application/json",
		`{"success":false,"message":"","data":{"error_code":"KEY_`+testKey+`","order_id":"`+testKey+testCode+`"}}`))
	w, _ := newSender(t, srv)
	rec, err := w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrUnauthorized, false)
	for name, s := range renderings(t, rec, err) {
		if strings.Contains(s, testKey) || strings.Contains(s, "SECRET") || leaksCode(s) {
			t.Errorf("%s leaks a secret: %s", name, s)
		}
	}
	if e.Code != "KEY_[REDACTED]" || e.OrderID != "[REDACTED][code]" {
		t.Errorf("Code = %q, OrderID = %q; want the key and code masked", e.Code, e.OrderID)
	}
}

// TestWay2APIMasksEchoedNumber: a gateway that echoes the request puts the
// number, in any of its forms (E.164 with and without "+", the national
// number), in no field of the receipt or the error and no rendering of
// either; the masked number stands in its place.
func TestWay2APIMasksEchoedNumber(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"422 message echoes the request", 422, `{"success":false,"message":"number 919876543210 (+919876543210, national 9876543210) rejected","data":{"error_code":"INVALID_NUMBER"}}`, false},
		{"422 order_id echoes the number", 422, `{"success":false,"message":"","data":{"error_code":"E919876543210","order_id":"W2A-919876543210"}}`, false},
		{"202 order_id echoes the number", 202, `{"success":true,"message":"Accepted.","data":{"order_id":"9876543210"}}`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for name, s := range sendEchoing(t, tt.status, tt.body, tt.ok) {
				if strings.Contains(s, "9876543210") {
					t.Errorf("%s leaks the number: %s", name, s)
				}
			}
		})
	}
}
