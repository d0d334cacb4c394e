package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/metrics"
)

// newMetrics returns metrics for regions on a fresh registry.
func newMetrics(t *testing.T, regions ...string) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	m, err := metrics.New(metrics.Options{Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// series gathers reg into one value per series, keyed
// name{label="value",…}: a counter's value, a histogram's sample count (as
// name_count{…}).
func series(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name, v := f.GetName(), 0.0
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				name += "_count"
				v = float64(m.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("%s: unexpected type %v", f.GetName(), f.GetType())
			}
			out[key(name, m.GetLabel())] = v
		}
	}
	return out
}

func key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// expectedSeries lists every series metrics for regions must export, written
// out here rather than taken from the package, as a dashboard author would
// read them in the documentation.
func expectedSeries(regions ...string) []string {
	var out []string
	for _, r := range append(regions, "other") {
		for _, o := range []string{"sent", "resent", "failed"} {
			out = append(out, fmt.Sprintf(`sms2fa_sends_total{outcome=%q,region=%q}`, o, r))
		}
		for _, o := range []string{"verified", "invalid", "locked", "challenge_dead"} {
			out = append(out, fmt.Sprintf(`sms2fa_verifications_total{outcome=%q,region=%q}`, o, r))
		}
		for _, o := range []string{"on", "monitor", "operator"} {
			out = append(out, fmt.Sprintf(`sms2fa_prefix_blocks_total{mode=%q,region=%q}`, o, r))
		}
		for _, o := range []string{"refused", "monitor", "known_good"} {
			out = append(out, fmt.Sprintf(`sms2fa_prefix_block_sends_total{outcome=%q,region=%q}`, o, r))
		}
	}
	for _, o := range []string{"verified", "invalid", "locked"} {
		out = append(out, fmt.Sprintf(`sms2fa_app_verifications_total{outcome=%q}`, o))
	}
	for _, o := range []string{"sent", "failed"} {
		out = append(out, fmt.Sprintf(`sms2fa_send_duration_seconds_count{outcome=%q}`, o))
	}
	for _, b := range []string{"user", "phone", "ip", "prefix", "global", "prefix_blocked", "country", "phone_unusable", "other"} {
		out = append(out, fmt.Sprintf(`sms2fa_send_refusals_total{budget=%q}`, b))
	}
	for _, h := range []string{"sms", "recovery", "device", "totp", "other"} {
		out = append(out, fmt.Sprintf(`sms2fa_grants_created_total{how=%q}`, h))
	}
	for _, w := range []string{"logout", "sign_out_everywhere", "replaced", "other"} {
		out = append(out, fmt.Sprintf(`sms2fa_grants_revoked_total{why=%q}`, w))
	}
	return append(out, "sms2fa_grants_refreshed_total", "sms2fa_lockouts_total", "sms2fa_unlocks_total")
}

// assertExactly checks that reg exports exactly the series of
// expectedSeries(regions...), each at 0 except those in want.
func assertExactly(t *testing.T, reg prometheus.Gatherer, want map[string]float64, regions ...string) {
	t.Helper()
	got := series(t, reg)
	expected := expectedSeries(regions...)
	for k := range want {
		if !slices.Contains(expected, k) {
			t.Fatalf("the test expects %s, which is not a known series", k)
		}
	}
	for _, k := range expected {
		v, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing series %s", k)
		case v != want[k]:
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !slices.Contains(expected, k) {
			t.Errorf("unexpected series %s = %v", k, got[k])
		}
	}
}

func TestEverySeriesStartsAtZero(t *testing.T) {
	_, reg := newMetrics(t, "IN", "GB", "001")
	assertExactly(t, reg, nil, "IN", "GB", "001")

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sms2fa_send_duration_seconds" {
			continue
		}
		var bounds []float64
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		if !slices.Equal(bounds, metrics.DefaultSendBuckets) {
			t.Errorf("buckets %v, want %v", bounds, metrics.DefaultSendBuckets)
		}
	}
}

