package contract_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
)

// RetryAfter reads the wait from a LimitError however deeply it is wrapped,
// by the store's two clock readings, rounded up to whole seconds; the root
// package's RetryAfter, the one apps call, is the same.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	le := &contract.LimitError{Err: contract.ErrResendTooSoon, Now: now, Until: now.Add(29*time.Second + time.Millisecond)}
	wrapped := fmt.Errorf("sending: %w", le)
	if !errors.Is(wrapped, contract.ErrResendTooSoon) {
		t.Fatal("a LimitError does not unwrap to its sentinel")
	}
	for _, retry := range []func(error) (time.Duration, bool){contract.RetryAfter, sms2fa.RetryAfter} {
		if d, ok := retry(wrapped); !ok || d != 30*time.Second {
			t.Fatalf("wrapped LimitError: %v %v, want 30s", d, ok)
		}
		if d, ok := retry(&contract.LimitError{Err: contract.ErrLocked, Now: now, Until: now.Add(-time.Second)}); !ok || d != 0 {
			t.Fatalf("a refusal already over: %v %v, want 0", d, ok)
		}
		if _, ok := retry(contract.ErrCodeInvalid); ok {
			t.Fatal("a plain sentinel has a wait")
		}
	}
}
