-- E-supervision (电子监察): yellow and red cards (黄牌/红牌) issued
-- automatically as cases cross their thresholds and by supervisors by
-- hand, revoked by supervisors, answered by departments; and the daily
-- figures the statistics add up.
--
-- Working-day arithmetic stays in the module: the timer passes "today"
-- (China's date on nginx's clock) and govsvc_yellow_days in, so that a
-- shifted clock shifts the cards too.

CREATE TABLE cards (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no        char(20) NOT NULL REFERENCES cases (case_no),
    -- the case's, copied: statistics filter cards by them
    department     bigint NOT NULL REFERENCES departments (id),
    item_code      text NOT NULL REFERENCES items (code),
    color          text NOT NULL CHECK (color IN ('yellow', 'red')),
    source         text NOT NULL CHECK (source IN ('auto', 'manual')),
    reason         text NOT NULL CHECK (reason <> ''),
    issued_by      bigint REFERENCES users (id),   -- NULL: the timer
    issued_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_by     bigint REFERENCES users (id),
    revoke_reason  text,
    response       text,
    responded_by   bigint REFERENCES users (id),
    responded_at   timestamptz,
    CHECK ((source = 'auto') = (issued_by IS NULL)),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((response IS NULL) = (responded_at IS NULL))
);

-- At most one automatic card per case and colour, ever (a revoked one
-- included: the supervisor's decision stands).  Two timers, of two
-- workers or two nginx instances, cannot both insert one.
CREATE UNIQUE INDEX cards_auto_once_idx ON cards (case_no, color)
    WHERE source = 'auto';
CREATE INDEX cards_case_idx ON cards (case_no, id);
CREATE INDEX cards_department_idx ON cards (department, id);
-- statistics: issued and revoked per department and period
CREATE INDEX cards_issued_idx ON cards (department, issued_at)
    INCLUDE (item_code);
CREATE INDEX cards_revoked_idx ON cards (department, revoked_at)
    INCLUDE (item_code) WHERE revoked_at IS NOT NULL;

-- The region prefix a supervisor of region r sees: the province's first
-- two digits, a city's four, a county's six (as core/gs_region).
CREATE FUNCTION govsvc_region_prefix(r text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN r LIKE '__0000' THEN left(r, 2)
                WHEN r LIKE '____00' THEN left(r, 4)
                ELSE r END
$$;

-- Whether the user is an active supervisor whose region covers p_region.
CREATE FUNCTION govsvc_supervises(p_actor bigint, p_region text)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM users u
                   JOIN departments d ON d.id = u.department
                   WHERE u.id = p_actor AND u.active
                     AND 'supervisor' = ANY (u.roles)
                     AND p_region LIKE govsvc_region_prefix(d.region) || '%')
$$;

-- A card as the API shows it.
CREATE FUNCTION govsvc_card_json(k cards) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', k.id,
        'case_no', k.case_no,
        'project_name', c.project_name,
        'item', json_build_object('code', i.code, 'name', i.name),
        'department', json_build_object('id', d.id, 'name', d.name),
        'region', d.region,
        'color', k.color,
        'source', k.source,
        'reason', k.reason,
        'issued_by', (SELECT json_build_object('id', u.id, 'name', u.name)
                      FROM users u WHERE u.id = k.issued_by),
        'issued_at', govsvc_time(k.issued_at),
        'status', CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                       WHEN k.response IS NOT NULL THEN 'answered'
                       ELSE 'open' END,
        'revoked_at', govsvc_time(k.revoked_at),
        'revoked_by', (SELECT json_build_object('id', u.id, 'name', u.name)
                       FROM users u WHERE u.id = k.revoked_by),
        'revoke_reason', k.revoke_reason,
        'response', k.response,
        'responded_by', (SELECT json_build_object('id', u.id, 'name', u.name)
                         FROM users u WHERE u.id = k.responded_by),
        'responded_at', govsvc_time(k.responded_at))
    FROM cases c, items i, departments d
    WHERE c.case_no = k.case_no AND i.code = c.item_code
      AND d.id = k.department
$$;

-- A text member of a body: 1 to 2000 characters, not blank; or a refusal
-- naming it.
CREATE FUNCTION govsvc_card_text(p_body jsonb, p_field text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(p_body->p_field) IS DISTINCT FROM 'string'
       OR btrim(p_body->>p_field) = '' OR length(p_body->>p_field) > 2000
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'a text of 1 to 2000 characters is needed',
                              p_field);
    END IF;
    RETURN p_body->>p_field;
