package demo

import (
	"net/http"
	"testing"
	"time"
)

func TestServerTimeouts(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), ServerTimeouts)
	for _, f := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 15 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", srv.IdleTimeout, 60 * time.Second},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	// A response that waits for an SMS must outlive the send it waits for.
	const guardSendTimeout = 15 * time.Second // sms2fa's default; the demo keeps it
	if srv.WriteTimeout <= guardSendTimeout {
		t.Errorf("WriteTimeout %v does not exceed the guard's send timeout %v", srv.WriteTimeout, guardSendTimeout)
	}
}
