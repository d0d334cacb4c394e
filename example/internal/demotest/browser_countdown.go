package demotest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sms2fa/sms2fa/templates"
)

// The countdown script says a wait as the server does — seconds, minutes
// and seconds, hours and minutes rounded up — since a budget's wait can be
// hours. It runs here on a bare page, started by hand, so that each case
// can begin at any wait.
func (s Suite) BrowserCountdownUnits(t *testing.T) {
	srv, _ := s.demo(t)
	tb := openTab(t, srv.URL, 60*time.Second)
	units := `{"s":{"one":"{n} sec","other":"{n} secs"},"min":{"other":"{n} min"},"h":{"one":"{n} hour","other":"{n} hours"}}`
	for _, tc := range []struct {
		start int
		want  string // after the first tick, one second less
	}{
		{10, "in 9 secs"},
		{2, "in 1 sec"},
		{61, "in 1 min"},
		{125, "in 2 min 4 secs"},
		{3601, "in 1 hour"},
		{7201, "in 2 hours"},
		{7262, "in 2 hours 2 min"}, // 7261 s: 121 min and a second, rounded up
	} {
		if err := chromedp.Do(tb.ctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatal(err)
		}
		setup := fmt.Sprintf(`document.body.innerHTML = '<button disabled data-wait="%d" data-template="in {wait}" data-ready="ready"></button>';
			document.querySelector("button").setAttribute("data-units", %q);
			document.documentElement.lang = "en";
			%s
			document.dispatchEvent(new Event("DOMContentLoaded"));
			"started"`, tc.start, units, templates.JS())
		if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](setup)); err != nil {
			t.Fatalf("starting the countdown at %d s: %v", tc.start, err)
		}
		got, err := chromedp.Run(tb.ctx, chromedp.Poll[string](`document.querySelector("button").textContent || null`, chromedp.WithPollingTimeout(5*time.Second)))
		if err != nil {
			t.Fatalf("the countdown from %d s never ticked: %v", tc.start, err)
		}
		if got != tc.want {
			t.Errorf("countdown from %d s: %q, want %q", tc.start, got, tc.want)
		}
	}
}
