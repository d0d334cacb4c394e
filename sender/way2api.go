package sender

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Compile-time checks.
var (
	_ contract.Sender         = (*Way2API)(nil)
	_ contract.MessageChecker = (*Way2API)(nil)
	_ slog.LogValuer          = (*Way2API)(nil)
	_ fmt.Formatter           = (*Way2API)(nil)
)

// The endpoint, from Way2API's documentation of send_otppin_sms.
const (
	defaultBaseURL = "https://app.way2api.com"
	endpointPath   = "/api/v1/aws/send_otp-pin"
)

// Defaults of the options.
const (
	defaultShareWith  = "no_one"
	defaultMaxTries   = 3
	defaultTimeBudget = 10 * time.Second
	// maxMaxTries bounds WithMaxTries: past a handful of tries a login is
	// better told to try later than kept waiting while the provider is hammered.
	maxMaxTries = 10
)

// Retry timing.
const (
	// backoffBase and backoffCap shape the wait after a 500 or 503 without
	// Retry-After: 500 ms, 1 s, 2 s, … up to 4 s, each with "equal jitter"
	// (half fixed, half random), after AWS's "Exponential Backoff And Jitter"
	// (2015), so that many senders hit by one outage do not retry in lockstep.
	backoffBase = 500 * time.Millisecond
	backoffCap  = 4 * time.Second
	// minAttempt is the time a retry needs to be worth starting: with less
	// left, it would likely time out after the request was written, turning a
	// clean failure into an uncertain one (and maybe a charge).
	minAttempt = time.Second
)

// Timeouts of the default HTTP client. net/http's DefaultTransport allows 30 s
// to dial and 10 s for TLS; a send has a 10 s budget by default, so connecting
// gets at most half of it. Waiting for the answer is bounded by the budget.
const (
	dialTimeout = 5 * time.Second
	tlsTimeout  = 5 * time.Second
	idleTimeout = 90 * time.Second // as net/http's DefaultTransport
)

// Number length limits: ITU-T E.164 numbers have at most 15 digits, country
// code included; the shortest in service (country code plus a 4-digit
// subscriber number, e.g. Niue) have 7.
const (
	minNumberDigits = 7
	maxNumberDigits = 15
)

// Way2API sends codes through Way2API's "Send OTP/PIN by SMS" endpoint,
// following its documented contract: POST {BaseURL}/api/v1/aws/send_otp-pin with
// a bearer API key and a JSON body of number, content, value, purpose and
// share_with.
//
// Send validates the message before any network call, then retries only what
// cannot deliver a second SMS: a 429 after its Retry-After, a 500 or 503 after
// a jittered exponential backoff, and a connection that failed before the
// request was written. Every retry sends the same body, so a duplicate would
// at least carry the same code. All tries fit in one time budget inside the
// caller's deadline. Errors are [*Error] values.
//
// The API key never appears in errors, logs or formatted output of a
// Way2API: String, GoString, Format and LogValue redact it. Neither the key
// nor the code survives in what Send keeps of an answer (receipt or error),
// even from a provider that echoes the request: both are masked in every
// field. A Way2API is immutable and safe for concurrent use.
type Way2API struct {
	key       func() string // a closure, so that no fmt verb or reflection on a copied struct can reach the key
	bearer    func() string // "Bearer " + the key, built once; a closure for the same reason
	endpoint  string
	client    *http.Client
	content   contract.Content
	purpose   string
	shareWith string
	maxTries  int
	budget    time.Duration

	sleep func(ctx context.Context, d time.Duration) error // waits between tries; replaced in tests
	now   func() time.Time                                 // reads Retry-After dates
	rand  func(n int64) int64                              // jitter in [0, n)
}

// Way2APIOption configures [NewWay2API].
type Way2APIOption func(*way2apiConfig)

// way2apiConfig collects options before NewWay2API validates them.
type way2apiConfig struct {
	baseURL   string
	client    *http.Client
	content   contract.Content
	purpose   string
	shareWith string
	maxTries  int
	budget    time.Duration
	problems  []string
}

// WithBaseURL sets where the endpoint lives, for a proxy or a test server:
// an absolute http or https URL, optionally with a path prefix, without query,
// fragment or credentials. Defaults to https://app.way2api.com.
func WithBaseURL(u string) Way2APIOption {
	return func(c *way2apiConfig) { c.baseURL = u }
}

