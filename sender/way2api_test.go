package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

// testKey is distinctive so that a leak anywhere is easy to spot.
const testKey = "w2a_live_SECRET_9f3c2e71"

// testCode is the code the tests send; like the key, it must never appear in
// an error.
const testCode = "528914"

func message() contract.Message {
	return contract.Message{To: "+919876543210", Code: testCode}
}

// waits records the waits a Way2API asks for instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) get() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func newServer(t *testing.T, script ...way2apitest.Response) *way2apitest.Server {
	t.Helper()
	s := way2apitest.NewServer(testKey)
	t.Cleanup(s.Close)
	s.Script(script...)
	return s
}

// newSender returns a Way2API aimed at srv whose waits are recorded, not slept.
func newSender(t *testing.T, srv *way2apitest.Server, opts ...sender.Way2APIOption) (*sender.Way2API, *waits) {
	t.Helper()
	w, err := sender.NewWay2API(testKey, append([]sender.Way2APIOption{sender.WithBaseURL(srv.URL())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ws := &waits{}
	sender.SetSleep(w, ws.sleep)
	return w, ws
}

// sentinels are the package's error kinds; every Send error wraps exactly one.
var sentinels = []error{sender.ErrInvalidMessage, sender.ErrUnauthorized, sender.ErrInsufficientBalance,
	sender.ErrRateLimited, sender.ErrRejected, sender.ErrUnavailable}

// checkErr asserts the sentinel, the maybe-sent mark, and the absence of the
// secrets from every rendering of err.
func checkErr(t *testing.T, err, want error, maybeSent bool) *sender.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error %q also wraps %v", err, s)
		}
	}
	if got := errors.Is(err, contract.ErrMaybeSent); got != maybeSent {
		t.Errorf("errors.Is(%q, ErrMaybeSent) = %v, want %v", err, got, maybeSent)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if out := fmt.Sprintf(verb, err); strings.Contains(out, testKey) || strings.Contains(out, testCode) {
			t.Errorf("%s of the error leaks a secret: %s", verb, out)
		}
	}
	var e *sender.Error
	if errors.As(err, &e) {
		if out := fmt.Sprintf("%#v", *e); strings.Contains(out, testKey) || strings.Contains(out, testCode) {
			t.Errorf("%%#v of *Error leaks a secret: %s", out)
		}
	}
	return e
}

