// Package way2apitest provides a stand-in for Way2API's "Send OTP/PIN by SMS"
// endpoint, for tests of code that sends through it.
//
// The stand-in enforces the documented request contract strictly — method,
// path, API key, Content-Type, and a JSON object of exactly the five string
// fields with their documented values — and answers violations with the
// documented error shapes. Valid requests are recorded and answered by a
// script of responses (any documented status, malformed bodies, hangs), then
// by documented 200 successes. It sends no SMS.
//
// The rules are written out here independently of package sender, so that a
// mistake in the sender's validation cannot hide in a shared table.
package way2apitest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Path is the endpoint's path, from the contract.
const Path = "/api/v1/aws/send_otp-pin"

// maxRequestBody caps what the stand-in reads of a request; a valid one is
// about 120 bytes.
const maxRequestBody = 64 << 10

// Server is a running stand-in. It is safe for concurrent use.
//
// Printing a Server with any fmt verb or through log/slog shows its URL and
// never its API key, as for the real sender: tests that log their fixtures
// should not teach anyone to log keys.
type Server struct {
	srv     *httptest.Server
	key     func() string // a closure, so that no fmt verb or reflection on the struct reaches the key
	closing chan struct{} // closed by Close, to release hanging handlers
	once    sync.Once

	mu     sync.Mutex
	script []Response
	reqs   []Request
	calls  int
	orders int
}

// Request is a request that met the contract, as received.
type Request struct {
	Number, Content, Value, Purpose, ShareWith string

	Header http.Header // every header, Authorization included
	Body   []byte      // the raw body
}

