-- sms2fa schema, version 11, Postgres dialect: the automatic prefix block.
-- Idempotent.
--
-- Per number prefix, the store counts the sends whose codes can no longer
-- be entered ("judged") and how many of them were verified, over sliding
-- windows of an hour and a day, and blocks a prefix whose conversion falls
-- below the rule's (contract.PrefixRule). A send is judged when its code's
-- lifetime ends: until then it is "in flight", counted in
-- sms2fa_prefix_flight by the minute its code expires in, and a code still
-- in flight is never held against its prefix. The send that next meets the
-- prefix (sms2fa_open, sms2fa_resend) moves the minutes that have ended
-- into the windows — a handful of rows, never a scan of challenges — and
-- decides, in the same round trip. The SQLite dialect's Go code
-- (store/prefix.go) decides exactly as sms2fa_prefix_judge does.

-- The number prefix a challenge counts against ('' for none).
ALTER TABLE sms2fa_challenges ADD COLUMN IF NOT EXISTS prefix TEXT NOT NULL DEFAULT '';

-- One row per prefix. Each window is two buckets of its length, aligned to
-- multiples of it (hour_start is the current bucket's start): the sliding
-- estimate is the current bucket plus the previous one weighed by the share
-- of it the window still covers.
CREATE TABLE IF NOT EXISTS sms2fa_prefixes (
    prefix             TEXT    PRIMARY KEY,
    hour_start         BIGINT  NOT NULL DEFAULT 0,
    hour_sends         BIGINT  NOT NULL DEFAULT 0,
    hour_verified      BIGINT  NOT NULL DEFAULT 0,
    hour_prev_sends    BIGINT  NOT NULL DEFAULT 0,
    hour_prev_verified BIGINT  NOT NULL DEFAULT 0,
    day_start          BIGINT  NOT NULL DEFAULT 0,
    day_sends          BIGINT  NOT NULL DEFAULT 0,
    day_verified       BIGINT  NOT NULL DEFAULT 0,
    day_prev_sends     BIGINT  NOT NULL DEFAULT 0,
    day_prev_verified  BIGINT  NOT NULL DEFAULT 0,
    blocked_until      BIGINT  NOT NULL DEFAULT 0,
    blocks             INTEGER NOT NULL DEFAULT 0, -- blocks so far; the next one lasts twice as long
    allowed            INTEGER NOT NULL DEFAULT 0, -- allow-listed by an operator: never blocked
    updated_at         BIGINT  NOT NULL
);

-- Sends in flight: per prefix and minute their codes expire in (ends_at,
-- the minute's end), how many were sent and how many of those verified.
CREATE TABLE IF NOT EXISTS sms2fa_prefix_flight (
    prefix   TEXT    NOT NULL,
    ends_at  BIGINT  NOT NULL,
    sends    INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, ends_at)
);

-- Numbers known good: the last time a code sent to phone for user_id was
-- verified. A prefix block never refuses a number verified for its user in
-- the last 30 days (contract.KnownNumberFor).
CREATE TABLE IF NOT EXISTS sms2fa_known (
    user_id     TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    verified_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, phone)
);

-- The numbers users signed in with by SMS before this version, as far as
-- the grants still tell: an SMS grant made since the number was enrolled.
INSERT INTO sms2fa_known (user_id, phone, verified_at)
SELECT g.user_id, f.phone, MAX(g.created_at)
FROM sms2fa_grants AS g JOIN sms2fa_factors AS f ON f.user_id = g.user_id
WHERE g.how = 'sms' AND f.removed = 0 AND f.phone <> '' AND g.created_at >= f.enrolled_at
GROUP BY g.user_id, f.phone
ON CONFLICT (user_id, phone) DO NOTHING;

