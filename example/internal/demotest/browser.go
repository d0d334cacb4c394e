package demotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser for the test. A set SMS2FA_CHROMIUM is used or
// the test fails: someone asked for that browser, and silently testing with
// another (or skipping) would hide the mistake. Unset, /usr/bin/chromium or
// one on the PATH is used; without one the test skips, except under CI=true,
// where a missing browser is a failure, never a skip.
func chromium(t *testing.T) string {
	t.Helper()
	p, err := findChromium(os.Getenv("SMS2FA_CHROMIUM"), exec.LookPath)
	switch {
	case err == nil:
		return p
	case errors.Is(err, errNoChromium):
		skipUnlessCI(t, err)
	default:
		t.Fatal(err)
	}
	return ""
}

// skipUnlessCI skips a browser test for something this machine lacks (err
// says what, and how to install it). Under CI=true, where every test must
// run, it fails the test with the same message instead.
func skipUnlessCI(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v; under CI=true the browser test must run", err)
	}
	t.Skipf("browser test skipped: %v", err)
}

// errNoChromium: SMS2FA_CHROMIUM is unset and no browser is installed.
var errNoChromium = errors.New("no Chromium found (apt-get install -y chromium, or set SMS2FA_CHROMIUM)")

// findChromium resolves setting, the value of SMS2FA_CHROMIUM, with
// lookPath; when it is empty it tries the usual names instead.
func findChromium(setting string, lookPath func(string) (string, error)) (string, error) {
	if setting != "" {
		p, err := lookPath(setting)
		if err != nil {
			return "", fmt.Errorf("SMS2FA_CHROMIUM=%q is not an executable browser (%v): fix the path, or unset it to search the PATH", setting, err)
		}
		return p, nil
	}
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := lookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errNoChromium
}

// problems collects what the page complained about: console errors,
// uncaught exceptions, and browser log errors (CSP violations, failed loads).
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, s)
}

func (p *problems) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

func (p *problems) watch(ctx context.Context) {
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, log.EntryAdded)
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				p.add(fmt.Sprintf("console.%s %v", ev.Type, ev.Args))
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.add("exception: " + ev.ExceptionDetails.Text)
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				p.add(fmt.Sprintf("log %s: %s (%s)", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}()
}

