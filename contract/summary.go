package contract

// Every exported type of the module that holds a code, a phone number, a MAC
// or a session secret prints a masked summary instead of its fields: with
// String, with every fmt verb (through [FormatMasked]) and through log/slog
// (through [Summary.LogValue]). A code never appears in them, and a phone
// number only in its masked form ([MaskPhone]). A store or sender of your
// own can print its types the same way.

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// FormatMasked writes s, a value's masked summary, for any verb: %q quotes it (its
// flags honoured), every other verb — %v, %+v, %#v, %s, %x, %X, %d, … —
// writes it as text, padded to the width asked for. No verb reaches the
// value's fields, so neither %x nor %d can encode a secret either.
func FormatMasked(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		fmt.Fprintf(f, fmt.FormatString(f, verb), s)
		return
	}
	spec := "%"
	if f.Flag('-') {
		spec += "-"
	}
	if w, ok := f.Width(); ok {
		spec += strconv.Itoa(w)
	}
	fmt.Fprintf(f, spec+"s", s)
}

// Summary is the masked summary of one value: its fields' names and the
// forms of their values that may be shown. Summary at their zero value are
// left out, as in the guard's event logs. The zero Summary is empty; start
// one with [Summarize].
type Summary struct {
	typ  string
	list []field
}

type field struct {
	name string     // the Go field name; snake_case in logs
	text string     // for String
	val  slog.Value // for LogValue
}

// Summarize starts the summary of a value of type typ ("contract.Message").
func Summarize(typ string) *Summary { return &Summary{typ: typ} }

// Add adds a field whatever its value: text for String, v for log/slog.
// Both must already be masked.
func (b *Summary) Add(name, text string, v slog.Value) *Summary {
	b.list = append(b.list, field{name, text, v})
	return b
}

// Str adds a string field that holds no secret, unless it is empty.
func (b *Summary) Str(name, s string) *Summary {
	if s == "" {
		return b
	}
	return b.Add(name, s, slog.StringValue(s))
}

// Hidden adds the placeholder mask ("[code]") for a secret field that is
// set, and nothing for one that is not: whether a secret is there may be
// shown, the secret never.
func (b *Summary) Hidden(name string, set bool, mask string) *Summary {
	if !set {
		return b
	}
	return b.Add(name, mask, slog.StringValue(mask))
}

// Bytes adds the length of secret bytes (a MAC), never the bytes.
func (b *Summary) Bytes(name string, secret []byte) *Summary {
	return b.Hidden(name, len(secret) > 0, "["+strconv.Itoa(len(secret))+" bytes]")
}

// Int adds an integer field, unless it is 0.
func (b *Summary) Int(name string, n int64) *Summary {
	if n == 0 {
		return b
	}
	return b.Add(name, strconv.FormatInt(n, 10), slog.Int64Value(n))
}

// Bool adds a boolean field, if true.
func (b *Summary) Bool(name string, v bool) *Summary {
	if !v {
		return b
	}
	return b.Add(name, "true", slog.BoolValue(true))
}

// Time adds a time field, unless it is zero.
func (b *Summary) Time(name string, t time.Time) *Summary {
	if t.IsZero() {
		return b
	}
	return b.Add(name, t.Format(time.RFC3339Nano), slog.TimeValue(t))
}

// Duration adds a duration field, unless it is 0.
func (b *Summary) Duration(name string, d time.Duration) *Summary {
	if d == 0 {
		return b
	}
	return b.Add(name, d.String(), slog.DurationValue(d))
}

// Group adds the fields of sub, a nested value, unless it has none.
func (b *Summary) Group(name string, sub *Summary) *Summary {
	if len(sub.list) == 0 {
		return b
	}
	return b.Add(name, "{"+sub.body()+"}", sub.LogValue())
}

// List adds nested values, one group each, unless there are none.
func (b *Summary) List(name string, subs []*Summary) *Summary {
	if len(subs) == 0 {
		return b
	}
	texts := make([]string, len(subs))
	attrs := make([]slog.Attr, len(subs))
	for i, s := range subs {
		texts[i] = s.String()
		attrs[i] = slog.Attr{Key: strconv.Itoa(i), Value: s.LogValue()}
	}
	return b.Add(name, "["+strings.Join(texts, " ")+"]", slog.GroupValue(attrs...))
}

// String returns the summary as "contract.Message{To:+91 ••••••3210 Code:[code]}".
func (b *Summary) String() string { return b.typ + "{" + b.body() + "}" }

func (b *Summary) body() string {
	var sb strings.Builder
	for i, f := range b.list {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(f.name)
		sb.WriteByte(':')
		sb.WriteString(f.text)
	}
	return sb.String()
}

// LogValue returns the summary as a group, keys in snake_case ("user_id").
func (b *Summary) LogValue() slog.Value {
	attrs := make([]slog.Attr, len(b.list))
	for i, f := range b.list {
		attrs[i] = slog.Attr{Key: Snake(f.name), Value: f.val}
	}
	return slog.GroupValue(attrs...)
}

// Snake turns a Go field name into a log key: "UserID" → "user_id",
// "NextSendAt" → "next_send_at", "MAC" → "mac".
func Snake(name string) string {
	rs := []rune(name)
	var sb strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				sb.WriteByte('_')
			}
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}
