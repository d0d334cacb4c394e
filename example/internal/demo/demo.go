package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
	"github.com/sms2fa/sms2fa/internal/dburl"
	"github.com/sms2fa/sms2fa/metrics"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/totp"
)

//go:embed pages.html demo.css
var assets embed.FS

// defaultPrefixDigits is the guard's default number-prefix length: the
// demo's SMS2FA_PREFIX_LIMIT changes the prefix budget's rates, not what a
// prefix is.
const defaultPrefixDigits = 6

// The automatic prefix block's defaults (the SMS method's): the demo's
// SMS2FA_AUTOBLOCK_MIN_SENDS and SMS2FA_AUTOBLOCK_CONVERSION set one
// figure of a threshold the method takes as a pair.
const (
	defaultBlockMinSends   = 20
	defaultBlockConversion = 0.35
)

// autoBlockOptions are the SMS method's options from SMS2FA_AUTOBLOCK*;
// an unset variable keeps the method's default.
func (c Config) autoBlockOptions() []sms.Option {
	var opts []sms.Option
	if c.autoBlock != "" {
		opts = append(opts, sms.WithAutoBlock(c.autoBlock))
	}
	if c.autoBlockMinSends > 0 || c.autoBlockConversion > 0 {
		n, f := c.autoBlockMinSends, c.autoBlockConversion
		if n == 0 {
			n = defaultBlockMinSends
		}
		if f == 0 {
			f = defaultBlockConversion
		}
		opts = append(opts, sms.WithAutoBlockThreshold(n, f))
	}
	if c.autoBlockFor > 0 {
		opts = append(opts, sms.WithAutoBlockFor(c.autoBlockFor))
	}
	return opts
}

// User is one of the demo's users: its whole first factor is a password, and
// a phone the app has verified itself (carol has none: she enrols one on her
// first visit).
type User struct{ Password, Phone string }

// LookupUser finds a demo user by name.
func LookupUser(name string) (User, bool) {
	switch name {
	case "alice":
		return User{"alice-password", "+91 98765 43210"}, true
	case "bob":
		return User{"bob-password", "+91 98123 45678"}, true
	case "carol":
		return User{"carol-password", ""}, true
	}
	return User{}, false
}

// Pages parses the demo's own pages (landing, login, dashboard, transfer,
// account).
func Pages() (*template.Template, error) {
	t, err := template.ParseFS(assets, "pages.html")
	if err != nil {
		return nil, fmt.Errorf("parsing pages: %w", err)
	}
	return t, nil
}

// CSS is the demo pages' stylesheet, served at /demo.css.
func CSS() []byte {
	b, _ := assets.ReadFile("demo.css")
	return b
}

// GuardOptions are the guard's options the configuration asks for, the same
// in both examples, and the Prometheus registry the guard's metrics are on
// (served at /metrics).
func GuardOptions(cfg Config, logger *slog.Logger) ([]sms2fa.Option, *prometheus.Registry, error) {
	// The guard's own cookies (its pending state and the signed mark of a
	// completed second factor) are Secure by default; the demo serves plain
	// http://, where a browser would drop them. Behind HTTPS, leave Secure on.
	guardCookie := sms2fa.DefaultCookie()
	guardCookie.Secure = false
	opts := []sms2fa.Option{
		sms2fa.WithLoginURL("/login"),
		sms2fa.WithLogger(logger),
		sms2fa.WithCookie(guardCookie),
	}
	if cfg.recheck > 0 {
		opts = append(opts, sms2fa.WithRecheck(cfg.recheck))
	}
	if cfg.Clock != nil {
		opts = append(opts, sms2fa.WithClock(cfg.Clock))
	}
	// The SMS method's settings.
	texts := []sms.Option{
		sms.WithCountries("IN"), // Way2API delivers to +91 only; refuse the rest before any send
	}
	if cfg.codeTTL > 0 {
		texts = append(texts, sms.WithCodeLifetime(cfg.codeTTL))
	}
	if cfg.cooldownSet {
		texts = append(texts, sms.WithResendCooldown(cfg.cooldown))
	}
	if cfg.maxAttempts > 0 {
		texts = append(texts, sms.WithMaxAttempts(cfg.maxAttempts))
	}
	// Send budgets from SMS2FA_*_LIMIT; an unset one keeps the method's
	// default, "off" passes no rates, which turns that budget off.
	for _, b := range []struct {
		budget
		option func(...sms.Rate) sms.Option
	}{
		{cfg.userLimit, sms.WithUserLimit},
		{cfg.phoneLimit, sms.WithPhoneLimit},
		{cfg.ipLimit, sms.WithIPLimit},
		{cfg.prefixLimit, func(rates ...sms.Rate) sms.Option {
			return sms.WithPrefixLimit(defaultPrefixDigits, rates...)
		}},
		{cfg.globalLimit, sms.WithGlobalLimit},
	} {
		if b.set {
			texts = append(texts, b.option(b.rates...))
		}
	}
	texts = append(texts, cfg.autoBlockOptions()...)
	opts = append(opts, sms2fa.WithSMS(texts...))
	// Recovery codes, remembered devices and authenticator apps beside SMS.
	// An app's secret is sealed under a key derived from SMS2FA_SECRET: with
	// the random default, every app set up is forgotten on restart.
	dev, err := device.New()
	if err != nil {
		return nil, nil, err
	}
	app, err := totp.New(totp.WithIssuer("sms2fa demo"))
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, sms2fa.WithMethods(recovery.New(), dev, app))
	// Metrics: counters and histograms fed by the guard's events, beside any
	// event hook of the app's own.
	m, err := metrics.New(metrics.Options{Regions: []string{"IN"}})
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	registry := prometheus.NewRegistry()
	if err := m.Register(registry); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	return append(opts, sms2fa.WithEvents(m.Hook)), registry, nil
}

