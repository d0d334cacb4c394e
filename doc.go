// Package sms2fa adds an SMS one-time-code second factor to a Gin web app.
//
// The app keeps its own first-factor login. A [Guard] sits on the routes it
// protects: until the browser has completed the SMS step, it sends a code to
// the signed-in user's phone, shows a code-entry page, checks the code against
// a SQL-backed [Store] with expiry, attempt limits and lockout, and then
// records a grant and gives the browser a compact signed mark naming it. A
// verified request checks the mark and, once per recheck interval, confirms
// with one indexed read that the grant is live, so logout and "sign out
// everywhere" reach copied cookies too. [Guard.RequireRecent] asks sensitive
// routes for a fresh code (step-up).
//
// The root package defines the contracts it consumes — [Store] (implemented by
// package store, with one package per database: store/sqlite and
// store/postgres) and [Sender] (implemented by package sender: Way2API, a
// console sender for development, a fake for tests) — and imports neither
// implementation nor any database driver.
package sms2fa
