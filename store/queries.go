package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sms2fa/sms2fa/contract"
)

// queryer is what *sqlx.DB and *sqlx.Tx have in common that the schema
// check and the clock need.
type queryer interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

// nowSQL is the store's clock inside a statement, in milliseconds; it takes
// one argument, nowArg's. On Postgres it is the database's now(), unless a
// test clock is given (then the argument is not NULL and wins); SQLite has no
// clock of its own worth the name, so the argument always carries the time.
func nowSQL(d Dialect) string {
	if d == Postgres {
		return `COALESCE(CAST(? AS BIGINT), CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT))`
	}
	return `CAST(? AS INTEGER)`
}

// challengeCols are the columns a Challenge is read from.
const challengeCols = `id, user_id, flow, grant_id, phone, region, created_at, expires_at, attempts, max_attempts,
	sends, next_send_at, send_failed, consumed_at, prefix`

// openReadsSQL is what Open reads on SQLite before it writes, in one
// statement (each statement costs the pure-Go SQLite and database/sql more
// than these lookups do): the user's lock, whether the number is
// the user's enrolled and unremoved one (for CheckFactor), the live
// challenge it would hand back instead of opening one, if any (all zero if
// none), and the send's prefix for the prefix block (prefixReadCols; the
// prefix ” when the send counts none). A challenge whose send certainly failed is not live: its code
// never left, so the next request opens (and sends) a new one. BEGIN
// IMMEDIATE already holds the only write lock, so the reads need no lock
// of their own (Postgres's sms2fa_open takes the user's).
const openReadsSQL = `SELECT COALESCE((SELECT u.locked_until FROM sms2fa_users AS u WHERE u.user_id = ?), 0),
	EXISTS (SELECT 1 FROM sms2fa_factors AS f WHERE f.user_id = ? AND f.phone = ? AND f.removed = 0),
	COALESCE(live.id, ''), COALESCE(live.user_id, ''), COALESCE(live.flow, ''), COALESCE(live.grant_id, ''),
	COALESCE(live.phone, ''), COALESCE(live.region, ''), COALESCE(live.created_at, 0), COALESCE(live.expires_at, 0),
	COALESCE(live.attempts, 0), COALESCE(live.max_attempts, 0), COALESCE(live.sends, 0),
	COALESCE(live.next_send_at, 0), COALESCE(live.send_failed, 0), COALESCE(live.consumed_at, 0),
	` + prefixReadCols + `
	FROM (SELECT 1) AS one LEFT JOIN (
		SELECT ` + challengeCols + ` FROM sms2fa_challenges
		WHERE user_id = ? AND binding = ? AND phone = ? AND flow = ? AND grant_id = ?
		  AND consumed_at = 0 AND send_failed = 0 AND expires_at > ? AND attempts < max_attempts
		ORDER BY created_at DESC LIMIT 1) AS live ON 1
	LEFT JOIN sms2fa_prefixes AS p ON p.prefix = ?`

// prefixReadCols read, after a LEFT JOIN of sms2fa_prefixes AS p, a
// prefix's row (all zero if it has none) and whether any of its minutes of
// flight have ended (so a send knows without a delete that deletes
// nothing). Its two placeholders are the prefix and the store's now.
const prefixReadCols = `COALESCE(p.prefix, ''), COALESCE(p.hour_start, 0), COALESCE(p.hour_sends, 0),
	COALESCE(p.hour_verified, 0), COALESCE(p.hour_prev_sends, 0), COALESCE(p.hour_prev_verified, 0),
	COALESCE(p.day_start, 0), COALESCE(p.day_sends, 0), COALESCE(p.day_verified, 0),
	COALESCE(p.day_prev_sends, 0), COALESCE(p.day_prev_verified, 0), COALESCE(p.blocked_until, 0),
	COALESCE(p.blocks, 0), COALESCE(p.allowed, 0),
	EXISTS (SELECT 1 FROM sms2fa_prefix_flight AS fl WHERE fl.prefix = ? AND fl.ends_at <= ?)`

// verifyReadsSQL is what Verify reads on SQLite, in one statement, as
// openReadsSQL is for Open: the user's failures and lock, the user's factor
// (all zero if none) and the challenge with its MAC, if the user and the
// session own it (found is 0 if not).
const verifyReadsSQL = `SELECT COALESCE(u.failures, 0), COALESCE(u.locks, 0), COALESCE(u.locked_until, 0),
	COALESCE(f.phone, ''), COALESCE(f.region, ''), COALESCE(f.enrolled_at, 0), COALESCE(f.version, 0), COALESCE(f.removed, 0),
	ch.id IS NOT NULL, COALESCE(ch.code_mac, X''), COALESCE(ch.id, ''), COALESCE(ch.user_id, ''), COALESCE(ch.flow, ''),
	COALESCE(ch.grant_id, ''), COALESCE(ch.phone, ''), COALESCE(ch.region, ''), COALESCE(ch.created_at, 0),
	COALESCE(ch.expires_at, 0), COALESCE(ch.attempts, 0), COALESCE(ch.max_attempts, 0), COALESCE(ch.sends, 0),
	COALESCE(ch.next_send_at, 0), COALESCE(ch.send_failed, 0), COALESCE(ch.consumed_at, 0), COALESCE(ch.prefix, ''),
	COALESCE(u.known_phone, ''), COALESCE(u.known_at, 0)
	FROM (SELECT 1) AS one
	LEFT JOIN sms2fa_users AS u ON u.user_id = ?
	LEFT JOIN sms2fa_factors AS f ON f.user_id = ?
	LEFT JOIN sms2fa_challenges AS ch ON ch.id = ? AND ch.user_id = ? AND ch.binding = ?`

