-- sms2fa schema, version 6, SQLite dialect: authenticator apps (TOTP).

-- A user's authenticator: the secret, sealed by the guard with AES-GCM
-- (the store never holds it in the clear), and the last time step a code
-- was accepted for. A code is accepted only for a later step, in the same
-- transaction that creates the grant: no code can be replayed.
CREATE TABLE IF NOT EXISTS sms2fa_totp (
    user_id    TEXT    PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    last_step  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (6, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
ON CONFLICT (version) DO NOTHING;