// NewServer starts a stand-in that accepts apiKey, either as
// "Authorization: Bearer apiKey" or as "X-API-Key: apiKey". It panics if
// apiKey is empty or the server cannot listen, as httptest.NewServer does.
// Close it when done.
func NewServer(apiKey string) *Server {
	if apiKey == "" {
		panic("way2apitest: empty API key")
	}
	s := &Server{key: func() string { return apiKey }, closing: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL returns the base URL to give the sender, as in
// sender.WithBaseURL(s.URL()).
func (s *Server) URL() string { return s.srv.URL }

// Close releases hanging requests, then shuts the server down and waits for
// its handlers. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Calls returns how many HTTP requests arrived, valid or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Requests returns a copy of the requests that met the contract, oldest
// first, whatever they were answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Script queues responses for the next valid requests, in order, after any
// already queued. Once the queue is empty, valid requests get [Reply](200).
// Invalid requests do not consume the script.
func (s *Server) Script(responses ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, responses...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	if r.Method != http.MethodPost || r.URL.Path != Path || r.URL.RawQuery != "" {
		writeFailure(w, http.StatusNotFound, "NOT_FOUND", "Unknown endpoint.")
		return
	}
	if !s.authorized(r.Header) {
		writeFailure(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid or missing API key.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeFailure(w, http.StatusBadRequest, "BAD_REQUEST", "Content-Type must be application/json.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		writeFailure(w, http.StatusBadRequest, "BAD_REQUEST", "Request body unreadable or too large.")
		return
	}
	req, status, msg := parse(body)
	if status != 0 {
		code := "BAD_REQUEST"
		if status == http.StatusUnprocessableEntity {
			code = "VALIDATION_ERROR"
		}
		writeFailure(w, status, code, msg)
		return
	}
	req.Header, req.Body = r.Header.Clone(), body

	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	resp := Reply(http.StatusOK)
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
	}
	s.orders++
	orderID := fmt.Sprintf("W2A_TEST_%06d", s.orders)
	s.mu.Unlock()

	s.answer(w, r, resp, req, orderID)
}

// authorized checks the documented key headers: Authorization wins when
// present, X-API-Key is the documented alternative.
func (s *Server) authorized(h http.Header) bool {
	if a := h.Get("Authorization"); a != "" {
		return subtle.ConstantTimeCompare([]byte(a), []byte("Bearer "+s.key())) == 1
	}
	return subtle.ConstantTimeCompare([]byte(h.Get("X-API-Key")), []byte(s.key())) == 1
}

// redacted stands in for the API key in printed output.
const redacted = "[REDACTED]"

// String describes s without its API key.
func (s *Server) String() string {
	if s == nil {
		return "way2apitest.Server(nil)"
	}
	return fmt.Sprintf("way2apitest.Server{url: %s, api key: %s}", s.srv.URL, redacted)
}

// GoString describes s for %#v without its API key.
func (s *Server) GoString() string {
	if s == nil {
		return "(*way2apitest.Server)(nil)"
	}
	return fmt.Sprintf("&way2apitest.Server{url: %q, apiKey: %q}", s.srv.URL, redacted)
}

// Format prints s with every verb as String does, and %#v as GoString does:
// without it, %v would print the fields, and reading them races with the
// handlers that update them.
func (s *Server) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue describes s for log/slog without its API key.
func (s *Server) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("url", s.srv.URL), slog.String("api_key", redacted))
}

// parse checks a body against the contract: structural faults (not a JSON
// object, unknown, duplicate, missing or non-string fields, trailing data)
// answer 400; values outside the documented rules answer 422, with messages
// in the style of the documented example.
func parse(body []byte) (req Request, status int, msg string) {
	fields := [...]string{"number", "content", "value", "purpose", "share_with"} // documented order
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req, http.StatusBadRequest, "Request body must be a JSON object."
	}
	got := make(map[string]string, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, http.StatusBadRequest, "Request body is not valid JSON."
		}
		key, _ := tok.(string)
		switch {
		case !slices.Contains(fields[:], key):
			return req, http.StatusBadRequest, fmt.Sprintf("Unknown parameter %q.", key)
		case hasKey(got, key):
			return req, http.StatusBadRequest, fmt.Sprintf("Duplicate parameter %q.", key)
		}
		tok, err = dec.Token()
		if err != nil {
			return req, http.StatusBadRequest, "Request body is not valid JSON."
		}
		v, ok := tok.(string)
		if !ok {
			return req, http.StatusBadRequest, fmt.Sprintf("%s must be a string.", key)
		}
		got[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return req, http.StatusBadRequest, "Request body is not valid JSON."
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, http.StatusBadRequest, "Unexpected data after the JSON object."
	}
	for _, f := range fields {
		if !hasKey(got, f) {
			return req, http.StatusBadRequest, fmt.Sprintf("Missing required parameter: %s.", f)
		}
	}
	req = Request{Number: got["number"], Content: got["content"], Value: got["value"], Purpose: got["purpose"], ShareWith: got["share_with"]}
	switch {
	case !digits(req.Number, 7, 15):
		return req, http.StatusUnprocessableEntity, "number must be the country code and mobile number, digits only, without +."
	case req.Content != "OTP" && req.Content != "PIN":
		return req, http.StatusUnprocessableEntity, `content must be either "OTP" or "PIN".`
	case !digits(req.Value, 4, 8):
		return req, http.StatusUnprocessableEntity, "value must be 4 to 8 digits only."
	case !oneOf(req.Purpose, "login", "registration", "password_reset", "transaction", "account_verification",
		"two_factor_auth", "payment_confirmation", "order_confirmation", "profile_update", "withdrawal"):
		return req, http.StatusUnprocessableEntity, "purpose is not a supported purpose."
	case !oneOf(req.ShareWith, "no_one", "executive", "manager", "support_team", "admin"):
		return req, http.StatusUnprocessableEntity, "share_with is not a supported value."
	}
	return req, 0, ""
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func oneOf(s string, allowed ...string) bool { return slices.Contains(allowed, s) }

// digits reports whether s is between lo and hi ASCII digits.
func digits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// failureCode returns the error_code and message the stand-in uses for status. The contract
// documents only VALIDATION_ERROR; the others are the stand-in's own, and a
// sender must not depend on them.
func failureCode(status int) (code, msg string) {
	switch status {
	case http.StatusBadRequest:
		return "BAD_REQUEST", "Missing or invalid parameters."
	case http.StatusUnauthorized:
		return "UNAUTHORIZED", "Invalid or missing API key."
	case http.StatusPaymentRequired:
		return "INSUFFICIENT_BALANCE", "Insufficient balance."
	case http.StatusForbidden:
		return "FORBIDDEN", "No access to this service."
	case http.StatusNotFound:
		return "NOT_FOUND", "Unknown endpoint."
	case http.StatusUnprocessableEntity:
		return "VALIDATION_ERROR", "Input rejected."
	case http.StatusTooManyRequests:
		return "RATE_LIMITED", "Rate limit exceeded."
	case http.StatusInternalServerError:
		return "SERVER_ERROR", "Server error. Try again later."
	case http.StatusServiceUnavailable:
		return "PROVIDER_UNAVAILABLE", "Provider unavailable. Try again later."
	}
	return fmt.Sprintf("HTTP_%d", status), http.StatusText(status)
}

// writeFailure writes the documented failure shape.
func writeFailure(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(failureBody(code, msg, ""))
}

func failureBody(code, msg, orderID string) []byte {
	data := map[string]string{"error_code": code}
	if orderID != "" {
		data["order_id"] = orderID
	}
	b, _ := json.Marshal(map[string]any{"success": false, "message": msg, "data": data})
	return b
}

// successBody is the documented 200 body for req.
func successBody(req Request, orderID, smsStatus string) []byte {
	b, _ := json.Marshal(map[string]any{
		"success": true,
		"message": "",
		"data": map[string]any{
			"order_id": orderID,
			"result": map[string]string{
				"phone":        "+" + req.Number,
				"content_type": req.Content,
				"purpose":      req.Purpose,
				"share_with":   req.ShareWith,
				"sms_status":   smsStatus,
			},
		},
	})
	return b
}

// answer writes resp for a valid request.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, resp Response, req Request, orderID string) {
	switch {
	case resp.hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler) // close the connection without an answer
	case resp.drop:
		panic(http.ErrAbortHandler)
	}
	for k, v := range resp.header {
		w.Header()[k] = slices.Clone(v)
	}
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	render := resp.body
	if render == nil {
		render = Reply(status).body
	}
	body := render(req, orderID)
	if w.Header().Get("Content-Type") == "" && len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// Response is one scripted answer, made by the functions below. The zero
