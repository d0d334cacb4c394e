// Package metrics exports the sms2fa guard's events as Prometheus metrics.
//
// It lives apart from the guard so that an app that does not import it does
// not compile client_golang. It never registers anything on the global
// default registry: the app builds a [Metrics], registers it where it likes
// and hands its hook to the guard beside its own.
//
//	m, err := metrics.New(metrics.Options{Regions: []string{"IN"}}) // the regions of sms.WithCountries
//	if err != nil { … }
//	reg.MustRegister(m)                                             // or m.Register(reg)
//	guard, err := sms2fa.New(…, sms2fa.WithEvents(m.Hook), sms2fa.WithEvents(audit))
//
// # Metrics
//
// Every series below exists from the start, at 0, so alerts can use rate()
// from the first scrape. Label values come only from closed sets: a value
// outside its set — a region not in [Options.Regions], an event without a
// region, a budget, how or why of a newer guard — is "other". No label ever
// carries a user, a number, an IP or a provider's text.
//
//   - sms2fa_sends_total{region, outcome}: codes handed to the SMS sender.
//     outcome: sent (the code of a new challenge), resent (a replacement
//     code), failed (the sender returned an error; it includes sends whose
//     fate is unknown, contract.ErrMaybeSent). Sends refused before the sender
//     are not here but in sms2fa_send_refusals_total, which has no region:
//     a refused number often has none.
//   - sms2fa_send_duration_seconds{outcome}: histogram of how long the sender
//     took, retries included; outcome sent (sent or resent) or failed.
//     Buckets: [DefaultSendBuckets], 50 ms to 15 s (the guard's default send
//     timeout), or [Options.SendBuckets].
//   - sms2fa_verifications_total{region, outcome}: codes checked. outcome:
//     verified (right), invalid (every wrong code), locked (a wrong code that
//     also locked the user), challenge_dead (a wrong code that also used the
//     challenge's last attempt). locked and challenge_dead are counted in
//     invalid too: codes checked = verified + invalid. A wrong recovery code
//     counts as invalid (and locked), under region "other"; a right one is
//     a grant created by recovery, not a verification.
//   - sms2fa_send_refusals_total{budget}: sends refused before the sender.
//     budget: user, phone, ip, prefix, global (a send budget; global also
//     means sending has stopped for everyone), prefix_blocked (the number's
//     prefix is blocked: see below), country (the number's region is not
//     in sms.WithCountries), phone_unusable (not a mobile number).
//   - sms2fa_prefix_blocks_total{region, mode}: number prefixes blocked by
//     the automatic prefix block (sms.WithAutoBlock), by the region of the
//     send that started the block, and mode: on (the block refuses),
//     monitor (decided and reported, nothing refused), operator
//     (Guard.BlockPrefix; region other). No label names the prefix: the
//     prefix_blocked event does.
//   - sms2fa_prefix_block_sends_total{region, outcome}: sends that met a
//     blocked prefix. outcome: refused, monitor (sent: the block only
//     monitors), known_good (sent: the number was verified for its user in
//     the last 30 days).
//   - sms2fa_lockouts_total: users locked by consecutive wrong codes (the
//     same events as verifications{outcome="locked"}, without the region).
//   - sms2fa_unlocks_total: lockouts an admin cleared (Guard.Unlock).
//   - sms2fa_grants_created_total{how}: second factors completed. how: sms,
//     recovery, device.
//   - sms2fa_grants_refreshed_total: step-up codes that freshened a grant.
//   - sms2fa_grants_revoked_total{why}: grants the guard revoked, each one
//     counted (sign out everywhere adds all it ended). why: logout,
//     sign_out_everywhere, replaced (by a recovery sign-in in the same
//     browser). A number change's revocations happen inside the store's
//     verify and show as factor_changed, not here.
//
// # SMS pumping
//
// Pumped codes are sent and never entered, so a region's verify rate falls
// while its sends rise:
//
//	sum by (region) (rate(sms2fa_verifications_total{outcome="verified"}[1h]))
//	/
//	sum by (region) (rate(sms2fa_sends_total{outcome=~"sent|resent"}[1h]))
//
// README.md in this directory has an alert rule built on it.
package metrics