// factorCols are the columns a Factor is read from.
const factorCols = `user_id, phone, region, enrolled_at, version, removed`

// deviceCols are the columns a Device is listed from.
const deviceCols = `id, label, factor_version, created_at, last_used_at, expires_at`

// grantCols are the columns a Grant is read from.
const grantCols = `id, user_id, login, how, created_at, fresh_at, expires_at, revoked_at`

// queries holds every statement, written once with ? placeholders, rebound
// for the dialect and prepared when the store opens: parsing SQL on every
// call would cost more than running it. (The Postgres function calls are
// kept as text: pgx prepares and caches them per connection itself.)
type queries struct {
	lockUser, setUser                                     *sqlx.Stmt
	openReads, verifyReads, insertChallenge, getChallenge *sqlx.Stmt
	getOwned                                              *sqlx.Stmt
	countAttempt, replaceCode, releaseSend                *sqlx.Stmt
	cancel, giveBack                                      *sqlx.Stmt
	insertGrant, freshenGrant, getGrant                   *sqlx.Stmt
	revokeGrant, revokeGrants, unlockUser, unlockBudgets  *sqlx.Stmt
	purgeGrants                                           *sqlx.Stmt
	budgetStart, readStats                                *sqlx.Stmt
	purgeChallenges, purgeUsers, purgeBudgets, purgeStats *sqlx.Stmt

	getFactor, readFactor, adoptFactor, putFactor, noteMismatch             *sqlx.Stmt
	dropRecovery, addRecovery, useRecovery                                  *sqlx.Stmt
	recoveryLeft, readRecoveryLeft                                          *sqlx.Stmt
	addDevice, getDevice, rotateDevice, touchDevice, listDevices            *sqlx.Stmt
	revokeDevice, revokeDevices, loginRevoked, purgeDevices                 *sqlx.Stmt
	endSignIn, revokeSignIn, liveGrant                                      *sqlx.Stmt
	capGrants, deviceGrant, revokeDeviceGrants                              *sqlx.Stmt
	recoverySpent, unlockPhoneBudgets                                       *sqlx.Stmt
	readTOTP, hasTOTP, sealedTOTP, putTOTP, claimTOTP, resealTOTP, dropTOTP *sqlx.Stmt
	userState, userGrants                                                   *sqlx.Stmt // an operator's view (Account)

	// The prefix block (prefix.go).
	readPrefix, foldFlight, writePrefix, knownNumber, flightGiveBack *sqlx.Stmt
	settleSMS, flightAdd, flightVerified                             *sqlx.Stmt
	getPrefix, prefixFlight, allFlight, allPrefixes                  *sqlx.Stmt
	makePrefix, lockPrefix, dropFlight                               *sqlx.Stmt
	purgeFlight, purgePrefixes                                       *sqlx.Stmt

	// Postgres only, as text (see oneshot.go): the driver package's
	// QueryRow, or database/sql, runs them.
	verifyOnce, openOnce, resendOnce, useTOTPOnce string
	rollUp                                        *sqlx.Stmt // SQLite only: see Purge
}