// Response is a documented 200.
type Response struct {
	status int
	header http.Header
	body   func(req Request, orderID string) []byte // nil: the documented body for status
	hang   bool
	drop   bool
}

// Reply is the documented answer for status: for 200 the success body with a
// fresh order_id and sms_status "sent"; for 202 an acceptance with an
// order_id; for any other status the documented failure shape
// {"success":false,"message":…,"data":{"error_code":…}}.
func Reply(status int) Response {
	return Response{status: status, body: func(req Request, orderID string) []byte {
		switch status {
		case 0, http.StatusOK:
			return successBody(req, orderID, "sent")
		case http.StatusAccepted:
			b, _ := json.Marshal(map[string]any{"success": true, "message": "Accepted; delivery pending.",
				"data": map[string]string{"order_id": orderID}})
			return b
		}
		code, msg := failureCode(status)
		return failureBody(code, msg, "")
	}}
}

// FailureWithOrder is the documented failure shape for status, carrying an
// order_id (the contract says failures may).
func FailureWithOrder(status int) Response {
	return Response{status: status, body: func(_ Request, orderID string) []byte {
		code, msg := failureCode(status)
		return failureBody(code, msg, orderID)
	}}
}

// RateLimited is a documented 429 with the given Retry-After header value
// (delay-seconds such as "2", or an HTTP date); "" sends no header.
func RateLimited(retryAfter string) Response {
	r := Reply(http.StatusTooManyRequests)
	if retryAfter != "" {
		r = r.WithHeader("Retry-After", retryAfter)
	}
	return r
}

// Refused is a 200 whose body says success:false, with a VALIDATION_ERROR
// code.
func Refused() Response {
	return Response{status: http.StatusOK, body: func(Request, string) []byte {
		return failureBody("VALIDATION_ERROR", "Request could not be processed.", "")
	}}
}

// SMSStatus is a 200 success whose data.result.sms_status is status instead
// of the documented "sent" ("" leaves it empty).
func SMSStatus(status string) Response {
	return Response{status: http.StatusOK, body: func(req Request, orderID string) []byte {
		return successBody(req, orderID, status)
	}}
}

// Body answers status with body verbatim, under contentType ("" means
// application/json when body is not empty).
func Body(status int, contentType, body string) Response {
	r := Response{status: status, body: func(Request, string) []byte { return []byte(body) }}
	if contentType != "" {
		r = r.WithHeader("Content-Type", contentType)
	}
	return r
}

// HTML answers status with an HTML error page, as a proxy or load balancer
// in front of the provider would.
func HTML(status int) Response {
	return Body(status, "text/html; charset=utf-8",
		fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%[2]s</h1></body></html>\n", status, http.StatusText(status)))
}

// Empty answers status with no body.
func Empty(status int) Response {
	return Response{status: status, body: func(Request, string) []byte { return nil }}
}

// Huge answers status with a JSON-looking body of size bytes, to test that a
// client caps what it reads.
func Huge(status, size int) Response {
	return Response{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: func(Request, string) []byte {
		const head = `{"success":true,"message":"`
		if size <= len(head) {
			return []byte(head[:max(size, 0)])
		}
		return append([]byte(head), bytes.Repeat([]byte("x"), size-len(head))...)
	}}
}

// Hang reads the request and never answers: the handler waits until the
// client gives up or the server closes, then drops the connection. The
// request counts as received, so a client that times out has written it.
func Hang() Response { return Response{hang: true} }

// Drop reads the request and closes the connection without answering, as a
// crashing server or a reset would.
func Drop() Response { return Response{drop: true} }

// WithHeader returns a copy of r that also sends the header key: value.
func (r Response) WithHeader(key, value string) Response {
	r.header = r.header.Clone()
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(key, value)
	return r
}
