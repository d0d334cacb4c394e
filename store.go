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
