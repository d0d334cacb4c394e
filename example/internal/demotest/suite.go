// Package demotest is the examples' shared test suite: every test that drives
// an example over HTTP or in Chromium, run by ./example (Gin) and by
// ./example/nethttp (the standard library) against their own app. Both pass
// the same tests against the same golden surface, so an integrator's script
// can drive either.
package demotest

import (
	"testing"

	"github.com/sms2fa/sms2fa/example/internal/demo"
)

// Suite runs the tests against one example's app.
type Suite struct{ app demo.App }

// Run runs every test of the suite against app, each as a subtest.
func Run(t *testing.T, app demo.App) {
	s := Suite{app: app}
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"HTTPSurface", s.HTTPSurface},
		{"DemoSignIn", s.DemoSignIn},
		{"DemoCarolEnrols", s.DemoCarolEnrols},
		{"DemoTransferNeedsAFreshCode", s.DemoTransferNeedsAFreshCode},
		{"DemoSignOutEverywhere", s.DemoSignOutEverywhere},
		{"DemoLogoutRevokesCopies", s.DemoLogoutRevokesCopies},
		{"EachLimitReachesTheGuard", s.EachLimitReachesTheGuard},
		{"AutoBlockReachesTheGuard", s.AutoBlockReachesTheGuard},
		{"ForwardedForOnlyFromTrustedProxies", s.ForwardedForOnlyFromTrustedProxies},
		{"RunServesAndShutsDown", s.RunServesAndShutsDown},
		{"RunDropsSlowAndIdleClients", s.RunDropsSlowAndIdleClients},
		{"FindChromium", s.FindChromium},
		{"BrowserSignIn", s.BrowserSignIn},
		{"BrowserCountdownUnits", s.BrowserCountdownUnits},
		{"BrowserEnrolRecoverRemember", s.BrowserEnrolRecoverRemember},
		{"BrowserHindiCodePage", s.BrowserHindiCodePage},
		{"BrowserAuthenticatorApp", s.BrowserAuthenticatorApp},
	} {
		t.Run(tc.name, tc.test)
	}
}

// env reads variables from vars, as the environment would.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}
