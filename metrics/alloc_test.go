//go:build !race

// The race detector instruments atomics and may allocate: the allocation
// check runs without it.

package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
)

// The hook runs before every guard response: it must cost no garbage.
func TestHookDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	m, _ := newMetrics(t, "IN", "GB")
	ctx := context.Background()
	events := []sms2fa.Event{
		{Kind: sms2fa.EventCodeSent, Region: "IN", Latency: time.Second},
		{Kind: sms2fa.EventCodeInvalid, Region: "GB"},
		{Kind: sms2fa.EventSendRefused, Err: sms2fa.ErrCountryNotAllowed},
		{Kind: sms2fa.EventGrantRevoked, How: "logout", Count: 1},
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, e := range events {
			m.Hook(ctx, e)
		}
	}); n != 0 {
		t.Errorf("the hook allocates %v times per 4 events", n)
	}
}