func TestNoRegionsMeansEverythingIsOther(t *testing.T) {
	m, reg := newMetrics(t)
	m.Hook(context.Background(), sms2fa.Event{Kind: sms2fa.EventCodeSent, Region: "IN"})
	assertExactly(t, reg, map[string]float64{
		`sms2fa_sends_total{outcome="sent",region="other"}`:  1,
		`sms2fa_send_duration_seconds_count{outcome="sent"}`: 1,
	})
}

func TestLint(t *testing.T) {
	m, _ := newMetrics(t, "IN")
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, opts := range map[string]metrics.Options{
		"lower case":          {Regions: []string{"in"}},
		"not a region":        {Regions: []string{"XX"}},
		"a name":              {Regions: []string{"India"}},
		"other":               {Regions: []string{"other"}},
		"empty region":        {Regions: []string{""}},
		"buckets not sorted":  {SendBuckets: []float64{1, 0.5}},
		"buckets repeated":    {SendBuckets: []float64{1, 1}},
		"buckets empty slice": {SendBuckets: []float64{}},
	} {
		if _, err := metrics.New(opts); err == nil {
			t.Errorf("%s: New(%+v) accepted", name, opts)
		}
	}
	m, err := metrics.New(metrics.Options{Regions: []string{"IN", "IN", "001"}, SendBuckets: []float64{0.1, 1}})
	if err != nil {
		t.Fatalf("a repeated region and custom buckets: %v", err)
	}
	if n := testutil.CollectAndCount(m, "sms2fa_sends_total"); n != 3*3 {
		t.Errorf("IN, 001 and other: %d sends series, want 9", n)
	}
}

func TestRegister(t *testing.T) {
	m, reg := newMetrics(t, "IN")
	if err := m.Register(reg); !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		t.Errorf("registering twice: %v, want AlreadyRegisteredError", err)
	}
	if err := m.Register(nil); err == nil {
		t.Error("Register(nil) accepted")
	}
	// A collector like any other: MustRegister works on another registry.
	prometheus.NewRegistry().MustRegister(m)
}

