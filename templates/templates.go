// Package templates holds what the guard's pages are made of: the default
// code-entry page and its forms, embedded in the binary (an html/template
// page, a stylesheet and a small script); the data they are executed with
// ([PageData], [FlowData]); and their words, English and Hindi, with the
// types an app uses to change them or add a language ([Messages],
// [Language]). The page works without the script (it only counts down the resend
// wait) and uses no inline script or style, so a strict Content-Security-Policy
// accepts it: the guard serves it with default-src 'none' and only its own
// stylesheet and script allowed.
package templates

import (
	"embed"
	"fmt"
	"html/template"
)

//go:embed page.html flows.html sms2fa.css sms2fa.js
var files embed.FS

// Page parses a new copy of the default page, named "page.html". Apps that
// want to change it can copy page.html, edit it and pass the result to
// sms2fa.WithTemplate; it is executed with a [PageData].
func Page() (*template.Template, error) {
	t, err := template.ParseFS(files, "page.html")
	if err != nil {
		return nil, fmt.Errorf("templates: parsing page.html: %w", err)
	}
	return t, nil
}

// Flows parses a new copy of the pages of the lifecycle flows, in one
// template set: "enroll" (a phone number), "recover" (a recovery code),
// "codes" (new recovery codes, shown once) and "done" (a result with a link
// onwards). Each is executed with a [FlowData].
func Flows() (*template.Template, error) {
	t, err := template.ParseFS(files, "flows.html")
	if err != nil {
		return nil, fmt.Errorf("templates: parsing flows.html: %w", err)
	}
	return t, nil
}

// CSS returns the page's stylesheet.
func CSS() []byte { return mustRead("sms2fa.css") }

// JS returns the page's script.
func JS() []byte { return mustRead("sms2fa.js") }

// mustRead reads an embedded file. The files are compiled in, so a failure
// is a build defect, not a runtime condition.
func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("templates: embedded file missing: " + name)
	}
	return b
}
