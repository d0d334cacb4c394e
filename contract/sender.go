package contract

import (
	"context"
	"errors"
)

// Sender delivers one code to one phone number. Implementations must be safe
// for concurrent use and must never log the code. Send returns once the
// provider has accepted or refused the message; it should give up when ctx is
// done.
//
// An error means the code was not delivered. If delivery is uncertain — the
// request may have reached the provider before the connection failed — the
// error must wrap [ErrMaybeSent]: the guard then keeps the resend cooldown, so
// a slow SMS is not chased by a second, different code.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Message is one code to send.
type Message struct {
	To      string  // E.164, with the leading "+": "+919876543210"
	Code    string  // the digits to deliver
	Content Content // whether the provider should call it an OTP or a PIN
	Purpose string  // why the code is sent, in the provider's vocabulary: "login" by default
}

// Content says how the provider should present the code.
type Content string

// The kinds of code Way2API knows; other senders may ignore the difference.
const (
	ContentOTP Content = "OTP"
	ContentPIN Content = "PIN"
)

// PurposeLogin is the default [Message.Purpose].
const PurposeLogin = "login"

// Receipt is what the provider said about an accepted message.
type Receipt struct {
	ProviderID string // the provider's reference for support (Way2API: order_id)
	Status     string // the provider's delivery status ("sent"; "accepted" when unconfirmed)
}

// MessageChecker is implemented by senders that can validate a message's
// fixed fields (content, purpose, code length) without sending it. [New] calls
// it with a sample message so that a configuration the provider would refuse
// fails at start, not at a user's first login.
type MessageChecker interface {
	CheckMessage(m Message) error
}

// ErrMaybeSent marks a send whose outcome is unknown: the request may have
// reached the provider. Senders wrap it; the guard keeps the cooldown.
var ErrMaybeSent = errors.New("sms2fa: the message may have been sent")

// Code lengths Way2API accepts in its `value` field; NIST SP 800-63B asks for
// at least 6 digits, which is the default.
const (
	MinCodeLength     = 4
	MaxCodeLength     = 8
	DefaultCodeLength = 6
)
