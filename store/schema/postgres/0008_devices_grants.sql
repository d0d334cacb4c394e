-- sms2fa schema, version 8, Postgres dialect: grants remember the device that
-- made them, devices the sign-in that last rotated them, recovery codes who
-- spent them, and a user's live grants are capped. Idempotent.
--
-- sms2fa_verify takes p_grant_cap (Policy.MaxGrants): a grant it creates
-- revokes the user's oldest live grants beyond the cap, in the same round
-- trip. The rest of the function is version 5's. Version 5's signature
-- stays, uncapped, for the instances of the previous release during a
-- rolling deploy.

-- A remembered device's sign-in grant names it, so that a reused (stolen)
-- device token revokes what the device let in, and a browser that keeps
-- showing its cookie is handed its live grant instead of a new one each time.
ALTER TABLE sms2fa_grants ADD COLUMN IF NOT EXISTS device_id TEXT NOT NULL DEFAULT '';

-- The sign-in (its tag) that rotated the device's token last: only it may
-- show the rotated-out token again, within the grace.
ALTER TABLE sms2fa_devices ADD COLUMN IF NOT EXISTS rotated_login TEXT NOT NULL DEFAULT '';

-- Who spent a recovery code (a tag of the sign-in or session): the same
-- code shown again by them moments later is a repeat, not a wrong guess.
ALTER TABLE sms2fa_recovery ADD COLUMN IF NOT EXISTS used_by TEXT NOT NULL DEFAULT '';

-- A user's unrevoked grants, newest first: what the cap on live grants
-- reads on every sign-in, from the index alone. Revoked grants, which pile
-- up for a user who signs in often, stay out of it, so the cap costs the
-- same whatever the history.
CREATE INDEX IF NOT EXISTS sms2fa_grants_live ON sms2fa_grants (user_id, created_at, id, expires_at) WHERE revoked_at = 0;

CREATE OR REPLACE FUNCTION sms2fa_verify(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_mac BYTEA,
    p_threshold INTEGER, p_lock_ns BIGINT, p_lock_max_ns BIGINT,
    p_grant_id TEXT, p_grant_login TEXT, p_grant_how TEXT, p_grant_life_ms BIGINT, p_grant_cap INTEGER)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT,
    g_id TEXT, g_user_id TEXT, g_login TEXT, g_how TEXT,
    g_created_at BIGINT, g_fresh_at BIGINT, g_expires_at BIGINT, g_revoked_at BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_failures INTEGER;
    v_locks    INTEGER;
    v_lock     BIGINT;
    v_i        INTEGER := 0;
    f_version  BIGINT;
    f_removed  INTEGER;
    f_phone    TEXT;
