package sms2fa

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/gorilla/sessions"
	"github.com/sms2fa/sms2fa/contract"
)

// The guard's session values. They live in a session of the guard's own (see
// WithSessionName), so they never collide with the app's. Nothing here holds
// the phone number, the code or the app's session ID in readable form: a
// cookie store only signs its cookie, and anyone holding it can read it.
//
// The session holds only pending state: once the code is verified, the grant's
// signed mark (a cookie of its own) is all a verified request reads.
const (
	keyBinding   = "bind"  // a random value that ties challenges to this session
	keyFlow      = "flow"  // what the pending challenge is for: login (default) or step_up
	keyChallenge = "cid"   // the pending challenge's ID
	keyPhone     = "phone" // a keyed tag of the number (E.164) the pending challenge went to
	keyNext      = "next"  // where to go once verified: a same-origin path
	// keyGone names the grant (hex ID) a handler of the guard found revoked
	// or expired for this browser. A client that keeps the mark anyway — a
	// copy of the cookies, a script that ignores the deletion — is not
	// honoured by it on its next request, inside the recheck interval too.
	keyGone = "gone"
	// keyApp says the browser is asked for a code from the user's
	// authenticator app (of flow keyFlow), not one sent by SMS: no
	// challenge exists, yet a code is pending. It holds the app's secret,
	// sealed as the store keeps it.
	keyApp = "app"
	// keyAppSMS says the app's page found a number to text a code to
	// instead.
	keyAppSMS = "app_sms"
)

// maxNext bounds the path remembered for after the code step: a cookie holds
// about 4 KB, and a guarded link with a long query must not make the session
// too large to save.
const maxNext = 1 << 10

// forget drops every value the guard keeps in s.
func forget(s *sessions.Session) {
	for _, k := range [...]string{keyBinding, keyFlow, keyChallenge, keyPhone, keyNext, keyGone, keyApp, keyAppSMS} {
		delete(s.Values, k)
	}
}

// session returns the guard's session, with the guard's cookie attributes
// (WithCookie) rather than the app store's. A cookie that no longer decodes —
// a rotated key, an edited cookie, a server-side session that is gone — gives
// a fresh session: the visitor is simply not verified. Any other failure is
// an error, and the caller fails closed.
func (g *Guard) session(c *exchange) (*sessions.Session, error) {
	s, err := g.sessions.Get(c.Request, g.cfg.sessionName)
	var decode interface{ IsDecode() bool }
	if err != nil && (s == nil || !(errors.As(err, &decode) && decode.IsDecode() || errors.Is(err, fs.ErrNotExist))) {
		return nil, fmt.Errorf("sms2fa: reading the session: %w", err)
	}
	// Shared and never written to: Logout, the one place that changes the
	// options, gives the session a copy first.
	s.Options = &g.cookie
	return s, nil
}

// pending returns the challenge the session is waiting on for u. A challenge
// opened for another phone number than u's is not pending any more: the
// user's number changed, and the code went to the old one.
func (g *Guard) pending(s *sessions.Session, u User) (contract.Ref, contract.Flow, bool) {
	ref, flow, ok := g.pendingAny(s, u)
	num, _ := s.Values[keyPhone].(string)
	// An enrolment or a change goes to a new number, which only its
	// challenge row knows.
	sameNumber := num == tag(g.keys.phone, u.Phone) || flow == contract.FlowEnrol || flow == contract.FlowChange
	return ref, flow, ok && sameNumber
}

// pendingAny is pending without the number check, for a verify: the store
// itself refuses to let a code to a number that is no longer the user's
// sign anyone in, under the user's lock, and sparing the verify a read of
// the factor keeps it one round trip.
func (g *Guard) pendingAny(s *sessions.Session, u User) (contract.Ref, contract.Flow, bool) {
	id, _ := s.Values[keyChallenge].(string)
	bind, _ := s.Values[keyBinding].(string)
	flow := contract.FlowLogin
	if f, _ := s.Values[keyFlow].(string); f != "" {
		flow = contract.Flow(f)
	}
	return contract.Ref{ID: id, UserID: u.ID, Binding: bind}, flow, id != "" && bind != ""
}

// loginTag is what a grant keeps of User.Login: a keyed tag, so that a session
// ID given as Login is not copied into the database.
func (g *Guard) loginTag(u User) string {
	if u.Login == "" {
		return ""
	}
	return hexTag(g.keys.login, u.Login)
}

// keep notes the values of keys in s and returns what puts them back.
func keep(s *sessions.Session, keys ...string) (restore func()) {
	old := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := s.Values[k]; ok {
			old[k] = v
		}
	}
	return func() {
		for _, k := range keys {
			if v, ok := old[k]; ok {
				s.Values[k] = v
			} else {
				delete(s.Values, k)
			}
		}
	}
}

// set puts v under k and reports whether that changed the session.
func set(s *sessions.Session, k, v string) bool {
	if old, ok := s.Values[k].(string); ok && old == v {
		return false
	}
	s.Values[k] = v
	return true
}

// next returns where to send the user once verified: the remembered path if
// it is same-origin, "/" otherwise.
func next(s *sessions.Session) string {
	if p, _ := s.Values[keyNext].(string); isLocalPath(p) {
		return p
	}
	return "/"
}

// nextOf is what the session remembers of r's URL: the path and query when
// they fit in maxNext, else the path alone if it fits, else "/". Only
// same-origin paths are kept.
func nextOf(r *http.Request) string {
	for _, p := range [...]string{r.URL.RequestURI(), r.URL.EscapedPath()} {
		if len(p) <= maxNext && isLocalPath(p) {
			return p
		}
	}
	return "/"
}

// drop deletes the guard's session: once verified, nothing is pending, and
// a verified request reads only the mark.
func (g *Guard) drop(c *exchange, s *sessions.Session) error {
	forget(s)
	opts := *s.Options // the guard's shared options are never written to
	opts.MaxAge = -1
	s.Options = &opts
	// A cookie store keeps nothing on the server: expiring the cookie is the
	// whole deletion, without encoding an empty session to throw away.
	if _, ok := g.sessions.(*sessions.CookieStore); ok {
		http.SetCookie(c.Writer, sessions.NewCookie(s.Name(), "", &opts))
		return nil
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		return fmt.Errorf("sms2fa: deleting the session: %w", err)
	}
	return nil
}

// refererPath is where a step-up of a request that cannot be replayed (a
// POST) sends the user afterwards: the same-origin page the form was on, by
// its Referer, or "/".
func refererPath(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || ref.Scheme != "" && ref.Scheme != "http" && ref.Scheme != "https" {
		return "/"
	}
	if p := ref.RequestURI(); len(p) <= maxNext && isLocalPath(p) {
		return p
	}
	return "/"
}

// isLocalPath accepts only a same-origin path: one leading slash, no scheme,
// no host, no backslash (browsers read "/\evil.com" as "//evil.com"), no
// control characters.
func isLocalPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return false
		}
	}
	return true
}
