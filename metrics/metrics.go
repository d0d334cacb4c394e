package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/phone"
)

// Other is the label value of everything outside a label's closed set: a
// region not in [Options.Regions], an event without a region, a budget, a
// "how" or a "why" this package does not know (a newer guard's, say).
const Other = "other"

// DefaultSendBuckets are the upper bounds, in seconds, of the buckets of
// sms2fa_send_duration_seconds: an HTTP SMS API answers in tens to hundreds
// of milliseconds, slows to seconds when it retries, and is cut off at the
// guard's send timeout (15 s by default).
var DefaultSendBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15}

// Options configures [New]. The zero value is valid.
type Options struct {
	// Regions are the ISO 3166 regions ("IN", "GB"; "001" for the
	// non-geographic numbers) that get a region label of their own: give the
	// ones of sms2fa.WithCountries. Every other region, and an event without
	// one, counts as "other". Default: none, so every send counts as "other"
	// and the SMS-pumping alarm sees only the total.
	Regions []string
	// SendBuckets are the histogram buckets of sms2fa_send_duration_seconds,
	// in seconds, increasing. Default: DefaultSendBuckets.
	SendBuckets []float64
}

// The closed sets of label values, "other" last where there is one.
var (
	sendOutcomes     = [...]string{"sent", "resent", "failed"}
	durationOutcomes = [...]string{"sent", "failed"}
	verifyOutcomes   = [...]string{"verified", "invalid", "locked", "challenge_dead"}
	appOutcomes      = [...]string{"verified", "invalid", "locked"} // verifyOutcomes' first three: an app's code has no challenge to kill
	budgets          = []string{"user", "phone", "ip", "prefix", "global", "prefix_blocked", "country", "phone_unusable", Other}
	blockModes       = [...]string{"on", "monitor", "operator"}
	blockOutcomes    = [...]string{"refused", "monitor", "known_good"}
	hows             = []string{"sms", "recovery", "device", "totp", Other}
	whys             = []string{"logout", "sign_out_everywhere", "replaced", Other}
)

// Indexes into sendOutcomes, durationOutcomes and verifyOutcomes.
const (
	sent, resent, failed            = 0, 1, 2
	okDuration, failedDuration      = 0, 1
	verified, invalid, locked, dead = 0, 1, 2, 3
)

// Metrics turns the guard's events into Prometheus metrics. It is a
// [prometheus.Collector]: register it on the registry of your choice (it
// never registers itself), and pass [Metrics.Hook] to sms2fa.WithEvents.
// One Metrics may serve several guards. It is safe for concurrent use.
type Metrics struct {
	vecs []prometheus.Collector // every metric, for Describe and Collect

	region map[string]int // configured region → index; any other is the last index, "other"

	// Children resolved once, so the hook takes no lock and allocates
	// nothing, as WithLabelValues would.
	sends    [][len(sendOutcomes)]prometheus.Counter   // [region][outcome]
	verifies [][len(verifyOutcomes)]prometheus.Counter // [region][outcome]
	// The prefix block: blocks started, and sends that met a block, by
	// region and mode or outcome (no prefix label: prefixes are unbounded).
	blocks     [][len(blockModes)]prometheus.Counter
	blockSends [][len(blockOutcomes)]prometheus.Counter
	// apps are authenticator-app codes, kept apart from verifies: no SMS
	// was sent for them, and the verified/sent ratio that shows SMS
	// pumping must count only codes that were texted.
	apps      [len(appOutcomes)]prometheus.Counter
	duration  [len(durationOutcomes)]prometheus.Observer
	refusals  map[string]prometheus.Counter
	created   map[string]prometheus.Counter
	revoked   map[string]prometheus.Counter
	refreshed prometheus.Counter
	lockouts  prometheus.Counter
	unlocks   prometheus.Counter
}