BEGIN
    o_now := COALESCE(p_now, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT));
    g_id := '';
    -- The user's row lock serialises the user's operations: the lock check
    -- and the failure count below are one decision.
    SELECT l.o_failures, l.o_locks, l.o_locked_until INTO v_failures, v_locks, o_locked_until
    FROM sms2fa_lock_user(p_user, o_now) AS l;
    IF o_locked_until > o_now THEN
        o_outcome := 'user_locked';
        RETURN NEXT;
        RETURN;
    END IF;

    -- The attempt is counted, and a right code consumes the challenge, in
    -- one update of a live challenge with attempts left: the comparison
    -- happens under the row's lock, in the same step that counts it.
    --
    -- Comparing MACs here, not in constant time, leaks nothing usable: they
    -- are keyed with the server's secret, so an attacker cannot compute the
    -- MAC of a guess, and learning how many leading bytes of an unknown MAC
    -- matched a guess's MAC says nothing about the code.
    UPDATE sms2fa_challenges AS ch SET attempts = ch.attempts + 1,
      consumed_at = CASE WHEN ch.code_mac = p_mac THEN o_now ELSE 0 END
    WHERE ch.id = p_id AND ch.user_id = p_user AND ch.binding = p_binding
      AND ch.consumed_at = 0 AND ch.send_failed = 0 AND ch.expires_at > o_now AND ch.attempts < ch.max_attempts
    RETURNING ch.id, ch.user_id, ch.flow, ch.grant_id, ch.phone, ch.region, ch.created_at,
      ch.expires_at, ch.attempts, ch.max_attempts, ch.sends, ch.next_send_at, ch.send_failed, ch.consumed_at
    INTO c_id, c_user_id, c_flow, c_grant_id, c_phone, c_region, c_created_at,
      c_expires_at, c_attempts, c_max_attempts, c_sends, c_next_send_at, c_send_failed, c_consumed_at;
    IF NOT FOUND THEN
        SELECT ch.id, ch.user_id, ch.flow, ch.grant_id, ch.phone, ch.region, ch.created_at,
          ch.expires_at, ch.attempts, ch.max_attempts, ch.sends, ch.next_send_at, ch.send_failed, ch.consumed_at
        INTO c_id, c_user_id, c_flow, c_grant_id, c_phone, c_region, c_created_at,
          c_expires_at, c_attempts, c_max_attempts, c_sends, c_next_send_at, c_send_failed, c_consumed_at
        FROM sms2fa_challenges AS ch WHERE ch.id = p_id AND ch.user_id = p_user AND ch.binding = p_binding;
        o_outcome := CASE WHEN FOUND THEN 'dead' ELSE 'not_found' END;
        RETURN NEXT;
        RETURN;
    END IF;

    IF c_consumed_at <> 0 THEN
        IF v_failures <> 0 OR v_locks <> 0 THEN
            UPDATE sms2fa_users SET failures = 0, locks = 0, locked_until = 0, updated_at = o_now
            WHERE user_id = p_user;
        END IF;
        -- The code proves the challenge's number for the account as it was
        -- when it was sent: a flow overtaken since changes nothing — an
        -- enrolment after another number was enrolled, a change after the
        -- number was removed, a login or step-up code to a number replaced.
        SELECT f.version, f.removed, f.phone INTO f_version, f_removed, f_phone
        FROM sms2fa_factors AS f WHERE f.user_id = c_user_id;
        IF NOT FOUND THEN
            f_version := 0;
        END IF;
        IF (c_flow = 'enrol' AND f_version > 0 AND f_removed = 0)
           OR (c_flow = 'change' AND (f_version = 0 OR f_removed <> 0))
           OR (c_flow IN ('login', 'step_up') AND f_version > 0 AND (f_removed <> 0 OR f_phone <> c_phone)) THEN
            NULL; -- no grant: g_id stays ''
        ELSIF c_flow IN ('step_up', 'change') THEN
            -- The grant first: a browser whose grant was revoked meanwhile
            -- changes nothing, however right its code; and only a grant of
            -- this very sign-in is freshened.
            UPDATE sms2fa_grants AS g SET fresh_at = o_now
            WHERE g.id = c_grant_id AND g.user_id = c_user_id AND g.login = p_grant_login
              AND g.revoked_at = 0 AND g.expires_at > o_now
            RETURNING g.id, g.user_id, g.login, g.how, g.created_at, g.fresh_at, g.expires_at, g.revoked_at
            INTO g_id, g_user_id, g_login, g_how, g_created_at, g_fresh_at, g_expires_at, g_revoked_at;
            IF FOUND AND c_flow = 'change' THEN
                INSERT INTO sms2fa_factors (user_id, phone, region, enrolled_at, removed, version, updated_at)
                VALUES (c_user_id, c_phone, c_region, o_now, 0, 1, o_now)
                ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, region = excluded.region,
                  enrolled_at = excluded.enrolled_at, removed = excluded.removed, mismatch = '',
                  version = sms2fa_factors.version + 1, updated_at = excluded.updated_at;
                UPDATE sms2fa_grants SET revoked_at = o_now, revoked_how = 'number_change'
                WHERE user_id = c_user_id AND id <> c_grant_id AND revoked_at = 0 AND expires_at > o_now;
                UPDATE sms2fa_devices SET revoked_at = o_now
                WHERE user_id = c_user_id AND revoked_at = 0 AND expires_at > o_now;
            ELSIF NOT FOUND THEN
                g_id := '';
            END IF;
        ELSE
            IF c_flow = 'enrol' THEN
                INSERT INTO sms2fa_factors (user_id, phone, region, enrolled_at, removed, version, updated_at)
                VALUES (c_user_id, c_phone, c_region, o_now, 0, 1, o_now)
                ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, region = excluded.region,
                  enrolled_at = excluded.enrolled_at, removed = excluded.removed, mismatch = '',
                  version = sms2fa_factors.version + 1, updated_at = excluded.updated_at;
            END IF;
            IF p_grant_id <> '' THEN
                INSERT INTO sms2fa_grants (id, user_id, login, how, created_at, fresh_at, expires_at)
                VALUES (p_grant_id, c_user_id, p_grant_login, p_grant_how, o_now, o_now, o_now + p_grant_life_ms);
                g_id := p_grant_id; g_user_id := c_user_id; g_login := p_grant_login; g_how := p_grant_how;
                g_created_at := o_now; g_fresh_at := o_now; g_expires_at := o_now + p_grant_life_ms; g_revoked_at := 0;
                -- At most p_grant_cap live grants: the oldest beyond it go.
                -- The subquery finds, from the index of unrevoked grants
                -- alone, the newest grant beyond the cap: none for a user
                -- within it (nearly everyone), and then nothing is written.
                IF p_grant_cap > 0 THEN
                    UPDATE sms2fa_grants SET revoked_at = o_now, revoked_how = 'cap'
                    WHERE user_id = c_user_id AND revoked_at = 0 AND expires_at > o_now AND id <> p_grant_id
                      AND (created_at, id) <= (SELECT g.created_at, g.id FROM sms2fa_grants AS g
                                               WHERE g.user_id = c_user_id AND g.revoked_at = 0 AND g.expires_at > o_now
                                               ORDER BY g.created_at DESC, g.id DESC LIMIT 1 OFFSET p_grant_cap);
                END IF;
            END IF;
        END IF;
        o_outcome := 'ok';
        RETURN NEXT;
        RETURN;
    END IF;

    -- A wrong code: one more consecutive failure; the one that reaches the
    -- threshold locks the user, doubled per lock since the last success.
    v_failures := v_failures + 1;
    o_outcome := 'invalid';
    IF p_threshold > 0 AND v_failures >= p_threshold THEN
        v_lock := p_lock_ns;
        WHILE v_i < v_locks AND v_lock < p_lock_max_ns LOOP
            v_lock := v_lock * 2;
            v_i := v_i + 1;
        END LOOP;
        v_failures := 0;
        v_locks := v_locks + 1;
        o_locked_until := o_now + LEAST(v_lock, p_lock_max_ns) / 1000000;
        o_outcome := 'locked';
    END IF;
    UPDATE sms2fa_users SET failures = v_failures, locks = v_locks, locked_until = o_locked_until, updated_at = o_now
    WHERE user_id = p_user;
    RETURN NEXT;
END
$$;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (8, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
