package sms2fa

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/text/language"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
	"github.com/sms2fa/sms2fa/internal/mark"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/templates"
)

// User is who passed the app's first factor.
type User struct {
	ID    string // stable and unique; a completed second factor counts only for this ID
	Phone string // E.164 ("+919876543210"); spaces and dashes are fine; "" for none
	// Login, if set, names this sign-in: the app's session ID, or the time of
	// the password login. A completed second factor then counts only for the
	// same Login, so signing in again asks for a new code even if the guard's
	// cookies were kept or copied. Empty: the grant lasts its lifetime (see
	// Guard.Logout and WithGrantLifetime).
	Login string
	// SecondFactor says whether the user must complete it: Required (the
	// zero value) or Optional, which lets a user without a phone number
	// through (see StatusOf).
	SecondFactor Requirement
}

// UserFunc tells the guard who is signed in with the app's first factor, and
// their phone number; ok = false means nobody is. It runs on every guarded
// request, so it should be as cheap as the app's own session lookup.
type UserFunc func(r *http.Request) (u User, ok bool)

// Guard is the SMS second factor: a middleware for protected routes
// ([Guard.Require]) and the routes of its own code-entry flow
// ([Guard.Mount]). Build it once with [New]; it is safe for concurrent use.
type Guard struct {
	cfg      config
	sessions sessions.Store
	store    contract.Store
	sms      *sms.Method
	recovery recoverer // the recovery-code method
	// warnedProxy: the warning about X-Forwarded-For without WithClientIP
	// was logged (a pointer: Guard's String methods copy the struct).
	warnedProxy *atomic.Bool
	device      rememberer    // the remembered-device method; nil: off
	totp        authenticator // the authenticator-app method; nil: off
	userFn      UserFunc
	keys        keys
	marks       *mark.Codec
	cookie      sessions.Options // the guard's cookie attributes, shared by every session it reads
	page        *template.Template
	flows       *template.Template
	langs       []*lang // English first
	matcher     language.Matcher
	cop         *http.CrossOriginProtection
	urls        urls
	routes      []route
	cookies     cookieNames
	css, js     asset
}

// urls are the guard's own paths, fixed at construction.
type urls struct {
	page, verify, resend, css, js string
	enroll, recover, codes        string
	devices                       string // + "/" + ID + "/revoke"
	remove                        string
	totp, totpRemove              string // the authenticator app's setup and removal
	useApp                        string // back from a text to the app's code
}

// cookieNames are the guard's two cookies besides its session, named after
// it (WithSessionName) and fixed at construction: the mark is read on every
// guarded request.
type cookieNames struct{ mark, device, setup string }

// asset is a static file of the page, served under a content-hashed path.
type asset struct {
	body  []byte
	ctype string
}

// New builds a guard. Its required parts are positional, so every call site
// says what it uses: the app's session store (the guard keeps its state in a
// session of its own, named by WithSessionName), the [contract.Store]
// (store/sqlite or store/postgres), the SMS method's [contract.Sender], a
// server secret of at least 32 random bytes (every key the guard and its
// methods use is derived from it: keep it stable, or pending codes,
// recovery codes and remembered devices stop verifying, and authenticator
// apps stop opening unless the totp method is given the previous one), and the function
// that says who is signed in. Everything else is an [Option] with a
// documented default. A configuration that cannot work is an error here, not
// a failure at the first request.
func New(sessionStore sessions.Store, store contract.Store, sender contract.Sender, secret []byte, user UserFunc, opts ...Option) (*Guard, error) {
	switch {
	case sessionStore == nil:
		return nil, errors.New("sms2fa: New needs a session store")
	case store == nil:
		return nil, errors.New("sms2fa: New needs a Store")
	case sender == nil:
		return nil, errors.New("sms2fa: New needs a Sender")
	case user == nil:
		return nil, errors.New("sms2fa: New needs a UserFunc")
	}
	k, err := newKeys(secret)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	page := cfg.page
	if page == nil {
		if page, err = templates.Page(); err != nil {
			return nil, err
		}
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.origins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("sms2fa: trusted origin: %w", err)
		}
	}
	texts, err := sms.New(sender, cfg.sms...)
	if err != nil {
		return nil, err
	}
	if err := texts.Bind(k.deriveFor(texts.Name())); err != nil {
		return nil, err
	}
	cfg.policy = texts.Policy(cfg.policy)
	roles, err := methodsOf(cfg.methods, k)
	if err != nil {
		return nil, err
	}
	if err := cfg.policy.Validate(); err != nil {
		return nil, err
	}
	if texts.AnyCountry() {
		cfg.logger.Warn("sms2fa: sms.WithCountries is not set: codes go to valid mobile numbers of any country " +
			"(non-geographic +800/+88x/+979 numbers excepted); name the countries you serve to shrink what SMS pumping can reach")
	}
	g := &Guard{
		cfg: cfg, sessions: sessionStore, store: store, sms: texts, recovery: roles.recovery, device: roles.device, totp: roles.totp, userFn: user, warnedProxy: new(atomic.Bool), keys: k, marks: mark.New(k.mark, cfg.sessionName), page: page, cop: cop,
		cookie: cfg.cookie.options(),
		css:    asset{templates.CSS(), "text/css; charset=utf-8"},
		js:     asset{templates.JS(), "text/javascript; charset=utf-8"},
	}
	g.urls = urls{
		page:   cfg.prefix,
		verify: cfg.prefix + "/verify",
		resend: cfg.prefix + "/resend",
		css:    cfg.prefix + "/assets/" + contentName("sms2fa", ".css", g.css.body),
		js:     cfg.prefix + "/assets/" + contentName("sms2fa", ".js", g.js.body),
	}
	g.cookies = cookieNames{mark: cfg.sessionName + "_mark", device: cfg.sessionName + "_device", setup: cfg.sessionName + "_totp"}
	g.urls.enroll, g.urls.recover, g.urls.codes = cfg.prefix+"/enroll", cfg.prefix+"/recover", cfg.prefix+"/recovery-codes"
	g.urls.devices, g.urls.remove = cfg.prefix+"/devices", cfg.prefix+"/remove"
	g.urls.totp, g.urls.totpRemove, g.urls.useApp = cfg.prefix+"/totp", cfg.prefix+"/totp/remove", cfg.prefix+"/app"
	g.routes = g.routeTable()
	g.langs, g.matcher = languagesFrom(cfg)
	if g.flows, err = templates.Flows(); err != nil {
		return nil, err
	}
	if err := g.checkTemplate(); err != nil {
		return nil, err
	}
	return g, nil
}

