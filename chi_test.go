package sms2fa_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sms2fa/sms2fa"
)

// The README's chi integration, run: every route of the guard registered on
// a chi router from Routes() (the device route's {id} is chi's syntax too),
// Require and RequireRecent as chi middleware. A browser signs in, remembers
// its device, revokes it through the route with an ID in its path, and is
// let through the sensitive route while its code is fresh.
func TestChiMountsTheGuard(t *testing.T) {
	h := newHarness(t)
	g := h.guard
	r := chi.NewRouter()
	r.Post("/login", func(w http.ResponseWriter, req *http.Request) {
		s, _ := h.cookies.Get(req, "app")
		s.Values["user"] = req.PostFormValue("user")
		s.Values["login"] = fmt.Sprint(time.Now().UnixNano())
		if err := s.Save(req, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, rt := range g.Routes() {
		r.Method(rt.Method, rt.Path, g.Handler())
	}
	r.With(g.Require()).Get("/app/home", func(w http.ResponseWriter, req *http.Request) {
		id, _ := sms2fa.UserID(req)
		fmt.Fprintf(w, "hello %s, %s", id, sms2fa.StatusOf(req))
	})
	r.With(g.RequireRecent(5*time.Minute)).Post("/transfer", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, "transferred")
	})

	c := h.client()
	c.base = newServer(t, r)
	c.login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	wantPage(t, "the code page", c.get("/2fa"), "")
	want(t, "the right code, remembered", c.post("/2fa/verify", url.Values{"code": {h.code(alicePhone)}, "remember": {"1"}}),
		http.StatusSeeOther, "/app/home")
	if r := c.get("/app/home"); r.status != http.StatusOK || r.body != "hello alice, verified" {
		t.Fatalf("guarded, verified: %d %q", r.status, r.body)
	}
	if r := c.post("/transfer", url.Values{}); r.status != http.StatusOK || r.body != "transferred" {
		t.Fatalf("sensitive, fresh: %d %q", r.status, r.body)
	}
	devices, err := g.Devices(t.Context(), "alice")
	if err != nil || len(devices) != 1 {
		t.Fatalf("devices: %v %v", devices, err)
	}
	want(t, "revoke the device", c.post("/2fa/devices/"+devices[0].ID+"/revoke", url.Values{}), http.StatusSeeOther, "")
	if devices, err := g.Devices(t.Context(), "alice"); err != nil || len(devices) != 0 {
		t.Fatalf("after the revoke: %v %v", devices, err)
	}
	want(t, "a path the guard does not serve", c.get("/2fa/nothing"), http.StatusNotFound, "")
}

// Mount registers each route with its method, so an app that already has a
// catch-all pattern keeps it: no "conflicts with" panic, the guard's routes
// are the guard's, and the rest is the app's.
func TestMountBesideACatchAll(t *testing.T) {
	h := newHarness(t)
	for _, catchAll := range []string{"GET /", "GET /{path...}"} {
		mux := http.NewServeMux()
		mux.HandleFunc(catchAll, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "the app's") })
		h.guard.Mount(mux) // panics on a conflict
		c := h.client()
		c.base = newServer(t, mux)
		if r := c.get("/2fa/assets/none.css"); r.status != http.StatusOK || r.body != "the app's" {
			t.Fatalf("%s: a path the guard does not serve: %d %q", catchAll, r.status, r.body)
		}
		if r := c.get("/2fa"); r.status != http.StatusSeeOther || r.location() != "/login" {
			t.Fatalf("%s: the code page, signed out: %d %q", catchAll, r.status, r.location())
		}
	}
}
