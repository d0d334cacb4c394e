package sms2fa_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
)

// The guard's cookie gets the guard's attributes — Secure, HttpOnly,
// SameSite=Lax, Path / and 12 hours by default — whatever the app's session
// store uses for its own cookies.
func TestGuardCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []sms2fa.Option
		want []string
		not  []string
	}{
		{"defaults", nil, []string{"Path=/", "Max-Age=43200", "HttpOnly", "Secure", "SameSite=Lax"}, nil},
		{"plain http demo", []sms2fa.Option{sms2fa.WithCookie(sms2fa.Cookie{Path: "/", MaxAge: 600, HttpOnly: true, SameSite: http.SameSiteStrictMode})},
			[]string{"Max-Age=600", "HttpOnly", "SameSite=Strict"}, []string{"Secure"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.opts...)
			h.cookies.Options.MaxAge = 99 // the app's own choice: not the guard's
			check := func(what, line string, want, not []string) {
				t.Helper()
				if line == "" {
					t.Fatalf("no %s cookie set", what)
				}
				for _, w := range want {
					if !strings.Contains(line, w) {
						t.Errorf("%s cookie %q lacks %s", what, line, w)
					}
				}
				for _, w := range append(not, "Max-Age=99") {
					if strings.Contains(line, w) {
						t.Errorf("%s cookie %q has %s", what, line, w)
					}
				}
			}
			cl := h.client().login("alice")
			check("session", setCookie(cl.get("/app/home"), "sms2fa"), c.want, c.not)
			// The mark and the device cookie have the same attributes; the
			// device's lifetime is the device method's (30 days).
			r := cl.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}})
			check("mark", setCookie(r, "sms2fa_mark"), c.want, c.not)
			device := []string{"Max-Age=2592000"}
			for _, w := range c.want {
				if !strings.HasPrefix(w, "Max-Age=") {
					device = append(device, w)
				}
			}
			check("device", setCookie(r, "sms2fa_device"), device, c.not)
			// Logout deletes the cookies without changing the guard's options.
			lo := cl.post("/logout", nil)
			for _, name := range []string{"sms2fa", "sms2fa_mark"} {
				if sc := setCookie(lo, name); !strings.Contains(sc, "Max-Age=0") {
					t.Errorf("logout's %s cookie %q does not delete it", name, sc)
				}
			}
			again := h.client().login("bob").get("/app/home")
			check("a later session", setCookie(again, "sms2fa"), c.want, c.not)
		})
	}
}

// setCookie returns the Set-Cookie line r sets for name, or "".
func setCookie(r response, name string) string {
	for _, sc := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, name+"=") {
			return sc
		}
	}
	return ""
}

// checkingSender refuses, at New, purposes it does not know.
type checkingSender struct {
	*sender.Fake
	refuse string
}

func (s checkingSender) CheckMessage(m contract.Message) error {
	if m.Purpose == s.refuse {
		return errors.New("unknown purpose " + m.Purpose)
	}
	return nil
}

// Each flow's purpose is checked by the sender at New; the login flow's
// messages carry the login purpose.
func TestPurposesPerFlow(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithPurpose(contract.FlowLogin, "two_factor_auth")))
	if _, err := sms2fa.New(h.cookies, h.store, checkingSender{h.fake, "transaction"}, secret, h.currentUser); err == nil ||
		!strings.Contains(err.Error(), "step_up") {
		t.Fatalf("New with a sender refusing the step-up purpose: %v", err)
	}
	if _, err := sms2fa.New(h.cookies, h.store, checkingSender{h.fake, "transaction"}, secret, h.currentUser,
		sms2fa.WithSMS(sms.WithPurpose(contract.FlowStepUp, "payment_confirmation"))); err != nil {
		t.Fatalf("New with every purpose acceptable: %v", err)
	}
	h.client().login("alice").get("/app/home")
	m, ok := h.fake.Last(alicePhone)
	if !ok || m.Purpose != "two_factor_auth" || m.Content != contract.ContentOTP {
		t.Fatalf("message %+v", m)
	}
}

