// Command example is a small Gin app guarded by sms2fa: sign in as alice or
// bob, receive a code (printed on this terminal unless WAY2API_API_KEY is
// set), enter it, see the dashboard. Read it as the integration guide.
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
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run starts the demo and serves until ctx is done. ready, if not nil,
// receives the listening address (tests use it).
func run(ctx context.Context, getenv func(string) string, out io.Writer, ready chan<- string) error {
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
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
