package sms2fa

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/templates"
	"golang.org/x/text/language"
)

func testLangs(t *testing.T, opts ...Option) ([]*lang, *Guard) {
	t.Helper()
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			t.Fatal(err)
		}
	}
	langs, m := languagesFrom(cfg)
	return langs, &Guard{cfg: cfg, langs: langs, matcher: m}
}

func TestLanguageNegotiation(t *testing.T) {
	_, g := testLangs(t)
	for _, c := range []struct{ accept, want string }{
		{"hi-IN", "hi"},
		{"hi", "hi"},
		{"en-GB", "en"},
		{"en-US,en;q=0.9", "en"},
		{"fr-FR", "en"},                // unknown: the first language
		{"", "en"},                     // none
		{"x-klingon;;q=garbage", "en"}, // malformed
		{"fr;q=1, hi;q=0.8, en;q=0.5", "hi"},
		{"hi;q=0.2, en;q=0.9", "en"},
		{"*", "en"},
		{"mr-IN, hi;q=0.7", "hi"}, // Marathi reader who also reads Hindi
	} {
		c := c
		gc := g.newExchange(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		if c.accept != "" {
			gc.Request.Header.Set("Accept-Language", c.accept)
		}
		if got := g.lang(gc).m.Lang; got != c.want {
			t.Errorf("Accept-Language %q: %s, want %s", c.accept, got, c.want)
		}
	}
	// An app's own choice wins over the header.
	_, g = testLangs(t, WithLanguageFunc(func(*http.Request) language.Tag { return language.Hindi }))
	gc := g.newExchange(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	gc.Request.Header.Set("Accept-Language", "en")
	if got := g.lang(gc).m.Lang; got != "hi" {
		t.Errorf("WithLanguageFunc: %s", got)
	}
}

func TestPluralsAndWaits(t *testing.T) {
	langs, _ := testLangs(t)
	en, hi := langs[0], langs[1]
	for _, c := range []struct {
		l    *lang
		msg  string
		v    vars
		want string
	}{
		{en, "{attempts_left}", vars{attempts: 1}, "1 attempt left"},
		{en, "{attempts_left}", vars{attempts: 2}, "2 attempts left"},
		{en, "{attempts_left}", vars{attempts: 0}, "0 attempts left"},
		{hi, "{attempts_left}", vars{attempts: 1}, "1 कोशिश बाकी है"},
		{hi, "{attempts_left}", vars{attempts: 0}, "0 कोशिश बाकी है"}, // CLDR: Hindi's "one" is 0 and 1
		{hi, "{attempts_left}", vars{attempts: 4}, "4 कोशिशें बाकी हैं"},
		{en, "{codes_left}", vars{left: 1}, "1 recovery code left"},
		{hi, "{codes_left}", vars{left: 9}, "9 रिकवरी कोड बचे हैं"},
		{en, "{days}", vars{days: 30}, "30 days"},
		{hi, "{days}", vars{days: 30}, "30 दिन"},
		{en, "{wait}", vars{wait: 0}, "1 s"},
		{en, "{wait}", vars{wait: 45 * time.Second}, "45 s"},
		{en, "{wait}", vars{wait: 150 * time.Second}, "2 min 30 s"},
		{en, "{wait}", vars{wait: 15 * time.Minute}, "15 min"},
		{en, "{wait}", vars{wait: 3*time.Hour + 20*time.Minute}, "3 h 20 min"},
		{hi, "{wait}", vars{wait: 150 * time.Second}, "2 मिनट 30 सेकंड"},
		{hi, "{wait}", vars{wait: time.Hour + 5*time.Minute}, "1 घंटा 5 मिनट"},
		{hi, "{wait}", vars{wait: 2 * time.Hour}, "2 घंटे"},
		{en, "try {attempts} more", vars{attempts: 3}, "try 3 more"},
	} {
		if got := c.l.fill(c.msg, c.v); got != c.want {
			t.Errorf("%s %q %+v = %q, want %q", c.l.m.Lang, c.msg, c.v, got, c.want)
		}
	}
}

// A language can be added, or a built-in one replaced, without touching the
// templates; missing words fall back to English.
func TestAddedLanguage(t *testing.T) {
	fr := templates.Language{Tag: language.French, Messages: templates.Messages{Title: "Saisissez votre code", AttemptsLeft: templates.Plural{One: "{n} essai restant", Other: "{n} essais restants"}}}
	langs, g := testLangs(t, WithLanguage(fr), WithMessages(templates.Messages{Submit: "Check"}))
	gc := g.newExchange(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	gc.Request.Header.Set("Accept-Language", "fr-CA")
	l := g.lang(gc)
	if l.m.Lang != "fr" || l.m.Title != "Saisissez votre code" || l.m.Resend != "Send a new code" {
		t.Fatalf("French: %q %q %q", l.m.Lang, l.m.Title, l.m.Resend)
	}
	// French's "one" covers 0 and 1.
	if got := l.fill("{attempts_left}", vars{attempts: 0}); got != "0 essai restant" {
		t.Fatalf("French plural: %q", got)
	}
	if langs[0].m.Submit != "Check" || l.m.Submit != "Check" {
		t.Fatalf("WithMessages overrides English (and what falls back to it): %q %q", langs[0].m.Submit, l.m.Submit)
	}
	if len(langs) != 3 {
		t.Fatalf("%d languages", len(langs))
	}
}

// A WithLanguage that replaces English counts, for English and for what
// falls back to it; WithMessages still goes on top.
func TestReplacedEnglish(t *testing.T) {
	en := templates.Language{Tag: language.English, Messages: templates.Messages{Title: "Type the code we texted you", Submit: "Go"}}
	fr := templates.Language{Tag: language.French, Messages: templates.Messages{Resend: "Renvoyer"}}
	langs, _ := testLangs(t, WithLanguage(en), WithLanguage(fr), WithMessages(templates.Messages{Submit: "Check"}))
	for _, l := range langs {
		switch l.tag {
		case language.English, language.French:
			if l.m.Title != "Type the code we texted you" || l.m.Submit != "Check" {
				t.Errorf("%s: title %q, submit %q", l.tag, l.m.Title, l.m.Submit)
			}
		}
	}
	if langs[0].m.Resend != templates.English().Messages.Resend {
		t.Errorf("English lost a built-in message it did not replace: %q", langs[0].m.Resend)
	}
}
