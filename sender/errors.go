package sender

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa"
)

// Sentinel errors of [Way2API]. Every error of Send and CheckMessage wraps
// exactly one of them; match them with [errors.Is]. Errors after which the
// message may have been delivered also wrap [sms2fa.ErrMaybeSent].
var (
	// ErrInvalidMessage: the message broke Way2API's documented rules
	// (content, purpose, code, number) and was refused locally, before any
	// network call. Nothing was sent.
	ErrInvalidMessage = errors.New("sender: message not valid for way2api")
	// ErrUnauthorized: Way2API refused the API key (HTTP 401: missing,
	// invalid, expired or IP-restricted) or its access to the service (403).
	ErrUnauthorized = errors.New("sender: way2api refused the API key")
	// ErrInsufficientBalance: the Way2API account is out of credit (HTTP 402).
	ErrInsufficientBalance = errors.New("sender: way2api balance insufficient")
	// ErrRateLimited: Way2API's per-key rate limit or daily cap was hit
	// (HTTP 429); [Error.RetryAfter] says when to come back.
	ErrRateLimited = errors.New("sender: way2api rate limit reached")
	// ErrRejected: Way2API refused the request as invalid (HTTP 400, 404, 422,
	// another 4xx, or a 200 whose body says success:false).
	ErrRejected = errors.New("sender: way2api rejected the request")
	// ErrUnavailable: no usable answer: a 5xx, a transport failure, or a
	// response that is empty, HTML, too large or not the documented JSON.
	ErrUnavailable = errors.New("sender: way2api unavailable")
)

// Error is what [Way2API.Send] returns once a request was attempted. It never
// contains the API key, and the provider's free text is scrubbed of the code
// before it is kept.
type Error struct {
	Status     int           // HTTP status of the last response; 0 if none arrived
	Code       string        // data.error_code of the last response, if any
	Message    string        // the provider's message, sanitised and cut to 256 bytes
	OrderID    string        // data.order_id, if any: the reference Way2API support asks for
	RetryAfter time.Duration // how long to wait before retrying, when known
	Retryable  bool          // whether repeating this same call is safe per the contract (it cannot send a second SMS)
	Tries      int           // attempts this Send made, the failed last one included

	kind      error    // one of the package's sentinels
	maybeSent bool     // the message may have been delivered (and charged)
	notes     []string // what was wrong with the response, or why retrying stopped
	cause     error    // the transport or context error, if any
}

// Error describes the failure in one line.
func (e *Error) Error() string {
	var parts []string
	if e.Status != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.Code != "" {
		parts = append(parts, fmt.Sprintf("error_code %q", e.Code))
	}
	if e.Message != "" {
		parts = append(parts, fmt.Sprintf("message %q", e.Message))
	}
	if e.OrderID != "" {
		parts = append(parts, fmt.Sprintf("order_id %q", e.OrderID))
	}
	parts = append(parts, e.notes...)
	if e.cause != nil {
		parts = append(parts, e.cause.Error())
	}
	if e.Tries > 1 {
		parts = append(parts, fmt.Sprintf("after %d tries", e.Tries))
	}
	if e.RetryAfter > 0 {
		parts = append(parts, fmt.Sprintf("retry after %v", e.RetryAfter))
	}
	if e.maybeSent {
		parts = append(parts, "the message may have been sent")
	}
	kind := e.kind
	if kind == nil {
		kind = ErrUnavailable
	}
	if len(parts) == 0 {
		return kind.Error()
	}
	return kind.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap returns the package sentinel, [sms2fa.ErrMaybeSent] when the message
// may have been delivered, and the transport or context error, if any (so
// that errors.Is(err, context.DeadlineExceeded) works).
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.maybeSent {
		errs = append(errs, sms2fa.ErrMaybeSent)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// note adds an explanation to the error's text.
func (e *Error) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// scrub replaces every occurrence of the secrets (the API key and the code) in
// the provider's free text, in case the provider echoes the request back.
// Code and OrderID are identifiers the app may need verbatim and are left
// alone: a provider's ID containing a short digit run by chance is not an echo.
func (e *Error) scrub(secrets ...string) {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		e.Message = strings.ReplaceAll(e.Message, s, redacted)
		for i := range e.notes {
			e.notes[i] = strings.ReplaceAll(e.notes[i], s, redacted)
		}
	}
}

// redacted stands in for secrets in text.
const redacted = "[REDACTED]"
