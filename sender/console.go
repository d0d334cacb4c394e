package sender

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

var _ contract.Sender = (*Console)(nil)

// Console "sends" codes by writing them to a writer, for local development:
// the code is the point, so it is printed in full, under a marker no one can
// mistake for production behaviour. The phone number is masked. Writes are
// serialised, one line per message, so a Console is safe for concurrent use.
type Console struct {
	mu sync.Mutex
	w  io.Writer
	n  int // messages written, for receipt IDs
}

// NewConsole returns a Console writing to w; nil means os.Stderr.
func NewConsole(w io.Writer) *Console {
	if w == nil {
		w = os.Stderr
	}
	return &Console{w: w}
}

// consoleMarker starts every line a Console writes.
const consoleMarker = "*** sms2fa DEVELOPMENT ONLY — not for production ***"

// Send writes one line with the code and returns Receipt{ProviderID:
// "console-N", Status: "sent"}. It fails only if ctx is done or the write
// fails.
func (c *Console) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return contract.Receipt{}, fmt.Errorf("sender: console: %w", err)
	}
	line := fmt.Sprintf("%s %s %s for %s (purpose %s)\n", consoleMarker,
		printable(string(cmp.Or(m.Content, contract.ContentOTP))), printable(m.Code),
		cmp.Or(phone.Mask(m.To), `""`), printable(cmp.Or(m.Purpose, contract.PurposeLogin)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.w, line); err != nil {
		return contract.Receipt{}, fmt.Errorf("sender: console: writing the code: %w", err)
	}
	c.n++
	return contract.Receipt{ProviderID: "console-" + strconv.Itoa(c.n), Status: statusSent}, nil
}

// printable returns s as is when it is printable text without spaces, and
// Go-quoted otherwise, so that a message cannot forge lines or send terminal
// escapes.
func printable(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
