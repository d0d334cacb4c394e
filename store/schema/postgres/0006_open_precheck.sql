-- sms2fa schema, version 6, Postgres dialect: an Open refused because the
-- number is not the user's enrolled one writes nothing. Idempotent.
--
-- sms2fa_open with p_check (Store.Open's CheckFactor) took the user's row
-- lock — a write, so a commit that waits for the disk — before finding
-- that the number is not the enrolled one: every user's first sign-in
-- (the guard then adopts the number and opens again), and every sign-in
-- after a number change. It now looks first, without the lock: such a
-- number, for a user who is not locked, is refused at once, read-only. A
-- locked user still hears of the lock first, and an Open that goes on
-- checks the factor again under the lock, as version 5 did; the rest of
-- the function is version 5's.

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
    -- A number that is not the user's enrolled one, for a user who is not
    -- locked, is refused before anything is written (see above). The
    -- check under the lock, below, is the one that decides.
    IF p_check
       AND NOT EXISTS (SELECT 1 FROM sms2fa_factors AS f
                       WHERE f.user_id = p_user AND f.phone = p_phone AND f.removed = 0)
       AND NOT EXISTS (SELECT 1 FROM sms2fa_users AS u
                       WHERE u.user_id = p_user AND u.locked_until > o_now) THEN
        o_outcome := 'factor_changed';
        RETURN NEXT;
        RETURN;
    END IF;
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

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (6, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