func TestHook(t *testing.T) {
	m, reg := newMetrics(t, "IN", "001")
	ctx := context.Background()
	budget := func(name string) error {
		return &contract.LimitError{Err: contract.ErrBudgetExceeded, Budget: name, Until: time.Now()}
	}
	for _, e := range []sms2fa.Event{
		{Kind: sms2fa.EventCodeSent, Region: "IN", Flow: contract.FlowLogin, Latency: 300 * time.Millisecond, UserID: "u1", Phone: "+91 ••••••3210", IP: "192.0.2.1", ProviderID: "order-1"},
		{Kind: sms2fa.EventCodeSent, Region: "IN", Flow: contract.FlowStepUp, Latency: 20 * time.Second},
		{Kind: sms2fa.EventCodeSent, Region: "GB", Latency: time.Second},        // not configured: other
		{Kind: sms2fa.EventCodeSent, Region: "", Latency: time.Second},          // no region: other
		{Kind: sms2fa.EventCodeResent, Region: "001", Latency: 2 * time.Second}, //
		{Kind: sms2fa.EventSendFailed, Region: "IN", Latency: 15 * time.Second, Err: errors.New("provider said: 500 internal")},
		{Kind: sms2fa.EventSendFailed, Region: "IN", Latency: -time.Second, Err: contract.ErrMaybeSent},

		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "user", Err: budget("user")},
		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "phone", Err: budget("phone")},
		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "ip", Err: budget("ip")},
		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "prefix", Err: budget("prefix")},
		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "prefix", Err: budget("prefix")},
		{Kind: sms2fa.EventGlobalLimit, Region: "IN", Budget: "global", Err: budget("global")},
		{Kind: sms2fa.EventSendRefused, Err: fmt.Errorf("%w: GB", sms2fa.ErrCountryNotAllowed)},
		{Kind: sms2fa.EventSendRefused, Err: fmt.Errorf("%w: not mobile", sms2fa.ErrInvalidPhone)},
		{Kind: sms2fa.EventSendRefused, Budget: "weekly", Err: budget("weekly")}, // a budget of a newer guard
		{Kind: sms2fa.EventSendRefused, Err: errors.New("something new")},

		{Kind: sms2fa.EventCodeInvalid, Region: "IN", AttemptsLeft: 4},
		{Kind: sms2fa.EventCodeInvalid, Region: "IN", AttemptsLeft: 0},
		{Kind: sms2fa.EventChallengeDead, Region: "IN"},
		{Kind: sms2fa.EventCodeInvalid, Region: "001"},
		{Kind: sms2fa.EventUserLocked, Region: "001", Until: time.Now().Add(time.Hour)},
		{Kind: sms2fa.EventVerified, Region: "IN"},
		{Kind: sms2fa.EventVerified, Region: "FR"},
		{Kind: sms2fa.EventUnlocked, UserID: "u1"},
		// An authenticator app's codes: counted apart from texted ones.
		{Kind: sms2fa.EventVerified, How: "totp"},
		{Kind: sms2fa.EventCodeInvalid, How: "totp"},
		{Kind: sms2fa.EventCodeInvalid, How: "totp"},
		{Kind: sms2fa.EventUserLocked, How: "totp"},
		{Kind: sms2fa.EventGrantCreated, How: "totp"},

		{Kind: sms2fa.EventGrantCreated, How: "sms", Region: "IN"},
		{Kind: sms2fa.EventGrantCreated, How: "recovery"},
		{Kind: sms2fa.EventGrantCreated, How: "device"},
		{Kind: sms2fa.EventGrantCreated, How: "carrier pigeon"},
		{Kind: sms2fa.EventGrantRefreshed, How: "sms"},
		{Kind: sms2fa.EventGrantRevoked, How: "logout", Count: 1},
		{Kind: sms2fa.EventGrantRevoked, How: "sign_out_everywhere", Count: 7}, // bulk: Count, not 1
		{Kind: sms2fa.EventGrantRevoked, How: "sign_out_everywhere", Count: 0}, // nothing was live
		{Kind: sms2fa.EventGrantRevoked, How: "replaced", Count: 2},
		{Kind: sms2fa.EventGrantRevoked, How: "expired?", Count: 1},

		// Kinds of a newer guard, and nonsense: ignored.
		{Kind: "recovery_code_used", Region: "IN", How: "recovery", Count: 5},
		{Kind: "", Region: "IN"},
	} {
		m.Hook(ctx, e)
	}

	assertExactly(t, reg, map[string]float64{
		`sms2fa_sends_total{outcome="sent",region="IN"}`:       2,
		`sms2fa_sends_total{outcome="sent",region="other"}`:    2,
		`sms2fa_sends_total{outcome="resent",region="001"}`:    1,
		`sms2fa_sends_total{outcome="failed",region="IN"}`:     2,
		`sms2fa_send_duration_seconds_count{outcome="sent"}`:   5,
		`sms2fa_send_duration_seconds_count{outcome="failed"}`: 2,

		`sms2fa_send_refusals_total{budget="user"}`:           1,
		`sms2fa_send_refusals_total{budget="phone"}`:          1,
		`sms2fa_send_refusals_total{budget="ip"}`:             1,
		`sms2fa_send_refusals_total{budget="prefix"}`:         2,
		`sms2fa_send_refusals_total{budget="global"}`:         1,
		`sms2fa_send_refusals_total{budget="country"}`:        1,
		`sms2fa_send_refusals_total{budget="phone_unusable"}`: 1,
		`sms2fa_send_refusals_total{budget="other"}`:          2,

		`sms2fa_verifications_total{outcome="invalid",region="IN"}`:        2,
		`sms2fa_verifications_total{outcome="challenge_dead",region="IN"}`: 1,
		`sms2fa_verifications_total{outcome="invalid",region="001"}`:       1,
		`sms2fa_verifications_total{outcome="locked",region="001"}`:        1,
		`sms2fa_verifications_total{outcome="verified",region="IN"}`:       1,
		`sms2fa_verifications_total{outcome="verified",region="other"}`:    1,
		`sms2fa_app_verifications_total{outcome="verified"}`:               1,
		`sms2fa_app_verifications_total{outcome="invalid"}`:                2,
		`sms2fa_app_verifications_total{outcome="locked"}`:                 1,
		`sms2fa_lockouts_total`: 2,
		`sms2fa_unlocks_total`:  1,

		`sms2fa_grants_created_total{how="sms"}`:                 1,
		`sms2fa_grants_created_total{how="recovery"}`:            1,
		`sms2fa_grants_created_total{how="device"}`:              1,
		`sms2fa_grants_created_total{how="totp"}`:                1,
		`sms2fa_grants_created_total{how="other"}`:               1,
		`sms2fa_grants_refreshed_total`:                          1,
		`sms2fa_grants_revoked_total{why="logout"}`:              1,
		`sms2fa_grants_revoked_total{why="sign_out_everywhere"}`: 7,
		`sms2fa_grants_revoked_total{why="replaced"}`:            2,
		`sms2fa_grants_revoked_total{why="other"}`:               1,
	}, "IN", "001")

	// The same, as the exposition format shows it, for the small families.
	const want = `
# HELP sms2fa_grants_revoked_total Grants revoked by the guard, by why: logout, sign_out_everywhere, replaced (by a recovery sign-in in the same browser). A bulk revocation adds every grant it ended.
# TYPE sms2fa_grants_revoked_total counter
sms2fa_grants_revoked_total{why="logout"} 1
sms2fa_grants_revoked_total{why="other"} 1
sms2fa_grants_revoked_total{why="replaced"} 2
sms2fa_grants_revoked_total{why="sign_out_everywhere"} 7
# HELP sms2fa_lockouts_total Users locked by consecutive wrong codes.
# TYPE sms2fa_lockouts_total counter
sms2fa_lockouts_total 2
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "sms2fa_grants_revoked_total", "sms2fa_lockouts_total"); err != nil {
		t.Error(err)
	}

	// The latencies went into the right buckets: 0.3 s, 1 s, 1 s, 2 s, 20 s
	// for sends; 15 s and a clock gone backwards (0) for failures.
	const buckets = `
