-- sms2fa schema, version 10, Postgres dialect: a TOTP sign-in in one round
-- trip. Idempotent.
--
-- The guard keeps the sealed secret it read when it asked for the app's
-- code, so a sign-in need not read it again: this version of
-- sms2fa_use_totp takes the sealed secret the step was matched with, and
-- claims the step only while it is still the user's ('changed' otherwise,
-- counting nothing: the app was replaced, removed or resealed meanwhile),
-- and only within p_window steps of the store's clock (a step outside is a
-- wrong code): the store's clock stays the judge of time. A NULL p_sealed
-- checks neither, which is what migration 9's signature, kept for
-- instances of the version before during a rolling deploy, now calls.
CREATE OR REPLACE FUNCTION sms2fa_use_totp(
    p_now BIGINT, p_user TEXT, p_step BIGINT, p_sealed BYTEA, p_window INTEGER, p_freshen TEXT,
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
    v_sealed   BYTEA;
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
    SELECT t.sealed INTO v_sealed FROM sms2fa_totp AS t WHERE t.user_id = p_user;
    IF NOT FOUND THEN
        o_outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_sealed IS NOT NULL AND v_sealed <> p_sealed THEN
        o_outcome := 'changed';
        RETURN NEXT;
        RETURN;
    END IF;
    -- Steps are 30 s from the Unix epoch; o_now is in milliseconds.
    IF p_step >= 0 AND p_sealed IS NOT NULL AND abs(p_step - o_now / 30000) > p_window THEN
        p_step := -1;
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

-- Migration 9's signature, for the version before: the same steps, with
-- nothing to check the secret or the window against.
CREATE OR REPLACE FUNCTION sms2fa_use_totp(
    p_now BIGINT, p_user TEXT, p_step BIGINT, p_freshen TEXT,
    p_threshold INTEGER, p_lock_ns BIGINT, p_lock_max_ns BIGINT,
    p_grant_id TEXT, p_grant_login TEXT, p_grant_life_ms BIGINT, p_grant_cap INTEGER)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT,
    g_id TEXT, g_user_id TEXT, g_login TEXT, g_how TEXT,
    g_created_at BIGINT, g_fresh_at BIGINT, g_expires_at BIGINT, g_revoked_at BIGINT)
LANGUAGE sql AS $$
    SELECT * FROM sms2fa_use_totp(p_now, p_user, p_step, NULL::BYTEA, 0, p_freshen, p_threshold, p_lock_ns, p_lock_max_ns,
        p_grant_id, p_grant_login, p_grant_life_ms, p_grant_cap);
$$;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (10, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
