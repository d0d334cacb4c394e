// Command nethttp is ./example on the standard library: the same demo —
// routes, form fields, cookies, users, pages, JSON answers, /metrics and
// environment variables (see ../main.go for the list) — built on
// http.ServeMux with the sms2fa core and no web framework. Read app.go as the
// net/http integration guide.
//
//	go run ./example/nethttp
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sms2fa/sms2fa/example/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, os.Getenv, os.Stdout, nil, demo.ServerTimeouts, newApp); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}
