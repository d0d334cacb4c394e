package sms2fa

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/text/language"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/templates"
)

// Option configures a [Guard]. Options are applied in order after the
// defaults; an invalid value makes [New] return an error.
type Option func(*config) error

// config is every setting of a Guard, resolved.
type config struct {
	policy      contract.Policy // the account-wide parts; the SMS method fills in its own
	sms         []sms.Option    // WithSMS
	prefix      string
	loginURL    string
	sessionName string
	grantTTL    time.Duration
	recheck     time.Duration
	methods     []contract.Method // WithMethods; nil: the default set
	freshAge    time.Duration     // how recent a code sensitive account changes need
	page        *template.Template
	messages    templates.Messages // WithMessages: English overrides
	languages   []templates.Language
	langFunc    func(*http.Request) language.Tag
	cookie      Cookie
	onError     func(*http.Request, error)
	clientIP    func(*http.Request) string
	clientIPSet bool // WithClientIP was given
	onEvent     []func(context.Context, Event)
	logger      *slog.Logger
	now         func() time.Time
	origins     []string
}

func defaultConfig() config {
	return config{
		policy:      contract.DefaultPolicy(),
		prefix:      "/2fa",
		clientIP:    peerIP,
		loginURL:    "/login",
		sessionName: "sms2fa",
		grantTTL:    12 * time.Hour,
		recheck:     time.Minute,
		freshAge:    10 * time.Minute,
		languages:   []templates.Language{templates.English(), templates.Hindi()},
		cookie:      DefaultCookie(),
		logger:      slog.Default(),
		now:         time.Now,
	}
}

// WithLockout sets the account-wide failure budget: threshold consecutive
// wrong codes, across all of a user's challenges and sessions, lock the user
// for d, doubling on each repeat lock up to maxD; a right code resets it.
// Default 10, 15 minutes, 24 hours. A threshold of 0 turns lockout off.
func WithLockout(threshold int, d, maxD time.Duration) Option {
	return func(c *config) error {
		c.policy.Lockout = contract.Lockout{Threshold: threshold, Duration: d, Max: maxD}
		return nil
	}
}

// WithMaxGrants caps a user's live grants — one per signed-in browser,
// device or recovery — at n: the grant that would be one too many revokes
// the oldest (why "cap"), whose browser is asked for a code again at its
// next recheck. It bounds the rows a user's sign-ins can pile up (a script
// signing in over and over) and how many browsers one account holds at
// once. Default 50; 0 turns the cap off.
func WithMaxGrants(n int) Option {
	return func(c *config) error { c.policy.MaxGrants = n; return nil }
}

// validPrefix accepts a rooted path without a trailing slash, made of
// characters that need no escaping in a route: /2fa, /auth/sms.
func validPrefix(p string) bool {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || strings.Contains(p, "//") {
		return false
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._~-", r)
		if !ok {
			return false
		}
	}
	return true
}

// WithPrefix sets where Mount puts the guard's routes. Default "/2fa": the
// page is GET /2fa, and the forms post to /2fa/verify and /2fa/resend.
func WithPrefix(p string) Option {
	return func(c *config) error {
		if !validPrefix(p) {
			return fmt.Errorf("sms2fa: prefix %q must look like /2fa (rooted, no trailing slash)", p)
		}
		c.prefix = p
		return nil
	}
}

// WithLoginURL sets where a visitor nobody has signed in is sent: a path on
// this site or an absolute http(s) URL. Default "/login".
func WithLoginURL(u string) Option {
	return func(c *config) error {
		p, err := url.Parse(u)
		switch {
		case err != nil || u == "":
			return fmt.Errorf("sms2fa: login URL %q does not parse", u)
		case p.Scheme == "" && !isLocalPath(u): // also refuses //host, which browsers read as another site
			return fmt.Errorf("sms2fa: login URL %q must be a rooted path or an absolute URL", u)
		case p.Scheme != "" && (p.Scheme != "http" && p.Scheme != "https" || p.Host == ""):
			return fmt.Errorf("sms2fa: login URL %q must be http(s)", u)
		}
		c.loginURL = u
		return nil
	}
}

