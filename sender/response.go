package sender

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sms2fa/sms2fa/contract"
)

// Limits on what is read from and kept of a response.
const (
	// maxResponseBody caps the body read: a documented answer is a few hundred
	// bytes, so anything near 64 KiB is an error page or an attack, and reading
	// it all would only cost memory.
	maxResponseBody = 64 << 10
	// maxMessage caps the provider message kept in an [Error]: enough for any
	// documented message, short enough for a log line.
	maxMessage = 256
	// maxField caps identifiers (order_id, error_code, sms_status).
	maxField = 128
)

// Retry-After handling for 429 (and 500/503 when the header is present).
const (
	// defaultRetryAfter is the wait after a 429 without a usable Retry-After.
	// The contract says to honour the header and names no default; a short
	// wait lets a burst limit clear without spending the whole send budget.
	defaultRetryAfter = 2 * time.Second
	// maxRetryAfter bounds the header's value: the longest documented limit is
	// the daily cap, and the bound keeps the arithmetic far from overflow.
	maxRetryAfter = 24 * time.Hour
)

// sentStatus is the only data.result.sms_status the contract documents.
const sentStatus = "sent"

// Receipt statuses returned by [Way2API.Send].
const (
	statusSent     = "sent"     // 200 with sms_status "sent"
	statusAccepted = "accepted" // 202: accepted, delivery unconfirmed
)

// parseResponse turns one HTTP answer into a receipt or an error, following
// the contract's status table: the status decides, the body adds detail, and
// only a 200 needs the body to know the outcome. body may be longer than
// maxResponseBody, which means it was cut. now is used for a Retry-After
// given as an HTTP date. Every text kept from the body, in the receipt or the
// error, has sec masked. The error's Tries is left for the caller.
func parseResponse(status int, h http.Header, body []byte, now time.Time, sec secrets) (contract.Receipt, *Error) {
	r, problem := decode(h, body, sec)
	switch {
	case status == http.StatusOK && problem == "" && r.hasSuccess && r.success && r.smsStatus == sentStatus && r.orderID != "":
		return contract.Receipt{ProviderID: r.orderID, Status: statusSent}, nil
	case status == http.StatusAccepted:
		// Accepted or the provider was slow: charged, must not be retried, and
		// the status alone says so, whatever the body.
		return contract.Receipt{ProviderID: r.orderID, Status: statusAccepted}, nil
	}
	// The outcomes above return before the Error is made: a send that
	// succeeds should not pay for one.
	e := &Error{Status: status, Code: r.code, Message: r.message, OrderID: r.orderID}
	switch status {
	case http.StatusOK:
		// Charged: anything short of a clean "sent" is an unknown delivery.
		switch {
		case problem != "":
			e.kind, e.maybeSent = ErrUnavailable, true
			e.note("%s", problem)
		case !r.hasSuccess:
			e.kind, e.maybeSent = ErrUnavailable, true
			e.note("response has no boolean success field")
		case !r.success:
			e.kind = ErrRejected
		case r.smsStatus != sentStatus:
			e.kind, e.maybeSent = ErrUnavailable, true
			e.note("sms_status %q, not %q", r.smsStatus, sentStatus)
		default: // r.orderID == "", the one condition of a clean "sent" left
			e.kind, e.maybeSent = ErrUnavailable, true
			e.note("response has no order_id")
		}
		return contract.Receipt{}, e
	case http.StatusUnauthorized, http.StatusForbidden:
		e.kind = ErrUnauthorized
	case http.StatusPaymentRequired:
		e.kind = ErrInsufficientBalance
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		e.kind = ErrRejected
	case http.StatusTooManyRequests:
		e.kind, e.Retryable = ErrRateLimited, true
		e.RetryAfter = retryAfter(h, now, defaultRetryAfter)
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		e.kind, e.Retryable = ErrUnavailable, true
		e.RetryAfter = retryAfter(h, now, 0)
	default:
		// Undocumented: the contract allows no retry. A 2xx may have sent the
		// message, and so may a 5xx such as 502 or 504 from a gateway in front
		// of a provider that did the work.
		switch {
		case status >= 200 && status < 300, status >= 500 && status < 600:
			e.kind, e.maybeSent = ErrUnavailable, true
		case status >= 400 && status < 500:
			e.kind = ErrRejected
		default: // 1xx, 3xx (redirects are not followed), nonsense
			e.kind = ErrUnavailable
		}
		e.note("undocumented status")
	}
	if problem != "" {
		e.note("%s", problem)
	}
	return contract.Receipt{}, e
}

// decode reads what it can of a response body. problem is "" when the body is
// a JSON object, and otherwise says in words what it is instead. Fields of the
// wrong JSON type are read as absent rather than failing the whole body, so
// that an order_id survives a malformed neighbour (see parseReply). Text
// fields have sec masked before they are cleaned and cut, so that a cut
// cannot split an echoed code and leave part of it unmatched.
func decode(h http.Header, body []byte, sec secrets) (r reply, problem string) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(body) > maxResponseBody:
		return r, fmt.Sprintf("response body larger than %d KiB", maxResponseBody>>10)
	case len(trimmed) == 0:
		return r, "empty response body"
	case isHTML(h, trimmed):
		return r, "HTML page instead of JSON"
	}
	if r, problem = parseReply(trimmed); problem != "" {
		return r, problem
	}
	r.message = clean(sec.mask(r.message), maxMessage)
	r.code = clean(sec.mask(r.code), maxField)
	r.orderID = clean(sec.mask(r.orderID), maxField)
	r.smsStatus = clean(sec.mask(r.smsStatus), maxField)
	return r, ""
}

// isHTML reports whether a body is an HTML page, as proxies, WAFs and load
// balancers send when the provider is unreachable.
func isHTML(h http.Header, trimmed []byte) bool {
	// ParseMediaType builds a map of parameters; the usual answer, JSON, is
	// told apart without it.
	if ct := h.Get("Content-Type"); strings.Contains(strings.ToLower(ct), "html") {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "text/html" {
			return true
		}
	}
	return trimmed[0] == '<'
}

// clean makes provider text safe to keep and log: invalid UTF-8 and
// non-printable characters (newlines, terminal escapes) become spaces, and the
// result is cut to at most limit bytes on a character boundary.
func clean(s string, limit int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " ")))
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// retryAfter reads a Retry-After header (RFC 9110 §10.2.3: delay-seconds or
// an HTTP date) relative to now, bounded by [0, maxRetryAfter]. def is used
// when the header is absent or unreadable.
func retryAfter(h http.Header, now time.Time, def time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return def
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter // too many digits even for uint64
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return def
}

// isDigits reports whether s is non-empty and all ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
