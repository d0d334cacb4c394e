package demo

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// The net/http example reads the client's address as Gin does with the same
// trusted proxies: a forwarded address counts only from a trusted peer, and
// is read from the right, skipping trusted hops.
func TestClientIP(t *testing.T) {
	for _, c := range []struct {
		name     string
		trusted  []string
		peer     string
		xff, xri string
		want     string
	}{
		{"no proxies: the peer", nil, "203.0.113.9:1", "198.51.100.7", "", "203.0.113.9"},
		{"untrusted peer claims", []string{"10.0.0.0/8"}, "203.0.113.9:1", "198.51.100.7", "", "203.0.113.9"},
		{"trusted peer", []string{"10.0.0.0/8"}, "10.1.2.3:1", "198.51.100.7", "", "198.51.100.7"},
		{"a chain: the first untrusted from the right", []string{"10.0.0.0/8"}, "10.1.2.3:1", "1.1.1.1, 198.51.100.7, 10.9.9.9", "", "198.51.100.7"},
		{"all trusted: the leftmost", []string{"10.0.0.0/8"}, "10.1.2.3:1", "10.0.0.5, 10.0.0.6", "", "10.0.0.5"},
		{"a bare IP as proxy", []string{"10.1.2.3"}, "10.1.2.3:1", "198.51.100.7", "", "198.51.100.7"},
		{"malformed hop: the peer", []string{"10.0.0.0/8"}, "10.1.2.3:1", "not-an-ip", "", "10.1.2.3"},
		{"X-Real-IP without X-Forwarded-For", []string{"10.0.0.0/8"}, "10.1.2.3:1", "", "198.51.100.8", "198.51.100.8"},
		{"IPv6 peer", []string{"::1"}, "[::1]:1", "2001:db8::1", "", "2001:db8::1"},
	} {
		f, err := ClientIP(c.trusted)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.xri != "" {
			r.Header.Set("X-Real-IP", c.xri)
		}
		if got := f(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		// The Gin demo's answer, for the same proxies: the two demos count
		// the same client.
		e := gin.New()
		if err := e.SetTrustedProxies(c.trusted); err != nil {
			t.Fatal(err)
		}
		gc := gin.CreateTestContextOnly(httptest.NewRecorder(), e)
		gc.Request = r
		if got := gc.ClientIP(); got != c.want {
			t.Errorf("%s: Gin says %q, the net/http demo %q", c.name, got, c.want)
		}
	}
	if _, err := ClientIP([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR: no error")
	}
}