// WithHTTPClient sets the HTTP client. Redirects are never followed whatever
// the client says (a redirected POST can be replayed or turned into a GET), so
// a copy of c is used with its CheckRedirect replaced. Defaults to a client of
// its own with bounded dial and TLS handshake times; never
// [http.DefaultClient].
func WithHTTPClient(c *http.Client) Way2APIOption {
	return func(cfg *way2apiConfig) {
		if c == nil {
			cfg.problems = append(cfg.problems, "HTTP client is nil")
		}
		cfg.client = c
	}
}

// WithContent sets the default content, "OTP" or "PIN", sent only for a
// message whose Content is empty. A message that names its content is sent
// with exactly that content, never this one: the guard chooses it per flow.
// Defaults to [contract.ContentOTP].
func WithContent(c contract.Content) Way2APIOption {
	return func(cfg *way2apiConfig) { cfg.content = c }
}

// WithPurpose sets the default purpose, sent only for a message whose Purpose
// is empty. A message that names its purpose is sent with exactly that
// purpose, never this one: the guard chooses it per flow (login, step-up as
// transaction, enrolment as account_verification, a number change as
// profile_update), and the provider words the SMS after it. It must be one of
// Way2API's documented purposes (login, registration, password_reset,
// transaction, account_verification, two_factor_auth, payment_confirmation,
// order_confirmation, profile_update, withdrawal). Defaults to
// [sms2fa.PurposeLogin].
func WithPurpose(p string) Way2APIOption {
	return func(c *way2apiConfig) { c.purpose = p }
}

// WithShareWith sets share_with, one of no_one, executive, manager,
// support_team, admin. Defaults to no_one.
func WithShareWith(s string) Way2APIOption {
	return func(c *way2apiConfig) { c.shareWith = s }
}

// WithMaxTries sets how many HTTP attempts one Send may make, between 1 (no
// retry) and 10. Only failures the contract calls safe to retry are retried.
// Defaults to 3.
func WithMaxTries(n int) Way2APIOption {
	return func(c *way2apiConfig) { c.maxTries = n }
}

// WithTimeBudget sets the total time one Send may take, retries and waits
// included; the caller's context deadline, if sooner, still wins. Defaults to
// 10 seconds.
func WithTimeBudget(d time.Duration) Way2APIOption {
	return func(c *way2apiConfig) { c.budget = d }
}

