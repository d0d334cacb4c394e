package sms2fa

import (
	"time"

	"github.com/sms2fa/sms2fa/contract"
)

// RetryAfter returns how long until a refused request may succeed — the
// lock, cooldown or budget window that refused it, as the store measured it,
// rounded up to whole seconds — if err carries a [contract.LimitError].
func RetryAfter(err error) (time.Duration, bool) { return contract.RetryAfter(err) }

// ceilSeconds rounds d up to whole seconds, never below zero.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// Rate is one send budget: Limit sends per Window.
type Rate = contract.Rate

// Flow names why a code is sent; each has its own provider purpose
// (WithPurpose).
type Flow = contract.Flow

// The flows of the guard.
const (
	FlowLogin  = contract.FlowLogin  // the second factor of a sign-in
	FlowStepUp = contract.FlowStepUp // a fresh code for a sensitive route
	FlowEnrol  = contract.FlowEnrol  // proving a new user's number
	FlowChange = contract.FlowChange // proving a new number
)

// Content says how the provider should present the code (WithContent).
type Content = contract.Content

// The kinds of code Way2API knows; other senders may ignore the difference.
const (
	ContentOTP = contract.ContentOTP
	ContentPIN = contract.ContentPIN
)
