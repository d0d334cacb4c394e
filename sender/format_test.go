package sender_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

// TestFormattingHidesTheKey prints everything that holds or configures the
// API key — a *Way2API, a copy of the Way2API value, its options, the
// stand-in server — with every fmt verb and through both slog handlers, and
// looks for the key in the output. (A copy of the stand-in's Server value is
// not reachable: it holds a mutex, and go vet refuses the copy.)
func TestFormattingHidesTheKey(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, _ := newSender(t, srv, sender.WithPurpose("transaction"), sender.WithShareWith("admin"))
	subjects := []struct {
		name string
		v    any
	}{
		{"*Way2API", w},
		{"Way2API copy", *w},
		{"[]any{*Way2API}", []any{w}},
		{"struct holding *Way2API", struct{ S *sender.Way2API }{w}},
		{"Way2APIOption", sender.WithBaseURL(srv.URL())},
		{"[]Way2APIOption", []sender.Way2APIOption{sender.WithContent(contract.ContentPIN), sender.WithMaxTries(2), sender.WithTimeBudget(time.Second)}},
		{"*way2apitest.Server", srv},
		{"struct holding *way2apitest.Server", struct{ S *way2apitest.Server }{srv}},
	}
	slogOut := func(newHandler func(*bytes.Buffer) slog.Handler, attr func(any) slog.Attr) func(any) string {
		return func(v any) string {
			var buf bytes.Buffer
			slog.New(newHandler(&buf)).Info("configured", attr(v))
			return buf.String()
		}
	}
	jsonH := func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }
	textH := func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }
	anyAttr := func(v any) slog.Attr { return slog.Any("sender", v) }
	groupAttr := func(v any) slog.Attr { return slog.Group("deps", slog.Any("sender", v)) }
	renderers := []struct {
		name   string
		render func(any) string
	}{
		{"%v", func(v any) string { return fmt.Sprintf("%v", v) }},
		{"%+v", func(v any) string { return fmt.Sprintf("%+v", v) }},
		{"%#v", func(v any) string { return fmt.Sprintf("%#v", v) }},
		{"%s", func(v any) string { return fmt.Sprintf("%s", v) }},
		{"%q", func(v any) string { return fmt.Sprintf("%q", v) }},
		{"%x", func(v any) string { return fmt.Sprintf("%x", v) }},
		{"%d", func(v any) string { return fmt.Sprintf("%d", v) }},
		{"fmt.Sprint", func(v any) string { return fmt.Sprint(v) }},
		{"fmt.Sprintln", func(v any) string { return fmt.Sprintln(v) }},
		{"slog.Any JSON", slogOut(jsonH, anyAttr)},
		{"slog.Any text", slogOut(textH, anyAttr)},
		{"slog.Group JSON", slogOut(jsonH, groupAttr)},
		{"slog.Group text", slogOut(textH, groupAttr)},
	}
	// The key in hexadecimal too: %x of a string field would print it so.
	hexKey := fmt.Sprintf("%x", testKey)
	for _, s := range subjects {
		for _, r := range renderers {
			out := r.render(s.v)
			if strings.Contains(out, testKey) || strings.Contains(out, "SECRET") || strings.Contains(out, hexKey) {
				t.Errorf("%s of %s leaks the API key: %s", r.name, s.name, out)
			}
		}
	}
	// The redaction shows, so that nobody "fixes" a missing field by
	// printing the key.
	for _, s := range []fmt.Stringer{w, srv} {
		if !strings.Contains(s.String(), "[REDACTED]") {
			t.Errorf("String() = %q, want the key shown as [REDACTED]", s)
		}
	}
	var nilSrv *way2apitest.Server
	_ = fmt.Sprintf("%v %#v %s", nilSrv, nilSrv, nilSrv.LogValue()) // must not panic
}
