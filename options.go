package sms2fa

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/text/language"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/phone"
)

// Option configures a [Guard]. Options are applied in order after the
// defaults; an invalid value makes [New] return an error.
type Option func(*config) error

// maxCodeLifetime is NIST SP 800-63B's ceiling for an SMS code (§5.1.3.2:
// "valid for at most 10 minutes"); longer needs AllowLongCodeLifetime.
const maxCodeLifetime = 10 * time.Minute

// config is every setting of a Guard, resolved.
type config struct {
	codeLength  int
	policy      contract.Policy
	longTTL     bool
	prefix      string
	loginURL    string
	sessionName string
	grantTTL    time.Duration
	recheck     time.Duration
	remember    time.Duration // remembered devices' lifetime; 0: off
	freshAge    time.Duration // how recent a code sensitive account changes need
	page        *template.Template
	messages    Messages // WithMessages: English overrides
	languages   []Language
	langFunc    func(*http.Request) language.Tag
	content     Content
	purposes    map[Flow]string
	cookie      Cookie
	sendTimeout time.Duration
	onError     func(*http.Request, error)
	clientIP    func(*http.Request) string
	onEvent     []func(context.Context, Event)
	logger      *slog.Logger
	now         func() time.Time
	origins     []string

	perUser, perPhone, perIP, perPrefix, global []Rate
	prefixDigits                                int
	ipv6Bits                                    int
	countries                                   map[string]bool // nil: any geographic region
	defaultRegion                               string
}

func defaultConfig() config {
	return config{
		codeLength:  contract.DefaultCodeLength,
		policy:      contract.DefaultPolicy(),
		prefix:      "/2fa",
		clientIP:    peerIP,
		loginURL:    "/login",
		sessionName: "sms2fa",
		grantTTL:    12 * time.Hour,
		recheck:     time.Minute,
		remember:    30 * 24 * time.Hour,
		freshAge:    10 * time.Minute,
		languages:   []Language{English(), Hindi()},
		content:     ContentOTP,
		purposes:    defaultPurposes(),
		cookie:      DefaultCookie(),
		sendTimeout: 15 * time.Second,
		logger:      slog.Default(),
		now:         time.Now,
		// Send budgets. Per number: Twilio Verify allows 5 sends per number
		// per 10 minutes and Sentry 3 per phone per 5 minutes; 3 per 10 minutes
		// with 10 a day is stricter than both. Per IP: Auth0 allows 50 an hour;
		// 20 is enough for an office behind one NAT.
		perUser:      []Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}},
		perPhone:     []Rate{{Limit: 3, Window: 10 * time.Minute}, {Limit: 10, Window: 24 * time.Hour}},
		perIP:        []Rate{{Limit: 20, Window: time.Hour}},
		perPrefix:    []Rate{{Limit: 20, Window: time.Hour}},
		prefixDigits: 6,
		ipv6Bits:     64,
		global:       []Rate{{Limit: 10000, Window: 24 * time.Hour}},
	}
}

// WithCodeLength sets the number of digits in a code, 4 to 8 (Way2API's
// limits). Default 6, the minimum NIST SP 800-63B accepts.
func WithCodeLength(n int) Option {
	return func(c *config) error {
		if n < contract.MinCodeLength || n > contract.MaxCodeLength {
			return fmt.Errorf("sms2fa: code length must be %d to %d digits, got %d", contract.MinCodeLength, contract.MaxCodeLength, n)
		}
		c.codeLength = n
		return nil
	}
}

// WithCodeLifetime sets how long a code can be entered. Default 5 minutes.
// Over 10 minutes (NIST SP 800-63B's limit) is refused unless
// AllowLongCodeLifetime is also given.
func WithCodeLifetime(d time.Duration) Option {
	return func(c *config) error { c.policy.CodeTTL = d; return nil }
}

// AllowLongCodeLifetime lifts the 10-minute ceiling on WithCodeLifetime, for
// apps that have weighed the longer window for guessing.
func AllowLongCodeLifetime() Option {
	return func(c *config) error { c.longTTL = true; return nil }
}

// WithMaxAttempts sets how many wrong codes one challenge survives. Default 5
// (Twilio Verify's).
func WithMaxAttempts(n int) Option {
	return func(c *config) error { c.policy.MaxAttempts = n; return nil }
}