-- The flight is kept by triggers on the challenges, so that every way a
-- code starts, ends or fails — whichever statement does it — is counted
-- once: a send (a new challenge, or a resend's new code) joins the minute
-- its code expires in; a verified code is marked in its minute (and its
-- number is known good); a send that certainly failed leaves its minute (it
-- never reached the provider: a provider's outage must not block
-- prefixes). A resend leaves the replaced code in its own minute, judged
-- unverified when that minute ends. Store.Cancel takes a withdrawn send out
-- itself: a purge deletes challenges too, and must not.
CREATE OR REPLACE FUNCTION sms2fa_prefix_count() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.sends > OLD.sends THEN
        IF NEW.prefix <> '' THEN
            INSERT INTO sms2fa_prefix_flight AS fl (prefix, ends_at, sends)
            VALUES (NEW.prefix, (NEW.expires_at + 59999) / 60000 * 60000, 1)
            ON CONFLICT (prefix, ends_at) DO UPDATE SET sends = fl.sends + 1;
        END IF;
        RETURN NULL;
    END IF;
    IF OLD.send_failed = 0 AND NEW.send_failed <> 0 AND NEW.prefix <> '' THEN
        UPDATE sms2fa_prefix_flight SET sends = sends - 1
        WHERE prefix = NEW.prefix AND ends_at = (OLD.expires_at + 59999) / 60000 * 60000 AND sends > 0;
    END IF;
    IF OLD.consumed_at = 0 AND NEW.consumed_at <> 0 THEN
        IF NEW.prefix <> '' THEN
            UPDATE sms2fa_prefix_flight SET verified = verified + 1
            WHERE prefix = NEW.prefix AND ends_at = (NEW.expires_at + 59999) / 60000 * 60000;
        END IF;
        -- Refreshed at most hourly: known-good lasts 30 days.
        INSERT INTO sms2fa_known AS k (user_id, phone, verified_at) VALUES (NEW.user_id, NEW.phone, NEW.consumed_at)
        ON CONFLICT (user_id, phone) DO UPDATE SET verified_at = excluded.verified_at
        WHERE k.verified_at < excluded.verified_at - 3600000;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS sms2fa_prefix_sent ON sms2fa_challenges;
CREATE TRIGGER sms2fa_prefix_sent AFTER INSERT ON sms2fa_challenges
FOR EACH ROW WHEN (NEW.prefix <> '') EXECUTE FUNCTION sms2fa_prefix_count();
DROP TRIGGER IF EXISTS sms2fa_prefix_changed ON sms2fa_challenges;
CREATE TRIGGER sms2fa_prefix_changed AFTER UPDATE OF sends, send_failed, consumed_at ON sms2fa_challenges
FOR EACH ROW WHEN (NEW.sends > OLD.sends OR (OLD.send_failed = 0 AND NEW.send_failed <> 0)
                   OR (OLD.consumed_at = 0 AND NEW.consumed_at <> 0))
EXECUTE FUNCTION sms2fa_prefix_count();

-- sms2fa_prefix_judge counts a send's prefix and decides, under the
-- prefix's row lock (sends to one prefix queue there, as they do on its
-- send budget): the minutes of flight that have ended join the windows; a
-- prefix not blocked, not allow-listed, whose hour or day window holds at
-- least p_min judged sends with a conversion below p_ppm (parts per
-- million) is blocked for p_for_ns, doubled per earlier block (the count
-- starts again when the last block ended over p_max_ns ago), up to
-- p_max_ns; the windows then start afresh, so a repeat needs new evidence.
-- o_state: ''       no block in force
--          blocked  a block is in force (o_until), and this send goes:
--                   p_mode 'monitor', or p_phone is known good for p_user
--                   (verified within p_known_ms)
--          refused  a block is in force and refuses this send
-- o_started says this call started the block; o_window, o_sends and
-- o_verified are then the figures that decided.
CREATE OR REPLACE FUNCTION sms2fa_prefix_judge(p_now BIGINT, p_prefix TEXT, p_mode TEXT, p_min INTEGER, p_ppm BIGINT,
    p_for_ns BIGINT, p_max_ns BIGINT, p_user TEXT, p_phone TEXT, p_known_ms BIGINT)
RETURNS TABLE (o_state TEXT, o_until BIGINT, o_started BOOLEAN, o_window BIGINT,
    o_sends DOUBLE PRECISION, o_verified DOUBLE PRECISION, o_blocks INTEGER)
