package sms2fa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/sms"
)

// fuzzTarget is one signed-in session with a pending code that fuzzed
// submissions try to break: limits are off so the fuzzer can keep guessing.
type fuzzTarget struct {
	h    *harness
	c    *client
	code string
}

func newFuzzTarget(t testing.TB) *fuzzTarget {
	h := newHarness(t, sms2fa.WithSMS(sms.WithMaxAttempts(1<<30)), sms2fa.WithLockout(0, 0, 0),
		sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithPhoneLimit()), sms2fa.WithSMS(sms.WithIPLimit()), sms2fa.WithSMS(sms.WithPrefixLimit(6)), sms2fa.WithSMS(sms.WithGlobalLimit()))
	f := &fuzzTarget{h: h}
	f.renew()
	return f
}

// renew starts a new session and challenge, after the fuzzer hit the code.
func (f *fuzzTarget) renew() {
	f.c = f.h.client().login("alice")
	f.c.get("/app/home")
	f.code = f.h.code(alicePhone)
}

// check fails on a 5xx, and on a verification that the submission did not
// earn: it must be the code, give or take the spaces and dashes people type.
func (f *fuzzTarget) check(t *testing.T, r response, submitted string) {
	if r.status >= 500 {
		t.Fatalf("status %d for %q: %s", r.status, submitted, r.body)
	}
	verified := r.status == http.StatusSeeOther && r.location() == "/app/home" ||
		r.status == http.StatusOK && strings.Contains(r.body, `"verified":true`)
	if !verified {
		return
	}
	if strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(submitted) != f.code {
		t.Fatalf("%q verified a challenge whose code is %s", submitted, f.code)
	}
	f.renew()
}

// withCode puts code's digits, in order, in place of the ASCII digits of s
// (while they last): the fuzzer's shape around the live code — the spaces,
// dashes and odd characters around it — since a random guess of the code
// itself would almost never reach the check that only the code verifies.
func withCode(s, code string) string {
	b, i := []byte(s), 0
	for j := range b {
		if b[j] >= '0' && b[j] <= '9' && i < len(code) {
			b[j], i = code[i], i+1
		}
	}
	return string(b)
}

func FuzzVerifyCode(f *testing.F) {
	for _, s := range []string{"123456", "000000", " 12-34 56 ", "", "12345", "1234567", "abcdef", "１２３４５６",
		"٣٤٥٦٧٨", "12345\x00", "0x1e240", "-123456", "123456\n", strings.Repeat("9", 500), "%31%32%33"} {
		f.Add(s)
	}
	target := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, code string) {
		target.h.t = t // report through this input's test
		target.check(t, target.c.post("/2fa/verify", url.Values{"code": {code}}), code)
		shaped := withCode(code, target.code)
		target.check(t, target.c.post("/2fa/verify", url.Values{"code": {shaped}}), shaped)
	})
}

func FuzzVerifyJSON(f *testing.F) {
	for _, s := range []string{`{"code":"123456"}`, `{"code":123456}`, `{"code":null}`, `{"code":["123456"]}`, `{}`, `[]`,
		`{"code":"12 34 56","extra":true}`, `{"code":"123456"}{"code":"654321"}`, `{"code":"\u0031\u0032\u0033\u0034\u0035\u0036"}`,
		`{"code":"` + strings.Repeat("1", 10000) + `"}`, `{`, `"123456"`, "\xff\xfe"} {
		f.Add([]byte(s))
	}
	target := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		target.h.t = t // report through this input's test
		for _, b := range [][]byte{body, []byte(withCode(string(body), target.code))} {
			req, err := http.NewRequest(http.MethodPost, target.c.base+"/2fa/verify", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			var decoded struct {
				Code string `json:"code"`
			}
			json.NewDecoder(bytes.NewReader(b)).Decode(&decoded)
			target.check(t, target.c.do(req), decoded.Code)
		}
	})
}

// FuzzEnrolForm posts hostile numbers to the enrolment form: never a 5xx,
// and a code goes out only to a number that parses as a valid mobile number
// of the number the form was given.
func FuzzEnrolForm(f *testing.F) {
	for _, s := range []string{"+91 98123 00000", "98123 00000", "+1 (650) 253-0000", "", "+", "++91", "1-800-FLOWERS",
		"+91 98123 00000 ext 5", "+８８２ 1234", "\x00", strings.Repeat("9", 200), "<script>", "+870301234567", "+91 98123 0000\u200b0"} {
		f.Add(s)
	}
	h := newHarness(f, sms2fa.WithSMS(sms.WithUserLimit()), sms2fa.WithSMS(sms.WithPhoneLimit()), sms2fa.WithSMS(sms.WithIPLimit()), sms2fa.WithSMS(sms.WithPrefixLimit(6)), sms2fa.WithSMS(sms.WithGlobalLimit()),
		sms2fa.WithSMS(sms.WithResendCooldown(0)))
	f.Fuzz(func(t *testing.T, number string) {
		h.t = t
		c := h.client().login("rita")
		before := h.fake.Count()
		r := c.post("/2fa/enroll", url.Values{"phone": {number}})
		if r.status >= 500 {
			t.Fatalf("status %d for %q", r.status, number)
		}
		if h.fake.Count() > before {
			m := h.fake.Messages()[h.fake.Count()-1]
			n, err := phone.Parse(number, "")
			if err != nil || n.E164 != m.To || m.Purpose != "account_verification" {
				t.Fatalf("%q sent a code to %s (%v)", number, m.To, err)
			}
		}
	})
}

// FuzzRecoverForm posts hostile recovery codes: never a 5xx, and nothing but
// a real code (give or take case, spaces and dashes) signs in.
func FuzzRecoverForm(f *testing.F) {
	for _, s := range []string{"abcde-fghjk", "ABCDE FGHJK", "", "-----", "ilo00-00000", "ü", strings.Repeat("a", 1000), "\x00\x01", "0000000000"} {
		f.Add(s)
	}
	h := newHarness(f, sms2fa.WithLockout(0, 0, 0))
	codes, err := h.guard.RegenerateRecoveryCodes(context.Background(), "alice")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code string) {
		h.t = t
		c := h.client().login("alice")
		r := c.post("/2fa/recover", url.Values{"recovery_code": {code}})
		if r.status >= 500 {
			t.Fatalf("status %d for %q", r.status, code)
		}
		if strings.Contains(r.body, "recovery codes left") || strings.Contains(r.body, "recovery code left") {
			norm := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(code))
			for _, real := range codes {
				if strings.ReplaceAll(real, "-", "") == strings.NewReplacer("i", "1", "l", "1", "o", "0").Replace(norm) {
					return
				}
			}
			t.Fatalf("%q signed in, and is none of the codes", code)
		}
	})
}