// WithResendCooldown sets the wait after the first send before another code
// can be requested; each resend in the same challenge doubles it (30 s, 60 s,
// 120 s, …). Default 30 s. Zero allows immediate resends, leaving only the
// send budgets.
func WithResendCooldown(d time.Duration) Option {
	return func(c *config) error { c.policy.ResendCooldown = d; return nil }
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

// WithRememberDevice sets how long "Remember this device" lasts: a sign-in of
// the same user in that browser then needs no SMS for that long (a new grant,
// how "device"). Default 30 days; 0 turns the checkbox off. Remembering works
// only for apps that set User.Login, so that a copy of the cookies taken
// before a logout cannot sign in again through the device.
func WithRememberDevice(d time.Duration) Option {
	return func(c *config) error {
		if d != 0 && d < 24*time.Hour {
			return fmt.Errorf("sms2fa: WithRememberDevice: 0 (off) or at least a day, got %v", d)
		}
		c.remember = d
		return nil
	}
}

// WithFreshFactor sets how recent a code (SMS or recovery; never a
// remembered device) must be in the browser's grant for sensitive account
// changes — changing or removing the number, new recovery codes, forgetting
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

// WithTemplate replaces the code-entry page. t is executed with a [PageData];
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
// style. Empty fields keep their defaults (see [English]). To translate, use
// WithLanguage: before languages, this option was the way to translate, and
// an app that passed a translation here should pass it as a Language now.
func WithMessages(m Messages) Option {
	return func(c *config) error { c.messages = c.messages.merge(m); return nil }
}

// WithContent sets whether the provider presents the code as an OTP or a PIN.
// Default ContentOTP.
func WithContent(k Content) Option {
	return func(c *config) error {
		if k != ContentOTP && k != ContentPIN {
			return fmt.Errorf("sms2fa: content must be %q or %q, got %q", ContentOTP, ContentPIN, k)
		}
		c.content = k
		return nil
	}
}

// WithPurpose sets the purpose sent with the codes of one flow, in the
// provider's vocabulary. Defaults (Way2API's words): FlowLogin "login",
// FlowStepUp "transaction", FlowEnrol "account_verification", FlowChange
// "profile_update". A sender that implements [MessageChecker] validates
// every flow's purpose in New.
func WithPurpose(f Flow, purpose string) Option {
	return func(c *config) error {
		if !slices.Contains(flows[:], f) {
			return fmt.Errorf("sms2fa: WithPurpose: unknown flow %q", f)
		}
		if purpose == "" {
			return errors.New("sms2fa: WithPurpose: purpose must not be empty")
		}
		c.purposes = maps.Clone(c.purposes)
		c.purposes[f] = purpose
		return nil
	}
}

// WithCookie sets the attributes of the guard's three cookies: its session
// (WithSessionName), the mark of a completed second factor (the session
// name + "_mark") and the remembered device (+ "_device", which lives
// WithRememberDevice instead of MaxAge); the app's session store keeps its
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

// WithDefaultRegion reads numbers written without a country code ("98765
// 43210") as numbers of this ISO 3166 region ("IN"). Default: none, so a
// User.Phone must be international (+91…).
func WithDefaultRegion(region string) Option {
	return func(c *config) error {
		if !phone.ValidRegion(region) {
			return fmt.Errorf("sms2fa: WithDefaultRegion: %q is not a region phone numbers are known for", region)
		}
		c.defaultRegion = strings.ToUpper(region)
		return nil
	}
}

// WithIPv6Prefix sets how much of an IPv6 client address the per-IP budget
// counts: the first bits bits. Default 64: one host or home is usually
// handed a whole /64, so counting single addresses would give it 2^64
// budgets. 128 counts single addresses.
func WithIPv6Prefix(bits int) Option {
	return func(c *config) error {
		if bits < 16 || bits > 128 {
			return fmt.Errorf("sms2fa: WithIPv6Prefix: need 16 to 128 bits, got %d", bits)
		}
		c.ipv6Bits = bits
		return nil
	}
}

// WithSendTimeout bounds one call to the Sender, retries included. Default 15
// s. The send runs detached from the client's request, so a closed tab does
// not cut an SMS off halfway.
func WithSendTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("sms2fa: send timeout must be positive, got %v", d)
		}
		c.sendTimeout = d
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
		c.clientIP = f
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

