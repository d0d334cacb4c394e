package sms2fa

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sms2fa/sms2fa/templates"
	"golang.org/x/text/language"
)

// lang is a language ready for requests.
type lang struct {
	tag   language.Tag
	m     templates.Messages
	units string // the countdown script's units, as JSON
}

// WithLanguage adds a language, or replaces the built-in one of the same
// tag. Its messages' empty fields fall back to English, so a language can
// start small. The guard picks one per request (see WithLanguageFunc).
func WithLanguage(l templates.Language) Option {
	return func(c *config) error {
		if l.Tag == language.Und {
			return fmt.Errorf("sms2fa: WithLanguage: the language needs a tag")
		}
		for i, have := range c.languages {
			if have.Tag == l.Tag {
				c.languages[i] = l
				return nil
			}
		}
		c.languages = append(c.languages, l)
		return nil
	}
}

// WithLanguageFunc makes the guard ask f which language a request wants
// (from the user's profile, say) instead of reading Accept-Language. The
// answer is matched against the guard's languages like a header would be;
// language.Und means no preference. Default: Accept-Language.
func WithLanguageFunc(f func(r *http.Request) language.Tag) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("sms2fa: WithLanguageFunc: nil function")
		}
		c.langFunc = f
		return nil
	}
}

// languagesFrom builds the guard's languages: English first (the fallback
// when nothing matches) — the built-in messages, then a WithLanguage that
// replaced them, then WithMessages — every language's gaps filled from
// English, and a matcher built once.
func languagesFrom(cfg config) ([]*lang, language.Matcher) {
	en := templates.English().Messages
	for _, l := range cfg.languages {
		if l.Tag == language.English {
			en = en.Merge(l.Messages)
		}
	}
	en = en.Merge(cfg.messages)
	var out []*lang
	var tags []language.Tag
	for _, l := range cfg.languages {
		m := en.Merge(l.Messages)
		if l.Tag == language.English {
			m = en
		}
		m.Lang = l.Tag.String()
		out = append(out, &lang{tag: l.Tag, m: m, units: unitsJSON(m)})
		tags = append(tags, l.Tag)
	}
	return out, language.NewMatcher(tags)
}

// unitsJSON gives the countdown script m's units in CLDR's form names.
func unitsJSON(m templates.Messages) string {
	forms := func(p templates.Plural) map[string]string {
		out := map[string]string{"other": p.Other}
		for name, f := range map[string]string{"zero": p.Zero, "one": p.One, "two": p.Two, "few": p.Few, "many": p.Many} {
			if f != "" {
				out[name] = f
			}
		}
		return out
	}
	b, _ := json.Marshal(map[string]map[string]string{"s": forms(m.Seconds), "min": forms(m.Minutes), "h": forms(m.Hours)})
	return string(b)
}

// lang picks the request's language: WithLanguageFunc's answer, or the best
// match of Accept-Language (q-values honoured), or English.
func (g *Guard) lang(c *exchange) *lang {
	if c == nil || c.Request == nil {
		return g.langs[0]
	}
	if c.lang != nil {
		return c.lang
	}
	var i int
	if g.cfg.langFunc != nil {
		if t := g.cfg.langFunc(c.Request); t != language.Und {
			_, i, _ = g.matcher.Match(t)
		}
	} else {
		_, i = language.MatchStrings(g.matcher, acceptLanguage(c.Request))
	}
	l := g.langs[i]
	c.lang = l
	return l
}

func acceptLanguage(r *http.Request) string { return r.Header.Get("Accept-Language") }
