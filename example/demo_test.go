package main

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sms2fa/sms2fa/example/internal/demotest"
)

// TestDemo runs the examples' shared suite — every flow over HTTP, the
// golden HTTP surface, the server's limits and the Chromium tests — against
// the Gin app.
func TestDemo(t *testing.T) {
	gin.SetMode(gin.TestMode)
	demotest.Run(t, newApp)
}
