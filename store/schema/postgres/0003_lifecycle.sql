-- sms2fa schema, version 3, Postgres dialect: the life of a factor — the
-- enrolled number, recovery codes and remembered devices. Idempotent.

-- Each user's enrolled number. A removed number leaves its row behind
-- (removed = 1), so that the number the app hands is never adopted again.
CREATE TABLE IF NOT EXISTS sms2fa_factors (
    user_id     TEXT    PRIMARY KEY,
    phone       TEXT    NOT NULL DEFAULT '', -- E.164; '' once removed
    region      TEXT    NOT NULL DEFAULT '',
    enrolled_at BIGINT  NOT NULL DEFAULT 0,
    version     BIGINT  NOT NULL,            -- bumped on every change: remembered devices are tied to it
    removed     INTEGER NOT NULL DEFAULT 0,
    mismatch    TEXT    NOT NULL DEFAULT '', -- the last mismatching number tag noted, so each is reported once
    updated_at  BIGINT  NOT NULL
);

-- Recovery codes, as keyed MACs only; a used code keeps its row (used_at)
-- until the codes are replaced, so it can never be used twice.
CREATE TABLE IF NOT EXISTS sms2fa_recovery (
    user_id    TEXT   NOT NULL,
    mac        BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, mac)
);

-- Remembered devices. The cookie's token rotates on every use; the MAC of
-- the token rotated out is kept to tell two tabs racing (within the grace)
-- from a copied cookie (after it).
CREATE TABLE IF NOT EXISTS sms2fa_devices (
    id             TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL,
    mac            BYTEA   NOT NULL,
    prev_mac       BYTEA   NOT NULL DEFAULT ''::BYTEA,
    rotated_at     BIGINT  NOT NULL DEFAULT 0,
    factor_version BIGINT  NOT NULL,
    label          TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    revoked_at     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sms2fa_devices_user ON sms2fa_devices (user_id);
CREATE INDEX IF NOT EXISTS sms2fa_devices_expiry ON sms2fa_devices (expires_at);

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (3, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
