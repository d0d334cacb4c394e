-- sms2fa schema, version 1, Postgres dialect (11 or later).
-- Times are Unix milliseconds by the store's clock: the database's now(), so
-- that every instance judges expiry by one clock (or a test clock).

CREATE TABLE IF NOT EXISTS sms2fa_schema (
    version    INTEGER PRIMARY KEY,
    applied_at BIGINT  NOT NULL
);

-- One row per login challenge. code_mac is HMAC-SHA256(server key, id || 0 || code):
-- the code itself is never stored.
CREATE TABLE IF NOT EXISTS sms2fa_challenges (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    binding      TEXT    NOT NULL,
    phone        TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    code_mac     BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    sends        INTEGER NOT NULL DEFAULT 1,
    next_send_at BIGINT  NOT NULL,
    send_failed  INTEGER NOT NULL DEFAULT 0,
    consumed_at  BIGINT  NOT NULL DEFAULT 0 -- 0 until the right code is entered
);
CREATE INDEX IF NOT EXISTS sms2fa_challenges_owner ON sms2fa_challenges (user_id, binding);
CREATE INDEX IF NOT EXISTS sms2fa_challenges_expiry ON sms2fa_challenges (expires_at);

-- The account-wide failure budget: consecutive wrong codes across all of a
-- user's challenges, and the locks they caused since the last success.
CREATE TABLE IF NOT EXISTS sms2fa_users (
    user_id      TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    locks        INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT  NOT NULL DEFAULT 0,
    updated_at   BIGINT  NOT NULL
);

-- Send budgets: one row per (family, key, window length); a window opens at
-- its first send and counts sends up to max_used.
CREATE TABLE IF NOT EXISTS sms2fa_budgets (
    name       TEXT    NOT NULL,
    bucket_key TEXT    NOT NULL,
    window_ms  BIGINT  NOT NULL,
    started_at BIGINT  NOT NULL,
    used       INTEGER NOT NULL,
    max_used   INTEGER NOT NULL, -- the limit the last send was held to
    PRIMARY KEY (name, bucket_key, window_ms)
);
CREATE INDEX IF NOT EXISTS sms2fa_budgets_expiry ON sms2fa_budgets (started_at);

-- Sends and verifications per hour and region: pumped SMS are never
-- verified, so a falling ratio is the alarm.
CREATE TABLE IF NOT EXISTS sms2fa_stats (
    hour     BIGINT  NOT NULL,
    region   TEXT    NOT NULL,
    sent     INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, region)
);

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (1, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
