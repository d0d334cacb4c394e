-- sms2fa schema, version 4, SQLite dialect: statistics without a write per
-- request. A challenge now counts its own sends and its verification, in
-- the hour it was opened, and Purge rolls the challenges it deletes up into
-- sms2fa_stats; version 3 also added every send and verification to
-- sms2fa_stats as it happened. What that wrote for the challenges still in
-- the table is taken back out here, so that nothing counts twice. (Per hour
-- this can be off by a resend or a verification that fell in a later hour
-- than its challenge's opening; the totals are exact.) The store applies this
-- file only to a database at version 3; so should your migration tool.

INSERT INTO sms2fa_stats AS s (hour, region, sent, verified)
SELECT created_at - created_at % 3600000, region,
       -SUM(sends), -SUM(CASE WHEN consumed_at <> 0 THEN 1 ELSE 0 END)
FROM sms2fa_challenges
WHERE NOT EXISTS (SELECT 1 FROM sms2fa_schema WHERE version = 4)
GROUP BY created_at - created_at % 3600000, region
ON CONFLICT (hour, region) DO UPDATE SET sent = s.sent + excluded.sent, verified = s.verified + excluded.verified;

-- The index on a budget window's start served no query (Purge asks for
-- started_at + window_ms, which it cannot use) and cost every send a page.
DROP INDEX IF EXISTS sms2fa_budgets_expiry;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (4, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
ON CONFLICT (version) DO NOTHING;