// NewWay2API returns a Way2API sender for apiKey. It refuses an empty or
// malformed key and invalid options, naming every problem, so that a bad
// configuration fails at start rather than at a user's first login.
func NewWay2API(apiKey string, opts ...Way2APIOption) (*Way2API, error) {
	c := way2apiConfig{
		baseURL:   defaultBaseURL,
		content:   contract.ContentOTP,
		purpose:   contract.PurposeLogin,
		shareWith: defaultShareWith,
		maxTries:  defaultMaxTries,
		budget:    defaultTimeBudget,
	}
	switch {
	case apiKey == "":
		c.problems = append(c.problems, "the API key is empty")
	case strings.IndexFunc(apiKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		// Not printed: it is a secret. A trailing newline from a key file is
		// the usual culprit.
		c.problems = append(c.problems, "the API key contains spaces, control or non-ASCII characters")
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	endpoint, err := endpointURL(c.baseURL)
	if err != nil {
		c.problems = append(c.problems, err.Error())
	}
	if !validContent(c.content) {
		c.problems = append(c.problems, fmt.Sprintf("content %q is not OTP or PIN", c.content))
	}
	if !validPurpose(c.purpose) {
		c.problems = append(c.problems, fmt.Sprintf("purpose %q is not one of %s", c.purpose, purposes))
	}
	if !validShareWith(c.shareWith) {
		c.problems = append(c.problems, fmt.Sprintf("share_with %q is not one of %s", c.shareWith, shareWiths))
	}
	if c.maxTries < 1 || c.maxTries > maxMaxTries {
		c.problems = append(c.problems, fmt.Sprintf("max tries must be 1 to %d, got %d", maxMaxTries, c.maxTries))
	}
	if c.budget <= 0 {
		c.problems = append(c.problems, fmt.Sprintf("time budget must be positive, got %v", c.budget))
	}
	if len(c.problems) > 0 {
		return nil, fmt.Errorf("sender: way2api: %s", strings.Join(c.problems, "; "))
	}

	bearer := "Bearer " + apiKey
	client := newClient()
	if c.client != nil {
		copied := *c.client
		client = &copied
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Way2API{
		key:       func() string { return apiKey },
		bearer:    func() string { return bearer },
		endpoint:  endpoint,
		client:    client,
		content:   c.content,
		purpose:   c.purpose,
		shareWith: c.shareWith,
		maxTries:  c.maxTries,
		budget:    c.budget,
		sleep:     sleep,
		now:       time.Now,
		rand:      rand.Int64N,
	}, nil
}

// endpointURL validates a base URL and appends the endpoint path.
func endpointURL(base string) (string, error) {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return "", fmt.Errorf("base URL %q: %v", base, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q must be http or https", base)
	case u.Host == "":
		return "", fmt.Errorf("base URL %q has no host", base)
	case u.User != nil:
		// Credentials in the URL would be printed by every transport error.
		return "", fmt.Errorf("base URL %s must not carry credentials", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("base URL %q must not have a query or fragment", base)
	}
	return strings.TrimSuffix(u.String(), "/") + endpointPath, nil
}

// newClient returns the default HTTP client: a transport of its own (never
// shared with http.DefaultTransport's users), bounded connection set-up, no
// overall timeout (the send's time budget bounds each call).
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   tlsTimeout,
		IdleConnTimeout:       idleTimeout,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16, // one host; net/http's default of 2 would redial under concurrent logins
		ExpectContinueTimeout: time.Second,
	}}
}

// Send delivers m.Code to m.To with exactly the Content and Purpose m names;
// [WithContent] and [WithPurpose] fill in only the fields m leaves empty, and
// never override what it says. A content or purpose Way2API does not
// document fails with [ErrInvalidMessage]; it is not replaced by a default.
//
// It returns Receipt{ProviderID: order_id, Status: "sent"} on a 200 reporting
// sms_status "sent", and Receipt{ProviderID: order_id, Status: "accepted"}
// with a nil error on a 202 (charged, delivery unconfirmed). Any other outcome
// is an [*Error] wrapping one of the package's sentinels, and also
// [contract.ErrMaybeSent] when the message may have been delivered: a 200 that
// is not a clean "sent", or a failure after the request was written. An
// invalid message fails with [ErrInvalidMessage] before any network call.
//
// All tries share the time budget (see [WithTimeBudget]) and ctx's deadline.
// A retry is started only if its wait leaves at least a second for the
// request; otherwise Send returns at once, with the wait in
// [Error.RetryAfter]. Cancelling ctx stops Send at once, waits included.
func (w *Way2API) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	body, err := w.body(m)
	if err != nil {
		return contract.Receipt{}, err
	}
	sec := newSecrets(w.key(), m.Code, m.To)
	ctx, cancel := context.WithTimeout(ctx, w.budget)
	defer cancel()
	for tries := 1; ; tries++ {
		rec, e := w.try(ctx, body, sec)
		if e == nil {
			return rec, nil
		}
		e.Tries = tries
		e.scrub(sec)
		if !e.Retryable || tries >= w.maxTries || ctx.Err() != nil {
			return rec, e
		}
		wait := e.RetryAfter
		if e.Status != http.StatusTooManyRequests && wait == 0 {
			wait = w.backoff(tries)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+minAttempt {
			e.RetryAfter = wait
			e.note("not retried: waiting %v would overrun the time left for this send", wait)
			return rec, e
		}
		if err := w.sleep(ctx, wait); err != nil {
			e.cause = joinCause(e.cause, err)
			e.note("stopped waiting to retry")
			return rec, e
		}
	}
}

// joinCause keeps both the attempt's error and the context's.
func joinCause(first, then error) error {
	switch {
	case first == nil:
		return then
	case errors.Is(first, then):
		return first
	}
	return fmt.Errorf("%w; then %w", first, then)
}

// CheckMessage reports whether Send would accept m without sending it. It
// runs the very validation Send runs first (content and purpose as m names
// them, or the defaults for those m leaves empty; code; number), so the two
// cannot disagree.
func (w *Way2API) CheckMessage(m contract.Message) error {
	_, err := w.body(m)
	return err
}

// body validates m against the contract and encodes the request body. m's
// Content and Purpose win; the configured ones only fill empty fields. Its
// errors never contain the code or the full number.
func (w *Way2API) body(m contract.Message) ([]byte, error) {
	content := cmp.Or(m.Content, w.content)
	purpose := cmp.Or(m.Purpose, w.purpose)
	var problems []string
	if !validNumber(m.To) {
		problems = append(problems, fmt.Sprintf(`number must be E.164: "+" and %d to %d digits, got %q`,
			minNumberDigits, maxNumberDigits, phone.Mask(m.To)))
	}
	if !validCode(m.Code) {
		problems = append(problems, fmt.Sprintf("code must be %d to %d ASCII digits, got %d characters",
			contract.MinCodeLength, contract.MaxCodeLength, len(m.Code)))
	}
	if !validContent(content) {
		problems = append(problems, fmt.Sprintf("content %q is not OTP or PIN", content))
	}
	if !validPurpose(purpose) {
		problems = append(problems, fmt.Sprintf("purpose %q is not one of %s", purpose, purposes))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(problems, "; "))
	}
	return encodeRequest(m.To[1:], string(content), m.Code, purpose, w.shareWith), nil
}

