package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
)

func TestConsole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := sender.NewConsole(&buf)
	rec, err := c.Send(t.Context(), contract.Message{To: "+919876543210", Code: "482913", Purpose: "registration"})
	if err != nil || rec != (contract.Receipt{ProviderID: "console-1", Status: "sent"}) {
		t.Fatalf("Send = %+v, %v", rec, err)
	}
	out := buf.String()
	for _, want := range []string{"DEVELOPMENT ONLY", "not for production", "482913", "+91 ••••••3210", "OTP", "registration"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "9876543210") {
		t.Errorf("output %q shows the full number", out)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("output %q is not one line", out)
	}
}

func TestConsoleQuotesHostileInput(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := sender.NewConsole(&buf)
	if _, err := c.Send(t.Context(), contract.Message{To: "+919876543210", Code: "12\n*** forged line\x1b[2J", Purpose: "a b"}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || strings.ContainsRune(out, '\x1b') {
		t.Errorf("a message forged output: %q", out)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestConsoleErrors(t *testing.T) {
	t.Parallel()
	c := sender.NewConsole(failingWriter{})
	if _, err := c.Send(t.Context(), contract.Message{To: "+919876543210", Code: "123456"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Send to a failing writer = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var buf bytes.Buffer
	if _, err := sender.NewConsole(&buf).Send(ctx, contract.Message{To: "+919876543210", Code: "123456"}); !errors.Is(err, context.Canceled) || buf.Len() != 0 {
		t.Errorf("Send with a cancelled context = %v, wrote %q", err, buf.String())
	}
	if sender.NewConsole(nil) == nil {
		t.Error("NewConsole(nil) = nil")
	}
}

// TestConsoleConcurrent writes to a bytes.Buffer, which is not safe for
// concurrent use: the race detector fails this test unless the Console
// serialises its writes.
func TestConsoleConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := sender.NewConsole(&buf)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := c.Send(t.Context(), contract.Message{To: "+919876543210", Code: fmt.Sprintf("%06d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "*** sms2fa DEVELOPMENT ONLY") || strings.Count(l, "DEVELOPMENT ONLY") != 1 {
			t.Errorf("interleaved line %q", l)
		}
	}
}
