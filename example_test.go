package sms2fa_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/store/sqlite"
)

// currentUser stands for the app's own first factor: whoever its password
// login put in its session.
func currentUser(*http.Request) (sms2fa.User, bool) {
	return sms2fa.User{ID: "42", Phone: "+91 98765 43210"}, true
}

// The whole integration: a store, a sender, the guard, its routes, and a
// guarded group. A signed-in user who has not entered a code yet is sent one
// and redirected to the code page.
func Example() {
	dir, _ := os.MkdirTemp("", "sms2fa")
	defer os.RemoveAll(dir)

	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "app.db")) // or postgres.Open
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	cookies := sessions.NewCookieStore([]byte("the app's session key, 32+ bytes"))
	texter := sender.NewFake() // in production: sender.NewWay2API(os.Getenv("WAY2API_API_KEY"))
	guard, err := sms2fa.New(cookies, db, texter, []byte("server secret of at least 32 bytes"), currentUser,
		sms2fa.WithLoginURL("/login"), sms2fa.WithSMS(sms.WithCountries("IN")))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	guard.Mount(mux) // GET /2fa, POST /2fa/verify, POST /2fa/resend, …
	mux.Handle("/app/", guard.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := sms2fa.UserID(r)
		fmt.Fprintln(w, "hello", id)
	})))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/app/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"), texter.Count())
	// Output: 303 /2fa 1
}