// encodeRequest writes the documented request body, fields in the documented
// order, as encoding/json would for a struct of the five strings. It copies
// the values without escaping: they are validated to be ASCII digits and words
// of the documented vocabularies, none of which JSON escapes. It is written
// out because reflection cost a microsecond and two allocations per send.
func encodeRequest(number, content, value, purpose, shareWith string) []byte {
	const (
		k1 = `{"number":"`
		k2 = `","content":"`
		k3 = `","value":"`
		k4 = `","purpose":"`
		k5 = `","share_with":"`
		k6 = `"}`
	)
	b := make([]byte, 0, len(k1+k2+k3+k4+k5+k6)+len(number)+len(content)+len(value)+len(purpose)+len(shareWith))
	b = append(b, k1...)
	b = append(b, number...)
	b = append(b, k2...)
	b = append(b, content...)
	b = append(b, k3...)
	b = append(b, value...)
	b = append(b, k4...)
	b = append(b, purpose...)
	b = append(b, k5...)
	b = append(b, shareWith...)
	return append(b, k6...)
}

// try makes one HTTP attempt. sec is masked in what it keeps of the answer.
func (w *Way2API) try(ctx context.Context, body []byte, sec secrets) (contract.Receipt, *Error) {
	if err := ctx.Err(); err != nil {
		return contract.Receipt{}, &Error{kind: ErrUnavailable, cause: err, Retryable: true}
	}
	// The contract forbids retrying a request that may have reached Way2API.
	// The transport reports whether it began (GetConn) and whether the
	// request was written (WroteRequest, also called when writing failed
	// part-way): only "began and not written" is certainly unsent. A
	// transport that reports nothing is treated as having written.
	pr := newProgress()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &pr.trace), http.MethodPost, w.endpoint, bytes.NewReader(body))
	if err != nil {
		return contract.Receipt{}, &Error{kind: ErrUnavailable, cause: err}
	}
	req.Header.Set("Authorization", w.bearer())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := w.client.Do(req)
	if err != nil {
		e := &Error{kind: ErrUnavailable, cause: err}
		if pr.began.Load() && !pr.wrote.Load() {
			e.Retryable = true
		} else {
			e.maybeSent = true
		}
		return contract.Receipt{}, e
	}
	defer resp.Body.Close()
	buf := readBufs.Get().(*[]byte)
	raw, readErr := readCapped(resp.Body, (*buf)[:0], maxResponseBody+1)
	// parseResponse copies what it keeps, so raw can go back to the pool.
	rec, e := parseResponse(resp.StatusCode, resp.Header, raw, w.now(), sec)
	if cap(raw) <= maxPooledBuf {
		*buf = raw
		readBufs.Put(buf)
	}
	if e != nil && readErr != nil {
		e.cause = readErr
	}
	return rec, e
}

