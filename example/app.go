package main

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/render"
	"github.com/gorilla/sessions"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/example/internal/demo"
	"github.com/sms2fa/sms2fa/ginguard"
)

// newApp wires the demo: its own login, the guard, and the pages.
func newApp(cfg demo.Config, st contract.Store, snd contract.Sender, logger *slog.Logger) (http.Handler, error) {
	// One cookie store for the app's session ("demo") and the guard's own
	// ("sms2fa"). Secure is off because the demo runs on plain http://
	// localhost; turn it on behind HTTPS.
	cookies := sessions.NewCookieStore(cfg.SessionKey)
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
		u, ok := demo.LookupUser(name)
		// Login ties the second factor to this sign-in: signing in again asks
		// for a new code.
		return sms2fa.User{ID: name, Phone: u.Phone, Login: login}, ok
	}

	// The guard's options from the environment, the same in both examples
	// (see internal/demo), and the registry of its metrics.
	opts, registry, err := demo.GuardOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	guard, err := ginguard.New(cookies, st, snd, cfg.Secret, signedIn, opts...)
	if err != nil {
		return nil, fmt.Errorf("configuring sms2fa: %w", err)
	}

	pages, err := demo.Pages()
	if err != nil {
		return nil, err
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
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { show(c, http.StatusOK, "landing", nil) })
	r.GET("/login", func(c *gin.Context) { show(c, http.StatusOK, "login", nil) })
	r.POST("/login", func(c *gin.Context) {
		name := c.PostForm("username")
		u, ok := demo.LookupUser(name)
		if !ok || subtle.ConstantTimeCompare([]byte(c.PostForm("password")), []byte(u.Password)) != 1 {
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
	css := demo.CSS()
	r.GET("/demo.css", func(c *gin.Context) { c.Data(http.StatusOK, "text/css; charset=utf-8", css) })

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
	r.GET("/transfer", guard.RequireRecent(cfg.StepUpAge), func(c *gin.Context) {
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
			"EnrollURL": "/2fa/enroll", "CodesURL": "/2fa/recovery-codes", "DevicesURL": "/2fa/devices", "TOTPURL": "/2fa/totp"})
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