// String names the guard without its keys or anything else it holds. It and
// the three below have value receivers so that a copied Guard prints the
// same way.
func (g Guard) String() string { return "sms2fa.Guard{prefix: " + g.cfg.prefix + "}" }

// GoString is String, for %#v.
func (g Guard) GoString() string { return g.String() }

// Format prints String for every verb: %v, %+v and %#v of a struct would
// otherwise print its fields.
func (g Guard) Format(f fmt.State, _ rune) { fmt.Fprint(f, g.String()) }

// LogValue logs String, for slog.Any.
func (g Guard) LogValue() slog.Value { return slog.StringValue(g.String()) }

// contentName names an asset after its content, so it can be cached forever.
func contentName(base, ext string, body []byte) string {
	sum := sha256.Sum256(body)
	return base + "." + hex.EncodeToString(sum[:5]) + ext
}

// Logger is the logger the guard writes to (WithLogger), for adapters.
func (g *Guard) Logger() *slog.Logger { return g.cfg.logger }

// now is the guard's clock.
func (g *Guard) now() time.Time { return g.cfg.now() }

// recoverer is what the guard asks of the recovery-code method.
type recoverer interface {
	contract.Method
	contract.Issuer
}

// rememberer is what the guard asks of the remembered-device method.
type rememberer interface {
	contract.Method
	contract.Rememberer
}

// authenticator is what the guard asks of the authenticator-app method.
type authenticator interface {
	contract.Method
	contract.Authenticator
}

// roles are the methods the app listed, each in the part the guard gives it.
type roles struct {
	recovery recoverer
	device   rememberer    // nil: off
	totp     authenticator // nil: off
}

// methodsOf picks out each method's role among those the app listed
// (WithMethods; nil: recovery codes and remembered devices), then binds
// each to its keys. Recovery codes are required: they are a user's way
// back after losing the phone. A remembered-device method with no lifetime
// is off.
func methodsOf(ms []contract.Method, k keys) (roles, error) {
	var r roles
	if ms == nil {
		dev, err := device.New()
		if err != nil {
			return r, err
		}
		ms = []contract.Method{recovery.New(), dev}
	}
	twice := func(m contract.Method) error { return fmt.Errorf("sms2fa: WithMethods lists %q twice", m.Name()) }
	for _, m := range ms {
		switch m := m.(type) {
		case recoverer:
			if r.recovery != nil {
				return r, twice(m)
			}
			r.recovery = m
		case rememberer:
			if r.device != nil {
				return r, twice(m)
			}
			r.device = m
		case authenticator:
			if r.totp != nil {
				return r, twice(m)
			}
			r.totp = m
		default:
			return r, fmt.Errorf("sms2fa: WithMethods: the guard has no role for the method %q", m.Name())
		}
	}
	if r.recovery == nil {
		return r, errors.New("sms2fa: WithMethods must include recovery.New(): recovery codes are a user's way back after losing the phone")
	}
	for _, m := range ms {
		if km, ok := m.(contract.Keyed); ok {
			if err := km.Bind(k.deriveFor(m.Name())); err != nil {
				return r, fmt.Errorf("sms2fa: the %q method: %w", m.Name(), err)
			}
		}
	}
	if r.device != nil && r.device.Lifetime() <= 0 {
		r.device = nil
	}
	return r, nil
}