func TestWay2APIStatuses(t *testing.T) {
	t.Parallel()
	const order1, order2 = "W2A_TEST_000001", "W2A_TEST_000002"
	rep := func(r way2apitest.Response, n int) []way2apitest.Response {
		out := make([]way2apitest.Response, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	tests := []struct {
		name      string
		script    []way2apitest.Response
		receipt   contract.Receipt // when no error is expected
		err       error            // the expected sentinel
		maybeSent bool
		retryable bool
		calls     int
		status    int    // of the *Error
		code      string // of the *Error
		orderID   string // of the *Error
	}{
		{name: "200 sent", script: rep(way2apitest.Reply(200), 1), receipt: contract.Receipt{ProviderID: order1, Status: "sent"}, calls: 1},
		{name: "202 accepted", script: rep(way2apitest.Reply(202), 1), receipt: contract.Receipt{ProviderID: order1, Status: "accepted"}, calls: 1},
		{name: "202 without body", script: rep(way2apitest.Empty(202), 1), receipt: contract.Receipt{Status: "accepted"}, calls: 1},
		{name: "200 success false", script: rep(way2apitest.Refused(), 1), err: sender.ErrRejected, calls: 1, status: 200, code: "VALIDATION_ERROR"},
		{name: "200 sms_status queued", script: rep(way2apitest.SMSStatus("queued"), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200, orderID: order1},
		{name: "200 sms_status missing", script: rep(way2apitest.SMSStatus(""), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200, orderID: order1},
		{name: "200 sent without order_id", script: rep(way2apitest.Body(200, "application/json", `{"success":true,"message":"","data":{"result":{"sms_status":"sent"}}}`), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200},
		{name: "200 HTML page", script: rep(way2apitest.HTML(200), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200},
		{name: "200 empty body", script: rep(way2apitest.Empty(200), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200},
		{name: "200 huge body", script: rep(way2apitest.Huge(200, 1<<20), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200},
		{name: "200 JSON array", script: rep(way2apitest.Body(200, "application/json", `[1,2]`), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200},
		{name: "200 success as a string", script: rep(way2apitest.Body(200, "application/json", `{"success":"true","data":{"order_id":"X","result":{"sms_status":"sent"}}}`), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 200, orderID: "X"},
		{name: "400", script: rep(way2apitest.Reply(400), 1), err: sender.ErrRejected, calls: 1, status: 400, code: "BAD_REQUEST"},
		{name: "400 HTML page", script: rep(way2apitest.HTML(400), 1), err: sender.ErrRejected, calls: 1, status: 400},
		{name: "401", script: rep(way2apitest.Reply(401), 1), err: sender.ErrUnauthorized, calls: 1, status: 401, code: "UNAUTHORIZED"},
		{name: "402", script: rep(way2apitest.Reply(402), 1), err: sender.ErrInsufficientBalance, calls: 1, status: 402, code: "INSUFFICIENT_BALANCE"},
		{name: "403", script: rep(way2apitest.Reply(403), 1), err: sender.ErrUnauthorized, calls: 1, status: 403, code: "FORBIDDEN"},
		{name: "404", script: rep(way2apitest.Reply(404), 1), err: sender.ErrRejected, calls: 1, status: 404, code: "NOT_FOUND"},
		{name: "422 keeps order_id", script: rep(way2apitest.FailureWithOrder(422), 1), err: sender.ErrRejected, calls: 1, status: 422, code: "VALIDATION_ERROR", orderID: order1},
		{name: "418 undocumented 4xx", script: rep(way2apitest.Reply(418), 1), err: sender.ErrRejected, calls: 1, status: 418},
		{name: "429 until tries run out", script: rep(way2apitest.RateLimited("1"), 3), err: sender.ErrRateLimited, retryable: true, calls: 3, status: 429, code: "RATE_LIMITED"},
		{name: "500 until tries run out", script: rep(way2apitest.Reply(500), 3), err: sender.ErrUnavailable, retryable: true, calls: 3, status: 500, code: "SERVER_ERROR"},
		{name: "503 until tries run out", script: rep(way2apitest.Reply(503), 3), err: sender.ErrUnavailable, retryable: true, calls: 3, status: 503},
		{name: "500 HTML until tries run out", script: rep(way2apitest.HTML(500), 3), err: sender.ErrUnavailable, retryable: true, calls: 3, status: 500},
		{name: "500 keeps order_id", script: rep(way2apitest.FailureWithOrder(500), 3), err: sender.ErrUnavailable, retryable: true, calls: 3, status: 500, orderID: "W2A_TEST_000003"},
		{name: "500 then 200", script: []way2apitest.Response{way2apitest.Reply(500), way2apitest.Reply(200)}, receipt: contract.Receipt{ProviderID: order2, Status: "sent"}, calls: 2},
		{name: "503 then 429 then 200", script: []way2apitest.Response{way2apitest.Reply(503), way2apitest.RateLimited("1"), way2apitest.Reply(200)}, receipt: contract.Receipt{ProviderID: "W2A_TEST_000003", Status: "sent"}, calls: 3},
		{name: "429 then 202", script: []way2apitest.Response{way2apitest.RateLimited("1"), way2apitest.Reply(202)}, receipt: contract.Receipt{ProviderID: order2, Status: "accepted"}, calls: 2},
		{name: "202 is never retried", script: []way2apitest.Response{way2apitest.Reply(202), way2apitest.Reply(200)}, receipt: contract.Receipt{ProviderID: order1, Status: "accepted"}, calls: 1},
		{name: "502 undocumented 5xx", script: rep(way2apitest.Reply(502), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 502},
		{name: "504 undocumented 5xx", script: rep(way2apitest.HTML(504), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1, status: 504},
		{name: "redirect is not followed", script: rep(way2apitest.Empty(307).WithHeader("Location", "/elsewhere"), 1), err: sender.ErrUnavailable, calls: 1, status: 307},
		{name: "connection dropped after the request", script: rep(way2apitest.Drop(), 1), err: sender.ErrUnavailable, maybeSent: true, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.script...)
			w, _ := newSender(t, srv)
			rec, err := w.Send(t.Context(), message())
			if got := srv.Calls(); got != tt.calls {
				t.Errorf("the stand-in got %d calls, want %d", got, tt.calls)
			}
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if rec != tt.receipt {
					t.Errorf("receipt = %+v, want %+v", rec, tt.receipt)
				}
				return
			}
			if rec != (contract.Receipt{}) {
				t.Errorf("receipt %+v along with an error", rec)
			}
			e := checkErr(t, err, tt.err, tt.maybeSent)
			if e == nil {
				t.Fatalf("error %q is not a *sender.Error", err)
			}
			if e.Retryable != tt.retryable || e.Tries != tt.calls || e.Status != tt.status || e.OrderID != tt.orderID {
				t.Errorf("error fields Retryable=%v Tries=%d Status=%d OrderID=%q, want %v %d %d %q",
					e.Retryable, e.Tries, e.Status, e.OrderID, tt.retryable, tt.calls, tt.status, tt.orderID)
			}
			if tt.code != "" && e.Code != tt.code {
				t.Errorf("Code = %q, want %q", e.Code, tt.code)
			}
		})
	}
}

func TestWay2APIRequest(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, _ := newSender(t, srv)
	if _, err := w.Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Number != "919876543210" || r.Value != testCode || r.Content != "OTP" || r.Purpose != "login" || r.ShareWith != "no_one" {
		t.Errorf("request = %+v, want the documented defaults", r)
	}
	for k, want := range map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json", "Accept": "application/json"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var fields map[string]any
	if err := json.Unmarshal(r.Body, &fields); err != nil || len(fields) != 5 {
		t.Errorf("body %s is not a JSON object of 5 fields: %v", r.Body, err)
	}
}

func TestWay2APIMessageOverridesDefaults(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, _ := newSender(t, srv, sender.WithContent(contract.ContentPIN), sender.WithPurpose("registration"), sender.WithShareWith("support_team"))
	if _, err := w.Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	m := message()
	m.Content, m.Purpose = contract.ContentOTP, "withdrawal"
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if r := reqs[0]; r.Content != "PIN" || r.Purpose != "registration" || r.ShareWith != "support_team" {
		t.Errorf("configured defaults not used: %+v", r)
	}
	if r := reqs[1]; r.Content != "OTP" || r.Purpose != "withdrawal" || r.ShareWith != "support_team" {
		t.Errorf("message fields did not override the defaults: %+v", r)
	}
}

func TestWay2APIRetriesSendTheSameBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Reply(500), way2apitest.RateLimited("1"), way2apitest.Reply(200))
	w, _ := newSender(t, srv)
	if _, err := w.Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs[1:] {
		if string(r.Body) != string(reqs[0].Body) {
			t.Errorf("try %d sent %s, the first sent %s", i+2, r.Body, reqs[0].Body)
		}
	}
}

func TestWay2APIRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   string
		min, max time.Duration // bounds of the single requested wait
	}{
		{"seconds", "2", 2 * time.Second, 2 * time.Second},
		{"zero", "0", 0, 0},
		{"HTTP date", time.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat), 2 * time.Second, 4 * time.Second},
		{"date in the past", "Mon, 02 Jan 2006 15:04:05 GMT", 0, 0},
		{"missing", "", 2 * time.Second, 2 * time.Second}, // the documented small default
		{"unreadable", "soon", 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, way2apitest.RateLimited(tt.header), way2apitest.Reply(200))
			w, ws := newSender(t, srv)
			if _, err := w.Send(t.Context(), message()); err != nil {
				t.Fatal(err)
			}
			got := ws.get()
			if len(got) != 1 || got[0] < tt.min || got[0] > tt.max {
				t.Errorf("waits %v, want one in [%v, %v]", got, tt.min, tt.max)
			}
			if srv.Calls() != 2 {
				t.Errorf("%d calls, want 2", srv.Calls())
			}
		})
	}
}

func TestWay2APIRetryAfterBeyondBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.RateLimited("3600"))
	w, ws := newSender(t, srv)
	start := time.Now()
	_, err := w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrRateLimited, false)
	if e.RetryAfter != time.Hour || !e.Retryable || e.Tries != 1 {
		t.Errorf("RetryAfter=%v Retryable=%v Tries=%d, want 1h true 1", e.RetryAfter, e.Retryable, e.Tries)
	}
	if len(ws.get()) != 0 || srv.Calls() != 1 || time.Since(start) > 2*time.Second {
		t.Errorf("waited %v, %d calls, %v: should return at once", ws.get(), srv.Calls(), time.Since(start))
	}
	if !strings.Contains(err.Error(), "overrun") {
		t.Errorf("error %q does not say why it did not retry", err)
	}
}

