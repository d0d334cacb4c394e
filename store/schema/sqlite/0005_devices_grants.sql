-- sms2fa schema, version 5, SQLite dialect: grants remember the device that
-- made them, devices the sign-in that last rotated them, and recovery codes
-- who spent them. (SQLite has no ADD COLUMN IF NOT EXISTS: the store applies
-- this file only to a database at version 4; so should your migration tool.)

-- A remembered device's sign-in grant names it, so that a reused (stolen)
-- device token revokes what the device let in, and a browser that keeps
-- showing its cookie is handed its live grant instead of a new one each time.
ALTER TABLE sms2fa_grants ADD COLUMN device_id TEXT NOT NULL DEFAULT '';

-- The sign-in (its tag) that rotated the device's token last: only it may
-- show the rotated-out token again, within the grace.
ALTER TABLE sms2fa_devices ADD COLUMN rotated_login TEXT NOT NULL DEFAULT '';

-- Who spent a recovery code (a tag of the sign-in or session): the same
-- code shown again by them moments later is a repeat, not a wrong guess.
ALTER TABLE sms2fa_recovery ADD COLUMN used_by TEXT NOT NULL DEFAULT '';

-- A user's unrevoked grants, newest first: what the cap on live grants
-- reads on every sign-in, from the index alone. Revoked grants, which pile
-- up for a user who signs in often, stay out of it, so the cap costs the
-- same whatever the history.
CREATE INDEX IF NOT EXISTS sms2fa_grants_live ON sms2fa_grants (user_id, created_at, id, expires_at) WHERE revoked_at = 0;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (5, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
ON CONFLICT (version) DO NOTHING;
