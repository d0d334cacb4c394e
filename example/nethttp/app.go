package main

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/sessions"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/example/internal/demo"
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
	signedIn := func(r *http.Request) (sms2fa.User, bool) {
		s, err := cookies.Get(r, "demo")
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

	// The per-IP send budget counts the client the guard is told of. By
	// default that is the TCP peer; behind a load balancer, believe
	// X-Forwarded-For only from the proxies in TRUSTED_PROXIES, or a client
	// could claim a fresh address (and budget) with each request.
	clientIP, err := demo.ClientIP(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	// The guard's options from the environment, the same in both examples
	// (see internal/demo), and the registry of its metrics.
	opts, registry, err := demo.GuardOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	guard, err := sms2fa.New(cookies, st, snd, cfg.Secret, signedIn, append(opts, sms2fa.WithClientIP(clientIP))...)
	if err != nil {
		return nil, fmt.Errorf("configuring sms2fa: %w", err)
	}

	pages, err := demo.Pages()
	if err != nil {
		return nil, err
	}
	show := func(w http.ResponseWriter, status int, name string, data any) {
		var b bytes.Buffer
		if err := pages.ExecuteTemplate(&b, name, data); err != nil {
			logger.Error("rendering a page", "page", name, "error", err)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		w.Write(b.Bytes())
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { show(w, http.StatusOK, "landing", nil) })
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { show(w, http.StatusOK, "login", nil) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		name := r.PostFormValue("username")
		u, ok := demo.LookupUser(name)
		if !ok || subtle.ConstantTimeCompare([]byte(r.PostFormValue("password")), []byte(u.Password)) != 1 {
			show(w, http.StatusUnauthorized, "login", map[string]any{"Error": "Wrong username or password.", "Username": name})
			return
		}
		s, _ := cookies.Get(r, "demo") // a bad cookie gives a fresh session
		s.Values["user"] = name
		s.Values["login"] = rand.Text() // names this sign-in
		if err := s.Save(r, w); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
	})
	// signOut ends this browser's sign-in: the guard's grant first (it
	// needs to know who is signed in), then the app's own session.
	signOut := func(w http.ResponseWriter, r *http.Request) bool {
		if err := guard.Logout(w, r); err != nil {
			logger.Error("logout", "error", err)
		}
		s, _ := cookies.Get(r, "demo")
		s.Options.MaxAge = -1
		if err := s.Save(r, w); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		// Logout revokes the grant server-side, so even a copy of these
		// cookies stops working within the recheck interval.
		if signOut(w, r) {
			http.Redirect(w, r, "/", http.StatusSeeOther)
		}
	})
	// Browsers ask for a favicon; a 404 would be logged.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	css := demo.CSS()
	mux.HandleFunc("GET /demo.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(css)
	})

	guard.Mount(mux) // the code page and its forms, enrolment, recovery, devices: see the README
	mux.Handle("GET /dashboard", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := sms2fa.UserID(r)
		// A user whose number the app already knew was never shown
		// recovery codes: offer them (never force them). This is the app's
		// own read, one indexed lookup; a failure only hides the banner.
		factor, err := guard.Factor(r.Context(), id)
		if err != nil {
			logger.Error("reading the second factor", "error", err)
		}
		show(w, http.StatusOK, "dashboard", map[string]any{"User": id, "NoRecoveryCodes": err == nil && factor.NoRecoveryCodes(),
			"CodesURL": "/2fa/recovery-codes?next=/dashboard"})
	})))
	// A sensitive page: a code verified in the last SMS2FA_STEP_UP_AGE.
	mux.Handle("GET /transfer", guard.RequireRecent(cfg.StepUpAge)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := sms2fa.UserID(r)
		show(w, http.StatusOK, "transfer", map[string]any{"User": id})
	})))
	mux.Handle("GET /account", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := sms2fa.UserID(r)
		factor, err := guard.Factor(r.Context(), id)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		devices, err := guard.Devices(r.Context(), id)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		// The forms post to the guard's own routes, which ask for a fresh
		// code first when the last one is older than 10 minutes.
		show(w, http.StatusOK, "account", map[string]any{"User": id, "Factor": factor, "Devices": devices,
			"EnrollURL": "/2fa/enroll", "CodesURL": "/2fa/recovery-codes", "DevicesURL": "/2fa/devices", "TOTPURL": "/2fa/totp"})
	})))
	mux.Handle("POST /account/signout-everywhere", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := sms2fa.UserID(r)
		if _, err := guard.SignOutEverywhere(r.Context(), id); err != nil {
			logger.Error("sign out everywhere", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if signOut(w, r) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		}
	})))

	// Prometheus metrics of the guard, on the app's own registry.
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))

	// The app's own forms (login, logout) get the same cross-origin
	// protection as the guard's; a panicking handler is answered with a 500.
	return http.NewCrossOriginProtection().Handler(recoverer(logger, mux)), nil
}

// recoverer answers a panicking handler with a 500 and logs it, as Gin's
// Recovery does, rather than dropping the connection.
func recoverer(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("handler panicked", "panic", p, "path", r.URL.Path)
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