// ClientIP returns how the net/http example reads a client's address, as Gin
// does with the same trusted proxies: the TCP peer, unless the peer is a
// trusted proxy; then X-Forwarded-For is read from the right, and the first
// address that is not a trusted proxy is the client (X-Real-IP if there is
// no X-Forwarded-For). With no trusted proxies a client cannot claim an
// address.
func ClientIP(trusted []string) (func(*http.Request) string, error) {
	var nets []netip.Prefix
	for _, t := range trusted {
		if !strings.Contains(t, "/") {
			a, err := netip.ParseAddr(t)
			if err != nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or a CIDR", t)
			}
			t = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", t)
		}
		nets = append(nets, p.Masked())
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			peer = r.RemoteAddr
		}
		if !isTrusted(peer) {
			return peer
		}
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			hops := strings.Split(f, ",")
			for i := len(hops) - 1; i >= 0; i-- {
				hop := strings.TrimSpace(hops[i])
				if _, err := netip.ParseAddr(hop); err != nil {
					break // a malformed hop: trust nothing before it
				}
				if i == 0 || !isTrusted(hop) {
					return hop
				}
			}
		}
		if real := strings.TrimSpace(r.Header.Get("X-Real-IP")); real != "" {
			if _, err := netip.ParseAddr(real); err == nil {
				return real
			}
		}
		return peer
	}, nil
}

// App builds one example's handler: its routes around the guard, on st,
// sending with snd.
type App func(cfg Config, st contract.Store, snd contract.Sender, logger *slog.Logger) (http.Handler, error)

// Timeouts bound how long one connection may hold the server; tests shorten
// them.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// ServerTimeouts are the demo's. Without them a client that sends its
// headers or body a byte at a time, or opens keep-alive connections and
// idles, holds a goroutine and a socket for as long as it likes: 150 of each
// were all still held after 40 s.
var ServerTimeouts = Timeouts{
	ReadHeader: 5 * time.Second,  // request line and headers: a browser sends them at once
	Read:       15 * time.Second, // the whole request; the demo's forms are a few hundred bytes
	// Write runs from the end of the headers to the end of the response, and
	// a request that sends a code waits for the SMS provider: it must exceed
	// the guard's send timeout (15 s by default, WithSendTimeout), or the
	// connection is cut after the SMS went out and the user never sees the
	// page asking for it.
	Write: 30 * time.Second,
	Idle:  60 * time.Second, // a keep-alive connection between requests
}

// NewServer is the server both examples run.
func NewServer(handler http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// Run reads the configuration, opens the store, picks the sender, builds the
// app and serves it until ctx ends, then shuts down gracefully. ready, if
// not nil, receives the address once the server listens.
func Run(ctx context.Context, getenv func(string) string, out io.Writer, ready chan<- string, limits Timeouts, app App) error {
	cfg, err := ConfigFrom(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(out, nil))
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}

	st, err := OpenStore(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.StartJanitor(ctx, time.Minute, func(err error) { logger.Error("purge failed", "error", err) }); err != nil {
		return err
	}

	var snd contract.Sender
	if cfg.way2apiKey != "" {
		opts := []sender.Way2APIOption{}
		if cfg.way2apiBase != "" {
			opts = append(opts, sender.WithBaseURL(cfg.way2apiBase))
		}
		if snd, err = sender.NewWay2API(cfg.way2apiKey, opts...); err != nil {
			return fmt.Errorf("WAY2API_API_KEY / WAY2API_BASE_URL: %w", err)
		}
	} else {
		fmt.Fprintln(out, "*** WAY2API_API_KEY is not set: codes are printed here by the console sender (development only) ***")
		snd = sender.NewConsole(out)
	}

	handler, err := app(cfg, st, snd, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	srv := NewServer(handler, limits)
	logger.Info("sms2fa example listening", "url", "http://"+ln.Addr().String(), "store", st.Dialect())
	if ready != nil {
		ready <- ln.Addr().String()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Graceful shutdown: finish the requests in flight (a send can take a
	// few seconds), then close the store.
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// OpenStore picks the dialect from DATABASE_URL: a postgres:// URL is
// Postgres, anything else a SQLite file. A failure names the variable.
func OpenStore(ctx context.Context, databaseURL string) (*store.SQL, error) {
	st, err := dburl.Open(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return st, nil
}
