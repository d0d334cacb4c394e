// Package sms2fa adds an SMS one-time-code second factor to a Gin web app.
//
// The app keeps its own first-factor login. A [Guard] sits on the routes it
// protects: until the current session has completed the SMS step, it sends a
// code to the signed-in user's phone, shows a code-entry page, checks the code
// against a SQL-backed [Store] with expiry, attempt limits and lockout, and then
// marks the session as second-factor-complete. A marked session costs one
// session-cookie decode per request and no database access.
//
// The root package defines the contracts it consumes — [Store] (implemented by
// package store, SQLite or Postgres) and [Sender] (implemented by package
// sender: Way2API, a console sender for development, a fake for tests) — and
// imports neither implementation.
package sms2fa
