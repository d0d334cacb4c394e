package sender

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sms2fa/sms2fa/contract"
)

// The documented bodies, from Way2API's documentation of send_otppin_sms.
const (
	docSuccess = `{
    "success": true,
    "message": "",
    "data": {
        "order_id": "W2A_SAMPLE_ORDER",
        "result": {
            "phone": "+919876543210",
            "content_type": "OTP",
            "purpose": "login",
            "share_with": "no_one",
            "sms_status": "sent"
        }
    }
}`
	docFailure = `{
    "success": false,
    "message": "content must be either \"OTP\" or \"PIN\".",
    "data": {
        "error_code": "VALIDATION_ERROR"
    }
}`
)

var kinds = []error{ErrInvalidMessage, ErrUnauthorized, ErrInsufficientBalance, ErrRateLimited, ErrRejected, ErrUnavailable}

func TestParseResponseDocumented(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rec, e := parseResponse(200, http.Header{"Content-Type": {"application/json"}}, []byte(docSuccess), now, secrets{})
	if e != nil || rec != (contract.Receipt{ProviderID: "W2A_SAMPLE_ORDER", Status: "sent"}) {
		t.Errorf("documented success: %+v, %v", rec, e)
	}
	for _, status := range []int{400, 422} {
		rec, e = parseResponse(status, nil, []byte(docFailure), now, secrets{})
		if e == nil || !errors.Is(e, ErrRejected) || e.Code != "VALIDATION_ERROR" || e.Message != `content must be either "OTP" or "PIN".` || e.Retryable || rec != (contract.Receipt{}) {
			t.Errorf("documented failure on %d: %+v, %#v", status, rec, e)
		}
	}
}

func TestParseResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		ctype     string
		body      string
		kind      error // nil: success
		maybeSent bool
		orderID   string
		message   string
		note      string
	}{
		{name: "order_id as a number", status: 200, body: `{"success":true,"data":{"order_id":12345,"result":{"sms_status":"sent"}}}`, orderID: "12345"},
		{name: "keys are case-sensitive", status: 200, body: `{"Success":true,"data":{"order_id":"X","result":{"sms_status":"sent"}}}`, kind: ErrUnavailable, maybeSent: true, orderID: "X", note: "success"},
		{name: "SENT is not sent", status: 200, body: `{"success":true,"data":{"order_id":"X","result":{"sms_status":"SENT"}}}`, kind: ErrUnavailable, maybeSent: true, orderID: "X", note: `"SENT"`},
		{name: "data is an array", status: 200, body: `{"success":true,"data":[]}`, kind: ErrUnavailable, maybeSent: true, note: "sms_status"},
		{name: "result is a string", status: 200, body: `{"success":true,"data":{"order_id":"X","result":"sent"}}`, kind: ErrUnavailable, maybeSent: true, orderID: "X"},
		{name: "null", status: 200, body: `null`, kind: ErrUnavailable, maybeSent: true, note: "not a JSON object"},
		{name: "truncated JSON", status: 200, body: `{"success":true,"data":{"order_id":"X"`, kind: ErrUnavailable, maybeSent: true, note: "not a JSON object"},
		{name: "trailing garbage", status: 200, body: docSuccess + `}`, kind: ErrUnavailable, maybeSent: true},
		{name: "HTML by content type", status: 200, ctype: "text/html", body: `oops`, kind: ErrUnavailable, maybeSent: true, note: "HTML"},
		{name: "HTML by body", status: 502, body: `<html>bad gateway</html>`, kind: ErrUnavailable, maybeSent: true, note: "HTML"},
		{name: "whitespace only", status: 200, body: " \n\t", kind: ErrUnavailable, maybeSent: true, note: "empty"},
		{name: "message with control characters", status: 422, body: `{"success":false,"message":"bad\u001b[31m\nline","data":{"error_code":"VALIDATION_ERROR"}}`, kind: ErrRejected, message: "bad [31m line"},
		{name: "message too long", status: 400, body: `{"success":false,"message":"` + strings.Repeat("é", 300) + `"}`, kind: ErrRejected, message: strings.Repeat("é", 126) + "…"},
		{name: "success true on 400", status: 400, body: docSuccess, kind: ErrRejected, orderID: "W2A_SAMPLE_ORDER"},
		{name: "202 with a failure body", status: 202, body: docFailure},
		{name: "204", status: 204, kind: ErrUnavailable, maybeSent: true, note: "undocumented"},
		{name: "302", status: 302, kind: ErrUnavailable, note: "undocumented"},
		{name: "nonsense status", status: 999, kind: ErrUnavailable, note: "undocumented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			rec, e := parseResponse(tt.status, h, []byte(tt.body), time.Now(), secrets{})
			if tt.kind == nil {
				if e != nil {
					t.Fatalf("error %v", e)
				}
				if tt.orderID != "" && rec.ProviderID != tt.orderID {
					t.Errorf("ProviderID = %q, want %q", rec.ProviderID, tt.orderID)
				}
				return
			}
			if e == nil {
				t.Fatalf("receipt %+v, want an error", rec)
			}
			if !errors.Is(e, tt.kind) || errors.Is(e, contract.ErrMaybeSent) != tt.maybeSent {
				t.Errorf("error %q: want %v, maybe sent %v", e, tt.kind, tt.maybeSent)
			}
			if e.OrderID != tt.orderID {
				t.Errorf("OrderID = %q, want %q", e.OrderID, tt.orderID)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("Message = %q, want %q", e.Message, tt.message)
			}
			if !strings.Contains(e.Error(), tt.note) {
				t.Errorf("error %q does not say %q", e, tt.note)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	const def = 7 * time.Second
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", def},
		{"2", 2 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0", 0},
		{"-1", def},
		{"+5", def},
		{"1.5", def},
		{"soon", def},
		{"86400", 24 * time.Hour},
		{"86401", maxRetryAfter},
		{"99999999999999999999999", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"Tuesday, 25-Nov-25 12:00:10 GMT", 10 * time.Second}, // RFC 850, still valid per RFC 9110
	}
	for _, tt := range tests {
		if got := retryAfter(http.Header{"Retry-After": {tt.header}}, now, def); got != tt.want {
			t.Errorf("Retry-After %q = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, edge := range []string{"low", "high"} {
		w := &Way2API{rand: func(n int64) int64 {
			if edge == "low" {
				return 0
			}
			return n - 1
		}}
		for tries, d := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second, 5: 4 * time.Second, 10: 4 * time.Second} {
			if got := w.backoff(tries); got < d/2 || got >= d {
				t.Errorf("backoff(%d) with %s jitter = %v, want in [%v, %v)", tries, edge, got, d/2, d)
			}
		}
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 10, "plain"},
		{"  padded\n", 10, "padded"},
		{"a\x00b\tc", 10, "a b c"},
		{"bad \xff utf8", 20, "bad   utf8"},
		{"ééééé", 7, "éé…"}, // 10 bytes; "…" is 3
		{"abcdefgh", 5, "ab…"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.limit); got != tt.want || len(got) > tt.limit {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

// FuzzParseResponse checks parseResponse on any status, Retry-After and body:
// it never panics, a receipt comes only from a 200 with order_id and
// sms_status "sent" or from a 202, every error has exactly one kind, only the
// statuses the contract calls retryable are retryable, what an error keeps of
// the body is bounded and printable and never holds the code, and the
// one-pass parser reads every body as the encoding/json decoder it replaced
// did (decodeStd), but for nesting past maxDepth, which it refuses.
func FuzzParseResponse(f *testing.F) {
	for _, status := range []int{200, 202, 400, 401, 402, 403, 404, 422, 429, 500, 503, 502} {
		f.Add(status, "", []byte(docSuccess))
		f.Add(status, "2", []byte(docFailure))
	}
	f.Add(200, "", []byte(`{"success":true,"message":"","data":{"order_id":"X","result":{"sms_status":"queued"}}}`))
	f.Add(200, "", []byte(`{"success":false,"message":"","data":{"order_id":"X","error_code":"E"}}`))
	f.Add(200, "", []byte(`<html><body>502 Bad Gateway</body></html>`))
	f.Add(200, "", []byte(``))
	f.Add(200, "", []byte(`null`))
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{}`))
	f.Add(429, "99999999999999999999", []byte(`[]`))
	f.Add(500, "-3", []byte(`{"success":true,"data":{"order_id":1e400}}`))
	f.Add(200, "", []byte(`{"success":true,"data":{"order_id":"\u0000\ud800","result":{"sms_status":"sent"}}}`))
	f.Add(200, "", []byte(`{"success":true,"success":"x","data":{"order_id":"A"},"data":{"order_id":528914,"result":{"sms_status":"sent"}}}`))
	f.Add(422, "", []byte(`{"success":false,"message":"value \u0035\u0032\u00389\u00314","data":{"error_code":"E_528914"}}`))
	f.Add(200, "", []byte(`{"\u0073uccess":true,"x":[1,{"y":[[],{}]},"s",null,-0.5e+3],"data":{"result":{"sms_status":"sent"},"order_id":"O"}}`))
	f.Add(200, "", []byte("{\"message\":\"a\xff"+`\ud83d\ude00\udc00"}`))
	f.Add(200, "", []byte(`{"a":`+nest(maxDepth)+`}`))
	f.Add(200, "", []byte(`{} {}`))
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, retry string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retry)
		const code = "528914"
		sec := secrets{key: "k3y", code: code}
		got, problem := decode(h, body, sec)
		if std, stdProblem := decodeStd(h, body, sec); problem != problemTooDeep &&
			((problem == "") != (stdProblem == "") || got != std) {
			t.Fatalf("read %+v, %q; encoding/json read %+v, %q", got, problem, std, stdProblem)
		}
		rec, e := parseResponse(status, h, body, now, sec)
		if strings.Contains(rec.ProviderID, code) {
			t.Fatalf("receipt %+v holds the code", rec)
		}
		if e != nil {
			for _, s := range []string{e.Message, e.Code, e.OrderID, strings.Join(e.notes, "; ")} {
				if strings.Contains(s, code) || strings.Contains(s, sec.key) {
					t.Fatalf("error %q holds a secret", e)
				}
			}
		}
		if e == nil {
			switch {
			case status == 200 && (rec.ProviderID == "" || rec.Status != "sent"):
				t.Fatalf("200 accepted without order_id or status sent: %+v", rec)
			case status == 202 && rec.Status != "accepted":
				t.Fatalf("202 gave %+v", rec)
			case status != 200 && status != 202:
				t.Fatalf("status %d gave a receipt %+v", status, rec)
			}
			return
		}
		if rec != (contract.Receipt{}) {
			t.Fatalf("receipt %+v along with error %v", rec, e)
		}
		n := 0
		for _, k := range kinds {
			if errors.Is(e, k) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %q matches %d kinds", e, n)
		}
		if want := status == 429 || status == 500 || status == 503; e.Retryable != want {
			t.Fatalf("status %d: Retryable = %v", status, e.Retryable)
		}
		if e.Retryable && errors.Is(e, contract.ErrMaybeSent) {
			t.Fatalf("status %d: retryable yet maybe sent", status)
		}
		if status == 200 && !errors.Is(e, ErrRejected) && !errors.Is(e, contract.ErrMaybeSent) {
			t.Fatalf("a failed 200 is charged, so it must be maybe-sent or a rejection: %v", e)
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter %v out of bounds", e.RetryAfter)
		}
		for _, s := range []string{e.Message, e.Code, e.OrderID} {
			if len(s) > maxMessage || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				t.Fatalf("kept field %q is too long or not printable", s)
			}
		}
		_ = e.Error()
	})
}
