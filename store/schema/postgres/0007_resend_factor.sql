-- sms2fa schema, version 7, Postgres dialect: a resend never texts a number
-- that is no longer the user's. Idempotent.
--
-- sms2fa_resend compared the challenge's number with the one the caller
-- read from the factor a moment before; a number changed or removed in
-- between still got the code, which the verify would then refuse to count.
-- It now also reads the factor under the user's lock and answers not_found
-- for a login or step-up challenge whose number is no longer the enrolled
-- one, as sms2fa_verify judges it. An enrolment or a change goes to the
-- number being proved, which no factor holds yet. The rest of the function
-- is version 5's.

-- sms2fa_resend is Store.Resend. o_outcome:
--   user_locked  the user is locked (o_locked_until); nothing changed
--   not_found    no such challenge for this user and session, or it was
--                opened for another number than p_phone (when not ''), or,
--                for a login or step-up, its number is no longer the
--                user's enrolled one
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
    -- Under the lock, as sms2fa_verify judges it: a login or step-up code to
    -- a number that is no longer the user's could never be counted.
    IF c_flow IN ('login', 'step_up') AND EXISTS (
        SELECT 1 FROM sms2fa_factors AS f
        WHERE f.user_id = p_user AND f.version > 0 AND (f.removed <> 0 OR f.phone <> c_phone)) THEN
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

INSERT INTO sms2fa_schema (version, applied_at)
VALUES (7, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
