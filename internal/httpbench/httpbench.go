// Package httpbench holds what the root package's and ginguard's benchmarks
// share: serving a guarded GET in a loop, posting a code, and finding a
// cookie an answer set.
package httpbench

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// GET measures GET /app with the cookies through h, which must answer 204.
func GET(b *testing.B, h http.Handler, cks ...*http.Cookie) {
	req := httptest.NewRequest(http.MethodGet, "/app", nil)
	for _, ck := range cks {
		req.AddCookie(ck)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		// A clone per request: gorilla/sessions keeps its registry in the
		// request's context, and a reused request would find it filled.
		h.ServeHTTP(rec, req.Clone(req.Context()))
		if rec.Code != http.StatusNoContent {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// Verify is a same-origin POST /2fa/verify of code with the cookies.
func Verify(code string, cks ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/2fa/verify", strings.NewReader(url.Values{"code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, ck := range cks {
		req.AddCookie(ck)
	}
	return req
}

// Cookie returns the cookie rec sets under name (not a deletion).
func Cookie(tb testing.TB, rec *httptest.ResponseRecorder, name string) *http.Cookie {
	tb.Helper()
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == name && ck.MaxAge >= 0 {
			return ck
		}
	}
	tb.Fatalf("no cookie %s in %v", name, rec.Result().Cookies())
	return nil
}