func TestWay2APIRetryAfterBeyondCallerDeadline(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.RateLimited("2"))
	w, ws := newSender(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond) // the 10 s budget would allow the wait
	defer cancel()
	_, err := w.Send(ctx, message())
	e := checkErr(t, err, sender.ErrRateLimited, false)
	if e.RetryAfter != 2*time.Second || len(ws.get()) != 0 || srv.Calls() != 1 {
		t.Errorf("RetryAfter=%v waits=%v calls=%d, want 2s, none, 1", e.RetryAfter, ws.get(), srv.Calls())
	}
}

func TestWay2APIBackoff(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Reply(500), way2apitest.Reply(503), way2apitest.Reply(500), way2apitest.Reply(500))
	w, ws := newSender(t, srv, sender.WithMaxTries(4))
	_, err := w.Send(t.Context(), message())
	checkErr(t, err, sender.ErrUnavailable, false)
	got := ws.get()
	// Equal jitter: each wait is in [d/2, d) for d = 500 ms, 1 s, 2 s.
	bounds := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if len(got) != len(bounds) {
		t.Fatalf("waits %v, want %d", got, len(bounds))
	}
	for i, d := range bounds {
		if got[i] < d/2 || got[i] >= d {
			t.Errorf("wait %d = %v, want in [%v, %v)", i+1, got[i], d/2, d)
		}
	}
	if srv.Calls() != 4 {
		t.Errorf("%d calls, want 4", srv.Calls())
	}
}

