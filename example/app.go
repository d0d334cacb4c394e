package main

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/render"
	"github.com/gorilla/sessions"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/ginguard"
	"github.com/sms2fa/sms2fa/metrics"
)

//go:embed pages.html demo.css
var assets embed.FS

// defaultPrefixDigits is the guard's default number-prefix length: the
// demo's SMS2FA_PREFIX_LIMIT changes the prefix budget's rates, not what a
// prefix is.
const defaultPrefixDigits = 6

// demoUser is the demo's whole first factor: a password and a phone the app
// has verified itself (carol has none: she enrols one on her first visit).
type demoUser struct{ password, phone string }

func lookupUser(name string) (demoUser, bool) {
	switch name {
	case "alice":
		return demoUser{"alice-password", "+91 98765 43210"}, true
	case "bob":
		return demoUser{"bob-password", "+91 98123 45678"}, true
	case "carol":
		return demoUser{"carol-password", ""}, true
	}
	return demoUser{}, false
}

// newApp wires the demo: its own login, the guard, and the pages.
func newApp(cfg config, st sms2fa.Store, snd sms2fa.Sender, logger *slog.Logger) (http.Handler, error) {
	// One cookie store for the app's session ("demo") and the guard's own
	// ("sms2fa"). Secure is off because the demo runs on plain http://
	// localhost; turn it on behind HTTPS.
	cookies := sessions.NewCookieStore(cfg.sessionKey)
	cookies.Options = &sessions.Options{Path: "/", MaxAge: 12 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode}

	// Who passed the first factor, and their phone: the guard asks this on
	// every guarded request.
	signedIn := func(c *gin.Context) (sms2fa.User, bool) {
		s, err := cookies.Get(c.Request, "demo")
		if err != nil {
			return sms2fa.User{}, false
		}
		name, _ := s.Values["user"].(string)
		login, _ := s.Values["login"].(string)
		u, ok := lookupUser(name)
		// Login ties the second factor to this sign-in: signing in again asks
		// for a new code.
		return sms2fa.User{ID: name, Phone: u.phone, Login: login}, ok
	}

	// The guard's own cookies (its pending state and the signed mark of a
	// completed second factor) are Secure by default; the demo serves plain
	// http://, where a browser would drop them. Behind HTTPS, leave Secure on.
	guardCookie := sms2fa.DefaultCookie()
	guardCookie.Secure = false
	opts := []sms2fa.Option{
		sms2fa.WithLoginURL("/login"),
		sms2fa.WithCountries("IN"), // Way2API delivers to +91 only; refuse the rest before any send
		sms2fa.WithLogger(logger),
		sms2fa.WithCookie(guardCookie),
	}
	if cfg.recheck > 0 {
		opts = append(opts, sms2fa.WithRecheck(cfg.recheck))
	}
	if cfg.clock != nil {
		opts = append(opts, sms2fa.WithClock(cfg.clock))
	}
	if cfg.codeTTL > 0 {
		opts = append(opts, sms2fa.WithCodeLifetime(cfg.codeTTL))
	}
	if cfg.cooldownSet {
		opts = append(opts, sms2fa.WithResendCooldown(cfg.cooldown))
	}
	if cfg.maxAttempts > 0 {
		opts = append(opts, sms2fa.WithMaxAttempts(cfg.maxAttempts))
	}
	// Send budgets from SMS2FA_*_LIMIT; an unset one keeps the guard's
	// default, "off" passes no rates, which turns that budget off.
	for _, b := range []struct {
		budget
		option func(...sms2fa.Rate) sms2fa.Option
	}{
		{cfg.userLimit, sms2fa.WithUserLimit},
		{cfg.phoneLimit, sms2fa.WithPhoneLimit},
		{cfg.ipLimit, sms2fa.WithIPLimit},
		{cfg.prefixLimit, func(rates ...sms2fa.Rate) sms2fa.Option {
			return sms2fa.WithPrefixLimit(defaultPrefixDigits, rates...)
		}},
		{cfg.globalLimit, sms2fa.WithGlobalLimit},
	} {
		if b.set {
			opts = append(opts, b.option(b.rates...))
		}
	}
	// Metrics: counters and histograms fed by the guard's events, beside any
	// event hook of the app's own.
	m, err := metrics.New(metrics.Options{Regions: []string{"IN"}})
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	registry := prometheus.NewRegistry()
	if err := m.Register(registry); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	opts = append(opts, sms2fa.WithEvents(m.Hook))
	guard, err := ginguard.New(cookies, st, snd, cfg.secret, signedIn, opts...)
	if err != nil {
		return nil, fmt.Errorf("configuring sms2fa: %w", err)
	}

	pages, err := template.ParseFS(assets, "pages.html")
	if err != nil {
		return nil, fmt.Errorf("parsing pages: %w", err)
	}
	show := func(c *gin.Context, status int, name string, data any) {
		c.Render(status, render.HTML{Template: pages, Name: name, Data: data})
	}

	r := gin.New()
	// The per-IP send budget keys on gin's ClientIP, and gin believes every
	// peer's X-Forwarded-For unless told otherwise: a client could then spoof
	// the header for a fresh budget on each request. Only the proxies named
	// in TRUSTED_PROXIES may say who the client is; with none (nil), the TCP
	// peer is the client.
	if err := r.SetTrustedProxies(cfg.trustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { show(c, http.StatusOK, "landing", nil) })
	r.GET("/login", func(c *gin.Context) { show(c, http.StatusOK, "login", nil) })
	r.POST("/login", func(c *gin.Context) {
		name := c.PostForm("username")
		u, ok := lookupUser(name)
		if !ok || subtle.ConstantTimeCompare([]byte(c.PostForm("password")), []byte(u.password)) != 1 {
			show(c, http.StatusUnauthorized, "login", gin.H{"Error": "Wrong username or password.", "Username": name})
			return
		}
		s, _ := cookies.Get(c.Request, "demo") // a bad cookie gives a fresh session
		s.Values["user"] = name
		s.Values["login"] = rand.Text() // names this sign-in
		if err := s.Save(c.Request, c.Writer); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.Redirect(http.StatusSeeOther, "/dashboard")
	})
	// signOut ends this browser's sign-in: the guard's grant first (it
	// needs to know who is signed in), then the app's own session.
	signOut := func(c *gin.Context) bool {
		if err := guard.Logout(c); err != nil {
			logger.Error("logout", "error", err)
		}
		s, _ := cookies.Get(c.Request, "demo")
		s.Options.MaxAge = -1
		if err := s.Save(c.Request, c.Writer); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return false
		}
		return true
	}
	r.POST("/logout", func(c *gin.Context) {
		// Logout revokes the grant server-side, so even a copy of these
		// cookies stops working within the recheck interval.
		if signOut(c) {
			c.Redirect(http.StatusSeeOther, "/")
		}
	})
	r.GET("/favicon.ico", func(c *gin.Context) { c.Status(http.StatusNoContent) }) // browsers ask; a 404 would be logged
	r.GET("/demo.css", func(c *gin.Context) {
		b, _ := assets.ReadFile("demo.css")
		c.Data(http.StatusOK, "text/css; charset=utf-8", b)
	})

	guard.Mount(r) // the code page and its forms, enrolment, recovery, devices: see the README
	r.GET("/dashboard", guard.Require(), func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		// A user whose number the app already knew was never shown
		// recovery codes: offer them (never force them). This is the
		// app's own read, one indexed lookup; a failure only hides the
		// banner.
		factor, err := guard.Factor(c.Request.Context(), id)
		if err != nil {
			logger.Error("reading the second factor", "error", err)
		}
		show(c, http.StatusOK, "dashboard", gin.H{"User": id, "NoRecoveryCodes": err == nil && factor.NoRecoveryCodes(),
			"CodesURL": "/2fa/recovery-codes?next=/dashboard"})
	})
	// A sensitive page: a code verified in the last SMS2FA_STEP_UP_AGE.
	r.GET("/transfer", guard.RequireRecent(cfg.stepUpAge), func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		show(c, http.StatusOK, "transfer", gin.H{"User": id})
	})
	account := r.Group("/account", guard.Require())
	account.GET("", func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		ctx := c.Request.Context()
		factor, err := guard.Factor(ctx, id)
		if err != nil {
			c.AbortWithError(http.StatusServiceUnavailable, err)
			return
		}
		devices, err := guard.Devices(ctx, id)
		if err != nil {
			c.AbortWithError(http.StatusServiceUnavailable, err)
			return
		}
		// The forms post to the guard's own routes, which ask for a fresh
		// code first when the last one is older than 10 minutes.
		show(c, http.StatusOK, "account", gin.H{"User": id, "Factor": factor, "Devices": devices,
			"EnrollURL": "/2fa/enroll", "CodesURL": "/2fa/recovery-codes", "DevicesURL": "/2fa/devices"})
	})
	account.POST("/signout-everywhere", func(c *gin.Context) {
		id, _ := ginguard.UserID(c)
		if _, err := guard.SignOutEverywhere(c.Request.Context(), id); err != nil {
			logger.Error("sign out everywhere", "error", err)
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		if signOut(c) {
			c.Redirect(http.StatusSeeOther, "/login")
		}
	})

	// Prometheus metrics of the guard, on the app's own registry.
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(registry, promhttp.HandlerOpts{})))

	// The app's own forms (login, logout) get the same cross-origin
	// protection as the guard's.
	return http.NewCrossOriginProtection().Handler(r), nil
}