END
$$;

-- What every card event writes besides the card: its audit entry and its
-- outbox event, in the caller's transaction.
CREATE FUNCTION govsvc_card_event(k cards, p_event text, p_actor bigint,
                                  p_username text, p_address text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'card.' || p_event, 'card:' || k.id,
        jsonb_strip_nulls(jsonb_build_object('case_no', k.case_no,
            'color', k.color, 'source', k.source,
            'reason', CASE p_event WHEN 'revoke' THEN k.revoke_reason
                                   WHEN 'issue' THEN k.reason END)));
    PERFORM govsvc_outbox_append(c.node, 'card.' || p_event, k.case_no,
        jsonb_strip_nulls(jsonb_build_object('id', k.id,
            'department', k.department, 'color', k.color,
            'source', k.source, 'reason', k.reason,
            'issued_at', k.issued_at, 'revoked_at', k.revoked_at,
            'revoke_reason', k.revoke_reason, 'response', k.response,
            'responded_at', k.responded_at)))
    FROM cases c WHERE c.case_no = k.case_no;
END
$$;


-- The timer's run: every open case (in progress or suspended) whose
-- level on p_today is yellow or red gets its automatic yellow card, and a
-- red one its red card too (a case that went red while the timer was off
-- crossed the yellow threshold as well), each once; one transaction with
-- an audit entry and an outbox event per card.  The advisory lock keeps
-- two instances from doing the same work at once (the second returns
-- skipped); the unique index makes a card issued twice impossible anyway.
-- At most 1000 cards a run, most overdue first (about half a second): a
-- backlog (the timer off for long, a first run over many cases) drains
-- over a few runs, each well within the statement timeout.
CREATE FUNCTION govsvc_cards_auto(p_today date, p_yellow int,
                                  OUT issued int, OUT skipped boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k cards;
    yb date;
BEGIN
    issued := 0;
    skipped := NOT pg_try_advisory_xact_lock(hashtext('govsvc_cards_auto'));
    IF skipped THEN
        RETURN;
    END IF;

    -- a paused case is yellow only before govsvc_working_day(paused
    -- since, p_yellow + 1), which is never after yb: due_date < yb
    -- bounds every candidate and lets cases_open_due_idx find them
    yb := govsvc_working_day(p_today, p_yellow + 1);

    FOR k IN
        INSERT INTO cards (case_no, department, item_code, color, source,
                           reason)
        SELECT o.case_no, o.department, o.item_code, col.color, 'auto',
               CASE col.color
                   WHEN 'yellow' THEN '预警：距承诺办结期限 ' || o.due_date
                                     || ' 剩余不超过 ' || p_yellow
                                     || ' 个工作日（黄牌）'
                   ELSE '超期：已超过承诺办结期限 ' || o.due_date
                        || '（红牌）' END
        FROM (SELECT c.case_no, c.department, c.item_code, c.due_date,
                     govsvc_level(c.due_date, c.paused_since, p_today,
                                  p_yellow, yb) AS level
              FROM cases c
              WHERE c.state IN ('in_progress', 'suspended')
                AND c.due_date < yb) o,
             LATERAL (VALUES ('yellow'), ('red')) AS col (color)
        WHERE o.level IN ('yellow', 'red')
          AND (col.color = 'yellow' OR o.level = 'red')
          AND NOT EXISTS (SELECT 1 FROM cards x
                          WHERE x.case_no = o.case_no
                            AND x.color = col.color AND x.source = 'auto')
        ORDER BY o.due_date, o.case_no, col.color DESC
        LIMIT 1000
        ON CONFLICT (case_no, color) WHERE source = 'auto' DO NOTHING
        RETURNING *
    LOOP
        PERFORM govsvc_card_event(k, 'issue', NULL, 'system', '-');
        issued := issued + 1;
    END LOOP;
END
$$;

-- A supervisor of a region covering the case's department issues a card.
CREATE FUNCTION govsvc_card_issue(p_case_no text, p_body jsonb,
                                  p_actor bigint, p_username text,
                                  p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    k cards;
BEGIN
    SELECT * INTO c FROM cases
        WHERE case_no = p_case_no AND state <> 'deleted';
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such case');
    END IF;
    IF NOT govsvc_supervises(p_actor, (SELECT region FROM departments
                                       WHERE id = c.department))
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the case is outside your region');
    END IF;
    IF jsonb_typeof(p_body->'color') IS DISTINCT FROM 'string'
       OR p_body->>'color' NOT IN ('yellow', 'red')
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed', 'yellow or red',
                              'color');
    END IF;

    INSERT INTO cards (case_no, department, item_code, color, source,
                       reason, issued_by)
        VALUES (c.case_no, c.department, c.item_code, p_body->>'color',
                'manual',
                govsvc_card_text(p_body, 'reason'), p_actor)
        RETURNING * INTO k;

    PERFORM govsvc_card_event(k, 'issue', p_actor, p_username, p_address);
    RETURN govsvc_card_json(k);
END
$$;

-- A supervisor of the card's region revokes it, with a reason, once.
CREATE FUNCTION govsvc_card_revoke(p_id bigint, p_body jsonb,
                                   p_actor bigint, p_username text,
                                   p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    k cards;
BEGIN
    SELECT x.* INTO k FROM cards x JOIN cases c ON c.case_no = x.case_no
        WHERE x.id = p_id AND c.state <> 'deleted' FOR UPDATE OF x;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such card');
    END IF;
    IF NOT govsvc_supervises(p_actor, (SELECT region FROM departments
                                       WHERE id = k.department))
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the card is outside your region');
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the card was revoked already');
    END IF;

    UPDATE cards SET revoked_at = now(), revoked_by = p_actor,
           revoke_reason = govsvc_card_text(p_body, 'reason')
        WHERE id = k.id
        RETURNING * INTO k;

    PERFORM govsvc_card_event(k, 'revoke', p_actor, p_username, p_address);
    RETURN govsvc_card_json(k);
END
$$;

-- The card's department answers it (整改说明), once; a revoked card
-- needs no answer.
CREATE FUNCTION govsvc_card_respond(p_id bigint, p_body jsonb,
                                    p_actor bigint, p_username text,
                                    p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    k cards;
BEGIN
    SELECT x.* INTO k FROM cards x JOIN cases c ON c.case_no = x.case_no
        WHERE x.id = p_id AND c.state <> 'deleted' FOR UPDATE OF x;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such card');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users
                   WHERE id = p_actor AND department = k.department)
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the card is for another department');
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the card was revoked');
    END IF;
    IF k.response IS NOT NULL THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the card was answered already');
    END IF;

    UPDATE cards SET response = govsvc_card_text(p_body, 'content'),
           responded_by = p_actor, responded_at = now()
        WHERE id = k.id
        RETURNING * INTO k;

    PERFORM govsvc_card_event(k, 'respond', p_actor, p_username, p_address);
    RETURN govsvc_card_json(k);
END
$$;

-- Whether an open case's current step has run over its own limit on
-- p_today: core/gs_deadline's rule (the clock date after step days +
-- step_paused_days working days from the day the step started; a step
-- of 0 days, or "complete", has none).  working_day(d, n) is never
-- before d + n, which spares the calendar for most cases.
CREATE FUNCTION govsvc_step_overdue(c cases, p_today date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT CASE
            WHEN l.days IS NULL OR l.days <= 0 THEN false
            WHEN l.started + l.days + c.step_paused_days
                 >= coalesce(c.paused_since, p_today) THEN false
            ELSE coalesce(c.paused_since, p_today)
                 > govsvc_working_day(l.started,
                                      l.days + c.step_paused_days) END
        FROM (SELECT (s->>'days')::int AS days,
                     (c.step_started_at AT TIME ZONE 'Asia/Shanghai')::date
                     AS started
              FROM items i, jsonb_array_elements(i.steps) s
              WHERE i.code = c.item_code AND s->>'code' = c.step
              LIMIT 1) l
        WHERE c.state IN ('in_progress', 'suspended')
          AND c.step_started_at IS NOT NULL), false)