// WithSessionName sets the name of the guard's own session (its cookie, with
// a cookie store). Default "sms2fa". The guard keeps its state apart from the
// app's sessions, in the app's session store.
func WithSessionName(name string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, " \t\r\n;,=\"") {
			return fmt.Errorf("sms2fa: session name %q is not a valid cookie name", name)
		}
		c.sessionName = name
		return nil
	}
}

// WithGrantLifetime sets how long a completed second factor (a grant) lasts
// before the user is asked for a new code. Default 12 hours: NIST SP 800-63B's
// reauthentication interval at AAL2.
func WithGrantLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute {
			return fmt.Errorf("sms2fa: grant lifetime must be at least a minute, got %v", d)
		}
		c.grantTTL = d
		return nil
	}
}

// WithRecheck sets how long a verified browser goes on the strength of its
// signed mark alone before the guard confirms, with one indexed read, that the
// grant is still live. Revocation (logout, sign out everywhere, an admin)
// reaches every copy of a cookie within this interval plus the clock skew
// between app instances. Default 1 minute; any positive duration.
func WithRecheck(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("sms2fa: recheck interval must be positive, got %v", d)
		}
		c.recheck = d
		return nil
	}
}

// WithMethods lists the ways, besides a code texted to the user, to complete
// the second factor: recovery codes (recovery.New(); required: they are a
// user's way back after losing the phone), remembered devices
// (device.New(…); leave it out to turn remembering off) and authenticator
// apps (totp.New(…); list it to let users set one up at GET {prefix}/totp
// and sign in with its codes instead of SMS). Each method's settings are
// options of its own package. Default: recovery.New() and device.New() (30
// days): no authenticator apps.
func WithMethods(ms ...contract.Method) Option {
	return func(c *config) error {
		if len(ms) == 0 {
			return errors.New("sms2fa: WithMethods needs at least recovery.New()")
		}
		c.methods = append([]contract.Method(nil), ms...)
		return nil
	}
}

// WithFreshFactor sets how recent a code (SMS, an authenticator app's or a
// recovery code; never a remembered device) must be in the browser's grant
// for sensitive account changes — changing or removing the number, setting
// up or removing an authenticator app, new recovery codes, forgetting
// devices. Older, and the user is asked for a code first. Default 10 minutes.
func WithFreshFactor(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("sms2fa: WithFreshFactor: need a positive duration, got %v", d)
		}
		c.freshAge = d
		return nil
	}
}

// WithTemplate replaces the code-entry page. t is executed with a [templates.PageData];
// start from templates/page.html. Default: that embedded page.
func WithTemplate(t *template.Template) Option {
	return func(c *config) error {
		if t == nil {
			return errors.New("sms2fa: WithTemplate: nil template")
		}
		c.page = t
		return nil
	}
}

// WithMessages replaces English words the user sees, for tone or house
// style. Empty fields keep their defaults (see [templates.English]). To translate, use
// WithLanguage: before languages, this option was the way to translate, and
// an app that passed a translation here should pass it as a Language now.
func WithMessages(m templates.Messages) Option {
	return func(c *config) error { c.messages = c.messages.Merge(m); return nil }
}

// WithCookie sets the attributes of the guard's three cookies: its session
// (WithSessionName), the mark of a completed second factor (the session
// name + "_mark") and the remembered device (+ "_device", which lives
// the device method's lifetime instead of MaxAge); the app's session store keeps its
// own options for the app's cookies. Start from [DefaultCookie]: Secure, HttpOnly,
// SameSite=Lax, Path "/", 12 hours. A site served over plain http://
// (a local demo) must turn Secure off, or browsers drop the cookie.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		switch {
		case ck.Path == "" || ck.Path[0] != '/':
			return fmt.Errorf("sms2fa: WithCookie: path %q must start with /", ck.Path)
		case ck.MaxAge < 0:
			return fmt.Errorf("sms2fa: WithCookie: MaxAge must not be negative, got %d", ck.MaxAge)
		case ck.SameSite == http.SameSiteNoneMode && !ck.Secure:
			return errors.New("sms2fa: WithCookie: SameSite=None needs Secure (browsers refuse it otherwise)")
		}
		c.cookie = ck
		return nil
	}
}

