package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/metrics"
	"github.com/sms2fa/sms2fa/sms"
)

// The metrics go on the app's own registry, served by promhttp; the hook
// goes to the guard beside the app's own.
func Example() {
	m, err := metrics.New(metrics.Options{Regions: []string{"IN"}}) // the regions of sms.WithCountries
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m) // or m.Register(reg)
	opts := []sms2fa.Option{
		sms2fa.WithSMS(sms.WithCountries("IN")),
		sms2fa.WithEvents(m.Hook),
		sms2fa.WithEvents(func(ctx context.Context, e sms2fa.Event) { /* the app's audit log */ }),
	}
	_ = opts // sms2fa.New(sessionStore, store, sender, secret, userFunc, opts...)

	// What the guard does when it sends a code:
	m.Hook(context.Background(), sms2fa.Event{Kind: sms2fa.EventCodeSent, Region: "IN", Latency: 300 * time.Millisecond})

	// mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) (Gin: gin.WrapH)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "sms2fa_sends_total{") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// sms2fa_sends_total{outcome="failed",region="IN"} 0
	// sms2fa_sends_total{outcome="failed",region="other"} 0
	// sms2fa_sends_total{outcome="resent",region="IN"} 0
	// sms2fa_sends_total{outcome="resent",region="other"} 0
	// sms2fa_sends_total{outcome="sent",region="IN"} 1
	// sms2fa_sends_total{outcome="sent",region="other"} 0
}