func TestWay2API503RetryAfter(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Reply(503).WithHeader("Retry-After", "1"), way2apitest.Reply(200))
	w, ws := newSender(t, srv)
	if _, err := w.Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	if got := ws.get(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("waits %v, want [1s]", got)
	}
}

func TestWay2APIMaxTries(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Reply(500), way2apitest.Reply(500))
	w, ws := newSender(t, srv, sender.WithMaxTries(1))
	_, err := w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrUnavailable, false)
	if srv.Calls() != 1 || e.Tries != 1 || !e.Retryable || len(ws.get()) != 0 {
		t.Errorf("calls=%d tries=%d retryable=%v waits=%v, want one try", srv.Calls(), e.Tries, e.Retryable, ws.get())
	}
}

func TestWay2APITimeoutAfterWriteIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Hang())
	w, ws := newSender(t, srv, sender.WithTimeBudget(300*time.Millisecond))
	start := time.Now()
	_, err := w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrUnavailable, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
	}
	if e.Retryable || e.Tries != 1 || srv.Calls() != 1 || len(ws.get()) != 0 {
		t.Errorf("retryable=%v tries=%d calls=%d waits=%v, want a single try", e.Retryable, e.Tries, srv.Calls(), ws.get())
	}
	if len(srv.Requests()) != 1 {
		t.Errorf("the stand-in did not receive the whole request")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %v with a 300 ms budget", d)
	}
}

func TestWay2APICallerDeadlineBeatsBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Hang())
	w, _ := newSender(t, srv) // 10 s budget
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := w.Send(ctx, message())
	checkErr(t, err, sender.ErrUnavailable, true)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %v with a 200 ms deadline", d)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWay2APIConnectionRefusedIsRetried(t *testing.T) {
	t.Parallel()
	w, err := sender.NewWay2API(testKey, sender.WithBaseURL("http://"+closedAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	ws := &waits{}
	sender.SetSleep(w, ws.sleep)
	_, err = w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrUnavailable, false)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %q does not wrap ECONNREFUSED", err)
	}
	if e.Tries != 3 || !e.Retryable || len(ws.get()) != 2 {
		t.Errorf("tries=%d retryable=%v waits=%v, want 3 tries and 2 waits", e.Tries, e.Retryable, ws.get())
	}
}

func TestWay2APIRefusedThenConnected(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	var dials atomic.Int32
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return d.DialContext(ctx, network, addr)
	}}}
	w, ws := newSender(t, srv, sender.WithHTTPClient(client))
	rec, err := w.Send(t.Context(), message())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != "sent" || srv.Calls() != 1 || dials.Load() != 2 || len(ws.get()) != 1 {
		t.Errorf("receipt %+v, %d calls, %d dials, waits %v; want sent after one retry", rec, srv.Calls(), dials.Load(), ws.get())
	}
}

// silentTransport fails without reporting any progress through httptrace.
type silentTransport struct{ calls atomic.Int32 }

func (s *silentTransport) RoundTrip(*http.Request) (*http.Response, error) {
	s.calls.Add(1)
	return nil, errors.New("connection reset by peer")
}

func TestWay2APIOpaqueTransportFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	tr := &silentTransport{}
	w, err := sender.NewWay2API(testKey, sender.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrUnavailable, true)
	if tr.calls.Load() != 1 || e.Retryable {
		t.Errorf("%d calls, retryable=%v: a failure that may have been written must not be retried", tr.calls.Load(), e.Retryable)
	}
}

func TestWay2APICancelDuringWait(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.RateLimited("5"))
	w, err := sender.NewWay2API(testKey, sender.WithBaseURL(srv.URL())) // real waits
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	// The real wait, with a signal when it begins: the cancel lands inside
	// the 5 s wait, not before or after it.
	waiting := make(chan struct{})
	sender.SetSleep(w, func(ctx context.Context, d time.Duration) error {
		close(waiting)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	})
	go func() {
		<-waiting
		cancel()
	}()
	start := time.Now()
	_, err = w.Send(ctx, message())
	checkErr(t, err, sender.ErrRateLimited, false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not wrap context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send returned %v after the start, cancelled during a 5 s wait", d)
	}
	if srv.Calls() != 1 {
		t.Errorf("%d calls, want 1", srv.Calls())
	}
}