LANGUAGE plpgsql AS $$
DECLARE
    r       sms2fa_prefixes%ROWTYPE;
    f       RECORD;
    changed BOOLEAN := false;
    b       BIGINT;
    w       BIGINT;
    est_s   DOUBLE PRECISION;
    est_v   DOUBLE PRECISION;
    d       BIGINT;
    i       INTEGER;
BEGIN
    o_state := ''; o_until := 0; o_started := false; o_window := 0; o_sends := 0; o_verified := 0; o_blocks := 0;
    SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO sms2fa_prefixes (prefix, hour_start, day_start, updated_at)
        VALUES (p_prefix, p_now - p_now % 3600000, p_now - p_now % 86400000, p_now)
        ON CONFLICT (prefix) DO NOTHING;
        SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix FOR UPDATE;
    END IF;

    -- Each window moves to the bucket of now: one bucket on, the current
    -- becomes the previous; further, both are past. (A clock that went
    -- back keeps the buckets as they are.)
    b := p_now - p_now % 3600000;
    IF b > r.hour_start THEN
        IF b = r.hour_start + 3600000 THEN
            r.hour_prev_sends := r.hour_sends; r.hour_prev_verified := r.hour_verified;
        ELSE
            r.hour_prev_sends := 0; r.hour_prev_verified := 0;
        END IF;
        r.hour_sends := 0; r.hour_verified := 0; r.hour_start := b;
    END IF;
    b := p_now - p_now % 86400000;
    IF b > r.day_start THEN
        IF b = r.day_start + 86400000 THEN
            r.day_prev_sends := r.day_sends; r.day_prev_verified := r.day_verified;
        ELSE
            r.day_prev_sends := 0; r.day_prev_verified := 0;
        END IF;
        r.day_sends := 0; r.day_verified := 0; r.day_start := b;
    END IF;

    -- Minutes that ended are judged, in the buckets of the minute their
    -- codes expired in; a minute older than the previous bucket is outside
    -- the window.
    FOR f IN DELETE FROM sms2fa_prefix_flight AS fl WHERE fl.prefix = p_prefix AND fl.ends_at <= p_now
             RETURNING fl.ends_at, fl.sends, LEAST(fl.verified, fl.sends) AS verified LOOP
        changed := true;
        b := (f.ends_at - 1) - (f.ends_at - 1) % 3600000;
        IF b = r.hour_start THEN
            r.hour_sends := r.hour_sends + f.sends; r.hour_verified := r.hour_verified + f.verified;
        ELSIF b = r.hour_start - 3600000 THEN
            r.hour_prev_sends := r.hour_prev_sends + f.sends; r.hour_prev_verified := r.hour_prev_verified + f.verified;
        END IF;
        b := (f.ends_at - 1) - (f.ends_at - 1) % 86400000;
        IF b = r.day_start THEN
            r.day_sends := r.day_sends + f.sends; r.day_verified := r.day_verified + f.verified;
        ELSIF b = r.day_start - 86400000 THEN
            r.day_prev_sends := r.day_prev_sends + f.sends; r.day_prev_verified := r.day_prev_verified + f.verified;
        END IF;
    END LOOP;

    IF r.allowed = 0 AND r.blocked_until <= p_now THEN
        FOR w IN SELECT unnest(ARRAY[3600000, 86400000]::BIGINT[]) LOOP
            IF w = 3600000 THEN
                est_s := r.hour_sends + r.hour_prev_sends * (1 - (p_now - r.hour_start)::DOUBLE PRECISION / w);
                est_v := r.hour_verified + r.hour_prev_verified * (1 - (p_now - r.hour_start)::DOUBLE PRECISION / w);
            ELSE
                est_s := r.day_sends + r.day_prev_sends * (1 - (p_now - r.day_start)::DOUBLE PRECISION / w);
                est_v := r.day_verified + r.day_prev_verified * (1 - (p_now - r.day_start)::DOUBLE PRECISION / w);
            END IF;
            IF est_s >= p_min AND est_v * 1000000 < p_ppm * est_s THEN
                IF r.blocked_until < p_now - p_max_ns / 1000000 THEN
                    r.blocks := 0;
                END IF;
                d := p_for_ns; i := 0;
                WHILE i < r.blocks AND d < p_max_ns LOOP
                    d := d * 2; i := i + 1;
                END LOOP;
                r.blocked_until := p_now + LEAST(d, p_max_ns) / 1000000;
                r.blocks := r.blocks + 1;
                r.hour_start := p_now - p_now % 3600000; r.day_start := p_now - p_now % 86400000;
                r.hour_sends := 0; r.hour_verified := 0; r.hour_prev_sends := 0; r.hour_prev_verified := 0;
                r.day_sends := 0; r.day_verified := 0; r.day_prev_sends := 0; r.day_prev_verified := 0;
                o_started := true; o_window := w; o_sends := est_s; o_verified := est_v;
                changed := true;
                EXIT;
            END IF;
        END LOOP;
    END IF;

    IF changed THEN
        UPDATE sms2fa_prefixes SET hour_start = r.hour_start, hour_sends = r.hour_sends, hour_verified = r.hour_verified,
            hour_prev_sends = r.hour_prev_sends, hour_prev_verified = r.hour_prev_verified,
            day_start = r.day_start, day_sends = r.day_sends, day_verified = r.day_verified,
            day_prev_sends = r.day_prev_sends, day_prev_verified = r.day_prev_verified,
            blocked_until = r.blocked_until, blocks = r.blocks, updated_at = p_now
        WHERE prefix = p_prefix;
    END IF;

    IF r.allowed = 0 AND r.blocked_until > p_now THEN
        o_until := r.blocked_until; o_blocks := r.blocks; o_state := 'blocked';
        IF p_mode = 'on' AND NOT EXISTS (SELECT 1 FROM sms2fa_known AS k
                                         WHERE k.user_id = p_user AND k.phone = p_phone
                                           AND k.verified_at > p_now - p_known_ms) THEN
            o_state := 'refused';
        END IF;
    END IF;
    RETURN NEXT;
