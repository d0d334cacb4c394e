-- sms2fa schema, version 5, Postgres dialect: statistics without a write per
-- request, and Open checking the user's factor within its one round trip.
-- Idempotent.
--
-- Statistics: a challenge now counts its own sends and its verification, in
-- the hour it was opened, and Purge rolls the challenges it deletes up into
-- sms2fa_stats (one row per hour and region was a row every send and every
-- verification of the hour wrote, and waited for). Version 4's functions
-- also added each send and verification to sms2fa_stats as it happened: what
-- they wrote for the challenges still in the table is taken back out here,
-- so nothing counts twice. (Per hour this can be off by a resend or a
-- verification that fell in a later hour than its challenge's opening; the
-- totals are exact.)
--
-- The functions below are version 4's without those statistics writes, and
-- sms2fa_open takes p_check (Store.Open's CheckFactor): the guard's usual
-- path no longer reads the factor before opening a challenge. Version 4's
-- sms2fa_open stays, as a wrapper, for a rolling deploy.

INSERT INTO sms2fa_stats AS s (hour, region, sent, verified)
SELECT created_at - created_at % 3600000, region,
       -SUM(sends), -SUM(CASE WHEN consumed_at <> 0 THEN 1 ELSE 0 END)
FROM sms2fa_challenges
WHERE NOT EXISTS (SELECT 1 FROM sms2fa_schema WHERE version = 5)
GROUP BY created_at - created_at % 3600000, region
ON CONFLICT (hour, region) DO UPDATE SET sent = s.sent + excluded.sent, verified = s.verified + excluded.verified;

-- sms2fa_verify is Store.Verify: one guess at challenge p_id of p_user in
-- session p_binding. o_outcome says what happened:
--   user_locked  the user was locked before (o_locked_until); nothing counted
--   not_found    no such challenge for this user and session
--   dead         the challenge (c_*) is used, out of attempts or expired; the
--                Go side names which, in the order a user should hear it
--   ok           right code: consumed, failures reset, flow done (g_* is the
--                grant created or freshened; g_id '' if none)
--   invalid      wrong code: attempt and failure counted
--   locked       wrong code that reached the threshold: the user is now
--                locked until o_locked_until
-- Lock durations are in nanoseconds, as Go's time.Duration, so the doubling
-- rounds exactly as Lockout.LockFor does.
CREATE OR REPLACE FUNCTION sms2fa_verify(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_mac BYTEA,
    p_threshold INTEGER, p_lock_ns BIGINT, p_lock_max_ns BIGINT,
    p_grant_id TEXT, p_grant_login TEXT, p_grant_how TEXT, p_grant_life_ms BIGINT)
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

-- sms2fa_open is Store.Open. o_outcome:
--   user_locked  the user is locked (o_locked_until); nothing changed
--   factor_changed  p_check is set and p_phone is not the user's enrolled,
--                unremoved number; nothing changed
--   live         a live challenge (c_*) of this user, session, number, flow
--                and grant exists; nothing changed
--   budget       budget o_budget is full until o_until; nothing taken
--   created      challenge c_* was created, a send reserved in every budget
CREATE OR REPLACE FUNCTION sms2fa_open(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_phone TEXT, p_region TEXT,
    p_flow TEXT, p_grant_id TEXT, p_mac BYTEA, p_ttl_ms BIGINT, p_max_attempts INTEGER, p_cooldown_ms BIGINT,
    p_names TEXT[], p_keys TEXT[], p_windows BIGINT[], p_limits INTEGER[], p_check BOOLEAN)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT, o_budget TEXT, o_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
    o_now := COALESCE(p_now, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT));
    SELECT l.o_locked_until INTO o_locked_until FROM sms2fa_lock_user(p_user, o_now) AS l;
    IF o_locked_until > o_now THEN
        o_outcome := 'user_locked';
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_check AND NOT EXISTS (SELECT 1 FROM sms2fa_factors AS f
                               WHERE f.user_id = p_user AND f.phone = p_phone AND f.removed = 0) THEN
        o_outcome := 'factor_changed';
        RETURN NEXT;
        RETURN;
    END IF;

    -- A challenge whose send certainly failed is not live: its code never
    -- left, so this request opens (and sends) a new one.
    SELECT ch.id, ch.user_id, ch.flow, ch.grant_id, ch.phone, ch.region, ch.created_at,
      ch.expires_at, ch.attempts, ch.max_attempts, ch.sends, ch.next_send_at, ch.send_failed, ch.consumed_at
    INTO c_id, c_user_id, c_flow, c_grant_id, c_phone, c_region, c_created_at,
      c_expires_at, c_attempts, c_max_attempts, c_sends, c_next_send_at, c_send_failed, c_consumed_at
    FROM sms2fa_challenges AS ch
    WHERE ch.user_id = p_user AND ch.binding = p_binding AND ch.phone = p_phone AND ch.flow = p_flow
      AND ch.grant_id = p_grant_id AND ch.consumed_at = 0 AND ch.send_failed = 0 AND ch.expires_at > o_now
      AND ch.attempts < ch.max_attempts
    ORDER BY ch.created_at DESC LIMIT 1;
    IF FOUND THEN
        o_outcome := 'live';
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_budget <> '' THEN
        o_outcome := 'budget';
        RETURN NEXT;
        RETURN;
    END IF;

    INSERT INTO sms2fa_challenges
      (id, user_id, flow, grant_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, sends, next_send_at)
    VALUES (p_id, p_user, p_flow, p_grant_id, p_binding, p_phone, p_region, p_mac, o_now, o_now + p_ttl_ms,
      p_max_attempts, 1, o_now + p_cooldown_ms);
    c_id := p_id; c_user_id := p_user; c_flow := p_flow; c_grant_id := p_grant_id; c_phone := p_phone;
    c_region := p_region; c_created_at := o_now; c_expires_at := o_now + p_ttl_ms; c_attempts := 0;
    c_max_attempts := p_max_attempts; c_sends := 1; c_next_send_at := o_now + p_cooldown_ms;
    c_send_failed := 0; c_consumed_at := 0;
    o_outcome := 'created';
    RETURN NEXT;
