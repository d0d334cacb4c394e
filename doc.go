// Package sms2fa adds a second factor — a one-time code texted to the
// user, with recovery codes, remembered devices and authenticator apps
// beside it — to any Go
// web app on net/http (http.ServeMux, chi, gorilla/mux, Echo through its
// net/http adapters); package ginguard mounts the same guard in a Gin app.
//
// The app keeps its own first-factor login. A [Guard] sits on the routes it
// protects ([Guard.Require], func(http.Handler) http.Handler): until the
// browser has completed the second factor, it texts a code to the signed-in
// user's phone, shows a code-entry page ([Guard.Handler] serves the guard's
// own routes), checks the code against a SQL store with expiry, attempt
// limits and lockout, and then records a grant and gives the browser a
// compact signed mark naming it. A verified request checks the mark and,
// once per recheck interval, confirms with one indexed read that the grant
// is live, so logout and "sign out everywhere" reach copied cookies too;
// the handler behind it reads the user with [UserID] and [StatusOf].
// [Guard.RequireRecent] asks sensitive routes for a fresh code (step-up).
//
// This package is the flow: it alone reads requests, keeps the guard's
// session, writes cookies and answers (pages, JSON, redirects). Each way of
// completing the factor is a package of its own — sms (with its settings,
// [WithSMS]), recovery, device and totp ([WithMethods]) — that returns values and
// errors. What a store or sender implements is package contract (the
// stores: store/sqlite and store/postgres; the senders: package sender);
// this package imports no database driver and no web framework.
package sms2fa
