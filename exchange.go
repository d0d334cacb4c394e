package sms2fa

import (
	"encoding/json"
	"net"
	"net/http"
)

// exchange is one request and its answer as the guard's handlers see them:
// the request, the writer, and what the guard has decided so far. It keeps
// the answer's status until the first byte is written, so that a handler can
// set a status and let a later step (a page render) answer with its own; the
// last status set before the first write wins.
type exchange struct {
	Request *http.Request
	Writer  http.ResponseWriter
	guard   *Guard

	status  int    // the answer's status, not yet written
	written bool   // a status line has gone out
	pass    passed // the request passed the guard: set by let
	lang    *lang  // the request's language, once picked
	id      string // the device ID of POST {prefix}/devices/{id}/revoke
}

// newExchange starts an exchange for one request.
func (g *Guard) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	return &exchange{Request: r, Writer: w, guard: g}
}

// finish writes a status set but never written (a 204, say).
func (c *exchange) finish() {
	if !c.written && c.status != 0 {
		c.writeHeader(c.status)
	}
}

func (c *exchange) writeHeader(code int) {
	c.written = true
	c.Writer.WriteHeader(code)
}

// Header sets a response header.
func (c *exchange) Header(key, value string) { c.Writer.Header().Set(key, value) }

// Status sets the answer's status without writing it yet.
func (c *exchange) Status(code int) { c.status = code }

// Data answers with body.
func (c *exchange) Data(code int, contentType string, body []byte) {
	c.Writer.Header().Set("Content-Type", contentType)
	c.writeHeader(code)
	_, _ = c.Writer.Write(body)
}

// JSON answers with v encoded as JSON.
func (c *exchange) JSON(code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every answer the guard builds is a plain struct or map: this is
		// a programming error, answered as the failure it is.
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("sms2fa: encoding the answer failed\n"))
		return
	}
	c.Data(code, "application/json; charset=utf-8", b)
}

// Redirect sends the client to location.
func (c *exchange) Redirect(code int, location string) {
	c.written = true
	http.Redirect(c.Writer, c.Request, location, code)
}

// PostForm returns a form field of the request body.
func (c *exchange) PostForm(key string) string { return c.Request.PostFormValue(key) }

// Query returns a query parameter.
func (c *exchange) Query(key string) string { return c.Request.URL.Query().Get(key) }

// ClientIP is the client's address as the guard counts it (WithClientIP).
// With the default (the TCP peer), a request that carries X-Forwarded-For
// says the app sits behind a proxy: every client then counts as the proxy,
// one per-IP budget for all. The guard says so once.
func (c *exchange) ClientIP() string {
	g := c.guard
	if !g.cfg.clientIPSet && c.Request.Header.Get("X-Forwarded-For") != "" && g.warnedProxy.CompareAndSwap(false, true) {
		g.cfg.logger.Warn("sms2fa: requests carry X-Forwarded-For but WithClientIP is not set, so the per-IP send budget counts " +
			"the TCP peer — your proxy — for every client: give WithClientIP a function that believes X-Forwarded-For from your proxies only")
	}
	return g.cfg.clientIP(c.Request)
}

// peerIP is the default client IP: the TCP peer. A proxy's X-Forwarded-For is
// believed only when the app says which proxies to trust (WithClientIP).
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
