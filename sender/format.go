package sender

import (
	"fmt"
	"log/slog"

	"github.com/sms2fa/sms2fa/contract"
)

// fields summarises f: how many messages it holds and how many sends
// failed, never the messages, which carry live codes and full numbers.
func (f *Fake) fields() *contract.Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return contract.Summarize("sender.Fake").
		Int("Messages", int64(len(f.msgs))).
		Int("Failures", int64(f.failures)).
		Bool("Failing", f.err != nil || f.next > 0)
}

// String summarises f — how many messages it recorded and how many sends
// failed — without the messages: they hold codes and full numbers, which
// must never reach a log, even a test's. Fake's methods have pointer
// receivers because it holds a mutex; it is only ever used as a *Fake.
func (f *Fake) String() string {
	if f == nil {
		return "sender.Fake(nil)"
	}
	return f.fields().String()
}

// Format prints [Fake.String] for every verb (%v, %+v, %#v, %s, %q, %x, %d,
// …): without it %v would print the recorded codes and numbers.
func (f *Fake) Format(s fmt.State, verb rune) { contract.FormatMasked(s, verb, f.String()) }

// LogValue logs f as a group of counts, for log/slog, without the recorded
// messages: a log line must never hold a code or a full number.
func (f *Fake) LogValue() slog.Value {
	if f == nil {
		return slog.StringValue("<nil>")
	}
	return f.fields().LogValue()
}