$$;

-- ---- statistics -------------------------------------------------------------
--
-- A case's figures are kept per department, item and day (China's date)
-- as they happen, so that a period of any length over a million cases is
-- a sum of a few rows per department and day: statement-level triggers
-- on cases and evaluations add what a statement changed (new rows minus
-- old ones).  The upserts come before the audit entry of the transaction
-- that makes them, whose advisory lock orders writers anyway.

-- The working-day calendar as two arrays: the days that break the
-- weekday rule (a holiday on a weekday, a working weekend day) after a
-- first '-infinity', and the running sum of their effect (+1 or -1), so
-- that govsvc_wdi() finds a day's place with width_bucket().
CREATE FUNCTION govsvc_calendar_marks(OUT days date[], OUT cum int[])
LANGUAGE sql STABLE AS $$
    SELECT '{-infinity}'::date[] || coalesce(array_agg(m.day ORDER BY m.day),
                                             '{}'),
           '{0}'::int[] || coalesce(array_agg(m.total ORDER BY m.day), '{}')
    FROM (SELECT k.day,
                 sum(CASE WHEN k.kind = 'workday' THEN 1 ELSE -1 END)
                     OVER (ORDER BY k.day)::int AS total
          FROM calendar_days k
          WHERE (k.kind = 'workday') = (extract(isodow FROM k.day) > 5)) m