func TestWay2APICancelDuringRequest(t *testing.T) {
	t.Parallel()
	srv := newServer(t, way2apitest.Hang())
	w, _ := newSender(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(srv.Requests()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := w.Send(ctx, message())
	checkErr(t, err, sender.ErrUnavailable, true)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not wrap context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v to notice the cancellation", d)
	}
}

func TestWay2APICancelledBeforeSend(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, ws := newSender(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := w.Send(ctx, message())
	checkErr(t, err, sender.ErrUnavailable, false)
	if !errors.Is(err, context.Canceled) || srv.Calls() != 0 || len(ws.get()) != 0 {
		t.Errorf("error %q, %d calls, waits %v; want context.Canceled and nothing else", err, srv.Calls(), ws.get())
	}
}

func TestWay2APIValidatesLocally(t *testing.T) {
	t.Parallel()
	ok := message()
	tests := []struct {
		name   string
		change func(*contract.Message)
		says   string
	}{
		{"content", func(m *contract.Message) { m.Content = "SMS" }, "content"},
		{"content lower case", func(m *contract.Message) { m.Content = "otp" }, "content"},
		{"purpose", func(m *contract.Message) { m.Purpose = "signup" }, "purpose"},
		{"number without +", func(m *contract.Message) { m.To = "919876543210" }, "number"},
		{"number with spaces", func(m *contract.Message) { m.To = "+91 98765 43210" }, "number"},
		{"number too short", func(m *contract.Message) { m.To = "+12345" }, "number"},
		{"number too long", func(m *contract.Message) { m.To = "+1234567890123456" }, "number"},
		{"number with country code 0", func(m *contract.Message) { m.To = "+0919876543" }, "number"},
		{"number empty", func(m *contract.Message) { m.To = "" }, "number"},
		{"code too short", func(m *contract.Message) { m.Code = "528" }, "code"},
		{"code too long", func(m *contract.Message) { m.Code = "528914528" }, "code"},
		{"code with a letter", func(m *contract.Message) { m.Code = "52891a" }, "code"},
		{"code in fullwidth digits", func(m *contract.Message) { m.Code = "５２８９" }, "code"},
		{"code empty", func(m *contract.Message) { m.Code = "" }, "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			w, _ := newSender(t, srv)
			m := ok
			tt.change(&m)
			_, err := w.Send(t.Context(), m)
			checkErr(t, err, sender.ErrInvalidMessage, false)
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not mention %s", err, tt.says)
			}
			if m.Code != "" && strings.Contains(err.Error(), m.Code) {
				t.Errorf("error %q contains the code", err)
			}
			if strings.Contains(err.Error(), "9876543210") {
				t.Errorf("error %q contains the full number", err)
			}
			if srv.Calls() != 0 {
				t.Errorf("%d calls to the server, want none", srv.Calls())
			}
			cerr := w.CheckMessage(m)
			if !errors.Is(cerr, sender.ErrInvalidMessage) || cerr.Error() != err.Error() {
				t.Errorf("CheckMessage = %v, Send said %v", cerr, err)
			}
		})
	}
	srv := newServer(t)
	w, _ := newSender(t, srv)
	for _, m := range []contract.Message{ok, {To: "+447400123456", Code: "1234", Content: contract.ContentPIN, Purpose: "withdrawal"}, {To: "+16502530000", Code: "12345678"}} {
		if err := w.CheckMessage(m); err != nil {
			t.Errorf("CheckMessage(%+v) = %v", m, err)
		}
	}
	if srv.Calls() != 0 {
		t.Errorf("CheckMessage called the server")
	}
}