END
$$;

-- Version 4's sms2fa_open, without p_check, kept for the instances of the
-- previous release that still run during a rolling deploy: it opens as they
-- expect. (Those instances still add -1 to sms2fa_stats for a send that
-- failed or was withdrawn, which this version already takes back: until the
-- last of them is replaced, such sends are taken back twice.)
CREATE OR REPLACE FUNCTION sms2fa_open(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_phone TEXT, p_region TEXT,
    p_flow TEXT, p_grant_id TEXT, p_mac BYTEA, p_ttl_ms BIGINT, p_max_attempts INTEGER, p_cooldown_ms BIGINT,
    p_names TEXT[], p_keys TEXT[], p_windows BIGINT[], p_limits INTEGER[])
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT, o_budget TEXT, o_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT)
LANGUAGE sql AS $$
    SELECT * FROM sms2fa_open(p_now, p_id, p_user, p_binding, p_phone, p_region, p_flow, p_grant_id, p_mac,
        p_ttl_ms, p_max_attempts, p_cooldown_ms, p_names, p_keys, p_windows, p_limits, false)
$$;

-- sms2fa_resend is Store.Resend. o_outcome:
--   user_locked  the user is locked (o_locked_until); nothing changed
--   not_found    no such challenge for this user and session, or it was
--                opened for another number than p_phone (when not '')
--   dead         the challenge (c_*) is used or out of attempts; the Go side
--                names which (an expired one may be resent)
--   too_soon     inside the cooldown, until c_next_send_at
--   budget       budget o_budget is full until o_until; nothing taken
--   resent       the code was replaced (c_* after the change)
-- The cooldown is in nanoseconds, as Go's time.Duration, so that its
-- doubling rounds exactly as Policy.CooldownAfter does.
CREATE OR REPLACE FUNCTION sms2fa_resend(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_phone TEXT, p_mac BYTEA,
    p_ttl_ms BIGINT, p_cooldown_ns BIGINT,
    p_names TEXT[], p_keys TEXT[], p_windows BIGINT[], p_limits INTEGER[])
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT, o_budget TEXT, o_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_wait BIGINT := p_cooldown_ns;
    v_i    INTEGER := 1;
BEGIN
    o_now := COALESCE(p_now, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT));
    SELECT l.o_locked_until INTO o_locked_until FROM sms2fa_lock_user(p_user, o_now) AS l;
    IF o_locked_until > o_now THEN
        o_outcome := 'user_locked';
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT ch.id, ch.user_id, ch.flow, ch.grant_id, ch.phone, ch.region, ch.created_at,
      ch.expires_at, ch.attempts, ch.max_attempts, ch.sends, ch.next_send_at, ch.send_failed, ch.consumed_at
    INTO c_id, c_user_id, c_flow, c_grant_id, c_phone, c_region, c_created_at,
      c_expires_at, c_attempts, c_max_attempts, c_sends, c_next_send_at, c_send_failed, c_consumed_at
    FROM sms2fa_challenges AS ch WHERE ch.id = p_id AND ch.user_id = p_user AND ch.binding = p_binding;
    IF NOT FOUND OR p_phone <> '' AND p_phone <> c_phone THEN
        o_outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    IF c_consumed_at <> 0 OR c_attempts >= c_max_attempts THEN
        o_outcome := 'dead';
        RETURN NEXT;
        RETURN;
    END IF;
    IF c_next_send_at > o_now THEN
        o_outcome := 'too_soon';
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_budget <> '' THEN
        o_outcome := 'budget';
        RETURN NEXT;
        RETURN;
    END IF;

    -- The cooldown after this send, the (sends + 1)-th: doubled per send
    -- after the first, capped at 24 hours.
    WHILE v_i < c_sends + 1 AND v_wait < 86400000000000 LOOP
        v_wait := v_wait * 2;
        v_i := v_i + 1;
    END LOOP;
    UPDATE sms2fa_challenges AS ch
    SET code_mac = p_mac, expires_at = o_now + p_ttl_ms, sends = ch.sends + 1,
        next_send_at = o_now + LEAST(v_wait, 86400000000000) / 1000000, send_failed = 0
    WHERE ch.id = p_id AND ch.consumed_at = 0
    RETURNING ch.expires_at, ch.sends, ch.next_send_at, ch.send_failed
    INTO c_expires_at, c_sends, c_next_send_at, c_send_failed;
    o_outcome := 'resent';
    RETURN NEXT;
END
$$;

-- The index on a budget window's start served no query (Purge asks for
-- started_at + window_ms, which it cannot use) and cost every send a page.
DROP INDEX IF EXISTS sms2fa_budgets_expiry;

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (5, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