// New builds the metrics, every series of them at 0 — so that rate() and
// increase() work from the first scrape. It returns an error for a region
// that is not an ISO 3166 region phone numbers are known for (or "001"), or
// for buckets that do not increase.
func New(opts Options) (*Metrics, error) {
	regions := make([]string, 0, len(opts.Regions)+1)
	for _, r := range opts.Regions {
		if !phone.ValidCountry(r) {
			return nil, fmt.Errorf("metrics: region %q is not an ISO 3166 region code like IN (or 001)", r)
		}
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	regions = append(regions, Other)
	buckets := DefaultSendBuckets
	if opts.SendBuckets != nil {
		buckets = opts.SendBuckets
	}
	if len(buckets) == 0 {
		return nil, errors.New("metrics: SendBuckets is empty")
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("metrics: SendBuckets must increase, got %v", buckets)
		}
	}

	m := &Metrics{region: make(map[string]int, len(regions))}
	sends := m.counterVec("sms2fa_sends_total",
		"Codes the guard handed to the SMS sender, by region of the number and outcome: sent (a new challenge's code), resent (a replacement code), failed (the sender returned an error). Sends refused before reaching the sender are in sms2fa_send_refusals_total.",
		"region", "outcome")
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sms2fa_send_duration_seconds",
		Help:    "How long the SMS sender took for one code, retries included, by outcome: sent (sent or resent) or failed.",
		Buckets: slices.Clone(buckets),
	}, []string{"outcome"})
	m.vecs = append(m.vecs, duration)
	verifies := m.counterVec("sms2fa_verifications_total",
		"Codes checked, by region of the number and outcome: verified (right), invalid (wrong, each one), locked (the wrong code also locked the user), challenge_dead (the wrong code also used the challenge's last attempt).",
		"region", "outcome")
	apps := m.counterVec("sms2fa_app_verifications_total",
		"Codes from authenticator apps checked, by outcome: verified, invalid, locked (as in sms2fa_verifications_total). Not counted there: its ratio to sends is about texted codes.",
		"outcome")
	refusals := m.counterVec("sms2fa_send_refusals_total",
		"Sends refused before reaching the SMS sender, by what refused them: a send budget (user, phone, ip, prefix, global), the country list (country) or a number that cannot receive codes (phone_unusable).",
		"budget")
	created := m.counterVec("sms2fa_grants_created_total",
		"Second factors completed (grants created), by how: sms, recovery, device, totp.",
		"how")
	revoked := m.counterVec("sms2fa_grants_revoked_total",
		"Grants revoked by the guard, by why: logout, sign_out_everywhere, replaced (by a recovery sign-in in the same browser). A bulk revocation adds every grant it ended.",
		"why")
	m.refreshed = m.counter("sms2fa_grants_refreshed_total", "Step-up codes verified, each freshening a grant.")
	m.lockouts = m.counter("sms2fa_lockouts_total", "Users locked by consecutive wrong codes.")
	m.unlocks = m.counter("sms2fa_unlocks_total", "Lockouts cleared by an admin (Guard.Unlock).")
	blocks := m.counterVec("sms2fa_prefix_blocks_total",
		"Number prefixes blocked, by region of the send that started the block (other for an operator's) and mode: on (refusing), monitor (decided, nothing refused), operator (Guard.BlockPrefix).",
		"region", "mode")
	blockSends := m.counterVec("sms2fa_prefix_block_sends_total",
		"Sends that met a blocked number prefix, by region and outcome: refused, monitor (sent: the block only monitors), known_good (sent: the number was verified for its user in the last 30 days).",
		"region", "outcome")

	for i, r := range regions {
		m.region[r] = i
		var s [len(sendOutcomes)]prometheus.Counter
		for j, o := range sendOutcomes {
			s[j] = sends.WithLabelValues(r, o)
		}
		var v [len(verifyOutcomes)]prometheus.Counter
		for j, o := range verifyOutcomes {
			v[j] = verifies.WithLabelValues(r, o)
		}
		m.sends, m.verifies = append(m.sends, s), append(m.verifies, v)
		var b [len(blockModes)]prometheus.Counter
		for j, o := range blockModes {
			b[j] = blocks.WithLabelValues(r, o)
		}
		var bs [len(blockOutcomes)]prometheus.Counter
		for j, o := range blockOutcomes {
			bs[j] = blockSends.WithLabelValues(r, o)
		}
		m.blocks, m.blockSends = append(m.blocks, b), append(m.blockSends, bs)
	}
	delete(m.region, Other) // "other" is the fallback, never a match
	for i, o := range appOutcomes {
		m.apps[i] = apps.WithLabelValues(o)
	}
	for i, o := range durationOutcomes {
		m.duration[i] = duration.WithLabelValues(o)
	}
	m.refusals = children(refusals, budgets)
	m.created = children(created, hows)
	m.revoked = children(revoked, whys)
	return m, nil
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.vecs = append(m.vecs, v)
	return v
}

func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.vecs = append(m.vecs, c)
	return c
}

// children creates the series of v for each of values, its only label.
func children(v *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	cs := make(map[string]prometheus.Counter, len(values))
	for _, val := range values {
		cs[val] = v.WithLabelValues(val)
	}
	return cs
}