// WithUserLimit sets the send budgets per user. Default 3 per 10 minutes and
// 10 per day. No rates turns the limit off.
func WithUserLimit(rates ...Rate) Option {
	return budgetOption(rates, func(c *config) *[]Rate { return &c.perUser })
}

// WithPhoneLimit sets the send budgets per phone number. Default 3 per 10
// minutes and 10 per day (Twilio Verify allows 5 per 10 minutes, Sentry 3 per
// 5 minutes). No rates turns the limit off.
func WithPhoneLimit(rates ...Rate) Option {
	return budgetOption(rates, func(c *config) *[]Rate { return &c.perPhone })
}

// WithIPLimit sets the send budgets per client IP, as WithClientIP reports
// it: behind a load balancer, say how to read the client's address, or every
// user behind it shares one budget — and never trust a header a client can
// set. Default 20 per hour (Auth0 allows 50). No rates turns it off.
func WithIPLimit(rates ...Rate) Option {
	return budgetOption(rates, func(c *config) *[]Rate { return &c.perIP })
}

// WithPrefixLimit sets the send budgets per number prefix — the country code
// and the first digits digits of the national number — so that a burst to
// many adjacent numbers, the signature of SMS pumping, trips it. Default 6
// national digits, 20 sends per hour. No rates turns it off.
func WithPrefixLimit(digits int, rates ...Rate) Option {
	return func(c *config) error {
		if digits < 1 || digits > 12 {
			return fmt.Errorf("sms2fa: prefix digits must be 1 to 12, got %d", digits)
		}
		c.prefixDigits = digits
		return budgetOption(rates, func(c *config) *[]Rate { return &c.perPrefix })(c)
	}
}

// WithGlobalLimit sets the budget for all sends together: past it, sending
// stops for everyone until the window ends — a circuit breaker for a pumping
// attack that beats every other budget — and an EventGlobalLimit says so.
// Default 10,000 per day; set it to a few times your normal volume. No rates
// turns it off.
func WithGlobalLimit(rates ...Rate) Option {
	return budgetOption(rates, func(c *config) *[]Rate { return &c.global })
}

// WithCountries allows codes only to numbers of these ISO 3166 regions ("IN",
// "GB", …); others are refused before any send. "001" allows the
// non-geographic numbers (+800, +808, +870, +878, +881, +882, +883, +888,
// +979: international networks and satellite phones). Default: any
// geographic region, and no non-geographic number — those ranges are where
// SMS pumping pays best — with a warning from New recommending this option.
// Way2API serves +91 (IN) only.
func WithCountries(regions ...string) Option {
	return func(c *config) error {
		if len(regions) == 0 {
			return errors.New("sms2fa: WithCountries needs at least one region")
		}
		c.countries = make(map[string]bool, len(regions))
		for _, r := range regions {
			if !phone.ValidCountry(r) {
				return fmt.Errorf("sms2fa: %q is not an ISO 3166 region code like IN (or 001)", r)
			}
			c.countries[r] = true
		}
		return nil
	}
}

// budgetOption validates rates and stores a copy in the list field picks.
func budgetOption(rates []Rate, field func(*config) *[]Rate) Option {
	return func(c *config) error {
		for _, r := range rates {
			if r.Limit < 1 || r.Window < time.Second {
				return fmt.Errorf("sms2fa: a send budget needs a limit ≥ 1 and a window ≥ 1s, got %d per %v", r.Limit, r.Window)
			}
		}
		*field(c) = append([]Rate(nil), rates...)
		return nil
	}
}

// validate checks what single options cannot: their combination.
func (c *config) validate() error {
	if err := c.policy.Validate(); err != nil {
		return err
	}
	if c.policy.CodeTTL > maxCodeLifetime && !c.longTTL {
		return fmt.Errorf("sms2fa: code lifetime %v is over NIST's 10 minutes; add AllowLongCodeLifetime() if you mean it", c.policy.CodeTTL)
	}
	return nil
}

// flows lists every flow, in a fixed order for New's checks.
var flows = [...]Flow{FlowLogin, FlowStepUp, FlowEnrol, FlowChange}

func defaultPurposes() map[Flow]string {
	return map[Flow]string{
		FlowLogin:  contract.PurposeLogin,
		FlowStepUp: "transaction",
		FlowEnrol:  "account_verification",
		FlowChange: "profile_update",
	}
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
