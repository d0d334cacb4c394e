package sender

import (
	"context"
	"time"
)

// SetSleep replaces how w waits between tries, so that tests record the
// requested waits instead of sleeping through them.
func SetSleep(w *Way2API, f func(ctx context.Context, d time.Duration) error) { w.sleep = f }