# HELP sms2fa_send_duration_seconds How long the SMS sender took for one code, retries included, by outcome: sent (sent or resent) or failed.
# TYPE sms2fa_send_duration_seconds histogram
sms2fa_send_duration_seconds_bucket{outcome="failed",le="0.05"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="0.1"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="0.25"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="0.5"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="1"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="2.5"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="5"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="10"} 1
sms2fa_send_duration_seconds_bucket{outcome="failed",le="15"} 2
sms2fa_send_duration_seconds_bucket{outcome="failed",le="+Inf"} 2
sms2fa_send_duration_seconds_sum{outcome="failed"} 15
sms2fa_send_duration_seconds_count{outcome="failed"} 2
sms2fa_send_duration_seconds_bucket{outcome="sent",le="0.05"} 0
sms2fa_send_duration_seconds_bucket{outcome="sent",le="0.1"} 0
sms2fa_send_duration_seconds_bucket{outcome="sent",le="0.25"} 0
sms2fa_send_duration_seconds_bucket{outcome="sent",le="0.5"} 1
sms2fa_send_duration_seconds_bucket{outcome="sent",le="1"} 3
sms2fa_send_duration_seconds_bucket{outcome="sent",le="2.5"} 4
sms2fa_send_duration_seconds_bucket{outcome="sent",le="5"} 4
sms2fa_send_duration_seconds_bucket{outcome="sent",le="10"} 4
sms2fa_send_duration_seconds_bucket{outcome="sent",le="15"} 4
sms2fa_send_duration_seconds_bucket{outcome="sent",le="+Inf"} 5
sms2fa_send_duration_seconds_sum{outcome="sent"} 24.3
sms2fa_send_duration_seconds_count{outcome="sent"} 5
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(buckets), "sms2fa_send_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// The prefix block: blocks counted by mode, sends that met one by outcome,
// by region, and a refusal by the block also as a refusal.
func TestHookPrefixBlock(t *testing.T) {
	m, reg := newMetrics(t, "IN")
	block := &contract.PrefixBlock{Prefix: "+91987654"}
	refused := &contract.LimitError{Err: contract.ErrPrefixBlocked, Budget: "prefix_blocked"}
	for _, e := range []sms2fa.Event{
		{Kind: sms2fa.EventPrefixBlocked, Region: "IN", How: "on", Block: block},
		{Kind: sms2fa.EventPrefixBlocked, Region: "IN", How: "monitor", Block: block},
		{Kind: sms2fa.EventPrefixBlocked, How: "operator", Block: block},
		{Kind: sms2fa.EventPrefixBlocked, Region: "IN", How: "someday", Block: block}, // a newer mode: not counted
		{Kind: sms2fa.EventSendRefused, Region: "IN", Budget: "prefix_blocked", Err: refused},
		{Kind: sms2fa.EventSendRefused, Region: "GB", Budget: "prefix_blocked", Err: refused},
		{Kind: sms2fa.EventCodeSent, Region: "IN", How: "known_good"},
		{Kind: sms2fa.EventCodeResent, Region: "IN", How: "monitor"},
		{Kind: sms2fa.EventPrefixUnblocked, How: "operator", Block: block},
	} {
		m.Hook(context.Background(), e)
	}
	assertExactly(t, reg, map[string]float64{
		`sms2fa_prefix_blocks_total{mode="on",region="IN"}`:                 1,
		`sms2fa_prefix_blocks_total{mode="monitor",region="IN"}`:            1,
		`sms2fa_prefix_blocks_total{mode="operator",region="other"}`:        1,
		`sms2fa_prefix_block_sends_total{outcome="refused",region="IN"}`:    1,
		`sms2fa_prefix_block_sends_total{outcome="refused",region="other"}`: 1,
		`sms2fa_prefix_block_sends_total{outcome="known_good",region="IN"}`: 1,
		`sms2fa_prefix_block_sends_total{outcome="monitor",region="IN"}`:    1,
		`sms2fa_send_refusals_total{budget="prefix_blocked"}`:               2,
		`sms2fa_sends_total{outcome="sent",region="IN"}`:                    1,
		`sms2fa_sends_total{outcome="resent",region="IN"}`:                  1,
		`sms2fa_send_duration_seconds_count{outcome="sent"}`:                2,
	}, "IN")
}

// The hook runs on every request goroutine at once.
func TestHookConcurrent(t *testing.T) {
	m, reg := newMetrics(t, "IN")
	const goroutines, each = 16, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				m.Hook(context.Background(), sms2fa.Event{Kind: sms2fa.EventCodeSent, Region: "IN", Latency: time.Millisecond})
				m.Hook(context.Background(), sms2fa.Event{Kind: sms2fa.EventGrantRevoked, How: "logout", Count: 2})
			}
		})
	}
	wg.Wait()
	assertExactly(t, reg, map[string]float64{
		`sms2fa_sends_total{outcome="sent",region="IN"}`:     goroutines * each,
		`sms2fa_send_duration_seconds_count{outcome="sent"}`: goroutines * each,
		`sms2fa_grants_revoked_total{why="logout"}`:          2 * goroutines * each,
	}, "IN")
}
