package sender

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Sentinel errors of [Way2API]. Every error of Send and CheckMessage wraps
// exactly one of them; match them with [errors.Is]. Errors after which the
// message may have been delivered also wrap [contract.ErrMaybeSent].
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
// contains the API key or the code: every field taken from the provider
// (Code, Message, OrderID, and the explanations in the text) has them masked
// before it is kept, in case the provider echoes the request back.
type Error struct {
	Status     int           // HTTP status of the last response; 0 if none arrived
	Code       string        // data.error_code of the last response, if any, secrets masked
	Message    string        // the provider's message, secrets masked, sanitised and cut to 256 bytes
	OrderID    string        // data.order_id, if any, secrets masked: the reference Way2API support asks for
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

// Unwrap returns the package sentinel, [contract.ErrMaybeSent] when the message
// may have been delivered, and the transport or context error, if any (so
// that errors.Is(err, context.DeadlineExceeded) works).
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.maybeSent {
		errs = append(errs, contract.ErrMaybeSent)
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

// scrub masks the send's secrets in everything the error keeps from the
// provider — Code, Message, OrderID and the notes — as a last net behind the
// parser, which already masks them before cutting text to length (a cut made
// first could leave most of a code behind the cut, out of reach of a match).
// A provider that echoes the request back would otherwise put a live code in
// the guard's logs and events.
func (e *Error) scrub(s secrets) {
	e.Code = s.mask(e.Code)
	e.Message = s.mask(e.Message)
	e.OrderID = s.mask(e.OrderID)
	for i := range e.notes {
		e.notes[i] = s.mask(e.notes[i])
	}
}

// secrets are the values of one send that no kept provider text may contain:
// the API key, the code, and the number in each form a provider may echo it.
type secrets struct {
	key, code string
	numbers   []string // longest first: E.164, its digits, the national number
	masked    string   // the number as logs may show it
}

// newSecrets lists the secrets of a send of code to the E.164 number to.
func newSecrets(key, code, to string) secrets {
	s := secrets{key: key, code: code}
	if n, ok := phone.Known(to); ok {
		s.numbers, s.masked = []string{n.E164, n.Digits(), n.National}, n.Masked()
	} else if to != "" {
		s.numbers, s.masked = []string{to, strings.TrimPrefix(to, "+")}, phone.Mask(to)
	}
	return s
}

// Masks that stand in for secrets in text. They differ so that support can
// tell which secret a provider echoed, and contain no digit, so masking a
// code cannot form a new occurrence of it. (A number becomes its masked
// form, whose last digits are masked again if they hold the code.)
const (
	redacted = "[REDACTED]" // the API key
	codeMask = "[code]"     // the code
)

// mask replaces every occurrence of the key, the number and the code in t.
// The key goes first: a key that happened to contain the code's digits
// would otherwise be left mostly readable around a code mask; the number
// before the code for the same reason.
//
// Identifiers (order_id, error_code) are masked too, although the app wants
// them verbatim for support: an order ID that holds the code's digits by
// chance loses them, which costs support a lookup by time instead; an echo
// left unmasked costs a live code in the logs.
func (s secrets) mask(t string) string {
	if s.key != "" && strings.Contains(t, s.key) {
		t = strings.ReplaceAll(t, s.key, redacted)
	}
	for _, n := range s.numbers {
		if n != "" && strings.Contains(t, n) {
			t = strings.ReplaceAll(t, n, s.masked)
		}
	}
	if s.code != "" && strings.Contains(t, s.code) {
		t = strings.ReplaceAll(t, s.code, codeMask)
	}
	return t
}