// WithErrorHandler is called with every store, session or sender failure,
// after it is logged and before the user gets a plain 503 (or, for a failed
// send, the page saying so). Default: none.
func WithErrorHandler(f func(r *http.Request, err error)) Option {
	return func(c *config) error { c.onError = f; return nil }
}

// WithClientIP sets how the guard reads a request's client address, for the
// per-IP send budget and for events. Default: the TCP peer (RemoteAddr), which
// behind a proxy or load balancer is the proxy: give a function that
// believes X-Forwarded-For only from your own proxies. The Gin adapter sets
// it to Gin's ClientIP, which follows the engine's trusted proxies.
func WithClientIP(f func(r *http.Request) string) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("sms2fa: WithClientIP: nil function")
		}
		c.clientIP, c.clientIPSet = f, true
		return nil
	}
}

// WithEvents receives an [Event] for every send, verification, failure, lock
// and refusal, for auditing and alerting. It runs on the request's goroutine,
// before the response that caused the event is written: hand slow work off.
// Give it several times (your audit log, the metrics package's hook): each
// hook gets every event, in the order given. Events never carry the code.
// Default: none (events are still logged).
func WithEvents(f func(ctx context.Context, e Event)) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("sms2fa: WithEvents: nil hook")
		}
		c.onEvent = append(slices.Clip(c.onEvent), f)
		return nil
	}
}

// WithLogger sets where events and failures are logged. Default
// [slog.Default]().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sms2fa: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithClock makes the guard read time from now instead of [time.Now]. The
// guard's clock judges only what the guard itself writes — the confirmed-at
// time of its mark (and so the recheck), the device cookie's expiry and the
// events' times; every wait it shows is computed from the store's answers,
// by the store's clock, so a skewed app clock does not change them.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("sms2fa: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithTrustedOrigins lets POSTs come from these other origins
// ("https://app.example.com"), for example a front end on another host.
// Default: same origin only, as [http.CrossOriginProtection] decides.
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) error { c.origins = append(c.origins, origins...); return nil }
}

// WithSMS configures the SMS method — the code's length and lifetime,
// attempts, resend cooldowns, send budgets, countries, the provider's
// content and purposes, the send timeout — with the options of package
// [sms], each with its documented default. It may be given several times;
// the options apply in order.
func WithSMS(opts ...sms.Option) Option {
	return func(c *config) error { c.sms = append(slices.Clip(c.sms), opts...); return nil }
}

// Cookie is the attributes of the guard's cookies; see WithCookie.
type Cookie struct {
	Path     string
	Domain   string        // empty: the host that set it, and no other
	MaxAge   int           // seconds; 0 ends with the browser session
	Secure   bool          // HTTPS only
	HttpOnly bool          // out of reach of page scripts
	SameSite http.SameSite // Lax keeps it off cross-site POSTs and subresources
}

// DefaultCookie returns the guard's cookie defaults: Path "/", 12 hours
// (NIST SP 800-63B's reauthentication interval at AAL2), Secure, HttpOnly,
// SameSite=Lax.
func DefaultCookie() Cookie {
	return Cookie{Path: "/", MaxAge: 12 * 3600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

func (ck Cookie) options() sessions.Options {
	return sessions.Options{
		Path: ck.Path, Domain: ck.Domain, MaxAge: ck.MaxAge,
		Secure: ck.Secure, HttpOnly: ck.HttpOnly, SameSite: ck.SameSite,
	}
}
