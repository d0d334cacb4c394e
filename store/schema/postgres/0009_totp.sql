-- sms2fa schema, version 9, Postgres dialect: authenticator apps (TOTP).
-- Idempotent.

-- A user's authenticator: the secret, sealed by the guard with AES-GCM
-- (the store never holds it in the clear), and the last time step a code
-- was accepted for. A code is accepted only for a later step, in the same
-- transaction that creates the grant: no code can be replayed.
CREATE TABLE IF NOT EXISTS sms2fa_totp (
    user_id    TEXT   PRIMARY KEY,
    sealed     BYTEA  NOT NULL,
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- sms2fa_count_failure counts one more consecutive failure of p_user (whose
-- row the caller holds locked, with p_failures and p_locks as read): the
-- one that reaches the threshold locks, doubled per lock since the last
-- success, up to the maximum. It returns when the lock ends, 0 for no lock.
-- sms2fa_verify (migration 8) does the same inline; a later version of it
-- should call this.
CREATE OR REPLACE FUNCTION sms2fa_count_failure(p_user TEXT, p_now BIGINT, p_failures INTEGER, p_locks INTEGER,
    p_threshold INTEGER, p_lock_ns BIGINT, p_lock_max_ns BIGINT, OUT o_locked_until BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_lock BIGINT := p_lock_ns;
    v_i    INTEGER := 0;
BEGIN
    o_locked_until := 0;
    p_failures := p_failures + 1;
    IF p_threshold > 0 AND p_failures >= p_threshold THEN
        WHILE v_i < p_locks AND v_lock < p_lock_max_ns LOOP
            v_lock := v_lock * 2;
            v_i := v_i + 1;
        END LOOP;
        p_failures := 0;
        p_locks := p_locks + 1;
        o_locked_until := p_now + LEAST(v_lock, p_lock_max_ns) / 1000000;
    END IF;
    UPDATE sms2fa_users SET failures = p_failures, locks = p_locks, updated_at = p_now,
      locked_until = CASE WHEN o_locked_until > 0 THEN o_locked_until ELSE locked_until END
    WHERE user_id = p_user;
END
$$;

-- sms2fa_add_grant creates grant p_id of p_user and revokes the user's
-- oldest live grants beyond p_cap (0: no cap). The subquery finds, from the
-- index of unrevoked grants alone, the newest grant beyond the cap: none
-- for a user within it (nearly everyone), and then nothing is written.
-- sms2fa_verify (migration 8) does the same inline.
CREATE OR REPLACE FUNCTION sms2fa_add_grant(p_now BIGINT, p_user TEXT, p_id TEXT, p_login TEXT, p_how TEXT,
    p_life_ms BIGINT, p_cap INTEGER)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sms2fa_grants (id, user_id, login, how, created_at, fresh_at, expires_at)
    VALUES (p_id, p_user, p_login, p_how, p_now, p_now, p_now + p_life_ms);
    IF p_cap > 0 THEN
        UPDATE sms2fa_grants SET revoked_at = p_now, revoked_how = 'cap'
        WHERE user_id = p_user AND revoked_at = 0 AND expires_at > p_now AND id <> p_id
          AND (created_at, id) <= (SELECT g.created_at, g.id FROM sms2fa_grants AS g
                                   WHERE g.user_id = p_user AND g.revoked_at = 0 AND g.expires_at > p_now
                                   ORDER BY g.created_at DESC, g.id DESC LIMIT 1 OFFSET p_cap);
    END IF;
END
$$;

-- sms2fa_use_totp is a TOTP sign-in or step-up in one round trip (see
-- TOTPStore.UseTOTP): under the user's row lock, a locked user is refused;
-- a matched step (p_step >= 0) after the last used one is claimed, the
-- failures reset and the grant created (or, with p_freshen, freshened); an
-- earlier or equal step is 'used'; no match (p_step < 0) counts a failure,
-- and the grant is always earned how 'totp', whatever the caller says;
-- and the one reaching the threshold locks, doubled per lock since the last
-- success, as sms2fa_verify does.
CREATE OR REPLACE FUNCTION sms2fa_use_totp(
    p_now BIGINT, p_user TEXT, p_step BIGINT, p_freshen TEXT,
    p_threshold INTEGER, p_lock_ns BIGINT, p_lock_max_ns BIGINT,
    p_grant_id TEXT, p_grant_login TEXT, p_grant_life_ms BIGINT, p_grant_cap INTEGER)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT,
    g_id TEXT, g_user_id TEXT, g_login TEXT, g_how TEXT,
    g_created_at BIGINT, g_fresh_at BIGINT, g_expires_at BIGINT, g_revoked_at BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_failures INTEGER;
    v_locks    INTEGER;
BEGIN
    o_now := COALESCE(p_now, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT));
    g_id := '';
    SELECT l.o_failures, l.o_locks, l.o_locked_until INTO v_failures, v_locks, o_locked_until
    FROM sms2fa_lock_user(p_user, o_now) AS l;
    IF o_locked_until > o_now THEN
        o_outcome := 'user_locked';
        RETURN NEXT;
        RETURN;
    END IF;
    PERFORM 1 FROM sms2fa_totp AS t WHERE t.user_id = p_user;
    IF NOT FOUND THEN
        o_outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;

    IF p_step >= 0 THEN
        -- The claim: under the user's lock, so of parallel submissions of
        -- one code exactly one finds its step still after the last used.
        UPDATE sms2fa_totp SET last_step = p_step, updated_at = o_now
        WHERE user_id = p_user AND last_step < p_step;
        IF NOT FOUND THEN
            o_outcome := 'used';
            RETURN NEXT;
            RETURN;
        END IF;
        IF v_failures <> 0 OR v_locks <> 0 THEN
            UPDATE sms2fa_users SET failures = 0, locks = 0, locked_until = 0, updated_at = o_now
            WHERE user_id = p_user;
        END IF;
        IF p_freshen <> '' THEN
            UPDATE sms2fa_grants AS g SET fresh_at = o_now
            WHERE g.id = p_freshen AND g.user_id = p_user AND g.login = p_grant_login
              AND g.revoked_at = 0 AND g.expires_at > o_now
            RETURNING g.id, g.user_id, g.login, g.how, g.created_at, g.fresh_at, g.expires_at, g.revoked_at
            INTO g_id, g_user_id, g_login, g_how, g_created_at, g_fresh_at, g_expires_at, g_revoked_at;
            IF NOT FOUND THEN
                g_id := '';
            END IF;
        ELSIF p_grant_id <> '' THEN
            PERFORM sms2fa_add_grant(o_now, p_user, p_grant_id, p_grant_login, 'totp', p_grant_life_ms, p_grant_cap);
            g_id := p_grant_id; g_user_id := p_user; g_login := p_grant_login; g_how := 'totp';
            g_created_at := o_now; g_fresh_at := o_now; g_expires_at := o_now + p_grant_life_ms; g_revoked_at := 0;
        END IF;
        o_outcome := 'ok';
        RETURN NEXT;
        RETURN;
    END IF;

    -- A wrong code: one more consecutive failure.
    SELECT f.o_locked_until INTO o_locked_until
    FROM sms2fa_count_failure(p_user, o_now, v_failures, v_locks, p_threshold, p_lock_ns, p_lock_max_ns) AS f;
    o_outcome := CASE WHEN o_locked_until > 0 THEN 'locked' ELSE 'invalid' END;
    RETURN NEXT;
END
$$;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (9, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
