-- sms2fa schema, version 7, SQLite dialect: the automatic prefix block.
-- (Applied only to a database at version 6: SQLite has no ADD COLUMN IF NOT
-- EXISTS.)
--
-- Per number prefix, the store counts the sends whose codes can no longer
-- be entered ("judged") and how many of them were verified, over sliding
-- windows of an hour and a day, and blocks a prefix whose conversion falls
-- below the rule's (contract.PrefixRule). A send is judged when its code's
-- lifetime ends: until then it is "in flight", counted in
-- sms2fa_prefix_flight by the minute its code expires in, and a code still
-- in flight is never held against its prefix. The send that next meets the
-- prefix (Open, Resend) moves the minutes that have ended into the windows:
-- a handful of rows, never a scan of challenges.

-- The number prefix a challenge counts against ('' for none).
ALTER TABLE sms2fa_challenges ADD COLUMN prefix TEXT NOT NULL DEFAULT '';

-- One row per prefix. Each window is two buckets of its length, aligned to
-- multiples of it (hour_start is the current bucket's start): the sliding
-- estimate is the current bucket plus the previous one weighed by the share
-- of it the window still covers.
CREATE TABLE IF NOT EXISTS sms2fa_prefixes (
    prefix             TEXT    PRIMARY KEY,
    hour_start         INTEGER NOT NULL DEFAULT 0,
    hour_sends         INTEGER NOT NULL DEFAULT 0,
    hour_verified      INTEGER NOT NULL DEFAULT 0,
    hour_prev_sends    INTEGER NOT NULL DEFAULT 0,
    hour_prev_verified INTEGER NOT NULL DEFAULT 0,
    day_start          INTEGER NOT NULL DEFAULT 0,
    day_sends          INTEGER NOT NULL DEFAULT 0,
    day_verified       INTEGER NOT NULL DEFAULT 0,
    day_prev_sends     INTEGER NOT NULL DEFAULT 0,
    day_prev_verified  INTEGER NOT NULL DEFAULT 0,
    blocked_until      INTEGER NOT NULL DEFAULT 0,
    blocks             INTEGER NOT NULL DEFAULT 0, -- blocks so far; the next one lasts twice as long
    allowed            INTEGER NOT NULL DEFAULT 0, -- allow-listed by an operator: never blocked
    updated_at         INTEGER NOT NULL
);

-- Sends in flight: per prefix and minute their codes expire in (ends_at,
-- the minute's end), how many were sent and how many of those verified.
CREATE TABLE IF NOT EXISTS sms2fa_prefix_flight (
    prefix   TEXT    NOT NULL,
    ends_at  INTEGER NOT NULL,
    sends    INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, ends_at)
);

-- Numbers known good: the number a code for the user was last verified
-- for, and when. A prefix block never refuses a number verified for its
-- user in the last 30 days (contract.KnownNumberFor). The verify that
-- records it writes it at most hourly, with the failures' reset.
ALTER TABLE sms2fa_users ADD COLUMN known_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE sms2fa_users ADD COLUMN known_at INTEGER NOT NULL DEFAULT 0;

-- The numbers users signed in with by SMS before this version, as far as
-- the grants still tell: an SMS grant made since the number was enrolled
-- (updated_at now: an instance of the release before purges users a day
-- without news, knowing nothing of known_at).
INSERT INTO sms2fa_users (user_id, updated_at, known_phone, known_at)
SELECT g.user_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, f.phone, MAX(g.created_at)
FROM sms2fa_grants AS g JOIN sms2fa_factors AS f ON f.user_id = g.user_id
WHERE g.how = 'sms' AND f.removed = 0 AND f.phone <> '' AND g.created_at >= f.enrolled_at
GROUP BY g.user_id, f.phone
ON CONFLICT (user_id) DO UPDATE SET known_phone = excluded.known_phone, known_at = excluded.known_at,
  updated_at = MAX(sms2fa_users.updated_at, excluded.updated_at);

-- The flight is counted by the operations themselves (store/prefix.go):
-- a send (Open, Resend) joins the minute its code expires in; a verified
-- code is marked in its minute (Verify); a send that certainly failed
-- (SendFailed) or was withdrawn (Cancel) leaves its minute — it never
-- reached the provider, and a provider's outage must not block prefixes.
-- A resend leaves the replaced code in its own minute, judged unverified
-- when that minute ends.

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (7, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
ON CONFLICT (version) DO NOTHING;