// TestBrowserSignIn signs in as a person would, in headless Chromium: the
// dashboard sends to the login, the login to the code page, a wrong code
// says so, the right one opens the dashboard.
func (s Suite) BrowserSignIn(t *testing.T) {
	srv, fake := s.demo(t)
	tb := openTab(t, srv.URL, 90*time.Second) // phone-sized, with the page-problem watcher
	ctx, seen := tb.ctx, tb.seen

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		must("location", err)
		return strings.TrimPrefix(loc, srv.URL)
	}
	// submit clicks a button and waits for the page it leads to.
	submit := func(what, sel string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
		must(what, err)
	}
	eval := func(what, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		must(what, err)
		return v
	}

	must("open the dashboard", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/dashboard")))
	if got := location(); got != "/login" {
		t.Fatalf("the dashboard sent us to %s, not /login", got)
	}
	must("type the password", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
	))
	submit("sign in", "form button[type=submit]")
	if got := location(); got != "/2fa" {
		t.Fatalf("after the password we are at %s, not the code page", got)
	}

	// The code page, as a screen-reader user and a thumb would meet it.
	// autofocus may land a moment after the load event: wait for it.
	focusOn := func(what, id string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement && document.activeElement.id === "`+id+`"`, chromedp.WithPollingTimeout(5*time.Second)))
		if err != nil {
			t.Errorf("%s: focus is on %q, want #%s", what, eval("focus", `document.activeElement ? document.activeElement.id : ""`), id)
		}
	}
	focusOn("the code page", "code")
	if got := eval("label", `(function(){ var i = document.getElementById("code"); return i && i.labels.length === 1 ? i.labels[0].textContent.trim() : "" })()`); got != "Code" {
		t.Errorf("the input's label is %q", got)
	}
	if got := eval("input attributes", `["name","autocomplete","inputmode"].map(function(a){ return document.getElementById("code").getAttribute(a) }).join(" ")`); got != "code one-time-code numeric" {
		t.Errorf("input attributes: %q", got)
	}
	if got := eval("live region", `document.querySelector("[aria-live]") ? "yes" : "no"`); got != "yes" {
		t.Error("no aria-live region for messages")
	}
	if got := eval("masked phone", `document.querySelector(".lead").textContent`); !strings.Contains(got, "+91 ••••••3210") {
		t.Errorf("lead: %q", got)
	}
	resend := `document.querySelector("form.resend button")`
	if got := eval("resend button", resend+`.disabled + " " + `+resend+`.textContent.trim()`); !strings.HasPrefix(got, "true Send a new code in ") {
		t.Errorf("resend button during the cooldown: %q", got)
	}
	// The countdown script runs under the page's strict CSP: the label ticks.
	first := eval("countdown", resend+`.textContent`)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](resend+`.textContent !== `+fmt.Sprintf("%q", first), chromedp.WithPollingTimeout(5*time.Second)))
	must("the countdown to tick", err)

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must("screenshot", err)
	saveArtifact(t, "code-page.png", shot)

	// A wrong code says what is wrong and how many tries are left.
	m, ok := fake.Last("+919876543210")
	if !ok {
		t.Fatal("no code was sent")
	}
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	must("type a wrong code", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("input[name=code]"), wrong)))
	submit("submit the wrong code", "form.verify button")
	if got := eval("message", `document.getElementById("status").textContent`); got != "That code is not right. 4 attempts left." {
		t.Errorf("after a wrong code the page says %q", got)
	}
	focusOn("after a wrong code", "code")
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must("screenshot", err)
	saveArtifact(t, "wrong-code.png", shot)

	must("type the code", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("input[name=code]"), m.Code)))
	submit("submit the code", "form.verify button")
	if got := location(); got != "/dashboard" {
		t.Fatalf("after the right code we are at %s", got)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who")))
	must("dashboard", err)
	if who != "Signed in as alice" {
		t.Fatalf("dashboard says %q", who)
	}
	if p := seen.all(); len(p) > 0 {
		t.Fatalf("the pages complained:\n%s", strings.Join(p, "\n"))
	}
}

// saveArtifact writes a file under the test's temporary directory, and also
// under $SMS2FA_ARTIFACTS when that is set, so CI or a person can keep it.
func saveArtifact(t *testing.T, name string, b []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv("SMS2FA_ARTIFACTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatalf("saving %s: %v", name, err)
		}
		t.Logf("saved %s", p)
	}
}

// A set SMS2FA_CHROMIUM must name something runnable; only an unset one
// falls back to the usual names.
func (s Suite) FindChromium(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "chromium")
	plain := filepath.Join(dir, "not-executable")
	for p, mode := range map[string]os.FileMode{exe: 0o755, plain: 0o644} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := findChromium(exe, exec.LookPath); err != nil || p != exe {
		t.Errorf("SMS2FA_CHROMIUM=%s: %q, %v", exe, p, err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), plain, dir, "no-such-browser-on-the-path"} {
		_, err := findChromium(bad, exec.LookPath)
		if err == nil || errors.Is(err, errNoChromium) || !strings.Contains(err.Error(), "SMS2FA_CHROMIUM") || !strings.Contains(err.Error(), bad) {
			t.Errorf("SMS2FA_CHROMIUM=%s: %v; want an error naming the variable and the path, never a fallback", bad, err)
		}
	}
	// Unset: the usual names, in order, then errNoChromium.
	var asked []string
	lookFor := func(found string) func(string) (string, error) {
		return func(name string) (string, error) {
			asked = append(asked, name)
			if name == found {
				return "/opt/" + name, nil
			}
			return "", exec.ErrNotFound
		}
	}
	if p, err := findChromium("", lookFor("chromium-browser")); err != nil || p != "/opt/chromium-browser" {
		t.Errorf("unset, chromium-browser on the PATH: %q, %v", p, err)
	}
	asked = nil
	if _, err := findChromium("", lookFor("")); !errors.Is(err, errNoChromium) || len(asked) != 4 {
		t.Errorf("unset, nothing installed: %v after trying %q", err, asked)
	}
}
