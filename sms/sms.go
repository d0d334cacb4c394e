// Package sms is the SMS method of the second factor: a code texted to the
// user's number. It holds the method's settings (the code's length and
// lifetime, attempts, resend cooldowns, send budgets, countries, the
// provider's content and purposes, the send timeout) and does what the
// method does without HTTP: it decides which numbers it texts, lists the
// budgets a send draws on, makes codes and sends them through a
// [contract.Sender], keeping codes and numbers out of what the provider
// echoes. The guard (package sms2fa) is the flow around it: it reads the
// request, keeps the session, asks the store, and answers.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Method is the SMS method, configured. Build it with [New]; it is safe for
// concurrent use.
type Method struct {
	key           []byte // codes are MACed with it, as the store keeps them
	sender        contract.Sender
	codeLength    int
	codeTTL       time.Duration
	maxAttempts   int
	cooldown      time.Duration
	longTTL       bool
	content       contract.Content
	purposes      map[contract.Flow]string
	sendTimeout   time.Duration
	perUser       []Rate
	perPhone      []Rate
	perIP         []Rate
	perPrefix     []Rate
	global        []Rate
	prefixDigits  int
	ipv6Bits      int
	countries     map[string]bool // nil: any geographic region
	defaultRegion string
	block         autoBlock
}

// Rate is one send budget: Limit sends per Window.
type Rate = contract.Rate

// maxCodeLifetime is NIST SP 800-63B's ceiling for an SMS code (§5.1.3.2:
// "valid for at most 10 minutes"); longer needs AllowLongCodeLifetime.
const maxCodeLifetime = 10 * time.Minute

// sampleNumber is an Indian mobile number in Way2API's documentation, used
// only to let a MessageChecker validate the configured messages in New.
const sampleNumber = "+919876543210"

// Flows lists every flow, in a fixed order for New's checks.
var flows = [...]contract.Flow{contract.FlowLogin, contract.FlowStepUp, contract.FlowEnrol, contract.FlowChange}

// New configures the SMS method sending through sender. Every setting has a
// documented default; a combination that cannot work is an error here, and
// a sender that implements [contract.MessageChecker] is asked, here, whether
// it accepts every flow's message.
func New(sender contract.Sender, opts ...Option) (*Method, error) {
	if sender == nil {
		return nil, errors.New("sms2fa: the SMS method needs a Sender")
	}
	p := contract.DefaultPolicy()
	m := &Method{
		sender:      sender,
		codeLength:  contract.DefaultCodeLength,
		codeTTL:     p.CodeTTL,
		maxAttempts: p.MaxAttempts,
		cooldown:    p.ResendCooldown,
		content:     contract.ContentOTP,
		purposes: map[contract.Flow]string{
			contract.FlowLogin:  contract.PurposeLogin,
			contract.FlowStepUp: "transaction",
			contract.FlowEnrol:  "account_verification",
			contract.FlowChange: "profile_update",
		},
		sendTimeout: 15 * time.Second,
		// Send budgets. Per number: Twilio Verify allows 5 sends per number
		// per 10 minutes and Sentry 3 per phone per 5 minutes; 3 per 10
		// minutes with 10 a day is stricter than both. Per IP: Auth0 allows
		// 50 an hour; 20 is enough for an office behind one NAT.
		perUser:      []Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}},
		perPhone:     []Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}},
		perIP:        []Rate{{Limit: 20, Window: time.Hour}},
		perPrefix:    []Rate{{Limit: 20, Window: time.Hour}},
		prefixDigits: 6,
		ipv6Bits:     64,
		global:       []Rate{{Limit: 10000, Window: 24 * time.Hour}},
		block: autoBlock{mode: contract.PrefixOn, minSends: defaultBlockMinSends,
			conversion: defaultBlockConversion, blockFor: defaultBlockFor},
	}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	if err := m.Policy(p).Validate(); err != nil {
		return nil, err
	}
	if m.codeTTL > maxCodeLifetime && !m.longTTL {
		return nil, fmt.Errorf("sms2fa: code lifetime %v is over NIST's 10 minutes; add AllowLongCodeLifetime() if you mean it", m.codeTTL)
	}
	if mc, ok := sender.(contract.MessageChecker); ok {
		for _, f := range flows {
			sample := contract.Message{To: sampleNumber, Code: strings.Repeat("0", m.codeLength), Content: m.content, Purpose: m.purposes[f]}
			if err := mc.CheckMessage(sample); err != nil {
				return nil, fmt.Errorf("sms2fa: the sender refuses the %s message: %w", f, err)
			}
		}
	}
	return m, nil
}

// Policy returns p with the method's own limits filled in: the code's
// lifetime, its attempts and the resend cooldown. The guard adds the
// account-wide ones (lockout, grants).
func (m *Method) Policy(p contract.Policy) contract.Policy {
	p.CodeTTL, p.MaxAttempts, p.ResendCooldown = m.codeTTL, m.maxAttempts, m.cooldown
	return p
}

// Name is "sms", as grants, events and metrics say.
func (m *Method) Name() string { return "sms" }

// Bind takes the method's key from the guard's secret.
func (m *Method) Bind(derive func(label string) ([]byte, error)) error {
	return contract.BindKey(&m.key, derive, label)
}

// label is the HKDF label of the key codes are MACed with: the one codes
// were always MACed under. Changing it invalidates every pending code.
const label = "sms2fa v1 code MAC"

// CodeLength is the number of digits in a code.
func (m *Method) CodeLength() int { return m.codeLength }

// AnyCountry reports whether no country list was given: any geographic
// region is texted, which New's caller should warn about.
func (m *Method) AnyCountry() bool { return m.countries == nil }

// String names the method without its sender's secrets.
func (m *Method) String() string { return "sms.Method" }

// Send sends code to num for flow, with the flow's purpose and the method's
// content, within the send timeout, and returns the provider's receipt, how
// long the send took, and its error. Neither the receipt nor the error
// holds the code or the number in any form a provider may echo: both are
// scrubbed. The send is detached from ctx's cancellation: a visitor closing
// the tab must not cut an SMS off halfway, leaving its fate unknown.
func (m *Method) Send(ctx context.Context, num phone.Number, code string, flow contract.Flow) (contract.Receipt, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.sendTimeout)
	defer cancel()
	start := time.Now()
	receipt, err := m.sender.Send(ctx, contract.Message{To: num.E164, Code: code, Content: m.content, Purpose: m.purposes[flow]})
	took := time.Since(start)
	if err != nil {
		err = scrub(err, code, num) // a provider may echo the request; logs and events must not
	}
	receipt.ProviderID = scrubText(receipt.ProviderID, code, num)
	return receipt, took, err
}

// GoString is String, for %#v.
func (m *Method) GoString() string { return m.String() }

// Format prints String for every verb: the method's key never reaches a
// log, whatever the verb.
func (m *Method) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue logs String, for slog.Any.
func (m *Method) LogValue() slog.Value { return slog.StringValue(m.String()) }

// The method's roles, checked by the compiler.
var (
	_ contract.Method = (*Method)(nil)
	_ contract.Keyed  = (*Method)(nil)
)
