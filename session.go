package sms2fa

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"
)

// The guard's session values. They live in a session of the guard's own (see
// WithSessionName), so they never collide with the app's. Nothing here holds
// the phone number, the code or the app's session ID in readable form: a
// cookie store only signs its cookie, and anyone holding it can read it.
const (
	keyUser      = "uid"   // the mark: the user who completed the second factor
	keyAt        = "at"    // the mark: when, in Unix seconds
	keyLogin     = "login" // the mark: a keyed tag of User.Login, when the app gives one
	keyBinding   = "bind"  // a random value that ties challenges to this session
	keyChallenge = "cid"   // the pending challenge's ID
	keyPhone     = "phone" // a keyed tag of the number (as the app gave it) the pending challenge went to
	keyNext      = "next"  // where to go once verified: a same-origin path
)

// maxNext bounds the path remembered for after the code step: a cookie holds
// about 4 KB, and a guarded link with a long query must not make the session
// too large to save.
const maxNext = 1 << 10

// forget drops every value the guard keeps in s.
func forget(s *sessions.Session) {
	for _, k := range [...]string{keyUser, keyAt, keyLogin, keyBinding, keyChallenge, keyPhone, keyNext} {
		delete(s.Values, k)
	}
}

// session returns the guard's session, with the guard's cookie attributes
// (WithCookie) rather than the app store's. A cookie that no longer decodes —
// a rotated key, an edited cookie, a server-side session that is gone — gives
// a fresh session: the visitor is simply not verified. Any other failure is
// an error, and the caller fails closed.
func (g *Guard) session(c *gin.Context) (*sessions.Session, error) {
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

// verified reports whether s carries a completed second factor for u — the
// same user ID and, when the app names sign-ins, the same sign-in — young
// enough for WithReverifyAfter. A mark for another user never counts.
func (g *Guard) verified(s *sessions.Session, u User) bool {
	if uid, _ := s.Values[keyUser].(string); uid == "" || uid != u.ID {
		return false
	}
	if u.Login != "" {
		if got, _ := s.Values[keyLogin].(string); got != tag(g.keys.login, u.Login) {
			return false
		}
	}
	if g.cfg.reverify == 0 {
		return true
	}
	at, _ := s.Values[keyAt].(int64)
	return g.now().Before(time.Unix(at, 0).Add(g.cfg.reverify))
}

// pending returns the challenge the session is waiting on for u. A challenge
// opened for another phone number than u's is not pending any more: the
// user's number changed, and the code went to the old one.
func (g *Guard) pending(s *sessions.Session, u User) (Ref, bool) {
	id, _ := s.Values[keyChallenge].(string)
	bind, _ := s.Values[keyBinding].(string)
	num, _ := s.Values[keyPhone].(string)
	return Ref{ID: id, UserID: u.ID, Binding: bind}, id != "" && bind != "" && num == tag(g.keys.phone, u.Phone)
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

// mark records a completed second factor and drops the pending state.
func (g *Guard) mark(c *gin.Context, s *sessions.Session, u User) error {
	forget(s)
	s.Values[keyUser] = u.ID
	s.Values[keyAt] = g.now().Unix()
	if u.Login != "" {
		s.Values[keyLogin] = tag(g.keys.login, u.Login)
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		return fmt.Errorf("sms2fa: saving the session: %w", err)
	}
	return nil
}
