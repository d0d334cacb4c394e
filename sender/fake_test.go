package sender_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
)

func TestFake(t *testing.T) {
	t.Parallel()
	f := sender.NewFake()
	a := contract.Message{To: "+919876543210", Code: "111111"}
	b := contract.Message{To: "+919812345678", Code: "222222", Content: contract.ContentPIN}
	a2 := contract.Message{To: "+919876543210", Code: "333333"}
	for i, m := range []contract.Message{a, b, a2} {
		rec, err := f.Send(t.Context(), m)
		if want := (contract.Receipt{ProviderID: fmt.Sprintf("fake-%d", i+1), Status: "sent"}); err != nil || rec != want {
			t.Fatalf("Send %d = %+v, %v; want %+v", i, rec, err, want)
		}
	}
	if got := f.Messages(); len(got) != 3 || got[0] != a || got[1] != b || got[2] != a2 {
		t.Errorf("Messages() = %+v", got)
	}
	if m, ok := f.Last("+919876543210"); !ok || m != a2 {
		t.Errorf("Last = %+v, %v; want the second message to that number", m, ok)
	}
	if _, ok := f.Last("+447400123456"); ok {
		t.Error("Last found a message to a number never sent to")
	}
	if f.Count() != 3 || f.Failures() != 0 {
		t.Errorf("Count = %d, Failures = %d", f.Count(), f.Failures())
	}

	msgs := f.Messages()
	msgs[0].Code = "tampered"
	if f.Messages()[0].Code != "111111" {
		t.Error("Messages returned the Fake's own slice")
	}
}

func TestFakeFail(t *testing.T) {
	t.Parallel()
	f := sender.NewFake()
	m := contract.Message{To: "+919876543210", Code: "123456"}
	boom := errors.New("boom")
	f.Fail(boom)
	for range 3 {
		if _, err := f.Send(t.Context(), m); err != boom {
			t.Fatalf("Send after Fail = %v, want boom", err)
		}
	}
	if f.Count() != 0 || f.Failures() != 3 {
		t.Errorf("Count = %d, Failures = %d after 3 failures", f.Count(), f.Failures())
	}
	f.Fail(nil)
	if rec, err := f.Send(t.Context(), m); err != nil || rec.ProviderID != "fake-1" {
		t.Errorf("Send after Fail(nil) = %+v, %v", rec, err)
	}

	maybe := fmt.Errorf("timeout: %w", contract.ErrMaybeSent)
	f.FailNext(2, maybe)
	f.Fail(boom) // FailNext goes first
	for i := range 2 {
		if _, err := f.Send(t.Context(), m); !errors.Is(err, contract.ErrMaybeSent) {
			t.Fatalf("Send %d after FailNext = %v", i, err)
		}
	}
	if _, err := f.Send(t.Context(), m); err != boom {
		t.Fatalf("Send after FailNext ran out = %v, want Fail's error", err)
	}
	f.Fail(nil)
	f.FailNext(5, boom)
	f.FailNext(0, boom) // cancels
	if _, err := f.Send(t.Context(), m); err != nil {
		t.Fatalf("Send after FailNext(0) = %v", err)
	}
	if f.Count() != 2 || f.Failures() != 6 {
		t.Errorf("Count = %d, Failures = %d; want 2 and 6", f.Count(), f.Failures())
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Send(ctx, m); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v", err)
	}

	f.FailNext(1, boom)
	f.Fail(boom)
	f.Reset()
	if f.Count() != 0 || f.Failures() != 0 || len(f.Messages()) != 0 {
		t.Errorf("Reset left Count = %d, Failures = %d", f.Count(), f.Failures())
	}
	if rec, err := f.Send(t.Context(), m); err != nil || rec.ProviderID != "fake-1" {
		t.Errorf("Send after Reset = %+v, %v; want fake-1", rec, err)
	}
}

func TestFakeConcurrent(t *testing.T) {
	t.Parallel()
	f := sender.NewFake()
	f.FailNext(10, errors.New("down"))
	const n = 100
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			rec, err := f.Send(t.Context(), contract.Message{To: fmt.Sprintf("+9198765%05d", i), Code: "123456"})
			if err == nil {
				ids <- rec.ProviderID
			}
			f.Count()
			f.Messages()
			f.Last("+919876500000")
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("receipt ID %s given twice", id)
		}
		seen[id] = true
	}
	if f.Count() != n-10 || f.Failures() != 10 || len(seen) != n-10 {
		t.Errorf("Count = %d, Failures = %d, IDs = %d; want %d, 10, %d", f.Count(), f.Failures(), len(seen), n-10, n-10)
	}
}
