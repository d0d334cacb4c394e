-- sms2fa schema, version 2, Postgres dialect: grants, and the flow of each
-- challenge. Idempotent.

-- What a challenge is for (login, step_up, enrol, change), and for a step-up
-- the grant it refreshes.
ALTER TABLE sms2fa_challenges ADD COLUMN IF NOT EXISTS flow TEXT NOT NULL DEFAULT 'login';
ALTER TABLE sms2fa_challenges ADD COLUMN IF NOT EXISTS grant_id TEXT NOT NULL DEFAULT '';

-- A completed second factor. The browser carries a signed mark naming the
-- row; revoking the row ends every copy of the mark within the guard's
-- recheck interval.
CREATE TABLE IF NOT EXISTS sms2fa_grants (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    login       TEXT    NOT NULL DEFAULT '', -- a keyed tag of the sign-in it belongs to, if the app names sign-ins
    how         TEXT    NOT NULL,            -- sms, recovery, device
    created_at  BIGINT  NOT NULL,
    fresh_at    BIGINT  NOT NULL,            -- the last code verified in it (step-up)
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT  NOT NULL DEFAULT 0,
    revoked_how TEXT    NOT NULL DEFAULT ''  -- logout, sign_out_everywhere, admin, …
);
CREATE INDEX IF NOT EXISTS sms2fa_grants_user ON sms2fa_grants (user_id);
CREATE INDEX IF NOT EXISTS sms2fa_grants_expiry ON sms2fa_grants (expires_at);

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (2, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
