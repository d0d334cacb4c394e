// Command example is a small Gin app guarded by sms2fa: sign in as alice or
// bob, receive a code (printed on this terminal unless WAY2API_API_KEY is
// set), enter it, see the dashboard; carol has no number and enrols one;
// /transfer asks for a fresh code; /account shows the number, the recovery
// codes left and the remembered devices, and signs out everywhere; /metrics
// serves Prometheus metrics. Pages speak English or Hindi (Accept-Language).
// Read it as the integration guide.
//
//	go run ./example
//
// Configuration comes from the environment:
//
//	ADDR                     listen address (default 127.0.0.1:8080)
//	DATABASE_URL             postgres:// URL, or a SQLite file (default sms2fa-example.db)
//	WAY2API_API_KEY          send real SMS through Way2API; unset: print codes here
//	WAY2API_BASE_URL         Way2API's base URL (default https://app.way2api.com)
//	SESSION_KEY              ≥ 32 bytes signing the session cookies (default: random per start)
//	SMS2FA_SECRET            ≥ 32 bytes keying the code MACs (default: random per start)
//	SMS2FA_CODE_TTL          code lifetime, a Go duration (default 5m)
//	SMS2FA_RESEND_COOLDOWN   first resend wait, a Go duration (default 30s)
//	SMS2FA_MAX_ATTEMPTS      wrong codes per challenge (default 5)
//	SMS2FA_RECHECK           how often a verified browser's grant is confirmed in the store (default 1m)
//	SMS2FA_STEP_UP_AGE       how recent a code /transfer needs (default 5m)
//	SMS2FA_USER_LIMIT        sends per user, N/DURATION windows (default 3/10m,10/24h)
//	SMS2FA_PHONE_LIMIT       sends per phone number (default 3/10m,10/24h)
//	SMS2FA_IP_LIMIT          sends per client IP (default 20/1h)
//	SMS2FA_PREFIX_LIMIT      sends per number prefix, 6 national digits (default 20/1h)
//	SMS2FA_GLOBAL_LIMIT      sends from the whole demo (default 10000/24h)
//	TRUSTED_PROXIES          CIDRs or IPs whose X-Forwarded-For is believed (default: none)
//
// A send budget is one or more comma-separated windows of N sends per Go
// duration (20/1h, or 3/10m,10/24h; each window at least 1s), or off to
// turn it off. Set TRUSTED_PROXIES to your load balancer's addresses when
// the demo runs behind one: otherwise every client shares the balancer's IP
// budget, and trusting more than it lets a client pick its IP with a header.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/store"
	"github.com/sms2fa/sms2fa/store/postgres"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil, serverTimeouts); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run starts the demo and serves until ctx is done. ready, if not nil,
// receives the listening address; limits are the server's timeouts,
// serverTimeouts except in tests, which shorten them to watch them act.
func run(ctx context.Context, getenv func(string) string, out io.Writer, ready chan<- string, limits timeouts) error {
	cfg, err := configFrom(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(out, nil))
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}

	st, err := openStore(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	// Expired challenges and closed budget windows are deleted every minute.
	if err := st.StartJanitor(ctx, time.Minute, func(err error) { logger.Error("purge failed", "error", err) }); err != nil {
		return err
	}

	var snd sms2fa.Sender
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

	gin.SetMode(gin.ReleaseMode)
	handler, err := newApp(cfg, st, snd, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	srv := newServer(handler, limits)
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

// timeouts bound how long one connection may hold the server.
type timeouts struct {
	readHeader, read, write, idle time.Duration
}

// serverTimeouts are the demo's. Without them a client that sends its
// headers or body a byte at a time, or opens keep-alive connections and
// idles, holds a goroutine and a socket for as long as it likes: 150 of each
// were all still held after 40 s.
var serverTimeouts = timeouts{
	readHeader: 5 * time.Second,  // request line and headers: a browser sends them at once
	read:       15 * time.Second, // the whole request; the demo's forms are a few hundred bytes
	// write runs from the end of the headers to the end of the response, and
	// a request that sends a code waits for the SMS provider: it must exceed
	// the guard's send timeout (15 s by default, WithSendTimeout), or the
	// connection is cut after the SMS went out and the user never sees the
	// page asking for it.
	write: 30 * time.Second,
	idle:  60 * time.Second, // a keep-alive connection between requests
}

// newServer is the demo's http.Server: handler behind the timeouts t.
func newServer(handler http.Handler, t timeouts) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
	}
}

// openStore picks the dialect from DATABASE_URL.
func openStore(ctx context.Context, databaseURL string) (*store.SQL, error) {
	if isPostgresURL(databaseURL) {
		st, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return st, nil
}