END
$$;

-- sms2fa_open is Store.Open, version 6's with the prefix block: after the
-- lock and factor checks and the live challenge, before the budgets, the
-- send's prefix (p_prefix, '' for none) is judged. o_outcome adds
--   prefix_blocked  the prefix is blocked and this number is not known good
--                   for the user: nothing was sent (the judging's counts
--                   stay)
-- and o_prefix_* report a block in force (o_prefix_state 'blocked' or
-- 'refused'), with any outcome after the judging. Version 6's signature
-- stays, for the instances of the previous release during a rolling
-- deploy: it counts no prefix.
CREATE OR REPLACE FUNCTION sms2fa_open(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_phone TEXT, p_region TEXT,
    p_flow TEXT, p_grant_id TEXT, p_mac BYTEA, p_ttl_ms BIGINT, p_max_attempts INTEGER, p_cooldown_ms BIGINT,
    p_names TEXT[], p_keys TEXT[], p_windows BIGINT[], p_limits INTEGER[], p_check BOOLEAN,
    p_prefix TEXT, p_pmode TEXT, p_pmin INTEGER, p_pppm BIGINT, p_pfor_ns BIGINT, p_pmax_ns BIGINT, p_known_ms BIGINT)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT, o_budget TEXT, o_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT,
    o_prefix_state TEXT, o_prefix_until BIGINT, o_prefix_started BOOLEAN, o_prefix_window BIGINT,
    o_prefix_sends DOUBLE PRECISION, o_prefix_verified DOUBLE PRECISION, o_prefix_blocks INTEGER)
