package sms2fa

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/sms2fa/sms2fa/internal/mark"
)

// readMark returns the mark the request carries for u, if a valid one.
func (g *Guard) readMark(r *http.Request, u User) (mark.Mark, bool) {
	v, ok := cookieValue(r, g.cookies.mark)
	if !ok {
		return mark.Mark{}, false
	}
	return g.marks.Decode(v, u.ID, u.Login)
}

// writeMark sets the mark cookie: grant g confirmed live now, with left to
// live. A grant that ends within the recheck interval is marked as confirmed
// earlier, so the first request after its end asks the store again rather
// than riding on the mark.
func (g *Guard) writeMark(c *exchange, u User, grantID string, now time.Time, left time.Duration) error {
	var m mark.Mark
	if n, err := hex.Decode(m.Grant[:], []byte(grantID)); err != nil || n != len(m.Grant) {
		return fmt.Errorf("sms2fa: grant ID %q is not %d hex bytes", grantID, len(m.Grant))
	}
	m.At = now.Add(min(left-g.cfg.recheck, 0)).Unix()
	g.setCookie(c, g.cookies.mark, g.marks.Encode(m, u.ID, u.Login), g.cfg.cookie.MaxAge)
	return nil
}

// clearMark deletes the mark cookie.
func (g *Guard) clearMark(c *exchange) { g.setCookie(c, g.cookies.mark, "", -1) }

func (g *Guard) setCookie(c *exchange, name, value string, maxAge int) {
	g.setCookieAt(c, name, value, g.cfg.cookie.Path, maxAge)
}

// setCookieAt is setCookie for the paths below path only.
func (g *Guard) setCookieAt(c *exchange, name, value, path string, maxAge int) {
	ck := g.cfg.cookie
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: path, Domain: ck.Domain, MaxAge: maxAge,
		Secure: ck.Secure, HttpOnly: ck.HttpOnly, SameSite: ck.SameSite,
	})
}

// cookieValue finds a cookie in the request's Cookie headers without the
// allocations of http.Request.Cookie, which parses every cookie: this runs on
// every guarded request.
func cookieValue(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if k, v, ok := strings.Cut(part, "="); ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// noted reports whether s notes grant id as gone.
func noted(s *sessions.Session, id string) bool {
	v, _ := s.Values[keyGone].(string)
	return v != "" && v == id
}

// grantID returns the grant a valid mark of u names, without asking the
// store.
func (g *Guard) grantID(r *http.Request, u User) (string, bool) {
	m, ok := g.readMark(r, u)
	if !ok {
		return "", false
	}
	return hex.EncodeToString(m.Grant[:]), true
}
