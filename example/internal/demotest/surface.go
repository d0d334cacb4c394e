package demotest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa/sender"
)

// TestHTTPSurface pins the demo's HTTP surface — routes, statuses,
// redirects, cookie names, form actions and fields, CSS classes, JSON keys
// and error codes — as integrators' scripts see it, through every flow:
// sign-in, wrong and right codes, step-up, remembered devices, recovery,
// enrolment, JSON clients, logout. Values that change from run to run
// (codes, IDs, times) are left out; everything else is compared with
// testdata/surface.golden. A change of the surface shows as a diff of that
// file: rewrite it with SMS2FA_UPDATE_SURFACE=1 only when the change is
// meant, and say so in the README.
func (s Suite) HTTPSurface(t *testing.T) {
	srv, fake := s.demo(t)
	var out strings.Builder
	browser := newSurfer(t, srv.URL, fake, &out)

	browser.step("guarded, signed out", "GET", "/dashboard", nil)
	browser.step("landing", "GET", "/", nil)
	browser.step("login page", "GET", "/login", nil)
	browser.step("wrong password", "POST", "/login", url.Values{"username": {"alice"}, "password": {"nope"}})
	browser.step("login", "POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	browser.step("guarded, first factor only", "GET", "/dashboard", nil)
	browser.step("code page", "GET", "/2fa", nil)
	browser.step("malformed code", "POST", "/2fa/verify", url.Values{"code": {"12"}})
	browser.step("wrong code", "POST", "/2fa/verify", url.Values{"code": {browser.wrong("+919876543210")}})
	browser.step("resend too soon", "POST", "/2fa/resend", nil)
	browser.step("right code, remembered", "POST", "/2fa/verify", url.Values{"code": {browser.code("+919876543210")}, "remember": {"1"}})
	browser.step("dashboard", "GET", "/dashboard", nil)
	browser.step("code page, verified", "GET", "/2fa", nil)
	browser.step("transfer, fresh", "GET", "/transfer", nil)
	browser.step("account", "GET", "/account", nil)
	browser.step("recovery-codes page", "GET", "/2fa/recovery-codes?next=/dashboard", nil)
	browser.step("make recovery codes", "POST", "/2fa/recovery-codes", url.Values{"next": {"/dashboard"}})
	browser.step("metrics", "GET", "/metrics", nil)
	browser.step("logout", "POST", "/logout", nil)
	browser.step("login again", "POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	browser.step("signed in by the remembered device", "GET", "/dashboard", nil)
	browser.step("logout again", "POST", "/logout", nil)

	// Recovery, in a browser of its own.
	rec := newSurfer(t, srv.URL, fake, &out)
	rec.step("login", "POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	rec.step("guarded", "GET", "/dashboard", nil)
	rec.step("code page with recovery", "GET", "/2fa", nil)
	rec.step("recovery form", "GET", "/2fa/recover", nil)
	rec.step("wrong recovery code", "POST", "/2fa/recover", url.Values{"recovery_code": {"aaaaa-aaaaa"}})
	rec.step("right recovery code", "POST", "/2fa/recover", url.Values{"recovery_code": {browser.recovery}})
	rec.step("same recovery code again", "POST", "/2fa/recover", url.Values{"recovery_code": {browser.recovery}})

	// Enrolment: carol has no number.
	carol := newSurfer(t, srv.URL, fake, &out)
	carol.step("login", "POST", "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}})
	carol.step("guarded, no number", "GET", "/dashboard", nil)
	carol.step("enrol form", "GET", "/2fa/enroll", nil)
	carol.step("not a mobile number", "POST", "/2fa/enroll", url.Values{"phone": {"12345"}})
	carol.step("a country not served", "POST", "/2fa/enroll", url.Values{"phone": {"+44 7911 123456"}})
	carol.step("enrol", "POST", "/2fa/enroll", url.Values{"phone": {"+91 98111 22233"}})
	carol.step("enrolment code page", "GET", "/2fa", nil)
	carol.step("right enrolment code", "POST", "/2fa/verify", url.Values{"code": {carol.code("+919811122233")}})

	// A JSON client.
	api := newSurfer(t, srv.URL, fake, &out)
	api.json = true
	api.step("login", "POST", "/login", url.Values{"username": {"bob"}, "password": {"bob-password"}})
	api.step("guarded", "GET", "/dashboard", nil)
	api.step("state", "GET", "/2fa", nil)
	api.step("wrong code", "POST", "/2fa/verify", map[string]any{"code": api.wrong("+919812345678")})
	api.step("malformed code", "POST", "/2fa/verify", map[string]any{"code": 12})
	api.step("resend too soon", "POST", "/2fa/resend", map[string]any{})
	api.step("right code", "POST", "/2fa/verify", map[string]any{"code": api.code("+919812345678")})
	api.step("verify, nothing pending", "POST", "/2fa/verify", map[string]any{"code": "000000"})
	api.step("recovery-codes state", "GET", "/2fa/recovery-codes", nil)
	api.step("cross-origin post", "POST-CROSS", "/2fa/verify", map[string]any{"code": "000000"})

	got := out.String()
	// One golden file for both examples, beside this source: the same
	// surface from Gin and from net/http. Rewriting it from one example
	// (SMS2FA_UPDATE_SURFACE=1 go test ./example) and then running the
	// other without the variable shows any difference between them.
	_, self, _, _ := runtime.Caller(0)
	golden := filepath.Join(filepath.Dir(self), "testdata", "surface.golden")
	if os.Getenv("SMS2FA_UPDATE_SURFACE") == "1" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (write it with SMS2FA_UPDATE_SURFACE=1)", err)
	}
	if got != string(want) {
		t.Fatalf("the HTTP surface changed:\n%s", lineDiff(string(want), got))
	}
}

// surfer is one client of the surface test: a cookie jar, redirects not
// followed, every answer written down.
type surfer struct {
	t        *testing.T
	base     string
	http     *http.Client
	fake     *sender.Fake
	out      *strings.Builder
	json     bool
	recovery string // a recovery code this client was shown
	n        int
}

func newSurfer(t *testing.T, base string, fake *sender.Fake, out *strings.Builder) *surfer {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "\n== client %d\n", strings.Count(out.String(), "== client")+1)
	return &surfer{t: t, base: base, fake: fake, out: out, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// code is the last code sent to number.
func (s *surfer) code(number string) string {
	s.t.Helper()
	m, ok := s.fake.Last(number)
	if !ok {
		s.t.Fatalf("no code sent to %s", number)
	}
	return m.Code
}

// wrong is a code that is not the last one sent to number.
func (s *surfer) wrong(number string) string {
	if s.code(number) == "000000" {
		return "111111"
	}
	return "000000"
}

var (
	formAction = regexp.MustCompile(`<form[^>]*\baction="([^"]*)"`)
	inputName  = regexp.MustCompile(`<(?:input|button|select|textarea)[^>]*\bname="([^"]*)"`)
	anchorHref = regexp.MustCompile(`<a[^>]*\bhref="([^"]*)"`)
	classAttr  = regexp.MustCompile(`\bclass="([^"]*)"`)
	idAttr     = regexp.MustCompile(`\bid="([^"]*)"`)
	recovery   = regexp.MustCompile(`class="recovery-code">([^<]+)<`)
	randomID   = regexp.MustCompile(`\b[0-9a-f]{32}\b`) // device IDs in paths
)

// step sends one request — a form (url.Values), a JSON body (map), or
// nothing — and writes down the answer's shape.
func (s *surfer) step(name, method, path string, body any) {
	s.t.Helper()
	s.n++
	var (
		r     io.Reader
		ctype string
	)
	switch b := body.(type) {
	case url.Values:
		r, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case map[string]any:
		j, _ := json.Marshal(b)
		r, ctype = strings.NewReader(string(j)), "application/json"
	}
	cross := method == "POST-CROSS"
	if cross {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if method == http.MethodPost {
		origin := s.base
		if cross {
			origin = "https://evil.example"
		}
		req.Header.Set("Origin", origin)
	}
	if s.json {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(s.out, "%d. %s: %s %s", s.n, name, req.Method, path)
	if ctype != "" {
		fmt.Fprintf(s.out, " (%s)", ctype)
	}
	fmt.Fprintf(s.out, "\n   -> %d", resp.StatusCode)
	if l := resp.Header.Get("Location"); l != "" {
		fmt.Fprintf(s.out, " Location: %s", l)
	}
	if resp.Header.Get("Retry-After") != "" {
		s.out.WriteString(" Retry-After")
	}
	s.out.WriteString("\n")
	var cookies []string
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			cookies = append(cookies, c.Name+"(deleted)")
		} else {
			cookies = append(cookies, c.Name)
		}
	}
	if len(cookies) > 0 {
		slices.Sort(cookies)
		fmt.Fprintf(s.out, "   cookies: %s\n", strings.Join(slices.Compact(cookies), " "))
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("%s: not JSON: %s", name, b)
		}
		fmt.Fprintf(s.out, "   json: %s\n", jsonShape(m))
	case strings.HasPrefix(ct, "text/html"):
		page := string(b)
		for _, f := range []struct {
			label string
			re    *regexp.Regexp
			keep  func(string) bool
		}{
			{"forms", formAction, nil},
			{"fields", inputName, nil},
			{"links", anchorHref, func(v string) bool { return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "?") }},
			{"classes", classAttr, nil},
			{"ids", idAttr, nil},
		} {
			var vs []string
			for _, m := range f.re.FindAllStringSubmatch(page, -1) {
				for _, v := range strings.Fields(m[1]) {
					if f.keep == nil || f.keep(v) {
						vs = append(vs, randomID.ReplaceAllString(v, "{id}"))
					}
				}
			}
			if len(vs) > 0 {
				slices.Sort(vs)
				fmt.Fprintf(s.out, "   %s: %s\n", f.label, strings.Join(slices.Compact(vs), " "))
			}
		}
		if m := recovery.FindStringSubmatch(page); m != nil && s.recovery == "" {
			s.recovery = m[1]
		}
	case len(b) > 0:
		fmt.Fprintf(s.out, "   %s\n", strings.SplitN(ct, ";", 2)[0])
	}
}

// jsonShape writes down a JSON answer's keys, with the values of the ones
// that are part of the contract (codes, flags, redirects) and the kinds of
// the rest.
func jsonShape(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		switch v := m[k].(type) {
		case bool:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		case string:
			switch k {
			case "error", "reason", "redirect", "verify_url", "resend_url", "enroll_url", "login_url":
				parts = append(parts, fmt.Sprintf("%s=%q", k, v))
			default:
				parts = append(parts, k+":string")
			}
		case float64:
			parts = append(parts, k+":number")
		case []any:
			parts = append(parts, fmt.Sprintf("%s:list[%d]", k, len(v)))
		default:
			parts = append(parts, fmt.Sprintf("%s:%T", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// lineDiff shows the lines of want and got that differ, in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, a, c)
		}
	}
	return b.String()
}