LANGUAGE plpgsql AS $$
BEGIN
    o_now := COALESCE(p_now, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT));
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

    o_prefix_state := '';
    IF p_prefix <> '' THEN
        SELECT j.o_state, j.o_until, j.o_started, j.o_window, j.o_sends, j.o_verified, j.o_blocks
        INTO o_prefix_state, o_prefix_until, o_prefix_started, o_prefix_window, o_prefix_sends, o_prefix_verified,
             o_prefix_blocks
        FROM sms2fa_prefix_judge(o_now, p_prefix, p_pmode, p_pmin, p_pppm, p_pfor_ns, p_pmax_ns, p_user, p_phone,
                                 p_known_ms) AS j;
        IF o_prefix_state = 'refused' THEN
            o_outcome := 'prefix_blocked';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_budget <> '' THEN
        o_outcome := 'budget';
        RETURN NEXT;
        RETURN;
    END IF;

    INSERT INTO sms2fa_challenges
      (id, user_id, flow, grant_id, binding, phone, region, code_mac, created_at, expires_at, max_attempts, sends,
       next_send_at, prefix)
    VALUES (p_id, p_user, p_flow, p_grant_id, p_binding, p_phone, p_region, p_mac, o_now, o_now + p_ttl_ms,
      p_max_attempts, 1, o_now + p_cooldown_ms, p_prefix);
    c_id := p_id; c_user_id := p_user; c_flow := p_flow; c_grant_id := p_grant_id; c_phone := p_phone;
    c_region := p_region; c_created_at := o_now; c_expires_at := o_now + p_ttl_ms; c_attempts := 0;
    c_max_attempts := p_max_attempts; c_sends := 1; c_next_send_at := o_now + p_cooldown_ms;
    c_send_failed := 0; c_consumed_at := 0;
    o_outcome := 'created';
    RETURN NEXT;
END
$$;

-- sms2fa_resend is Store.Resend, version 7's with the prefix block, judged
-- as in sms2fa_open after the cooldown and before the budgets (outcome
-- prefix_blocked, columns o_prefix_*). A challenge counts its resends
-- against the prefix it was opened with. Version 7's signature stays, for
-- a rolling deploy.
CREATE OR REPLACE FUNCTION sms2fa_resend(
    p_now BIGINT, p_id TEXT, p_user TEXT, p_binding TEXT, p_phone TEXT, p_mac BYTEA,
    p_ttl_ms BIGINT, p_cooldown_ns BIGINT,
    p_names TEXT[], p_keys TEXT[], p_windows BIGINT[], p_limits INTEGER[],
    p_prefix TEXT, p_pmode TEXT, p_pmin INTEGER, p_pppm BIGINT, p_pfor_ns BIGINT, p_pmax_ns BIGINT, p_known_ms BIGINT)
RETURNS TABLE (
    o_outcome TEXT, o_now BIGINT, o_locked_until BIGINT, o_budget TEXT, o_until BIGINT,
    c_id TEXT, c_user_id TEXT, c_flow TEXT, c_grant_id TEXT, c_phone TEXT, c_region TEXT,
    c_created_at BIGINT, c_expires_at BIGINT, c_attempts INTEGER, c_max_attempts INTEGER,
    c_sends INTEGER, c_next_send_at BIGINT, c_send_failed INTEGER, c_consumed_at BIGINT,
    o_prefix_state TEXT, o_prefix_until BIGINT, o_prefix_started BOOLEAN, o_prefix_window BIGINT,
    o_prefix_sends DOUBLE PRECISION, o_prefix_verified DOUBLE PRECISION, o_prefix_blocks INTEGER)
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

    o_prefix_state := '';
    IF p_prefix <> '' THEN
        SELECT j.o_state, j.o_until, j.o_started, j.o_window, j.o_sends, j.o_verified, j.o_blocks
        INTO o_prefix_state, o_prefix_until, o_prefix_started, o_prefix_window, o_prefix_sends, o_prefix_verified,
             o_prefix_blocks
        FROM sms2fa_prefix_judge(o_now, p_prefix, p_pmode, p_pmin, p_pppm, p_pfor_ns, p_pmax_ns, p_user, c_phone,
                                 p_known_ms) AS j;
        IF o_prefix_state = 'refused' THEN
            o_outcome := 'prefix_blocked';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_budget <> '' THEN
        o_outcome := 'budget';
        RETURN NEXT;
        RETURN;
    END IF;

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
VALUES (11, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
