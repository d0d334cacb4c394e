package sms2fa

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"
)

// The guard's session values. They live in a session of the guard's own (see
// WithSessionName), so they never collide with the app's.
const (
	keyUser      = "uid"   // the mark: the user who completed the second factor
	keyAt        = "at"    // the mark: when, in Unix seconds
	keyLogin     = "login" // the mark: loginTag of User.Login, when the app gives one
	keyBinding   = "bind"  // a random value that ties challenges to this session
	keyChallenge = "cid"   // the pending challenge's ID
	keyPhone     = "phone" // the number, as the app gave it, the pending challenge was opened for
	keyNext      = "next"  // where to go once verified: a same-origin path
)

// forget drops every value the guard keeps in s.
func forget(s *sessions.Session) {
	for _, k := range [...]string{keyUser, keyAt, keyLogin, keyBinding, keyChallenge, keyPhone, keyNext} {
		delete(s.Values, k)
	}
}

// session returns the guard's session. A cookie that no longer decodes — a
// rotated key, an edited cookie, a server-side session that is gone — gives a
// fresh session: the visitor is simply not verified. Any other failure is an
// error, and the caller fails closed.
func (g *Guard) session(c *gin.Context) (*sessions.Session, error) {
	s, err := g.sessions.Get(c.Request, g.cfg.sessionName)
	if err == nil {
		return s, nil
	}
	var decode interface{ IsDecode() bool }
	if s != nil && (errors.As(err, &decode) && decode.IsDecode() || errors.Is(err, fs.ErrNotExist)) {
		return s, nil
	}
	return nil, fmt.Errorf("sms2fa: reading the session: %w", err)
}

// verified reports whether s carries a completed second factor for u — the
// same user ID and, when the app names sign-ins, the same sign-in — young
// enough for WithReverifyAfter. A mark for another user never counts.
func (g *Guard) verified(s *sessions.Session, u User) bool {
	if uid, _ := s.Values[keyUser].(string); uid == "" || uid != u.ID {
		return false
	}
	if u.Login != "" {
		tag := loginTag(u.Login)
		if got, _ := s.Values[keyLogin].(string); got != string(tag[:]) {
			return false
		}
	}
	if g.cfg.reverify == 0 {
		return true
	}
	at, _ := s.Values[keyAt].(int64)
	return g.now().Before(time.Unix(at, 0).Add(g.cfg.reverify))
}

// loginTag is what the mark keeps of User.Login: a hash, so that a session
// ID given as Login is not copied into a cookie the browser can read.
func loginTag(login string) [16]byte {
	sum := sha256.Sum256([]byte(login))
	return [16]byte(sum[:16])
}

// pending returns the challenge the session is waiting on for u. A challenge
// opened for another phone number than u's is not pending any more: the
// user's number changed, and the code went to the old one.
func pending(s *sessions.Session, u User) (Ref, bool) {
	id, _ := s.Values[keyChallenge].(string)
	bind, _ := s.Values[keyBinding].(string)
	num, _ := s.Values[keyPhone].(string)
	return Ref{ID: id, UserID: u.ID, Binding: bind}, id != "" && bind != "" && num == u.Phone
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

// mark records a completed second factor and drops the pending state.
func (g *Guard) mark(c *gin.Context, s *sessions.Session, u User) error {
	forget(s)
	s.Values[keyUser] = u.ID
	s.Values[keyAt] = g.now().Unix()
	if u.Login != "" {
		tag := loginTag(u.Login)
		s.Values[keyLogin] = string(tag[:])
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		return fmt.Errorf("sms2fa: saving the session: %w", err)
	}
	return nil
}
