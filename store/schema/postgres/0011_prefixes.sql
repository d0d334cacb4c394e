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

-- Numbers known good: the number a code for the user was last verified
-- for, and when. A prefix block never refuses a number verified for its
-- user in the last 30 days (contract.KnownNumberFor). A user's row already
-- exists wherever a code was sent (sms2fa_lock_user makes it), and the
-- verify that records it updates it at most hourly, in the statement that
-- resets the failures.
ALTER TABLE sms2fa_users ADD COLUMN IF NOT EXISTS known_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE sms2fa_users ADD COLUMN IF NOT EXISTS known_at BIGINT NOT NULL DEFAULT 0;

-- The numbers users signed in with by SMS before this version, as far as
-- the grants still tell: an SMS grant made since the number was enrolled.
-- Once (a schema at version 11 has its own, newer knowledge), and with
-- updated_at now: the janitor of an instance of the release before, during
-- a rolling deploy, purges users a day without news, knowing nothing of
-- known_at. (It runs inside the migration's transaction, which holds the
-- users table until it commits: on a very large grants table, expect
-- sign-ins to wait for it.)
INSERT INTO sms2fa_users AS u (user_id, updated_at, known_phone, known_at)
SELECT g.user_id, CAST(floor(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT), f.phone, MAX(g.created_at)
FROM sms2fa_grants AS g JOIN sms2fa_factors AS f ON f.user_id = g.user_id
WHERE g.how = 'sms' AND f.removed = 0 AND f.phone <> '' AND g.created_at >= f.enrolled_at
  AND NOT EXISTS (SELECT 1 FROM sms2fa_schema WHERE version = 11)
GROUP BY g.user_id, f.phone
ON CONFLICT (user_id) DO UPDATE SET known_phone = excluded.known_phone, known_at = excluded.known_at,
  updated_at = GREATEST(u.updated_at, excluded.updated_at);

-- The flight is counted by the operations themselves, each in its own
-- round trip: a send (sms2fa_open, sms2fa_resend) joins the minute its
-- code expires in; a verified code is marked in its minute
-- (sms2fa_verify); a send that certainly failed (Store.SendFailed) or was
-- withdrawn (Store.Cancel) leaves its minute — it never reached the
-- provider, and a provider's outage must not block prefixes. A resend
-- leaves the replaced code in its own minute, judged unverified when that
-- minute ends.

-- sms2fa_prefix_judge counts a send's prefix and decides: the minutes of
-- flight that ended over a minute ago join the windows (the minute's grace
-- lets a verify or a failed send that began before the end still find its
-- minute); a prefix not blocked, not allow-listed, whose hour or day window
-- holds at least p_min judged sends with a conversion below p_ppm (parts
-- per million) is blocked for p_for_ns, doubled per earlier block (the count
-- starts again when the last block ended over p_max_ns ago), up to
-- p_max_ns; the windows then start afresh, and the caller forgets the codes
-- still in flight once it has taken its budgets (sms2fa_prefix_forget), so a
-- repeat needs new evidence. Most sends change nothing:
-- they read the row and take no lock. A send that has minutes to count, or
-- a block to start, takes the prefix's row lock — before it touches any
-- minute of flight, the order every writer of both keeps (Store.Unblock…
-- included) — reads the row again and decides on what it holds: sends to
-- one prefix queue there, as they do on its send budget's row.
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
    ends    BIGINT[] := '{}';
    sent    BIGINT[] := '{}';
    won     BIGINT[] := '{}';
    locked  BOOLEAN := false; -- the row is locked: what is decided is written
    k       INTEGER;
    b       BIGINT;
    w       BIGINT;
    est_s   DOUBLE PRECISION;
    est_v   DOUBLE PRECISION;
    d       BIGINT;
    i       INTEGER;
BEGIN
    o_state := ''; o_until := 0; o_started := false; o_window := 0; o_sends := 0; o_verified := 0; o_blocks := 0;
    SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix;
    IF NOT FOUND THEN
        INSERT INTO sms2fa_prefixes (prefix, hour_start, day_start, updated_at)
        VALUES (p_prefix, p_now - p_now % 3600000, p_now - p_now % 86400000, p_now)
        ON CONFLICT (prefix) DO NOTHING;
        SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix;
    END IF;
    -- Minutes to count: locked first, then deleted as read, each by one
    -- send only. (Most sends find none: a look at the index costs less
    -- than a lock and a delete that deletes nothing.)
    IF EXISTS (SELECT 1 FROM sms2fa_prefix_flight AS fl WHERE fl.prefix = p_prefix AND fl.ends_at <= p_now - 60000) THEN
        SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix FOR UPDATE;
        locked := true;
        WITH gone AS (
            DELETE FROM sms2fa_prefix_flight AS fl WHERE fl.prefix = p_prefix AND fl.ends_at <= p_now - 60000
            RETURNING fl.ends_at, fl.sends, LEAST(fl.verified, fl.sends) AS verified)
        SELECT COALESCE(array_agg(g.ends_at), '{}'), COALESCE(array_agg(g.sends), '{}'),
               COALESCE(array_agg(g.verified), '{}')
        INTO ends, sent, won FROM gone AS g;
    END IF;

    -- (The loop's variable exists only inside it: locked says, after it,
    -- whether the row was locked.)
    FOR pass IN 1..2 LOOP
        IF pass = 2 THEN
            SELECT * INTO r FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix FOR UPDATE;
            locked := true;
            o_started := false; o_window := 0; o_sends := 0; o_verified := 0;
        END IF;

        -- Each window moves to the bucket of now: one bucket on, the
        -- current becomes the previous; further, both are past. (A clock
        -- that went back keeps the buckets as they are.)
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

        -- The minutes count in the buckets of the minute their codes
        -- expired in; older than the previous bucket is outside the window.
        FOR k IN 1..cardinality(ends) LOOP
            b := (ends[k] - 1) - (ends[k] - 1) % 3600000;
            IF b = r.hour_start THEN
                r.hour_sends := r.hour_sends + sent[k]; r.hour_verified := r.hour_verified + won[k];
            ELSIF b = r.hour_start - 3600000 THEN
                r.hour_prev_sends := r.hour_prev_sends + sent[k]; r.hour_prev_verified := r.hour_prev_verified + won[k];
            END IF;
            b := (ends[k] - 1) - (ends[k] - 1) % 86400000;
            IF b = r.day_start THEN
                r.day_sends := r.day_sends + sent[k]; r.day_verified := r.day_verified + won[k];
            ELSIF b = r.day_start - 86400000 THEN
                r.day_prev_sends := r.day_prev_sends + sent[k]; r.day_prev_verified := r.day_prev_verified + won[k];
            END IF;
        END LOOP;

        -- A window whose two buckets together hold fewer than p_min sends
        -- cannot block: most prefixes, most of the time.
        IF r.allowed = 0 AND r.blocked_until <= p_now
           AND (r.hour_sends + r.hour_prev_sends >= p_min OR r.day_sends + r.day_prev_sends >= p_min) THEN
            FOREACH w IN ARRAY ARRAY[3600000, 86400000]::BIGINT[] LOOP
                -- Each product is rounded before the sum, as Go's estimate
                -- converts it explicitly.
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
                    EXIT;
                END IF;
            END LOOP;
        END IF;

        -- Locked, or nothing to write: done. A block to start without the
        -- lock: once more, locked.
        EXIT WHEN locked OR NOT o_started;
    END LOOP;

    IF locked THEN
        UPDATE sms2fa_prefixes SET hour_start = r.hour_start, hour_sends = r.hour_sends, hour_verified = r.hour_verified,
            hour_prev_sends = r.hour_prev_sends, hour_prev_verified = r.hour_prev_verified,
            day_start = r.day_start, day_sends = r.day_sends, day_verified = r.day_verified,
            day_prev_sends = r.day_prev_sends, day_prev_verified = r.day_prev_verified,
            blocked_until = r.blocked_until, blocks = r.blocks, updated_at = p_now
        WHERE prefix = p_prefix;
    END IF;

    IF r.allowed = 0 AND r.blocked_until > p_now THEN
        o_until := r.blocked_until; o_blocks := r.blocks; o_state := 'blocked';
        IF p_mode = 'on' AND NOT EXISTS (SELECT 1 FROM sms2fa_users AS u
                                         WHERE u.user_id = p_user AND u.known_phone = p_phone
                                           AND u.known_at > p_now - p_known_ms) THEN
            o_state := 'refused';
        END IF;
    END IF;
    RETURN NEXT;
END
$$;

-- sms2fa_prefix_forget forgets the codes of p_prefix still in flight, when
-- a send's judging started a block: sent before the block, they must not
-- block it again when they are judged. The order of locks it keeps: a
-- minute still in flight is touched only after the budgets (Open, Resend,
-- Cancel) and after its challenge's row (Resend, SendFailed, Verify); the
-- judge takes the minutes already due, under the prefix's lock, before the
-- budgets — and Cancel and SendFailed leave a due minute alone. So Open and
-- Resend call it after their budgets, Resend after its challenge's update.
CREATE OR REPLACE FUNCTION sms2fa_prefix_forget(p_prefix TEXT)
RETURNS VOID
LANGUAGE sql AS $$
    DELETE FROM sms2fa_prefix_flight WHERE prefix = p_prefix;
$$;

-- sms2fa_prefix_quiet says, in one read and without a call of the judge,
-- that a send to p_prefix has nothing to judge: the prefix has a row, no
-- minute of its flight is due, no block is in force, and neither window
-- holds p_min sends — so the judge would write nothing and refuse nothing.
-- Most sends, most of the time. (NULL, not quiet, when the prefix has no
-- row: the judge makes it.)
CREATE OR REPLACE FUNCTION sms2fa_prefix_quiet(p_prefix TEXT, p_now BIGINT, p_min INTEGER)
RETURNS BOOLEAN
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL, not SQL: its plan is kept per connection, where a SQL
    -- function's body (not inlinable: it reads a table) is planned anew on
    -- every call.
    RETURN COALESCE((
        SELECT (p.allowed <> 0 OR p.blocked_until <= p_now)
               AND p.hour_sends + p.hour_prev_sends < p_min AND p.day_sends + p.day_prev_sends < p_min
               AND NOT EXISTS (SELECT 1 FROM sms2fa_prefix_flight AS fl
                               WHERE fl.prefix = p_prefix AND fl.ends_at <= p_now - 60000)
        FROM sms2fa_prefixes AS p WHERE p.prefix = p_prefix), false);
END
$$;

-- sms2fa_open is Store.Open, version 6's with the prefix block: after the
-- lock and factor checks and the live challenge, before the budgets, the
-- send's prefix (p_prefix, '' for none) is judged. o_outcome adds
--   prefix_blocked  the prefix is blocked and this number is not known good
--                   for the user: nothing was sent (the judging's counts
--                   stay)
-- and o_prefix_* report a block in force (o_prefix_state 'blocked' or
-- 'refused'), with any outcome after the judging. A challenge created
-- joins its prefix's flight. Version 6's signature
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
    IF p_prefix <> '' AND NOT sms2fa_prefix_quiet(p_prefix, o_now, p_pmin) THEN
        SELECT j.o_state, j.o_until, j.o_started, j.o_window, j.o_sends, j.o_verified, j.o_blocks
        INTO o_prefix_state, o_prefix_until, o_prefix_started, o_prefix_window, o_prefix_sends, o_prefix_verified,
             o_prefix_blocks
        FROM sms2fa_prefix_judge(o_now, p_prefix, p_pmode, p_pmin, p_pppm, p_pfor_ns, p_pmax_ns, p_user, p_phone,
                                 p_known_ms) AS j;
        IF o_prefix_state = 'refused' THEN
            IF o_prefix_started THEN
                PERFORM sms2fa_prefix_forget(p_prefix);
            END IF;
            o_outcome := 'prefix_blocked';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_prefix_started THEN
        PERFORM sms2fa_prefix_forget(p_prefix);
    END IF;
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
    IF p_prefix <> '' THEN
        INSERT INTO sms2fa_prefix_flight AS fl (prefix, ends_at, sends)
        VALUES (p_prefix, (o_now + p_ttl_ms + 59999) / 60000 * 60000, 1)
        ON CONFLICT (prefix, ends_at) DO UPDATE SET sends = fl.sends + 1;
    END IF;
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
-- prefix_blocked, columns o_prefix_*). The new code counts against the
-- prefix it was judged under (p_prefix, recorded on the challenge for its
-- verify). Version 7's signature stays, for a rolling deploy: it counts no
-- prefix, and a code it replaces is judged unverified at its own expiry.
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
    IF p_prefix <> '' AND NOT sms2fa_prefix_quiet(p_prefix, o_now, p_pmin) THEN
        SELECT j.o_state, j.o_until, j.o_started, j.o_window, j.o_sends, j.o_verified, j.o_blocks
        INTO o_prefix_state, o_prefix_until, o_prefix_started, o_prefix_window, o_prefix_sends, o_prefix_verified,
             o_prefix_blocks
        FROM sms2fa_prefix_judge(o_now, p_prefix, p_pmode, p_pmin, p_pppm, p_pfor_ns, p_pmax_ns, p_user, c_phone,
                                 p_known_ms) AS j;
        IF o_prefix_state = 'refused' THEN
            IF o_prefix_started THEN
                PERFORM sms2fa_prefix_forget(p_prefix);
            END IF;
            o_outcome := 'prefix_blocked';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT t.o_budget, t.o_until INTO o_budget, o_until
    FROM sms2fa_take_budgets(o_now, p_names, p_keys, p_windows, p_limits) AS t;
    IF o_budget <> '' THEN
        IF o_prefix_started THEN
            PERFORM sms2fa_prefix_forget(p_prefix);
        END IF;
        o_outcome := 'budget';
        RETURN NEXT;
        RETURN;
    END IF;

    WHILE v_i < c_sends + 1 AND v_wait < 86400000000000 LOOP
        v_wait := v_wait * 2;
        v_i := v_i + 1;
    END LOOP;
    -- The new code counts against the prefix this send was judged under,
    -- in its minute; the replaced one stays in its own.
    UPDATE sms2fa_challenges AS ch
    SET code_mac = p_mac, expires_at = o_now + p_ttl_ms, sends = ch.sends + 1,
        next_send_at = o_now + LEAST(v_wait, 86400000000000) / 1000000, send_failed = 0, prefix = p_prefix
    WHERE ch.id = p_id AND ch.consumed_at = 0
    RETURNING ch.expires_at, ch.sends, ch.next_send_at, ch.send_failed
    INTO c_expires_at, c_sends, c_next_send_at, c_send_failed;
    -- After the challenge's lock, as SendFailed takes the two.
    IF o_prefix_started THEN
        PERFORM sms2fa_prefix_forget(p_prefix);
    END IF;
    IF p_prefix <> '' THEN
        INSERT INTO sms2fa_prefix_flight AS fl (prefix, ends_at, sends)
        VALUES (p_prefix, (c_expires_at + 59999) / 60000 * 60000, 1)
        ON CONFLICT (prefix, ends_at) DO UPDATE SET sends = fl.sends + 1;
    END IF;
    o_outcome := 'resent';
    RETURN NEXT;
