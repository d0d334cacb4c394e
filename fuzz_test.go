package sms2fa_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa"
)

// fuzzTarget is one signed-in session with a pending code that fuzzed
// submissions try to break: limits are off so the fuzzer can keep guessing.
type fuzzTarget struct {
	h    *harness
	c    *client
	code string
}

func newFuzzTarget(t testing.TB) *fuzzTarget {
	h := newHarness(t, sms2fa.WithMaxAttempts(1<<30), sms2fa.WithLockout(0, 0, 0),
		sms2fa.WithUserLimit(), sms2fa.WithPhoneLimit(), sms2fa.WithIPLimit(), sms2fa.WithPrefixLimit(6), sms2fa.WithGlobalLimit())
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

func FuzzVerifyCode(f *testing.F) {
	for _, s := range []string{"123456", "000000", " 12-34 56 ", "", "12345", "1234567", "abcdef", "１２３４５６",
		"٣٤٥٦٧٨", "12345\x00", "0x1e240", "-123456", "123456\n", strings.Repeat("9", 500), "%31%32%33"} {
		f.Add(s)
	}
	target := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, code string) {
		target.h.t = t // report through this input's test
		target.check(t, target.c.post("/2fa/verify", url.Values{"code": {code}}), code)
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
		req, err := http.NewRequest(http.MethodPost, target.c.base+"/2fa/verify", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		var decoded struct {
			Code string `json:"code"`
		}
		json.NewDecoder(bytes.NewReader(body)).Decode(&decoded)
		target.check(t, target.c.do(req), decoded.Code)
	})
}