$$;

-- A day's working-day index: the working days from 1970-01-05 (a Monday)
-- to d, both counted.  The working days in (a, b] are wdi(b) - wdi(a),
-- by core/gs_calendar's rule (Monday to Friday, minus holidays, plus
-- working weekend days).
CREATE FUNCTION govsvc_wdi(d date, days date[], cum int[]) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((d - date '1970-01-05') / 7) * 5
           + least((d - date '1970-01-05') % 7, 4) + 1
           + cum[width_bucket(d, days)]
$$;

CREATE TABLE stats_cases_daily (
    department    bigint NOT NULL,
    day           date NOT NULL,
    item_code     text NOT NULL,
    accepted      integer NOT NULL DEFAULT 0,  -- accepted that day
    rejected      integer NOT NULL DEFAULT 0,  -- 不予受理 that day
    -- ended that day (completed, voided, deleted) by result code
    completed_0   integer NOT NULL DEFAULT 0,
    completed_1   integer NOT NULL DEFAULT 0,
    completed_2   integer NOT NULL DEFAULT 0,
    completed_3   integer NOT NULL DEFAULT 0,
    completed_4   integer NOT NULL DEFAULT 0,
    completed_5   integer NOT NULL DEFAULT 0,
    completed_6   integer NOT NULL DEFAULT 0,
    -- completed that day with a due date, and on or before it
    timed         integer NOT NULL DEFAULT 0,
    on_time       integer NOT NULL DEFAULT 0,
    -- completed that day after an acceptance, and the working days from
    -- acceptance to completion they took together
    spans         integer NOT NULL DEFAULT 0,
    span_days     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (department, day, item_code)
);

CREATE TABLE stats_ratings_daily (
    department    bigint NOT NULL,
    day           date NOT NULL,
    item_code     text NOT NULL,
    good          integer NOT NULL DEFAULT 0,  -- 1 and 2
    neutral       integer NOT NULL DEFAULT 0,  -- 3
    bad           integer NOT NULL DEFAULT 0,  -- 4 and 5
    PRIMARY KEY (department, day, item_code)
);

-- What a case adds to the daily figures (s = 1), or takes back (s = -1).
CREATE FUNCTION govsvc_stats_case_rows(c cases, s int, days date[],
                                       cum int[])
