// Command example is a small Gin app guarded by sms2fa: sign in as alice or
// bob, receive a code (printed on this terminal unless WAY2API_API_KEY is
// set), enter it, see the dashboard; carol has no number and enrols one;
// /transfer asks for a fresh code; /account shows the number, the recovery
// codes left and the remembered devices, and signs out everywhere; /metrics
// serves Prometheus metrics. Pages speak English or Hindi (Accept-Language).
// Read it (app.go) as the Gin integration guide; ./example/nethttp is the
// same demo on the standard library's http.ServeMux.
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
//	SMS2FA_AUTOBLOCK         block pumped number prefixes: off, monitor or on (default on)
//	SMS2FA_AUTOBLOCK_MIN_SENDS   judged sends a window needs before it can block (default 20)
//	SMS2FA_AUTOBLOCK_CONVERSION  the verified share under which it blocks (default 0.35)
//	SMS2FA_AUTOBLOCK_FOR     the first block's length, 1m to 168h, doubling per repeat (default 12h)
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
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/sms2fa/sms2fa/example/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gin.SetMode(gin.ReleaseMode)
	if err := demo.Run(ctx, os.Getenv, os.Stdout, nil, demo.ServerTimeouts, newApp); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}