// A national number is read in the default region.
func TestDefaultRegion(t *testing.T) {
	h := newHarness(t, sms2fa.WithSMS(sms.WithDefaultRegion("IN")), sms2fa.WithSMS(sms.WithCountries("IN")))
	h.movePhone("alice", "98765 43210")
	h.client().login("alice").get("/app/home")
	if _, ok := h.fake.Last(alicePhone); !ok {
		t.Fatalf("no code went to %s: %v", alicePhone, h.fake.Messages())
	}
	// Without it, a national number cannot be used.
	h2 := newHarness(t)
	h2.movePhone("alice", "98765 43210")
	r := h2.client().login("alice")
	r.json = true
	if got := r.get("/app/home").decode(t)["reason"]; got != "phone_unusable" {
		t.Fatalf("reason = %v", got)
	}
}

// Methods listed without the device method remove the checkbox and
// remember nothing; WithFreshFactor sets how recent a code account actions
// need.
func TestRememberAndFreshOptions(t *testing.T) {
	h := newHarness(t, sms2fa.WithMethods(recovery.New()), sms2fa.WithFreshFactor(time.Hour))
	c := h.client().login("alice")
	c.get("/app/home")
	if page := c.get("/2fa"); strings.Contains(page.body, `name="remember"`) {
		t.Fatal("the remember checkbox is shown without the device method")
	}
	want(t, "verify, remember ticked anyway", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}), http.StatusSeeOther, "/app/home")
	if ds, err := h.guard.Devices(context.Background(), "alice"); err != nil || len(ds) != 0 {
		t.Fatalf("devices with remembering off: %v, %v", ds, err)
	}
	h.clock.Advance(30 * time.Minute) // stale for the 10-minute default, fresh for an hour
	req := c.postRequest("/2fa/recovery-codes", nil)
	req.Header.Set("Referer", c.base+"/app/account")
	if r := c.do(req); r.status != http.StatusOK || !strings.Contains(r.body, "recovery-code") {
		t.Fatalf("new codes within WithFreshFactor(1h): %d %.300s", r.status, r.body)
	}
	dev, err := device.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]sms2fa.Option{
		"no fresh age":         sms2fa.WithFreshFactor(0),
		"no methods":           sms2fa.WithMethods(),
		"no recovery codes":    sms2fa.WithMethods(dev),
		"recovery codes twice": sms2fa.WithMethods(recovery.New(), recovery.New()),
	} {
		if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser, bad); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := device.New(device.WithLifetime(time.Hour)); err == nil {
		t.Error("a device lifetime under a day: no error")
	}
	// A method instance belongs to one guard: a second guard given it would
	// re-key the first one's.
	shared := recovery.New()
	if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser, sms2fa.WithMethods(shared)); err != nil {
		t.Fatal(err)
	}
	if _, err := sms2fa.New(h.cookies, h.store, h.fake, secret, h.currentUser, sms2fa.WithMethods(shared)); !errors.Is(err, contract.ErrBound) {
		t.Errorf("one recovery method for two guards: %v, want ErrBound", err)
	}
}

// A verified code deletes the guard's session: its cookie comes back empty
// and expired, with the guard's own attributes, whatever the app's store.
func TestVerifyDeletesTheSession(t *testing.T) {
	h := newHarness(t)
	cl := h.client().login("alice")
	want(t, "guarded", cl.get("/app/home"), http.StatusSeeOther, "/2fa")
	r := cl.verify(h.code(alicePhone))
	want(t, "verify", r, http.StatusSeeOther, "/app/home")
	var deleted string
	for _, sc := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "sms2fa=") {
			deleted = sc
		}
	}
	for _, w := range []string{"sms2fa=;", "Max-Age=0", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(deleted, w) {
			t.Errorf("the session cookie after verify, %q, lacks %s", deleted, w)
		}
	}
}
