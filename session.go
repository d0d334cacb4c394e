package sms2fa

import (
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
	keyUser      = "uid"  // the mark: the user who completed the second factor
	keyAt        = "at"   // the mark: when, in Unix seconds
	keyBinding   = "bind" // a random value that ties challenges to this session
	keyChallenge = "cid"  // the pending challenge's ID
	keyNext      = "next" // where to go once verified: a same-origin path
)

var sessionKeys = []string{keyUser, keyAt, keyBinding, keyChallenge, keyNext}

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

// verified reports whether s carries a completed second factor for userID,
// young enough for WithReverifyAfter. A mark for another user never counts.
func (g *Guard) verified(s *sessions.Session, userID string) bool {
	if uid, _ := s.Values[keyUser].(string); uid == "" || uid != userID {
		return false
	}
	if g.cfg.reverify == 0 {
		return true
	}
	at, _ := s.Values[keyAt].(int64)
	return g.now().Before(time.Unix(at, 0).Add(g.cfg.reverify))
}

// pending returns the challenge the session is waiting on for userID.
func pending(s *sessions.Session, userID string) (Ref, bool) {
	id, _ := s.Values[keyChallenge].(string)
	bind, _ := s.Values[keyBinding].(string)
	return Ref{ID: id, UserID: userID, Binding: bind}, id != "" && bind != ""
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
func (g *Guard) mark(c *gin.Context, s *sessions.Session, userID string) error {
	for _, k := range sessionKeys {
		delete(s.Values, k)
	}
	s.Values[keyUser] = userID
	s.Values[keyAt] = g.now().Unix()
	if err := s.Save(c.Request, c.Writer); err != nil {
		return fmt.Errorf("sms2fa: saving the session: %w", err)
	}
	return nil
}
