package templates

import (
	"fmt"
	"html/template"
	"log/slog"
	"strconv"

	"github.com/sms2fa/sms2fa/contract"
)

// PageData is what the code-entry page template is executed with. Every
// string is already in the user's words (see [Messages]) and safe to print:
// html/template escapes it.
type PageData struct {
	Lang       string
	Title      string
	Lead       string // "We sent a 6-digit code to +91 ••••••3210."
	Message    string // the latest news, for the aria-live region
	Alert      bool   // Message reports a problem
	Phone      string // masked
	CodeLength int
	CodeLabel  string
	Submit     string
	CanVerify  bool // show the code form
	ShowResend bool // show the resend form
	ResendWait int  // seconds until resend is allowed; the button is disabled meanwhile
	Resend     string
	ResendIn   string // the button's label during the wait
	// ResendInTemplate is ResendIn with {wait} left in, for the script's countdown.
	ResendInTemplate string
	// Units are the plural forms of the countdown's units, as JSON for the
	// script: {"s":{"one":…,"other":…},"min":…,"h":…}, chosen with the
	// browser's Intl.PluralRules for the page's lang.
	Units     string
	NoScript  string
	VerifyURL string
	ResendURL string
	StyleURL  string
	ScriptURL string
	// RememberLabel labels the "remember this device" checkbox (field
	// "remember"); empty when devices are not remembered.
	RememberLabel string
	RecoverURL    string // the recovery-code form, for a sign-in
	RecoverLink   string
	// UseSMSURL is where the form of class "use-sms" posts, on the page
	// asking for an authenticator app's code: it texts a code instead.
	// Empty on every other page, and for a user without a number.
	UseSMSURL string
	UseSMS    string // its button: "Text me a code instead"
	// UseAppURL is where the form of class "use-app" posts, on the page
	// of a texted code for a user who has an authenticator app: back to
	// the app's code. Empty otherwise.
	UseAppURL string
	UseApp    string // its button: "Use my authenticator app instead"
}

// FlowData is what the pages of the lifecycle flows (enrol, recover, the
// recovery codes) are executed with; see templates.Flows.
type FlowData struct {
	Lang       string
	Title      string
	Lead       string
	Message    string
	Alert      bool
	StyleURL   string
	Action     string   // the form's action, or the link onwards
	FieldLabel string   // the form field's label (or the list's)
	Value      string   // the field's value, to keep what was typed
	Submit     string   // the button (or link) text
	Codes      []string // recovery codes, shown once
	Links      []Link   // further links at the foot
	// The authenticator app's setup page: the QR code (inline SVG, drawn
	// by the server), the secret as grouped base32 text, and the otpauth://
	// URI as the href of a link of class "totp-uri". Remove is the form
	// removing the app the user has; empty when there is none.
	QR          template.HTML
	Key         string
	KeyLabel    string
	URI         template.URL
	URILabel    string
	Remove      string
	RemoveLabel string
}

// Link is a link at the foot of a page.
type Link struct{ URL, Text string }

func (d PageData) fields() *contract.Summary {
	return contract.Summarize("templates.PageData").
		Str("Lang", d.Lang).
		Str("Phone", contract.MaskPhone(d.Phone)).
		Int("CodeLength", int64(d.CodeLength)).
		Bool("Alert", d.Alert).
		Bool("CanVerify", d.CanVerify).
		Bool("ShowResend", d.ShowResend).
		Int("ResendWait", int64(d.ResendWait)).
		Str("VerifyURL", d.VerifyURL).
		Str("ResendURL", d.ResendURL)
}

// String summarises d — the number masked, the page's texts left out — for
// debugging; templates read d's fields and never this. A full number must
// never reach a log.
func (d PageData) String() string { return d.fields().String() }

// Format prints [PageData.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a field.
func (d PageData) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, d.String()) }

// LogValue logs d as a group, masked as [PageData.String] is, for log/slog.
func (d PageData) LogValue() slog.Value { return d.fields().LogValue() }

func (d FlowData) fields() *contract.Summary {
	b := contract.Summarize("templates.FlowData").
		Str("Lang", d.Lang).
		Str("Title", d.Title).
		Str("Action", d.Action).
		Bool("Alert", d.Alert).
		Hidden("Value", d.Value != "", "[value]"). // what was typed: a number or a recovery code
		Hidden("Key", d.Key != "", "[secret]").    // an authenticator app's secret
		Hidden("URI", d.URI != "", "[secret]")     // the same, in its otpauth:// URI
	if len(d.Codes) > 0 {
		b.Add("Codes", "["+strconv.Itoa(len(d.Codes))+" codes]", slog.IntValue(len(d.Codes)))
	}
	return b
}

// String summarises d for debugging without the recovery codes it shows
// once (only how many) or the value typed into its form (a number or a
// recovery code); templates read d's fields and never this.
func (d FlowData) String() string { return d.fields().String() }

// Format prints [FlowData.String] for every verb (%v, %+v, %#v, %s, %q, %x,
// %d, …), so that no verb reaches a recovery code or a typed number.
func (d FlowData) Format(f fmt.State, verb rune) { contract.FormatMasked(f, verb, d.String()) }

// LogValue logs d as a group, masked as [FlowData.String] is, for log/slog:
// a log line must never hold a recovery code or a full number.
func (d FlowData) LogValue() slog.Value { return d.fields().LogValue() }