// progress records, through httptrace, how far one request got. One
// allocation holds the trace and both marks.
type progress struct {
	began, wrote atomic.Bool
	trace        httptrace.ClientTrace
}

// newProgress returns a progress whose trace sets its marks.
func newProgress() *progress {
	p := &progress{}
	p.trace.GetConn = func(string) { p.began.Store(true) }
	p.trace.WroteRequest = func(httptrace.WroteRequestInfo) { p.wrote.Store(true) }
	return p
}

// Response bodies are read into pooled buffers: a documented answer is a few
// hundred bytes, and reading each into a fresh one cost two allocations per
// send. A buffer grown past maxPooledBuf by an oversized answer is dropped, so
// the pool does not keep 64 KiB buffers for the rare error page.
const maxPooledBuf = 4 << 10

// readBufs holds *[]byte read buffers, 1 KiB to start with: room for any
// documented answer.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readCapped appends r's content to buf until EOF or until buf holds limit
// bytes, whichever is first, as io.ReadAll(io.LimitReader(r, limit)) would,
// without its allocations. Its error is nil at EOF.
func readCapped(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the growth
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// backoff returns the wait before try number tries+1 after a 500 or 503:
// backoffBase doubled per earlier try, capped at backoffCap, with equal
// jitter.
func (w *Way2API) backoff(tries int) time.Duration {
	d := backoffBase
	for i := 1; i < tries && d < backoffCap; i++ {
		d *= 2
	}
	d = min(d, backoffCap)
	return d/2 + time.Duration(w.rand(int64(d/2)))
}

// sleep waits d or until ctx is done, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// String describes w without its API key.
func (w *Way2API) String() string {
	if w == nil {
		return "sender.Way2API(nil)"
	}
	return fmt.Sprintf("sender.Way2API{endpoint: %s, api key: %s}", w.endpoint, redacted)
}

// GoString describes w for %#v without its API key.
func (w *Way2API) GoString() string {
	if w == nil {
		return "(*sender.Way2API)(nil)"
	}
	return fmt.Sprintf("&sender.Way2API{endpoint: %q, apiKey: %q, content: %q, purpose: %q, shareWith: %q, maxTries: %d, budget: %v}",
		w.endpoint, redacted, w.content, w.purpose, w.shareWith, w.maxTries, w.budget)
}

// Format prints w with every verb (%v, %+v, %s, %d, …) as String does, and
// %#v as GoString does, so that no verb reaches the fields.
func (w *Way2API) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, w.GoString())
		return
	}
	io.WriteString(f, w.String())
}

// LogValue describes w for log/slog without its API key.
func (w *Way2API) LogValue() slog.Value {
	if w == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("sender", "way2api"),
		slog.String("endpoint", w.endpoint),
		slog.String("api_key", redacted),
		slog.Int("max_tries", w.maxTries),
		slog.Duration("time_budget", w.budget),
	)
}

// The documented vocabularies, from the contract's request table.
const (
	purposes   = "login, registration, password_reset, transaction, account_verification, two_factor_auth, payment_confirmation, order_confirmation, profile_update, withdrawal"
	shareWiths = "no_one, executive, manager, support_team, admin"
)

func validContent(c contract.Content) bool {
	return c == contract.ContentOTP || c == contract.ContentPIN
}

func validPurpose(p string) bool {
	switch p {
	case "login", "registration", "password_reset", "transaction", "account_verification",
		"two_factor_auth", "payment_confirmation", "order_confirmation", "profile_update", "withdrawal":
		return true
	}
	return false
}

func validShareWith(s string) bool {
	switch s {
	case "no_one", "executive", "manager", "support_team", "admin":
		return true
	}
	return false
}

// validCode: Way2API's value is 4 to 8 digits, the limits sms2fa's code
// length settings share.
func validCode(c string) bool {
	return len(c) >= contract.MinCodeLength && len(c) <= contract.MaxCodeLength && isDigits(c)
}

// validNumber: "+", a country code that does not start with 0, and a total of
// minNumberDigits to maxNumberDigits digits.
func validNumber(to string) bool {
	d, ok := strings.CutPrefix(to, "+")
	return ok && len(d) >= minNumberDigits && len(d) <= maxNumberDigits && isDigits(d) && d[0] != '0'
}
