package sms2fa

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sms2fa/sms2fa/templates"
	"golang.org/x/text/feature/plural"
)

// vars are the values a message's placeholders can take.
type vars struct {
	phone    string
	length   int
	attempts int
	wait     time.Duration
	days     int
	left     int
}

// fill replaces the placeholders of msg, in lang's words.
func (l *lang) fill(msg string, v vars) string {
	if !strings.Contains(msg, "{") {
		return msg
	}
	return strings.NewReplacer(
		"{phone}", v.phone,
		"{length}", fmt.Sprint(v.length),
		"{attempts_left}", l.plural(l.m.AttemptsLeft, v.attempts),
		"{attempts}", fmt.Sprint(v.attempts),
		"{wait}", l.wait(v.wait),
		"{days}", l.plural(l.m.Days, v.days),
		"{codes_left}", l.plural(l.m.CodesLeft, v.left),
	).Replace(msg)
}

// plural picks p's form for n by the language's CLDR rules.
func (l *lang) plural(p templates.Plural, n int) string {
	var form string
	switch plural.Cardinal.MatchPlural(l.tag, n, 0, 0, 0, 0) {
	case plural.Zero:
		form = p.Zero
	case plural.One:
		form = p.One
	case plural.Two:
		form = p.Two
	case plural.Few:
		form = p.Few
	case plural.Many:
		form = p.Many
	}
	if form == "" {
		form = p.Other
	}
	return strings.ReplaceAll(form, "{n}", strconv.Itoa(n))
}

// wait says a wait the way a person would — "45 s", "2 min 30 s", "15 min",
// "3 h 20 min", in the language's units. Waits are rounded up: "try again in
// 0 s" helps no one.
func (l *lang) wait(d time.Duration) string {
	s := int(ceilSeconds(d) / time.Second)
	m := l.m
	switch {
	case s < 60:
		return l.plural(m.Seconds, max(s, 1))
	case s < 3600:
		if s%60 == 0 {
			return l.plural(m.Minutes, s/60)
		}
		return l.plural(m.Minutes, s/60) + " " + l.plural(m.Seconds, s%60)
	default:
		mins := (s + 59) / 60
		if mins%60 == 0 {
			return l.plural(m.Hours, mins/60)
		}
		return l.plural(m.Hours, mins/60) + " " + l.plural(m.Minutes, mins%60)
	}
}