func TestNewWay2APIRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		opts []sender.Way2APIOption
		says string
	}{
		{"empty key", "", nil, "API key is empty"},
		{"key with newline", testKey + "\n", nil, "API key contains"},
		{"key with space", "w2a live", nil, "API key contains"},
		{"base URL without scheme", testKey, []sender.Way2APIOption{sender.WithBaseURL("app.way2api.com")}, "http or https"},
		{"base URL ftp", testKey, []sender.Way2APIOption{sender.WithBaseURL("ftp://app.way2api.com")}, "http or https"},
		{"base URL without host", testKey, []sender.Way2APIOption{sender.WithBaseURL("https://")}, "no host"},
		{"base URL with query", testKey, []sender.Way2APIOption{sender.WithBaseURL("https://app.way2api.com/?x=1")}, "query"},
		{"base URL with fragment", testKey, []sender.Way2APIOption{sender.WithBaseURL("https://app.way2api.com/#x")}, "fragment"},
		{"base URL with credentials", testKey, []sender.Way2APIOption{sender.WithBaseURL("https://user:pw@app.way2api.com")}, "credentials"},
		{"base URL unparseable", testKey, []sender.Way2APIOption{sender.WithBaseURL("https://[::1")}, "base URL"},
		{"nil client", testKey, []sender.Way2APIOption{sender.WithHTTPClient(nil)}, "client is nil"},
		{"content", testKey, []sender.Way2APIOption{sender.WithContent("SMS")}, "content"},
		{"purpose", testKey, []sender.Way2APIOption{sender.WithPurpose("signup")}, "purpose"},
		{"share_with", testKey, []sender.Way2APIOption{sender.WithShareWith("everyone")}, "share_with"},
		{"zero tries", testKey, []sender.Way2APIOption{sender.WithMaxTries(0)}, "max tries"},
		{"too many tries", testKey, []sender.Way2APIOption{sender.WithMaxTries(11)}, "max tries"},
		{"zero budget", testKey, []sender.Way2APIOption{sender.WithTimeBudget(0)}, "time budget"},
		{"negative budget", testKey, []sender.Way2APIOption{sender.WithTimeBudget(-time.Second)}, "time budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := sender.NewWay2API(tt.key, tt.opts...)
			if err == nil || w != nil {
				t.Fatalf("NewWay2API = %v, %v; want an error", w, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
	_, err := sender.NewWay2API("", sender.WithMaxTries(0), sender.WithPurpose("x"))
	if err == nil || !strings.Contains(err.Error(), "API key") || !strings.Contains(err.Error(), "max tries") || !strings.Contains(err.Error(), "purpose") {
		t.Errorf("NewWay2API with three problems: %v; want all three named", err)
	}
}

func TestNewWay2APIBaseURLWithPrefix(t *testing.T) {
	t.Parallel()
	w, err := sender.NewWay2API(testKey, sender.WithBaseURL("https://proxy.example/way2api/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://proxy.example/way2api/api/v1/aws/send_otp-pin"; !strings.Contains(w.String(), want) {
		t.Errorf("String() = %q, want the endpoint %s", w, want)
	}
}

func TestWay2APIRedactsKey(t *testing.T) {
	t.Parallel()
	w, err := sender.NewWay2API(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, w), fmt.Sprintf(verb, *w))
	}
	out = append(out, w.String(), w.GoString(), fmt.Sprint(w), fmt.Sprintln(w), fmt.Sprint([]any{w}), fmt.Sprintf("%+v", struct{ S *sender.Way2API }{w}))

	var buf strings.Builder
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("configured", "sender", w)
		log.Info("configured", "copy", *w)
		log.Info("configured", slog.Group("deps", "sender", w))
	}
	out = append(out, buf.String())

	for _, s := range out {
		if strings.Contains(s, testKey) || strings.Contains(s, "SECRET") {
			t.Errorf("the API key leaks: %s", s)
		}
	}
	if !strings.Contains(buf.String(), "api_key") || !strings.Contains(w.String(), "REDACTED") {
		t.Errorf("redaction is not visible: %s / %s", buf.String(), w)
	}
	var nilW *sender.Way2API
	_ = fmt.Sprintf("%v %#v %s", nilW, nilW, nilW.LogValue()) // must not panic
}

func TestWay2APIErrorsDoNotEchoSecrets(t *testing.T) {
	t.Parallel()
	// A provider that echoes the request back in its message.
	echo := fmt.Sprintf(`{"success":false,"message":"key %s cannot send value %s","data":{"error_code":"VALIDATION_ERROR"}}`, testKey, testCode)
	srv := newServer(t, way2apitest.Body(422, "application/json", echo))
	w, _ := newSender(t, srv)
	_, err := w.Send(t.Context(), message())
	e := checkErr(t, err, sender.ErrRejected, false)
	if !strings.Contains(e.Message, "[REDACTED]") {
		t.Errorf("Message = %q, want the echoed secrets redacted", e.Message)
	}

	// A wrong key, refused by the stand-in.
	w, err = sender.NewWay2API("w2a_wrong_SECRET_key", sender.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Send(t.Context(), message())
	checkErr(t, err, sender.ErrUnauthorized, false)
	if strings.Contains(fmt.Sprintf("%+v", err), "w2a_wrong") {
		t.Errorf("error %q shows the key", err)
	}
}

func TestWay2APIConcurrentSends(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, _ := newSender(t, srv)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := w.Send(t.Context(), message())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if srv.Calls() != n {
		t.Errorf("%d calls, want %d", srv.Calls(), n)
	}
}
