package sms2fa_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sms2fa/sms2fa/templates"
)

// Accept-Language: hi-IN gives the Hindi pages, lang="hi" on the page and a
// Hindi "message" beside JSON's stable codes.
func TestHindiPages(t *testing.T) {
	h := newHarness(t)
	c := h.client().login("alice")
	get := func(path string) response {
		req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
		req.Header.Set("Accept-Language", "hi-IN,hi;q=0.9,en;q=0.5")
		if c.json {
			req.Header.Set("Accept", "application/json")
		}
		return c.do(req)
	}
	get("/app/home")
	page := get("/2fa")
	for _, want := range []string{`<html lang="hi">`, "अपना कोड डालें", "अंकों का कोड भेजा है", "सेकंड"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the Hindi code page lacks %q", want)
		}
	}
	req := c.postRequest("/2fa/verify", url.Values{"code": {h.wrong()}})
	req.Header.Set("Accept-Language", "hi")
	if r := c.do(req); !strings.Contains(r.body, "यह कोड सही नहीं है। 4 कोशिशें बाकी हैं।") {
		t.Errorf("Hindi wrong-code message missing: %.2000s", r.body)
	}
	req = c.postRequest("/2fa/resend", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", "hi")
	r := c.do(req)
	b := r.decode(t)
	if msg, _ := b["message"].(string); b["error"] != "resend_too_soon" || !strings.Contains(msg, "नया कोड मँगवा सकते हैं") {
		t.Errorf("Hindi JSON: %d %v", r.status, b)
	}
	// English stays the default.
	if en := c.get("/2fa"); strings.Contains(en.body, "कोड") || !strings.Contains(en.body, `<html lang="en">`) {
		t.Error("a request without Accept-Language did not get English")
	}
}

// Every built-in language says everything itself: a field left empty
// would fall back to English on a Hindi page (an issue's "a message in
// every language" would hold by accident).
func TestBuiltInLanguagesSayEverything(t *testing.T) {
	for _, l := range []templates.Language{templates.English(), templates.Hindi()} {
		var empty func(v reflect.Value, path string)
		empty = func(v reflect.Value, path string) {
			for i := range v.NumField() {
				name := path + v.Type().Field(i).Name
				switch f := v.Field(i); f.Kind() {
				case reflect.String:
					// Lang is set from the tag; of a plural, only Other is
					// needed (a language has the categories its rules use).
					nested := path != ""
					if f.String() == "" && name != "Lang" && (!nested || v.Type().Field(i).Name == "Other") {
						t.Errorf("%v: %s is empty", l.Tag, name)
					}
				case reflect.Struct:
					empty(f, name+".")
				}
			}
		}
		empty(reflect.ValueOf(l.Messages), "")
	}
}
