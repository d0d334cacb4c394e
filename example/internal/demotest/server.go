package demotest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/example/internal/demo"
)

// The demo, started as main starts it, drops a client that stops halfway
// through its request line or its headers (slowloris), and a keep-alive
// connection left idle. The
// timeouts are shortened so the test is quick; the client reads EOF well
// before its own read deadline.
func (s Suite) RunDropsSlowAndIdleClients(t *testing.T) {
	short := demo.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 5 * time.Second, Write: 5 * time.Second, Idle: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	vars := map[string]string{"ADDR": "127.0.0.1:0", "DATABASE_URL": filepath.Join(t.TempDir(), "demo.db")}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, env(vars), io.Discard, ready, short, s.app) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})

	const patience = 10 * time.Second // the client's own limit: 50 times the server's
	// closedBy reads from conn until the server closes it, and returns what
	// came and how long that took; still being connected at the client's
	// own deadline fails the test.
	closedBy := func(t *testing.T, what string, conn net.Conn, r io.Reader) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		conn.SetReadDeadline(start.Add(patience))
		got, err := io.ReadAll(r) // nil error: it ended in EOF
		took := time.Since(start)
		switch {
		case isTimeout(err):
			t.Fatalf("%s: still connected after %v", what, patience)
		case err != nil:
			t.Fatalf("%s: %v after %q; want EOF", what, err, got)
		}
		return string(got), took
	}
	// slow sends part of a request, then nothing, and waits to be dropped.
	slow := func(t *testing.T, what, part string) string {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, part); err != nil {
			t.Fatal(err)
		}
		got, took := closedBy(t, what, conn, conn)
		if took < 150*time.Millisecond {
			t.Fatalf("%s: closed after %v, before the 200 ms header timeout: not the timeout at work", what, took)
		}
		return got
	}

	t.Run("half a request line", func(t *testing.T) {
		// net/http reads a cut-off request line as a malformed one: it
		// answers 400 as it hangs up. The hanging up is the point.
		got := slow(t, "a half-sent request line", "GET /dashboard HT")
		if got != "" && !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Fatalf("the server answered %q", got)
		}
	})

	t.Run("half the headers", func(t *testing.T) {
		if got := slow(t, "half-sent headers", "GET /dashboard HTTP/1.1\r\nHost: demo\r\nX-Slow: a"); got != "" {
			t.Fatalf("the server answered %q", got)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /favicon.ico HTTP/1.1\r\nHost: demo\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(patience))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Close {
			t.Fatalf("first request: %d, close=%v; want a 204 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		if got, _ := closedBy(t, "an idle keep-alive connection", conn, br); got != "" {
			t.Fatalf("the server sent %q on an idle connection", got)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