// prepareQueries prepares the writes (and the reads made inside a write's
// transaction) on db, and the plain reads on readers.
func prepareQueries(ctx context.Context, db, readers *sqlx.DB, d Dialect) (queries, error) {
	var q queries
	now := nowSQL(d)
	// On Postgres, upserting the user's row takes its row lock: every
	// operation on one user queues there, which is what makes the lock check
	// and the failure count one atomic decision (the update is a no-op). On
	// SQLite, BEGIN IMMEDIATE already holds the only write lock, so a plain
	// read does, without dirtying a page.
	// It also reads the database's clock, which the rest of the transaction
	// then uses: the time costs no round trip of its own.
	lockUser := `INSERT INTO sms2fa_users (user_id, updated_at) VALUES (?, ` + now + `)
		ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
		RETURNING failures, locks, locked_until, ` + now + ` AS now_ms`
	// Budget rows are locked by sends in name order; a plain DELETE would
	// lock them in scan order and could deadlock with a send on Postgres, so
	// the purge skips the rows a send holds (they are in use, not stale).
	purgeBudgets := `DELETE FROM sms2fa_budgets WHERE ctid IN (
		SELECT ctid FROM sms2fa_budgets WHERE started_at + window_ms < ? FOR UPDATE SKIP LOCKED)`
	// Purge rolls the challenges it deletes up into the hourly statistics.
	// On Postgres one statement does both, so exactly the rows deleted are
	// counted, even if a resend revives one meanwhile; it returns how many.
	// SQLite runs the two statements in one transaction that holds the only
	// write lock.
	rollUpOf := func(from, where string) string {
		return `INSERT INTO sms2fa_stats AS s (hour, region, sent, verified)
			SELECT created_at - created_at % 3600000, region, SUM(sends), SUM(CASE WHEN consumed_at <> 0 THEN 1 ELSE 0 END)
			FROM ` + from + where + ` GROUP BY created_at - created_at % 3600000, region
			ON CONFLICT (hour, region) DO UPDATE SET sent = s.sent + excluded.sent, verified = s.verified + excluded.verified`
	}
	rollUp, forUpdate := "", " FOR UPDATE"
	purgeChallenges := `WITH gone AS (DELETE FROM sms2fa_challenges WHERE expires_at < ?
			RETURNING created_at, region, sends, consumed_at),
		counted AS (` + rollUpOf("gone", "") + `)
		SELECT COUNT(*) FROM gone`
	// A send that certainly failed kills its code — the MAC emptied, so a
	// code the provider echoed into a log can never verify — and leaves its
	// prefix's flight: it never reached anyone. On Postgres one statement
	// does both; SQLite's SendFailed runs the second (flightGiveBack) in
	// the same transaction.
	releaseSend := `UPDATE sms2fa_challenges
		SET sends = CASE WHEN sends > 0 THEN sends - 1 ELSE 0 END, next_send_at = ` + now + `, send_failed = 1, code_mac = ?
		WHERE id = ? AND user_id = ? AND binding = ? AND code_mac = ? AND consumed_at = 0 AND send_failed = 0
		RETURNING prefix, expires_at, next_send_at`
	if d == Postgres {
		releaseSend = `WITH r AS (` + releaseSend + `)
			UPDATE sms2fa_prefix_flight AS fl SET sends = fl.sends - 1 FROM r
			WHERE r.prefix <> '' AND fl.prefix = r.prefix AND fl.ends_at = (r.expires_at + 59999) / 60000 * 60000 AND fl.sends > 0
			  AND fl.ends_at > r.next_send_at - 60000` // next_send_at is now: a minute due is left to its judge
	}
	if d == SQLite {
		lockUser = `SELECT failures, locks, locked_until, ` + now + ` AS now_ms FROM sms2fa_users WHERE user_id = ?`
		purgeBudgets = `DELETE FROM sms2fa_budgets WHERE started_at + window_ms < ?`
		rollUp = rollUpOf("sms2fa_challenges", " WHERE expires_at < ?")
		purgeChallenges = `DELETE FROM sms2fa_challenges WHERE expires_at < ?`
		forUpdate = "" // BEGIN IMMEDIATE holds the file's write lock
	}
	for _, p := range []struct {
		dst  **sqlx.Stmt
		sql  string
		read bool // a plain read, outside any transaction: the readers' pool
	}{
		{&q.lockUser, lockUser, false},
		{&q.userState, `SELECT ` + now + ` AS now_ms, failures, locks, locked_until FROM sms2fa_users WHERE user_id = ?`, true},
		{&q.userGrants, `SELECT ` + grantCols + ` FROM sms2fa_grants WHERE user_id = ? AND revoked_at = 0 AND expires_at > ?
			ORDER BY created_at DESC, id`, true},
		// Authenticators (TOTP). The read is the sign-in's first step, the
		// claim its second (on Postgres, sms2fa_use_totp does the second).
		{&q.readTOTP, `SELECT ` + now + ` AS now_ms, sealed, last_step, created_at FROM sms2fa_totp WHERE user_id = ?`, true},
		{&q.hasTOTP, `SELECT COUNT(*) FROM sms2fa_totp WHERE user_id = ?`, false},
		{&q.sealedTOTP, `SELECT sealed FROM sms2fa_totp WHERE user_id = ?`, false},
		{&q.putTOTP, `INSERT INTO sms2fa_totp (user_id, sealed, last_step, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, last_step = excluded.last_step,
			  created_at = excluded.created_at, updated_at = excluded.updated_at`, false},
		{&q.claimTOTP, `UPDATE sms2fa_totp SET last_step = ?, updated_at = ? WHERE user_id = ? AND last_step < ?`, false},
		{&q.resealTOTP, `UPDATE sms2fa_totp SET sealed = ?, updated_at = ` + now + ` WHERE user_id = ? AND sealed = ?`, false},
		{&q.dropTOTP, `DELETE FROM sms2fa_totp WHERE user_id = ?`, false},
		{&q.setUser, `INSERT INTO sms2fa_users (failures, locks, locked_until, updated_at, user_id) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures, locks = excluded.locks,
			  locked_until = excluded.locked_until, updated_at = excluded.updated_at`, false},

		{&q.insertChallenge, `INSERT INTO sms2fa_challenges
			(id, user_id, flow, grant_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, sends,
			 next_send_at, prefix)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`, false},

		// The prefix block. The flight's minutes that ended are judged by
		// the send that next meets the prefix: deleted as they are read.
		{&q.readPrefix, `SELECT ` + prefixReadCols + ` FROM (SELECT 1) AS one LEFT JOIN sms2fa_prefixes AS p ON p.prefix = ?`, false},
		{&q.lockPrefix, `SELECT ` + prefixCols + ` FROM sms2fa_prefixes WHERE prefix = ?` + forUpdate, false},
		{&q.getPrefix, `SELECT ` + prefixCols + ` FROM sms2fa_prefixes WHERE prefix = ?`, true},
		{&q.allPrefixes, `SELECT ` + prefixCols + ` FROM sms2fa_prefixes`, true},
		{&q.foldFlight, `DELETE FROM sms2fa_prefix_flight WHERE prefix = ? AND ends_at <= ?
			RETURNING ends_at, sends, verified`, false},
		{&q.writePrefix, `INSERT INTO sms2fa_prefixes (` + prefixCols + `, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (prefix) DO UPDATE SET hour_start = excluded.hour_start, hour_sends = excluded.hour_sends,
			  hour_verified = excluded.hour_verified, hour_prev_sends = excluded.hour_prev_sends,
			  hour_prev_verified = excluded.hour_prev_verified, day_start = excluded.day_start,
			  day_sends = excluded.day_sends, day_verified = excluded.day_verified,
			  day_prev_sends = excluded.day_prev_sends, day_prev_verified = excluded.day_prev_verified,
			  blocked_until = excluded.blocked_until, blocks = excluded.blocks, allowed = excluded.allowed,
			  updated_at = excluded.updated_at`, false},
		{&q.makePrefix, `INSERT INTO sms2fa_prefixes (` + prefixCols + `, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prefix) DO NOTHING`, false},
		{&q.knownNumber, `SELECT COUNT(*) FROM sms2fa_users WHERE user_id = ? AND known_phone = ? AND known_at > ?`, false},
		// A right SMS code: the failures start over and the number is
		// known good for the user, in one upsert that writes only when one
		// of them changes (the known time at most hourly).
		{&q.settleSMS, `INSERT INTO sms2fa_users (user_id, failures, locks, locked_until, known_phone, known_at, updated_at)
			VALUES (?, 0, 0, 0, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET failures = 0, locks = 0, locked_until = 0,
			  known_phone = excluded.known_phone, known_at = excluded.known_at, updated_at = excluded.updated_at`, false},
		{&q.flightAdd, `INSERT INTO sms2fa_prefix_flight AS fl (prefix, ends_at, sends)
			VALUES (?, (CAST(? AS BIGINT) + 59999) / 60000 * 60000, 1)
			ON CONFLICT (prefix, ends_at) DO UPDATE SET sends = fl.sends + 1`, false},
		{&q.flightVerified, `UPDATE sms2fa_prefix_flight SET verified = verified + 1
			WHERE prefix = ? AND ends_at = (CAST(? AS BIGINT) + 59999) / 60000 * 60000`, false},
		// A withdrawn send leaves its minute (Cancel, and SQLite's
		// SendFailed) — but a minute already due to be judged is left
		// alone: a send judging it holds it, and may wait for budgets a
		// Cancel holds. (Such a send is then counted, unverified.)
		{&q.flightGiveBack, `UPDATE sms2fa_prefix_flight SET sends = sends - 1
			WHERE prefix = ? AND ends_at = (CAST(? AS BIGINT) + 59999) / 60000 * 60000 AND sends > 0 AND ends_at > ?`, false},
		{&q.prefixFlight, `SELECT prefix, ends_at, sends, verified FROM sms2fa_prefix_flight WHERE prefix = ?`, true},
		{&q.allFlight, `SELECT prefix, ends_at, sends, verified FROM sms2fa_prefix_flight`, true},
		{&q.dropFlight, `DELETE FROM sms2fa_prefix_flight WHERE prefix = ?`, false},
		// Minutes no send judged within a day (the longer window) are past
		// it; a prefix's row
		// goes once both windows are empty, it is neither blocked nor
		// allow-listed, and its last block is long over (the doubling
		// would have started again).
		{&q.purgeFlight, `DELETE FROM sms2fa_prefix_flight WHERE ends_at < ?`, false},
		{&q.purgePrefixes, `DELETE FROM sms2fa_prefixes WHERE allowed = 0 AND updated_at < ? AND blocked_until < ?`, false},
		{&q.getChallenge, `SELECT ` + now + ` AS now_ms, ` + challengeCols + `,
			COALESCE((SELECT u.locked_until FROM sms2fa_users u WHERE u.user_id = sms2fa_challenges.user_id), 0) AS locked_until
			FROM sms2fa_challenges WHERE id = ? AND user_id = ? AND binding = ?`, true},
		{&q.getOwned, `SELECT ` + challengeCols + ` FROM sms2fa_challenges WHERE id = ? AND user_id = ? AND binding = ?`, false},

		// One guess counted, and a right one consumes (consumed_at > 0), in
		// the transaction that read the challenge live (SQLite's Verify).
		{&q.countAttempt, `UPDATE sms2fa_challenges SET attempts = attempts + 1, consumed_at = ?
			WHERE id = ? AND consumed_at = 0`, false},
		{&q.replaceCode, `UPDATE sms2fa_challenges
			SET code_mac = ?, expires_at = ?, sends = sends + 1, next_send_at = ?, send_failed = 0, prefix = ?
			WHERE id = ? AND consumed_at = 0
			RETURNING ` + challengeCols, false},
		// A send that certainly failed kills its code: the MAC is emptied, so
		// a code the provider echoed into a log can never verify.
		{&q.releaseSend, releaseSend, false},
		// Only a challenge still as Open made it — one send, never failed,
		// never resent, never used — can be withdrawn.
		{&q.cancel, `DELETE FROM sms2fa_challenges
			WHERE id = ? AND user_id = ? AND binding = ? AND code_mac = ?
			  AND consumed_at = 0 AND send_failed = 0 AND sends = 1
			RETURNING created_at, expires_at, prefix`, false},
		// The window the send was reserved in is the one still open, unless
		// it closed and a new one started after the reservation.
		{&q.giveBack, `UPDATE sms2fa_budgets SET used = used - 1
			WHERE name = ? AND bucket_key = ? AND window_ms = ? AND started_at <= ? AND used > 0`, false},

		{&q.insertGrant, `INSERT INTO sms2fa_grants (id, user_id, login, how, created_at, fresh_at, expires_at, device_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, false},
		// The user's live grants beyond the cap, oldest first, bar the one
		// just created (it may share its millisecond with others).
		// One statement: the subquery finds, from the index of unrevoked
		// grants alone, the newest grant beyond the cap — none for a user
		// within it (nearly everyone), and then nothing is written.
		{&q.capGrants, `UPDATE sms2fa_grants SET revoked_at = ?, revoked_how = 'cap'
			WHERE user_id = ? AND revoked_at = 0 AND expires_at > ? AND id <> ?
			  AND (created_at, id) <= (SELECT g.created_at, g.id FROM sms2fa_grants AS g
			                           WHERE g.user_id = ? AND g.revoked_at = 0 AND g.expires_at > ?
			                           ORDER BY g.created_at DESC, g.id DESC LIMIT 1 OFFSET ?)`, false},
		// The live grant a device made for a sign-in, handed back when the
		// same browser shows the device's cookie again.
		{&q.deviceGrant, `SELECT ` + grantCols + ` FROM sms2fa_grants
			WHERE user_id = ? AND device_id = ? AND login = ? AND revoked_at = 0 AND expires_at > ?
			ORDER BY created_at DESC LIMIT 1`, false},
		{&q.revokeDeviceGrants, `UPDATE sms2fa_grants SET revoked_at = ?, revoked_how = 'device_reuse'
			WHERE user_id = ? AND device_id = ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.freshenGrant, `UPDATE sms2fa_grants SET fresh_at = ?
			WHERE id = ? AND user_id = ? AND login = ? AND revoked_at = 0 AND expires_at > ?
			RETURNING ` + grantCols, false},
		{&q.getGrant, `SELECT ` + now + ` AS now_ms, ` + grantCols + ` FROM sms2fa_grants WHERE id = ? AND user_id = ?`, true},
		{&q.revokeGrant, `UPDATE sms2fa_grants SET revoked_at = ?, revoked_how = ?
			WHERE id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.revokeGrants, `UPDATE sms2fa_grants SET revoked_at = ?, revoked_how = ?
			WHERE user_id = ? AND id <> ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.unlockUser, `UPDATE sms2fa_users SET failures = 0, locks = 0, locked_until = 0, updated_at = ? WHERE user_id = ?`, false},
		{&q.unlockBudgets, `DELETE FROM sms2fa_budgets WHERE name = 'user' AND bucket_key = ?`, false},
		{&q.unlockPhoneBudgets, `DELETE FROM sms2fa_budgets WHERE name = 'phone' AND bucket_key = ?`, false},

		{&q.budgetStart, `SELECT started_at FROM sms2fa_budgets WHERE name = ? AND bucket_key = ? AND window_ms = ?`, false},
		// Statistics: a challenge counts its own sends (less a failed one)
		// and whether it was verified, in the hour it was opened, so that no
		// request writes a row for them; Purge rolls the challenges it
		// deletes up into sms2fa_stats. The challenges are found through the
		// expiry index: one opened since an hour expires after it.
		{&q.readStats, `SELECT region, SUM(sent) AS sent, SUM(verified) AS verified FROM (
			  SELECT region, sent, verified FROM sms2fa_stats WHERE hour >= ?
			  UNION ALL
			  SELECT region, sends AS sent, CASE WHEN consumed_at <> 0 THEN 1 ELSE 0 END AS verified
			  FROM sms2fa_challenges WHERE expires_at >= ? AND created_at >= ?
			) counted GROUP BY region ORDER BY region`, true},

		{&q.purgeChallenges, purgeChallenges, false},
		{&q.purgeUsers, `DELETE FROM sms2fa_users WHERE locked_until < ? AND updated_at < ? AND known_at < ?`, false},
		{&q.purgeBudgets, purgeBudgets, false},
		{&q.purgeStats, `DELETE FROM sms2fa_stats WHERE hour < ?`, false},
		// A revoked grant stays until it would have expired: UseDevice asks
		// whether any grant of a sign-in was revoked, so that a copy of a
		// device cookie taken before a logout stays dead.
		// A revoked grant of a named sign-in is kept for the revoked-grant
		// retention: while it is there, no remembered device signs that
		// sign-in back in (a copied session cookie may outlive the grant).
		{&q.purgeGrants, `DELETE FROM sms2fa_grants WHERE expires_at < ?
			AND (revoked_at = 0 OR login = '' OR revoked_at < ?)`, false},
		// A revoked or expired device can never sign in again; its row only
		// turned a reused token into ErrDeviceReuse rather than ErrNotFound.
		{&q.purgeDevices, `DELETE FROM sms2fa_devices WHERE expires_at <= ? OR revoked_at <> 0`, false},

		// Factors. Changes run under the user's lock (see holdUser), so the
		// factor read before a change is the one it replaces.
		{&q.getFactor, `SELECT ` + factorCols + ` FROM sms2fa_factors WHERE user_id = ?`, true},
		{&q.readFactor, `SELECT ` + factorCols + ` FROM sms2fa_factors WHERE user_id = ?`, false},
		// A removed row is a row: a removed number is never adopted again.
		{&q.adoptFactor, `INSERT INTO sms2fa_factors (user_id, phone, region, enrolled_at, version, updated_at)
			VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (user_id) DO NOTHING`, false},
		// The version is bumped by the database, from the row it replaces:
		// it only ever grows, whatever reached the row first. A change of
		// number forgets the last mismatch noted: against the new number,
		// the same tag is news.
		{&q.putFactor, `INSERT INTO sms2fa_factors (user_id, phone, region, enrolled_at, removed, version, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, ?)
			ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, region = excluded.region,
			  enrolled_at = excluded.enrolled_at, removed = excluded.removed, mismatch = '',
			  version = sms2fa_factors.version + 1, updated_at = excluded.updated_at
			RETURNING ` + factorCols, false},
		// One statement: of two notes of one tag, only one finds it new.
		{&q.noteMismatch, `UPDATE sms2fa_factors SET mismatch = ?, updated_at = ` + now + `
			WHERE user_id = ? AND mismatch <> ?`, false},

		// Recovery codes. A code is spent by the one UPDATE that finds it
		// unused: of concurrent uses, exactly one changes the row.
		{&q.dropRecovery, `DELETE FROM sms2fa_recovery WHERE user_id = ?`, false},
		{&q.addRecovery, `INSERT INTO sms2fa_recovery (user_id, mac, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id, mac) DO NOTHING`, false},
		{&q.useRecovery, `UPDATE sms2fa_recovery SET used_at = ?, used_by = ? WHERE user_id = ? AND mac = ? AND used_at = 0`, false},
		{&q.recoverySpent, `SELECT COUNT(*) FROM sms2fa_recovery
			WHERE user_id = ? AND mac = ? AND used_at > ? AND used_by = ? AND used_by <> ''`, false},
		{&q.recoveryLeft, `SELECT COUNT(*) FROM sms2fa_recovery WHERE user_id = ? AND used_at = 0`, false},
		{&q.readRecoveryLeft, `SELECT COUNT(*) FROM sms2fa_recovery WHERE user_id = ? AND used_at = 0`, true},

		// Remembered devices.
		{&q.addDevice, `INSERT INTO sms2fa_devices (id, user_id, mac, factor_version, label, expires_at, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ` + now + `, ` + now + `)`, false},
		{&q.getDevice, `SELECT mac, prev_mac, rotated_at, rotated_login, factor_version, expires_at, revoked_at
			FROM sms2fa_devices WHERE id = ? AND user_id = ?`, false},
		// Rotation only from the token just compared, and only on a live
		// device: a revocation that slipped in between wins.
		{&q.rotateDevice, `UPDATE sms2fa_devices SET prev_mac = mac, mac = ?, rotated_at = ?, rotated_login = ?, last_used_at = ?
			WHERE id = ? AND user_id = ? AND mac = ? AND revoked_at = 0`, false},
		{&q.touchDevice, `UPDATE sms2fa_devices SET last_used_at = ? WHERE id = ? AND user_id = ? AND revoked_at = 0`, false},
		{&q.listDevices, `SELECT ` + deviceCols + ` FROM sms2fa_devices
			WHERE user_id = ? AND revoked_at = 0 AND expires_at > ` + now + `
			ORDER BY last_used_at DESC, created_at DESC, id`, true},
		{&q.revokeDevice, `UPDATE sms2fa_devices SET revoked_at = ?
			WHERE id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.revokeDevices, `UPDATE sms2fa_devices SET revoked_at = ?
			WHERE user_id = ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.loginRevoked, `SELECT COUNT(*) FROM sms2fa_grants WHERE user_id = ? AND login = ? AND revoked_at <> 0`, false},
		{&q.liveGrant, `SELECT COUNT(*) FROM sms2fa_grants
			WHERE id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ?`, false},
		{&q.revokeSignIn, `UPDATE sms2fa_grants SET revoked_at = ?, revoked_how = 'logout'
			WHERE user_id = ? AND login = ? AND revoked_at = 0 AND expires_at > ?`, false},
		// A tombstone: a grant that expired and was revoked as it was made,
		// kept for the revoked-grant retention like any revoked grant.
		{&q.endSignIn, `INSERT INTO sms2fa_grants (id, user_id, login, how, created_at, fresh_at, expires_at, revoked_at, revoked_how)
			VALUES (?, ?, ?, 'ended', ?, 0, ?, ?, 'logout')`, false},
	} {
		on := db
		if p.read {
			on = readers
		}
		st, err := on.PreparexContext(ctx, db.Rebind(p.sql))
		if err != nil {
			q.close()
			return queries{}, fmt.Errorf("store: preparing %.60q: %w", p.sql, err)
		}
		*p.dst = st
	}
	// Statements of one dialect: SQLite's roll-up and its Open's and
	// Verify's reads; the Postgres functions' calls.
	type stmt struct {
		dst **sqlx.Stmt
		sql string
	}
	var only []stmt
	if d == SQLite {
		only = []stmt{{&q.rollUp, rollUp}, {&q.openReads, openReadsSQL}, {&q.verifyReads, verifyReadsSQL}}
	} else {
		q.verifyOnce, q.openOnce, q.resendOnce = db.Rebind(verifySQL()), db.Rebind(openSQL()), db.Rebind(resendSQL())
		q.useTOTPOnce = db.Rebind(useTOTPSQL())
	}
	for _, p := range only {
		st, err := db.PreparexContext(ctx, db.Rebind(p.sql))
		if err != nil {
			q.close()
			return queries{}, fmt.Errorf("store: preparing %.60q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return q, nil
}

// close releases every prepared statement.
func (q queries) close() {
	for _, st := range []*sqlx.Stmt{
		q.lockUser, q.setUser, q.openReads, q.verifyReads, q.insertChallenge, q.getChallenge, q.getOwned,
		q.countAttempt, q.replaceCode, q.releaseSend, q.cancel, q.giveBack,
		q.insertGrant, q.freshenGrant, q.getGrant, q.revokeGrant, q.revokeGrants, q.unlockUser, q.unlockBudgets, q.purgeGrants,
		q.budgetStart, q.readStats,
		q.rollUp, q.purgeChallenges, q.purgeUsers, q.purgeBudgets, q.purgeStats,
		q.getFactor, q.readFactor, q.adoptFactor, q.putFactor, q.noteMismatch,
		q.dropRecovery, q.addRecovery, q.useRecovery, q.recoveryLeft, q.readRecoveryLeft,
		q.addDevice, q.getDevice, q.rotateDevice, q.touchDevice, q.listDevices,
		q.revokeDevice, q.revokeDevices, q.loginRevoked, q.purgeDevices, q.endSignIn, q.revokeSignIn, q.liveGrant,
		q.capGrants, q.deviceGrant, q.revokeDeviceGrants, q.recoverySpent, q.unlockPhoneBudgets,
		q.readTOTP, q.hasTOTP, q.sealedTOTP, q.putTOTP, q.claimTOTP, q.resealTOTP, q.dropTOTP, q.userState, q.userGrants,
		q.readPrefix, q.foldFlight, q.writePrefix, q.knownNumber, q.flightGiveBack, q.getPrefix, q.prefixFlight,
		q.allFlight, q.allPrefixes, q.makePrefix, q.lockPrefix, q.dropFlight,
		q.purgeFlight, q.purgePrefixes, q.settleSMS, q.flightAdd, q.flightVerified,
	} {
		if st != nil {
			st.Close()
		}
	}
}

// takeBudgetsSQL reserves one send in each of n budgets in one statement. A
// budget row counts sends in a window that opens with its first send. The
// WHERE is evaluated under each row's lock, on the latest row: a full window
// refuses (its row is not returned), an elapsed one starts again at 1.
func takeBudgetsSQL(n int) string {
	rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, 1, ?), ", n), ", ")
	return `INSERT INTO sms2fa_budgets (name, bucket_key, window_ms, started_at, used, max_used)
		VALUES ` + rows + `
		ON CONFLICT (name, bucket_key, window_ms) DO UPDATE SET
		  used = CASE WHEN sms2fa_budgets.started_at + sms2fa_budgets.window_ms <= excluded.started_at
		              THEN 1 ELSE sms2fa_budgets.used + 1 END,
		  started_at = CASE WHEN sms2fa_budgets.started_at + sms2fa_budgets.window_ms <= excluded.started_at
		                    THEN excluded.started_at ELSE sms2fa_budgets.started_at END,
		  max_used = excluded.max_used
		WHERE sms2fa_budgets.started_at + sms2fa_budgets.window_ms <= excluded.started_at
		   OR sms2fa_budgets.used < excluded.max_used
		RETURNING name, bucket_key, window_ms`
}

// challengeRow is a challenge as stored; times are Unix milliseconds.
type challengeRow struct {
	MAC         []byte `db:"code_mac"`
	ID          string `db:"id"`
	UserID      string `db:"user_id"`
	Flow        string `db:"flow"`
	GrantID     string `db:"grant_id"`
	Phone       string `db:"phone"`
	Region      string `db:"region"`
	CreatedAt   int64  `db:"created_at"`
	ExpiresAt   int64  `db:"expires_at"`
	Attempts    int    `db:"attempts"`
	MaxAttempts int    `db:"max_attempts"`
	Sends       int    `db:"sends"`
	NextSendAt  int64  `db:"next_send_at"`
	SendFailed  int    `db:"send_failed"`
	ConsumedAt  int64  `db:"consumed_at"`
	Prefix      string `db:"prefix"` // the number prefix its sends count against; "" for none
	LockedUntil int64  `db:"locked_until"`
	Now         int64  `db:"now_ms"` // the store's clock, for reads that carry it
}

// challenge converts r; now is the store's clock for this answer.
func (r challengeRow) challenge(now time.Time) contract.Challenge {
	return contract.Challenge{
		ID:          r.ID,
		UserID:      r.UserID,
		Flow:        contract.Flow(r.Flow),
		GrantID:     r.GrantID,
		Phone:       r.Phone,
		Region:      r.Region,
		CreatedAt:   fromMS(r.CreatedAt),
		ExpiresAt:   fromMS(r.ExpiresAt),
		Attempts:    r.Attempts,
		MaxAttempts: r.MaxAttempts,
		Sends:       r.Sends,
		NextSendAt:  fromMS(r.NextSendAt),
		SendFailed:  r.SendFailed != 0,
		ConsumedAt:  fromMS(r.ConsumedAt),
		LockedUntil: fromMS(r.LockedUntil),
		Now:         now,
	}
}

// grantRow is a grant as stored; times are Unix milliseconds.
type grantRow struct {
	ID        string `db:"id"`
	UserID    string `db:"user_id"`
	Login     string `db:"login"`
	How       string `db:"how"`
	CreatedAt int64  `db:"created_at"`
	FreshAt   int64  `db:"fresh_at"`
	ExpiresAt int64  `db:"expires_at"`
	RevokedAt int64  `db:"revoked_at"`
	Now       int64  `db:"now_ms"`
}

func (r grantRow) grant(now time.Time) contract.Grant {
	return contract.Grant{
		ID: r.ID, UserID: r.UserID, Login: r.Login, How: r.How,
		CreatedAt: fromMS(r.CreatedAt), FreshAt: fromMS(r.FreshAt), ExpiresAt: fromMS(r.ExpiresAt),
		RevokedAt: fromMS(r.RevokedAt), Now: now,
	}
}

// userRow is a user's failure state, and the store's clock.
type userRow struct {
	Failures    int   `db:"failures"`
	Locks       int   `db:"locks"`
	LockedUntil int64 `db:"locked_until"`
	Now         int64 `db:"now_ms"`
	// The number last verified for the user, and when (the prefix block's
	// known-good numbers): read by SQLite's Verify only.
	KnownPhone string
	KnownAt    int64
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS turns stored milliseconds back into a time; 0 stays the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// hourOf returns the start of t's hour, the statistics bucket.
func hourOf(t time.Time) int64 { return ms(t.Truncate(time.Hour)) }

// factorRow is a factor as stored; times are Unix milliseconds.
type factorRow struct {
	UserID     string `db:"user_id"`
	Phone      string `db:"phone"`
	Region     string `db:"region"`
	EnrolledAt int64  `db:"enrolled_at"`
	Version    int64  `db:"version"`
	Removed    int    `db:"removed"`
}

func (r factorRow) factor() contract.Factor {
	return contract.Factor{UserID: r.UserID, Phone: r.Phone, Region: r.Region,
		EnrolledAt: fromMS(r.EnrolledAt), Version: r.Version, Removed: r.Removed != 0}
}

// deviceRow is a remembered device as stored; times are Unix milliseconds.
type deviceRow struct {
	ID            string `db:"id"`
	Label         string `db:"label"`
	MAC           []byte `db:"mac"`
	PrevMAC       []byte `db:"prev_mac"`
	RotatedAt     int64  `db:"rotated_at"`
	RotatedLogin  string `db:"rotated_login"`
	FactorVersion int64  `db:"factor_version"`
	CreatedAt     int64  `db:"created_at"`
	LastUsedAt    int64  `db:"last_used_at"`
	ExpiresAt     int64  `db:"expires_at"`
	RevokedAt     int64  `db:"revoked_at"`
}

func (r deviceRow) device() contract.Device {
	return contract.Device{ID: r.ID, Label: r.Label, FactorVersion: r.FactorVersion,
		CreatedAt: fromMS(r.CreatedAt), LastUsedAt: fromMS(r.LastUsedAt), ExpiresAt: fromMS(r.ExpiresAt)}
}
