package demotest

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/totp"
)

// BrowserAuthenticatorApp takes alice through an authenticator app in
// Chromium: she sets one up from the account page, the test reads the
// totp-uri link and computes codes as her phone would, she confirms, signs
// out, signs in with the app's code and no SMS sent, and is refused the same
// code on a second sign-in, then asks for a text instead and signs in with
// it.
func (s Suite) BrowserAuthenticatorApp(t *testing.T) {
	d := s.demoClocked(t, nil)
	b := openTab(t, d.srv.URL, 60*time.Second)
	const alice = "+919876543210"

	// Signed in with an SMS code, as before.
	b.signIn("alice")
	b.at("alice's sign-in:", "/2fa")
	m, ok := d.fake.Last(alice)
	if !ok {
		t.Fatal("no SMS for alice's first sign-in")
	}
	b.typeInto("input[name=code]", m.Code)
	b.click("verify the SMS code", "form.verify button")
	b.at("after the SMS code", "/dashboard")

	// The account page links to the setup page; the code just verified is
	// fresh, so it opens at once.
	b.open("/account")
	b.click("set up an app", `a[href="/2fa/totp"]`)
	b.at("after the account page's link", "/2fa/totp")
	if w := b.eval("QR size", `(function(){ var q = document.querySelector("svg.totp-qr"); return q ? String(Math.round(q.getBoundingClientRect().width)) : "none" })()`); w == "none" || w == "0" {
		t.Fatalf("no visible QR code (width %s)", w)
	}
	href := b.eval("the totp-uri link", `document.querySelector("a.totp-uri").getAttribute("href")`)
	u, err := url.Parse(href)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "sms2fa demo" {
		t.Fatalf("the totp-uri link is %q (%v)", href, err)
	}
	secret, err := totp.Decode(u.Query().Get("secret"))
	b.must("read the secret", err)
	if key := b.text("code.totp-secret"); key != totp.Encode(secret) {
		t.Errorf("the key shown is %q, want %q", key, totp.Encode(secret))
	}
	if overflow := b.overflow(); overflow != "" {
		t.Errorf("at %d px wide, the setup page overflows: %s", phoneWidth, overflow)
	}
	b.screenshot("totp-setup.png")
	b.fieldA11y("code", "one-time-code")
	b.typeInto("input[name=code]", totp.Code(secret, d.clock.Now()))
	b.click("confirm the app", "form.verify button")
	// alice had no recovery codes (her number was adopted): a set is shown
	// once, under the news.
	if h1 := b.text("h1"); h1 != "Your recovery codes" {
		t.Fatalf("after confirming the app the page says %q: %.300q", h1, b.text("body"))
	}
	if msg := b.text("#status"); !strings.Contains(msg, "Your authenticator app is set up") {
		t.Errorf("the confirmation says %q", msg)
	}
	b.click("continue after the codes", "a.button")
	b.at("after setting up the app", "/account")
	if state := b.text("#totp-state"); !strings.Contains(state, "Your codes come from an authenticator app") {
		t.Errorf("the account page says %q", state)
	}

	// Signing in again: the app's code, and no SMS.
	b.signOut()
	d.clock.Advance(30 * time.Second) // the next step: the confirming code is used
	sent := d.fake.Count()
	b.signIn("alice")
	b.at("signing in with the app:", "/2fa")
	if d.fake.Count() != sent {
		t.Fatalf("%d SMS sent to a user with an app", d.fake.Count()-sent)
	}
	if got := b.text("form.use-sms button"); got != "Text me a code instead" {
		t.Errorf("the use-sms form's button says %q", got)
	}
	code := totp.Code(secret, d.clock.Now())
	b.typeInto("input[name=code]", code)
	b.click("submit the app's code", "form.verify button")
	b.at("after the app's code", "/dashboard")

	// The same code again, on a new sign-in: refused.
	b.signOut()
	b.signIn("alice")
	b.at("signing in again:", "/2fa")
	b.typeInto("input[name=code]", code)
	b.click("submit the same code", "form.verify button")
	b.at("after the same code", "/2fa/verify") // the page is the answer
	if msg := b.text("#status"); !strings.Contains(msg, "That code was used already") {
		t.Errorf("the same code again: the page says %q", msg)
	}
	if d.fake.Count() != sent {
		t.Errorf("%d SMS sent during the app's sign-ins", d.fake.Count()-sent)
	}

	// "Text me a code instead": one SMS, its page offers the app back,
	// and its code signs in.
	b.click("text me a code instead", "form.use-sms button")
	b.at("after asking for a text", "/2fa?sent=1")
	if d.fake.Count() != sent+1 {
		t.Fatalf("asking for a text sent %d SMS, want 1", d.fake.Count()-sent)
	}
	if got := b.text("form.use-app button"); got != "Use my authenticator app instead" {
		t.Errorf("the SMS page's use-app button says %q", got)
	}
	m, _ = d.fake.Last(alice)
	b.typeInto("input[name=code]", m.Code)
	b.click("submit the texted code", "form.verify button")
	b.at("after the texted code", "/dashboard")
	b.noProblems()
}
