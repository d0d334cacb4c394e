package sender

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/sms2fa/sms2fa/contract"
)

var _ contract.Sender = (*Fake)(nil)

// Fake is a [contract.Sender] for tests: it records every message it accepts
// and can be told to fail. It sends nothing. It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	msgs     []contract.Message
	failures int
	err      error // set by Fail: returned by every Send until cleared
	next     int   // set by FailNext: how many Sends still fail with nextErr
	nextErr  error
}

// NewFake returns a Fake that accepts every message.
func NewFake() *Fake { return &Fake{} }

// Send records m and returns Receipt{ProviderID: "fake-N", Status: "sent"},
// N counting accepted messages from 1 since NewFake or Reset. A Send failing
// because of FailNext, Fail or a done ctx returns that error (as is, so that
// errors.Is and == both work) and is counted by Failures, not recorded in
// Messages. FailNext takes precedence over Fail.
func (f *Fake) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("sender: fake: %w", ctx.Err())
	case f.next > 0:
		f.next--
		err = f.nextErr
	case f.err != nil:
		err = f.err
	}
	if err != nil {
		f.failures++
		return contract.Receipt{}, err
	}
	f.msgs = append(f.msgs, m)
	return contract.Receipt{ProviderID: "fake-" + strconv.Itoa(len(f.msgs)), Status: statusSent}, nil
}

// Messages returns a copy of the accepted messages, oldest first.
func (f *Fake) Messages() []contract.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// Last returns the latest accepted message to number (E.164, as in
// Message.To), and whether there is one.
func (f *Fake) Last(number string) (contract.Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.msgs) - 1; i >= 0; i-- {
		if f.msgs[i].To == number {
			return f.msgs[i], true
		}
	}
	return contract.Message{}, false
}

// Count returns how many messages were accepted.
func (f *Fake) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// Failures returns how many Sends failed.
func (f *Fake) Failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

// Fail makes every later Send return err, until Fail(nil).
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// FailNext makes the next n Sends return err, then lets Sends through again
// (or fail as Fail says). It replaces an earlier FailNext; n ≤ 0 or a nil err
// cancels it.
func (f *Fake) FailNext(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 || err == nil {
		n, err = 0, nil
	}
	f.next, f.nextErr = n, err
}

// Reset forgets all messages and failures and clears Fail and FailNext.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs, f.failures, f.err, f.next, f.nextErr = nil, 0, nil, 0, nil
}