RETURNS SETOF stats_cases_daily
LANGUAGE sql IMMUTABLE AS $$
    SELECT c.department, x.a, c.item_code, s, 0, 0, 0, 0, 0, 0, 0, 0,
           0, 0, 0, 0::bigint
    FROM (SELECT (c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS a) x
    WHERE x.a IS NOT NULL
    UNION ALL
    SELECT c.department, x.e, c.item_code, 0,
           CASE WHEN c.state = 'rejected' THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 0 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 1 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 2 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 3 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 4 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 5 THEN s ELSE 0 END,
           CASE WHEN x.ended AND c.result_code = 6 THEN s ELSE 0 END,
           CASE WHEN x.done AND c.due_date IS NOT NULL THEN s ELSE 0 END,
           CASE WHEN x.done AND x.e <= c.due_date THEN s ELSE 0 END,
           CASE WHEN x.done AND x.a IS NOT NULL THEN s ELSE 0 END,
           CASE WHEN x.done AND x.a IS NOT NULL
                THEN s * (govsvc_wdi(x.e, days, cum)
                          - govsvc_wdi(x.a, days, cum))
                ELSE 0 END
    FROM (SELECT (c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS a,
                 (c.completed_at AT TIME ZONE 'Asia/Shanghai')::date AS e,
                 c.state IN ('completed', 'voided', 'deleted') AS ended,
                 c.state = 'completed' AS done) x
    WHERE x.e IS NOT NULL
      AND c.state IN ('rejected', 'completed', 'voided', 'deleted')
$$;

-- What an evaluation adds to (s = 1) or takes back from (s = -1) its
-- case's department and item on the day it was given.
CREATE FUNCTION govsvc_stats_rating_rows(e evaluations, s int)
RETURNS SETOF stats_ratings_daily
LANGUAGE sql STABLE AS $$
    SELECT c.department, (e.created_at AT TIME ZONE 'Asia/Shanghai')::date,
           c.item_code,
           CASE WHEN e.score <= 2 THEN s ELSE 0 END,
           CASE WHEN e.score = 3 THEN s ELSE 0 END,
           CASE WHEN e.score >= 4 THEN s ELSE 0 END
    FROM cases c WHERE c.case_no = e.case_no
$$;

-- Adds changes (rows shaped like the table's, any number per key) to
-- the daily figures: summed per key, in key order so that two writers
-- never wait for each other crosswise, keys whose sums are all zero left
-- alone.
CREATE FUNCTION govsvc_stats_cases_add(p_rows stats_cases_daily[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stats_cases_daily AS t
    SELECT department, day, item_code, sum(accepted), sum(rejected),
           sum(completed_0), sum(completed_1), sum(completed_2),
           sum(completed_3), sum(completed_4), sum(completed_5),
           sum(completed_6), sum(timed), sum(on_time), sum(spans),
           sum(span_days)
    FROM unnest(p_rows)
    GROUP BY department, day, item_code
    HAVING (sum(accepted), sum(rejected), sum(completed_0),
            sum(completed_1), sum(completed_2), sum(completed_3),
            sum(completed_4), sum(completed_5), sum(completed_6),
            sum(timed), sum(on_time), sum(spans), sum(span_days))
           <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY department, day, item_code
    ON CONFLICT (department, day, item_code) DO UPDATE SET
        accepted = t.accepted + excluded.accepted,
        rejected = t.rejected + excluded.rejected,
        completed_0 = t.completed_0 + excluded.completed_0,
        completed_1 = t.completed_1 + excluded.completed_1,
        completed_2 = t.completed_2 + excluded.completed_2,
        completed_3 = t.completed_3 + excluded.completed_3,
        completed_4 = t.completed_4 + excluded.completed_4,
        completed_5 = t.completed_5 + excluded.completed_5,
        completed_6 = t.completed_6 + excluded.completed_6,
        timed = t.timed + excluded.timed,
        on_time = t.on_time + excluded.on_time,
        spans = t.spans + excluded.spans,
        span_days = t.span_days + excluded.span_days
$$;

CREATE FUNCTION govsvc_stats_ratings_add(p_rows stats_ratings_daily[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stats_ratings_daily AS t
    SELECT department, day, item_code, sum(good), sum(neutral), sum(bad)
    FROM unnest(p_rows)
    GROUP BY department, day, item_code
    HAVING (sum(good), sum(neutral), sum(bad)) <> (0, 0, 0)
    ORDER BY department, day, item_code
    ON CONFLICT (department, day, item_code) DO UPDATE SET
        good = t.good + excluded.good,
        neutral = t.neutral + excluded.neutral,
        bad = t.bad + excluded.bad
$$;

-- The triggers.  Inserts are counted per statement (a bulk load of a
-- million cases is one aggregate, reduced per key before it is passed
-- on); a registration, which counts nothing yet, costs one look at the
-- new row.  Updates and deletes are counted per row, and only when a
-- column counted changed (the WHEN of the trigger, checked without a
-- call): a version bump costs nothing.  The calendar is read only for a
-- completed case, whose working days are counted.
CREATE FUNCTION govsvc_stats_cases_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    days date[];
    cum int[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows
                   WHERE accepted_at IS NOT NULL OR completed_at IS NOT NULL)
    THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows WHERE state = 'completed') THEN
        SELECT m.days, m.cum INTO days, cum FROM govsvc_calendar_marks() m;
    END IF;

    PERFORM govsvc_stats_cases_add(ARRAY(
        SELECT ROW(x.department, x.day, x.item_code, sum(x.accepted),
                   sum(x.rejected), sum(x.completed_0), sum(x.completed_1),
                   sum(x.completed_2), sum(x.completed_3),
                   sum(x.completed_4), sum(x.completed_5),
                   sum(x.completed_6), sum(x.timed), sum(x.on_time),
                   sum(x.spans), sum(x.span_days))::stats_cases_daily
        FROM new_rows n, LATERAL govsvc_stats_case_rows(n, 1, days, cum) x
        GROUP BY x.department, x.day, x.item_code));
    RETURN NULL;
END
$$;

CREATE FUNCTION govsvc_stats_case_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    days date[];
    cum int[];
BEGIN
    IF OLD.state = 'completed'
       OR (TG_OP = 'UPDATE' AND NEW.state = 'completed')
    THEN
        SELECT m.days, m.cum INTO days, cum FROM govsvc_calendar_marks() m;
    END IF;

    -- NEW is NULL for a delete: it adds nothing
    PERFORM govsvc_stats_cases_add(ARRAY(
        SELECT x FROM govsvc_stats_case_rows(OLD, -1, days, cum) x
        UNION ALL
        SELECT x FROM govsvc_stats_case_rows(NEW, 1, days, cum) x));
    RETURN NULL;
END
$$;

CREATE FUNCTION govsvc_stats_ratings_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM govsvc_stats_ratings_add(ARRAY(
        SELECT ROW(x.department, x.day, x.item_code, sum(x.good),
                   sum(x.neutral), sum(x.bad))::stats_ratings_daily
        FROM new_rows n, LATERAL govsvc_stats_rating_rows(n, 1) x
        GROUP BY x.department, x.day, x.item_code));
    RETURN NULL;
END
$$;

CREATE FUNCTION govsvc_stats_rating_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM govsvc_stats_ratings_add(ARRAY(
        SELECT x FROM govsvc_stats_rating_rows(OLD, -1) x
        UNION ALL
        SELECT x FROM govsvc_stats_rating_rows(NEW, 1) x));
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_stats_insert AFTER INSERT ON cases
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_stats_cases_inserted();
CREATE TRIGGER cases_stats_update AFTER UPDATE ON cases
    FOR EACH ROW
    WHEN ((OLD.department, OLD.item_code, OLD.state, OLD.result_code,
           OLD.accepted_at, OLD.completed_at, OLD.due_date)
          IS DISTINCT FROM
          (NEW.department, NEW.item_code, NEW.state, NEW.result_code,
           NEW.accepted_at, NEW.completed_at, NEW.due_date))
    EXECUTE FUNCTION govsvc_stats_case_changed();
CREATE TRIGGER cases_stats_delete AFTER DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION govsvc_stats_case_changed();
CREATE TRIGGER evaluations_stats_insert AFTER INSERT ON evaluations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_stats_ratings_inserted();
CREATE TRIGGER evaluations_stats_update AFTER UPDATE ON evaluations
    FOR EACH ROW
    WHEN ((OLD.case_no, OLD.score, OLD.created_at)
          IS DISTINCT FROM (NEW.case_no, NEW.score, NEW.created_at))
    EXECUTE FUNCTION govsvc_stats_rating_changed();
CREATE TRIGGER evaluations_stats_delete AFTER DELETE ON evaluations
    FOR EACH ROW EXECUTE FUNCTION govsvc_stats_rating_changed();

-- the figures of what was there before this migration
INSERT INTO stats_cases_daily
SELECT x.department, x.day, x.item_code, sum(x.accepted), sum(x.rejected),
       sum(x.completed_0), sum(x.completed_1), sum(x.completed_2),
       sum(x.completed_3), sum(x.completed_4), sum(x.completed_5),
       sum(x.completed_6), sum(x.timed), sum(x.on_time), sum(x.spans),
       sum(x.span_days)
FROM cases c, govsvc_calendar_marks() m,
     LATERAL govsvc_stats_case_rows(c, 1, m.days, m.cum) x
GROUP BY x.department, x.day, x.item_code;
INSERT INTO stats_ratings_daily
SELECT x.department, x.day, x.item_code, sum(x.good), sum(x.neutral),
       sum(x.bad)
FROM evaluations e, LATERAL govsvc_stats_rating_rows(e, 1) x
GROUP BY x.department, x.day, x.item_code;
