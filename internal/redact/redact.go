// Package redact builds the masked summaries that the module's exported
// types print instead of their fields: with any fmt verb (through
// [Format]) and through log/slog (through [Fields.LogValue]). A code never
// appears in them, and a phone number only in its masked form; the types
// call them from their String, Format and LogValue methods.
package redact

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Format writes s, a value's masked summary, for any verb: %q quotes it (its
// flags honoured), every other verb — %v, %+v, %#v, %s, %x, %X, %d, … —
// writes it as text, padded to the width asked for. No verb reaches the
// value's fields, so neither %x nor %d can encode a secret either.
func Format(f fmt.State, verb rune, s string) {
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

// Fields is the masked summary of one value: its fields' names and the
// forms of their values that may be shown. Fields at their zero value are
// left out, as in the guard's event logs. The zero Fields is empty; start
// one with [Of].
type Fields struct {
	typ  string
	list []field
}

type field struct {
	name string     // the Go field name; snake_case in logs
	text string     // for String
	val  slog.Value // for LogValue
}

// Of starts the summary of a value of type typ ("sms2fa.Message").
func Of(typ string) *Fields { return &Fields{typ: typ} }

// Add adds a field whatever its value: text for String, v for log/slog.
// Both must already be masked.
func (b *Fields) Add(name, text string, v slog.Value) *Fields {
	b.list = append(b.list, field{name, text, v})
	return b
}

// Str adds a string field that holds no secret, unless it is empty.
func (b *Fields) Str(name, s string) *Fields {
	if s == "" {
		return b
	}
	return b.Add(name, s, slog.StringValue(s))
}

// Hidden adds the placeholder mask ("[code]") for a secret field that is
// set, and nothing for one that is not: whether a secret is there may be
// shown, the secret never.
func (b *Fields) Hidden(name string, set bool, mask string) *Fields {
	if !set {
		return b
	}
	return b.Add(name, mask, slog.StringValue(mask))
}

// Bytes adds the length of secret bytes (a MAC), never the bytes.
func (b *Fields) Bytes(name string, secret []byte) *Fields {
	return b.Hidden(name, len(secret) > 0, "["+strconv.Itoa(len(secret))+" bytes]")
}

// Int adds an integer field, unless it is 0.
func (b *Fields) Int(name string, n int64) *Fields {
	if n == 0 {
		return b
	}
	return b.Add(name, strconv.FormatInt(n, 10), slog.Int64Value(n))
}

// Bool adds a boolean field, if true.
func (b *Fields) Bool(name string, v bool) *Fields {
	if !v {
		return b
	}
	return b.Add(name, "true", slog.BoolValue(true))
}

// Time adds a time field, unless it is zero.
func (b *Fields) Time(name string, t time.Time) *Fields {
	if t.IsZero() {
		return b
	}
	return b.Add(name, t.Format(time.RFC3339Nano), slog.TimeValue(t))
}

// Duration adds a duration field, unless it is 0.
func (b *Fields) Duration(name string, d time.Duration) *Fields {
	if d == 0 {
		return b
	}
	return b.Add(name, d.String(), slog.DurationValue(d))
}

// Group adds the fields of sub, a nested value, unless it has none.
func (b *Fields) Group(name string, sub *Fields) *Fields {
	if len(sub.list) == 0 {
		return b
	}
	return b.Add(name, "{"+sub.body()+"}", sub.LogValue())
}

// List adds nested values, one group each, unless there are none.
func (b *Fields) List(name string, subs []*Fields) *Fields {
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

// String returns the summary as "sms2fa.Message{To:+91 ••••••3210 Code:[code]}".
func (b *Fields) String() string { return b.typ + "{" + b.body() + "}" }

func (b *Fields) body() string {
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
func (b *Fields) LogValue() slog.Value {
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