// Describe sends the descriptors of every metric; part of
// [prometheus.Collector].
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range m.vecs {
		v.Describe(ch)
	}
}

// Collect sends every series; part of [prometheus.Collector].
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, v := range m.vecs {
		v.Collect(ch)
	}
}

// Register registers m on reg, as reg.Register(m) does: an app passes its
// own registry, or prometheus.DefaultRegisterer if it chooses to.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return errors.New("metrics: Register: nil registerer")
	}
	return reg.Register(m)
}

// Hook counts one event. Pass it to sms2fa.WithEvents, beside any hook of
// your own: it runs on the request's goroutine, so it only increments
// counters — no allocation, no lock, no I/O. Events of kinds it does not know
// (a newer guard's) are ignored; label values outside their closed sets count
// as "other".
func (m *Metrics) Hook(_ context.Context, e sms2fa.Event) {
	switch e.Kind {
	case sms2fa.EventCodeSent:
		m.send(e, sent, okDuration)
		m.blockSend(e)
	case sms2fa.EventCodeResent:
		m.send(e, resent, okDuration)
		m.blockSend(e)
	case sms2fa.EventSendFailed:
		m.send(e, failed, failedDuration)
	case sms2fa.EventSendRefused, sms2fa.EventGlobalLimit:
		m.refusals[budgetOf(e)].Inc()
		m.blockSend(e)
	case sms2fa.EventPrefixBlocked:
		if i := slices.Index(blockModes[:], e.How); i >= 0 {
			m.blocks[m.regionOf(e)][i].Inc()
		}
	case sms2fa.EventVerified:
		m.verify(e, verified)
	case sms2fa.EventCodeInvalid:
		m.verify(e, invalid)
	case sms2fa.EventChallengeDead:
		m.verify(e, dead)
	case sms2fa.EventUserLocked:
		m.verify(e, locked)
		m.lockouts.Inc()
	case sms2fa.EventUnlocked:
		m.unlocks.Inc()
	case sms2fa.EventGrantCreated:
		m.created[oneOf(m.created, e.How)].Inc()
	case sms2fa.EventGrantRefreshed:
		m.refreshed.Inc()
	case sms2fa.EventGrantRevoked:
		if e.Count > 0 {
			m.revoked[oneOf(m.revoked, e.How)].Add(float64(e.Count))
		}
	}
}

// verify counts a checked code: an authenticator app's apart from texted
// ones.
func (m *Metrics) verify(e sms2fa.Event, outcome int) {
	if e.How == appHow {
		if outcome < len(m.apps) {
			m.apps[outcome].Inc()
		}
		return
	}
	m.verifies[m.regionOf(e)][outcome].Inc()
}

// blockSend counts a send that met a blocked prefix: refused (a
// send_refused of budget prefix_blocked), or sent under it (a code_sent or
// code_resent whose How says why: monitor, known_good).
func (m *Metrics) blockSend(e sms2fa.Event) {
	outcome := e.How
	if e.Kind == sms2fa.EventSendRefused {
		if e.Budget != "prefix_blocked" {
			return
		}
		outcome = "refused"
	}
	if i := slices.Index(blockOutcomes[:], outcome); i >= 0 {
		m.blockSends[m.regionOf(e)][i].Inc()
	}
}

// appHow is the How of an authenticator app's events.
const appHow = "totp"

func (m *Metrics) send(e sms2fa.Event, outcome, durationOutcome int) {
	m.sends[m.regionOf(e)][outcome].Inc()
	m.duration[durationOutcome].Observe(max(e.Latency.Seconds(), 0))
}

// regionOf is the index of e's region label.
func (m *Metrics) regionOf(e sms2fa.Event) int {
	if i, ok := m.region[e.Region]; ok {
		return i
	}
	return len(m.sends) - 1 // other
}

// budgetOf names what refused a send. A refusal without a budget is the
// number's: its country is not allowed, or it cannot receive codes.
func budgetOf(e sms2fa.Event) string {
	switch {
	case e.Kind == sms2fa.EventGlobalLimit:
		return "global"
	case e.Budget != "":
		if slices.Contains(budgets, e.Budget) {
			return e.Budget
		}
	case errors.Is(e.Err, sms2fa.ErrCountryNotAllowed):
		return "country"
	case errors.Is(e.Err, sms2fa.ErrInvalidPhone):
		return "phone_unusable"
	}
	return Other
}

// oneOf returns v if it is one of cs's label values, else "other".
func oneOf(cs map[string]prometheus.Counter, v string) string {
	if _, ok := cs[v]; ok {
		return v
	}
	return Other
}