END
$$;

-- sms2fa_verify is Store.Verify, version 8's with the prefix block's
-- counting: a right code marks its send verified in its prefix's flight,
-- and records its number as known good for the user (in the update that
-- resets the failures). Same signature: it replaces version 8's.
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
    v_prefix   TEXT;
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
      ch.expires_at, ch.attempts, ch.max_attempts, ch.sends, ch.next_send_at, ch.send_failed, ch.consumed_at, ch.prefix
    INTO c_id, c_user_id, c_flow, c_grant_id, c_phone, c_region, c_created_at,
      c_expires_at, c_attempts, c_max_attempts, c_sends, c_next_send_at, c_send_failed, c_consumed_at, v_prefix;
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
        -- The failures start over, and the number is known good for the
        -- user (the prefix block): one statement, which writes only when
        -- one of them changes — the known time at most hourly.
        UPDATE sms2fa_users SET failures = 0, locks = 0, locked_until = 0, known_phone = c_phone, known_at = o_now,
          updated_at = o_now
        WHERE user_id = p_user
          AND (failures <> 0 OR locks <> 0 OR known_phone <> c_phone OR known_at < o_now - 3600000);
        -- The send converted: counted in its minute of flight.
        IF v_prefix <> '' THEN
            UPDATE sms2fa_prefix_flight SET verified = verified + 1
            WHERE prefix = v_prefix AND ends_at = (c_expires_at + 59999) / 60000 * 60000;
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
VALUES (11, (extract(epoch FROM now()) * 1000)::BIGINT)
ON CONFLICT (version) DO NOTHING;
