package main

import (
	"testing"

	"github.com/sms2fa/sms2fa/example/internal/demotest"
)

// TestDemo runs the examples' shared suite — every flow over HTTP, the
// golden HTTP surface, the server's limits and the Chromium tests — against
// the net/http app: the same tests, the same surface as the Gin app's.
func TestDemo(t *testing.T) {
	demotest.Run(t, newApp)
}
