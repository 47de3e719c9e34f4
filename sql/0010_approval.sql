-- Approval (办件审批), completion (办结) and abnormal cases (异常办结):
-- the remaining actions, special procedures, the extension, the stored due
-- date that moves with them, and what the worklists and the unified query
-- read.
--
-- Working-day arithmetic stays in the module (core/gs_deadline): it
-- computes the dates an action needs and passes them in p_dates; these
-- functions store them.  The one exception is govsvc_working_day(), which
-- lists need to filter and order by level inside a statement.

ALTER TABLE cases
    ADD COLUMN due_date         date,
    ADD COLUMN step_role        text,
    ADD COLUMN step_started_at  timestamptz,
    ADD COLUMN step_paused_days integer NOT NULL DEFAULT 0,
    ADD COLUMN paused_since     date,
    ADD COLUMN extended_days    integer,
    ADD COLUMN licence_no       text,
    ADD COLUMN valid_until      date,
    ADD COLUMN completed_at     timestamptz,
    ADD COLUMN ended_reason     text;

-- the role that acts on a step of an item: the chain's own, or the
-- clerk's at "complete"
CREATE FUNCTION govsvc_step_role(p_item text, p_step text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_step IS NULL THEN NULL
                ELSE coalesce((SELECT s->>'role'
                               FROM items i, jsonb_array_elements(i.steps) s
                               WHERE i.code = p_item AND s->>'code' = p_step
                               LIMIT 1), 'clerk') END
$$;

UPDATE cases SET due_date = promised_date,
       step_role = govsvc_step_role(item_code, step),
       step_started_at = accepted_at
    WHERE state IN ('in_progress', 'suspended');

-- 待办: the cases at a step a role of a department acts on, most urgent
-- first; the index answers a page without reading the backlog.
CREATE INDEX cases_todo_idx ON cases (department, step_role, due_date,
                                      case_no)
    WHERE state IN ('in_progress', 'suspended');

-- the unified query: newest first within a department, and by date
CREATE INDEX cases_department_no_idx ON cases (department, case_no);
CREATE INDEX cases_received_idx ON cases (received_at);
CREATE INDEX cases_open_due_idx ON cases (due_date)
    WHERE state IN ('in_progress', 'suspended');

-- abnormal cases: drafts by age, corrections by deadline
CREATE INDEX cases_abnormal_idx ON cases (department,
    (coalesce(resubmitted_at, received_at)))
    WHERE state IN ('draft', 'correction');

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cases_search_idx ON cases USING gin (
    (project_name || ' ' || (applicant->>'name')) gin_trgm_ops);

-- 已办: the cases a user acted on, by their last action; one row per user
-- and case, so that a page reads no history.
CREATE TABLE worklist_done (
    actor         bigint NOT NULL REFERENCES users (id),
    case_no       char(20) NOT NULL REFERENCES cases (case_no),
    last_opinion  bigint NOT NULL,
    PRIMARY KEY (actor, case_no)
);

CREATE INDEX worklist_done_actor_idx ON worklist_done (actor, last_opinion);

INSERT INTO worklist_done (actor, case_no, last_opinion)
    SELECT actor, case_no, max(id) FROM case_opinions
    GROUP BY actor, case_no;

-- 特别程序 (Art.45): days is what the notice announced, taken_days the
-- working days it really took, by which the due date moved.
CREATE TABLE special_procedures (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no       char(20) NOT NULL REFERENCES cases (case_no),
    step          text NOT NULL,
    procedure     text NOT NULL,
    reason        text NOT NULL,
    days          integer NOT NULL,
    notice_no     text NOT NULL REFERENCES notices (notice_no),
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    taken_days    integer,
    result        text
);

CREATE UNIQUE INDEX special_procedures_running_idx
    ON special_procedures (case_no) WHERE ended_at IS NULL;
CREATE INDEX special_procedures_case_idx ON special_procedures (case_no, id);

-- The procedures of Art.45 and their printed names.
CREATE FUNCTION govsvc_procedure_name(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_code
        WHEN 'hearing' THEN '听证'
        WHEN 'tendering' THEN '招标'
        WHEN 'auction' THEN '拍卖'
        WHEN 'inspection' THEN '检验'
        WHEN 'testing' THEN '检测'
        WHEN 'quarantine' THEN '检疫'
        WHEN 'appraisal' THEN '鉴定'
        WHEN 'expert_review' THEN '专家评审'
        WHEN 'survey' THEN '现场勘验'
    END
$$;

-- The n-th working day after d (n >= 1) on the calendar table: lists
-- order and filter by level with it.  The rule is core/gs_calendar's; a
-- test holds the two equal.
CREATE FUNCTION govsvc_working_day(p_from date, p_n int) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT g.d::date
    FROM generate_series(p_from + 1, p_from + 30 + p_n * 3, interval '1 day')
         AS g (d)
    LEFT JOIN calendar_days k ON k.day = g.d::date
    WHERE CASE k.kind WHEN 'holiday' THEN false
                      WHEN 'workday' THEN true
                      ELSE extract(isodow FROM g.d) < 6 END
    ORDER BY g.d
    OFFSET greatest(p_n, 1) - 1 LIMIT 1
$$;

-- The warning level of a case with the given due date, paused or not:
-- red once the clock date is past the due date, yellow while at most
-- p_yellow working days are left.  p_yellow_before is
-- govsvc_working_day(today, p_yellow + 1), computed once per statement.
CREATE FUNCTION govsvc_level(p_due date, p_paused date, p_today date,
                             p_yellow int, p_yellow_before date)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_due IS NULL THEN NULL
        WHEN p_due < coalesce(p_paused, p_today) THEN 'red'
        WHEN p_due < CASE WHEN p_paused IS NULL THEN p_yellow_before
                          ELSE govsvc_working_day(p_paused, p_yellow + 1)
                     END THEN 'yellow'
        ELSE 'normal' END
$$;

-- The calendar exceptions in (a, b], as the module reads them:
-- "YYYY-MM-DDholiday,YYYY-MM-DDworkday,..."
CREATE FUNCTION govsvc_calendar_between(a date, b date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(day::text || kind, ',' ORDER BY day), '')
    FROM calendar_days WHERE day > a AND day <= b
$$;

-- What the module needs for a case's deadline block, and the calendar
-- that covers it.
CREATE FUNCTION govsvc_case_clock(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'state', c.state,
        'received', (coalesce(c.resubmitted_at, c.received_at)
                     AT TIME ZONE 'Asia/Shanghai')::date,
        'due', c.due_date,
        'paused_since', c.paused_since,
        'step_started', (c.step_started_at AT TIME ZONE 'Asia/Shanghai')::date,
        'step_days', (SELECT (s->>'days')::int
                      FROM items i, jsonb_array_elements(i.steps) s
                      WHERE i.code = c.item_code AND s->>'code' = c.step
                      LIMIT 1),
        'step_paused_days', c.step_paused_days,
        'calendar', govsvc_calendar_between(t.first - 1,
                                            greatest(c.due_date, t.today)
                                            + 400))
    FROM (SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date AS today) n,
         LATERAL (SELECT n.today,
                         least(n.today, c.paused_since,
                               (c.step_started_at
                                AT TIME ZONE 'Asia/Shanghai')::date,
                               (coalesce(c.resubmitted_at, c.received_at)
                                AT TIME ZONE 'Asia/Shanghai')::date)
                         AS first) t
$$;


CREATE OR REPLACE FUNCTION govsvc_case_json(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'case_no', c.case_no,
        'item', json_build_object('code', i.code, 'name', i.name),
        'project_name', c.project_name,
        'applicant', c.applicant,
        'form', c.form,
        'materials', (
            SELECT coalesce(json_agg(m.value || jsonb_build_object('files', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'id', f.id, 'name', f.name, 'size', f.size,
                           'sha256', f.sha256, 'content_type',
                           f.content_type) ORDER BY f.id), '[]')
                FROM case_files f
                WHERE f.case_no = c.case_no
                  AND f.material = m.value->>'code'))
                ORDER BY m.ordinality), '[]')
            FROM jsonb_array_elements(c.materials) WITH ORDINALITY m),
        'channel', c.channel,
        'state', c.state,
        'step', c.step,
        'step_role', c.step_role,
        'result', c.result,
        'result_code', c.result_code,
        'department', json_build_object('id', d.id, 'name', d.name),
        'received_at', govsvc_time(c.received_at),
        'accepted_at', govsvc_time(c.accepted_at),
        'promised_date', c.promised_date,
        'completed_at', govsvc_time(c.completed_at),
        'licence', CASE WHEN c.licence_no IS NOT NULL THEN
                       json_build_object('licence_no', c.licence_no,
                                         'valid_until', c.valid_until) END,
        'extension', CASE WHEN c.extended_days IS NOT NULL THEN
                         json_build_object('days', c.extended_days) END,
        'correction', c.correction,
        'opinions', (
            SELECT coalesce(json_agg(json_build_object(
                       'step', o.step, 'action', o.action,
                       'actor', json_build_object('id', u.id,
                                                  'name', u.name),
                       'opinion', o.opinion, 'at', govsvc_time(o.at))
                       ORDER BY o.id), '[]')
            FROM case_opinions o JOIN users u ON u.id = o.actor
            WHERE o.case_no = c.case_no),
        'notices', (
            SELECT coalesce(json_agg(json_build_object(
                       'notice_no', n.notice_no, 'kind', n.kind,
                       'issued_at', govsvc_time(n.issued_at),
                       'sha256', n.sha256)
                       ORDER BY n.issued_at, n.notice_no), '[]')
            FROM notices n WHERE n.case_no = c.case_no),
        'special_procedures', (
            SELECT coalesce(json_agg(json_build_object(
                       'kind', s.procedure, 'reason', s.reason,
                       'started_at', govsvc_time(s.started_at),
                       'ended_at', govsvc_time(s.ended_at),
                       'days', coalesce(s.taken_days, s.days),
                       'result', s.result, 'notice_no', s.notice_no)
                       ORDER BY s.id), '[]')
            FROM special_procedures s WHERE s.case_no = c.case_no),
        'version', c.version)
    FROM items i, departments d
    WHERE i.code = c.item_code AND d.id = c.department
$$;


-- A staff member acting on a case of their department (see 0009); new
-- here: p_role NULL checks the department alone, so that an action can
-- compare the version before the role (the loser of a race that moved the
-- case to another step hears that the case changed, not that it lacks
-- the role).
CREATE OR REPLACE FUNCTION govsvc_case_lock(p_case_no text, p_actor bigint,
                                            p_role text)
RETURNS cases
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    u users;
BEGIN
    SELECT * INTO c FROM cases
        WHERE case_no = p_case_no AND state <> 'deleted' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such case');
    END IF;

    SELECT * INTO u FROM users WHERE id = p_actor;
    IF u.department <> c.department THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the case belongs to another department');
    END IF;

    IF p_role = 'step' THEN
        p_role := coalesce(govsvc_step_role(c.item_code, c.step), 'clerk');
    END IF;

    IF p_role IS NOT NULL AND NOT (p_role = ANY (u.roles)) THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'this needs the role ' || p_role);
    END IF;
    RETURN c;
END
$$;


-- What a notice of kind needs from the body, normalised (see 0009): the
-- special procedure must be one of Art.45's; an approval names its
-- licence only when one is issued, and its validity with it.
CREATE OR REPLACE FUNCTION govsvc_notice_params(p_kind text, p_body jsonb,
                                                p_materials jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f text;
    codes jsonb;
    -- Art.42: an extension is at most 10 working days
    max_days int := CASE p_kind WHEN 'extension' THEN 10 ELSE 365 END;
BEGIN
    FOREACH f IN ARRAY CASE p_kind
            WHEN 'rejection' THEN ARRAY['reason']
            WHEN 'correction' THEN ARRAY['reason']
            WHEN 'special_procedure' THEN ARRAY['procedure', 'reason']
            WHEN 'extension' THEN ARRAY['reason']
            WHEN 'refusal_decision' THEN ARRAY['reason']
            ELSE ARRAY[]::text[] END
    LOOP
        IF jsonb_typeof(p_body->f) IS DISTINCT FROM 'string'
           OR btrim(p_body->>f) = '' OR length(p_body->>f) > 2000
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'a text of 1 to 2000 characters is needed',
                                  f);
        END IF;
    END LOOP;

    CASE p_kind
    WHEN 'acceptance' THEN
        RETURN '{}';
    WHEN 'rejection', 'refusal_decision' THEN
        RETURN jsonb_build_object('reason', p_body->'reason');
    WHEN 'correction' THEN
        IF jsonb_typeof(p_body->'deadline_days') IS DISTINCT FROM 'number'
           OR (p_body->>'deadline_days')::numeric NOT IN (1, 2, 3, 4, 5)
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'the deadline is 1 to 5 working days',
                                  'deadline_days');
        END IF;
        IF jsonb_typeof(p_body->'materials') IS DISTINCT FROM 'array'
           OR jsonb_array_length(p_body->'materials') = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_body->'materials')
                      AS g (code)
                      WHERE jsonb_typeof(g.code) <> 'string'
                         OR NOT EXISTS (SELECT 1
                             FROM jsonb_array_elements(p_materials) m
                             WHERE m->>'code' = g.code #>> '{}'))
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'the materials to correct: codes of the'
                                  ' item''s materials', 'materials');
        END IF;
        SELECT jsonb_agg(DISTINCT g.code ORDER BY g.code) INTO codes
            FROM jsonb_array_elements_text(p_body->'materials') AS g (code);
        RETURN jsonb_build_object('reason', p_body->'reason',
            'deadline_days', (p_body->>'deadline_days')::int,
            'materials', codes);
    WHEN 'special_procedure', 'extension' THEN
        IF p_kind = 'special_procedure'
           AND govsvc_procedure_name(p_body->>'procedure') IS NULL
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'one of hearing, tendering, auction,'
                                  ' inspection, testing, quarantine,'
                                  ' appraisal, expert_review, survey',
                                  'procedure');
        END IF;
        IF jsonb_typeof(p_body->'days') IS DISTINCT FROM 'number'
           OR (p_body->>'days')::numeric
              NOT BETWEEN 1 AND max_days
           OR (p_body->>'days')::numeric <> round((p_body->>'days')::numeric)
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'a whole number of working days', 'days');
        END IF;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'procedure', p_body->'procedure', 'reason', p_body->'reason',
            'days', (p_body->>'days')::int));
    WHEN 'approval_decision' THEN
        IF p_body ? 'licence_no'
           AND (jsonb_typeof(p_body->'licence_no') IS DISTINCT FROM 'string'
                OR btrim(p_body->>'licence_no') = ''
                OR length(p_body->>'licence_no') > 200)
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'a licence number of 1 to 200 characters',
                                  'licence_no');
        END IF;
        IF (p_body ? 'licence_no' OR p_body ? 'valid_until')
           AND (jsonb_typeof(p_body->'valid_until')
                    IS DISTINCT FROM 'string'
                OR (p_body->>'valid_until') !~ '^\d{4}-\d{2}-\d{2}$'
                OR NOT p_body ? 'licence_no')
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'a licence is valid until a date'
                                  ' YYYY-MM-DD', 'valid_until');
        END IF;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'licence_no', p_body->'licence_no',
            'valid_until', p_body->'valid_until'));
    ELSE
        PERFORM govsvc_refuse(422, 'validation_failed', 'no such kind',
                              'kind');
    END CASE;
    RETURN NULL;
END
$$;


-- Issues a notice (see 0009).  New here: an extension once, printing the
-- due date it leads to (p_dates.new_due_date, computed by the module); a
-- special procedure printed with its Chinese name; a decision only for
-- the result the case is heading to when it was returned (退窗).
CREATE OR REPLACE FUNCTION govsvc_notice_issue(p_node char(6),
    p_case_no text, p_kind text, p_body jsonb, p_dates jsonb,
    p_secret jsonb, p_phone text, p_actor bigint, p_username text,
    p_address text)
RETURNS notices
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    i items;
    n notices;
    p jsonb;
    content jsonb;
    lines text;
    role text := CASE p_kind WHEN 'extension' THEN 'approver'
                             WHEN 'special_procedure' THEN 'step'
                             ELSE 'clerk' END;
BEGIN
    c := govsvc_case_lock(p_case_no, p_actor, role);

    IF (p_kind IN ('acceptance', 'rejection', 'correction')
            AND c.state <> 'draft')
       OR (p_kind IN ('special_procedure', 'extension')
            AND (c.state <> 'in_progress' OR c.step = 'complete'))
       OR (p_kind IN ('approval_decision', 'refusal_decision')
            AND (c.state <> 'in_progress' OR c.step <> 'complete'))
       OR (p_kind = 'extension' AND c.extended_days IS NOT NULL)
       OR (p_kind = 'approval_decision' AND c.result = 'refused')
    THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'a ' || p_kind || ' notice does not fit the'
                              || ' case as it is (state ' || c.state
                              || coalesce(', step ' || c.step, '')
                              || coalesce(', extended by '
                                          || c.extended_days || ' days', '')
                              || coalesce(', result ' || c.result, '')
                              || ')');
    END IF;

    SELECT * INTO i FROM items WHERE code = c.item_code;
    p := govsvc_notice_params(p_kind, p_body, c.materials);

    n.notice_no := govsvc_notice_no(p_node, p_kind);

    IF p_kind = 'correction' THEN
        SELECT string_agg(m->>'code' || ' ' || (m->>'name'), E'\n'
                          ORDER BY o)
            INTO lines
            FROM jsonb_array_elements(c.materials) WITH ORDINALITY AS x (m, o)
            WHERE p->'materials' ? (m->>'code');
    END IF;

    content := jsonb_strip_nulls(jsonb_build_object(
        'notice_no', n.notice_no,
        'kind', p_kind,
        'issued_at', govsvc_time(now()),
        'issuer', (SELECT name FROM departments WHERE id = c.department),
        'node', p_node,
        'case_no', c.case_no,
        'item_code', i.code,
        'item_name', i.name,
        'project_name', c.project_name,
        'applicant_name', c.applicant->>'name',
        'applicant_id', left(c.applicant->>'id_no', 6)
                        || repeat('*', greatest(length(c.applicant->>'id_no')
                                                - 10, 0))
                        || right(c.applicant->>'id_no', 4),
        'received_at', govsvc_time(c.received_at),
        'supervision_phone', p_phone,
        'promised_days', CASE p_kind WHEN 'acceptance'
                              THEN i.promised_days::text END,
        'promised_date', CASE p_kind WHEN 'acceptance'
                              THEN p_dates->>'promised_date' END,
        'deadline', CASE p_kind WHEN 'correction'
                         THEN p_dates->>'deadline' END,
        'due_date', CASE WHEN p_kind IN ('special_procedure', 'extension')
                         THEN c.due_date::text END,
        'new_due_date', CASE p_kind WHEN 'extension'
                             THEN p_dates->>'new_due_date' END,
        'materials', lines,
        'reason', p->>'reason',
        'procedure', govsvc_procedure_name(p->>'procedure'),
        'days', p->>'days',
        'licence_no', p->>'licence_no',
        'valid_until', p->>'valid_until'));

    INSERT INTO notices (notice_no, node, case_no, case_version, kind, params,
                         content, sha256, issued_by, query_password,
                         query_password_hash)
    VALUES (n.notice_no, p_node, c.case_no, c.version, p_kind, p, content,
            encode(sha256(convert_to(content::text, 'UTF8')), 'hex'),
            p_actor, p_secret->>'password', p_secret->>'hash')
    RETURNING * INTO n;

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'notice.issue', 'notice:' || n.notice_no,
        jsonb_build_object('case_no', c.case_no, 'kind', p_kind,
                           'sha256', n.sha256));
    PERFORM govsvc_outbox_append(c.node, 'notice.issued', c.case_no,
        jsonb_build_object('notice_no', n.notice_no, 'kind', p_kind,
                           'sha256', n.sha256, 'content', content));
    RETURN n;
END
$$;


-- Whether a case is abnormal (异常办结) on p_today: a correction past its
-- deadline, or a draft older than p_stale_days calendar days.
CREATE FUNCTION govsvc_abnormal_kind(c cases, p_today date,
                                     p_stale_days int)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN c.state = 'correction'
             AND (c.correction->>'deadline')::date < p_today
            THEN 'correction_overdue'
        WHEN c.state = 'draft'
             AND (coalesce(c.resubmitted_at, c.received_at)
                  AT TIME ZONE 'Asia/Shanghai')::date
                 < p_today - p_stale_days
            THEN 'draft_stale'
    END
$$;


DROP FUNCTION govsvc_case_act(text, int, text, jsonb, bigint, text, text);

-- An action on a case: one transaction with its opinion, audit entry and
-- outbox event; the row lock of govsvc_case_lock() and the version compare
-- make concurrent actions on one case serial, the loser answered 409.
-- p_dates: what the module computed on the calendar: "today" (China's
-- date), "stale_days" (govsvc_abnormal_draft_days), and for resume
-- "paused_since", "due_date" (moved) and "taken" (working days).
-- Returns the case, its JSON, accept's query password, and the worklists
-- the action changed ("todo:DEPT:ROLE", "done:USER") for the cache.
CREATE FUNCTION govsvc_case_act(p_case_no text, p_version int,
    p_action text, p_body jsonb, p_dates jsonb, p_actor bigint,
    p_username text, p_address text, OUT c cases, OUT query_password text,
    OUT case_json json, OUT lists text[])
LANGUAGE plpgsql AS $$
-- in statements, query_password is the notices' column, not the result
#variable_conflict use_column
DECLARE
    need text;
    p jsonb;
    n notices;
    i items;
    old cases;
    next_step text;
    opinion text := p_body->>'opinion';
    result text := p_body->>'result';
    role text;
    ok boolean;
    opinion_id bigint;
    today date := (p_dates->>'today')::date;
BEGIN
    IF p_action NOT IN ('accept', 'reject', 'request_correction',
                        'resubmit', 'pass', 'return', 'suspend', 'resume',
                        'extend', 'complete', 'void', 'delete')
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed', 'no such action',
                              'action');
    END IF;

    c := govsvc_case_lock(p_case_no, p_actor, NULL);
    old := c;

    IF c.version <> p_version THEN
        PERFORM govsvc_refuse(409, 'version_conflict',
                              'the case changed meanwhile; read it again');
    END IF;

    role := CASE WHEN p_action IN ('pass', 'return', 'suspend', 'resume')
                     THEN coalesce(govsvc_step_role(c.item_code, c.step),
                                   'clerk')
                 WHEN p_action = 'extend' THEN 'approver'
                 ELSE 'clerk' END;
    IF NOT EXISTS (SELECT 1 FROM users
                   WHERE id = p_actor AND role = ANY (roles))
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'this needs the role ' || role);
    END IF;

    ok := CASE
        WHEN p_action IN ('accept', 'reject', 'request_correction')
            THEN c.state = 'draft'
        WHEN p_action = 'resubmit' THEN c.state = 'correction'
        WHEN p_action IN ('pass', 'suspend')
            THEN c.state = 'in_progress' AND c.step <> 'complete'
        WHEN p_action = 'return'
            THEN c.state = 'in_progress' AND c.step <> 'complete'
                 AND c.result IS NULL
        WHEN p_action = 'resume' THEN c.state = 'suspended'
        WHEN p_action = 'extend'
            THEN c.state = 'in_progress' AND c.step <> 'complete'
                 AND c.extended_days IS NULL
        WHEN p_action = 'complete'
            THEN c.state = 'in_progress' AND c.step = 'complete'
        ELSE govsvc_abnormal_kind(c, today,
                                  (p_dates->>'stale_days')::int) IS NOT NULL
    END;
    IF ok IS NOT TRUE THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              p_action || ' does not apply to a case in'
                              || ' state ' || c.state
                              || coalesce(' at step ' || c.step, ''));
    END IF;

    IF opinion IS NOT NULL AND (jsonb_typeof(p_body->'opinion') <> 'string'
                                OR length(opinion) > 2000)
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'an opinion of at most 2000 characters',
                              'opinion');
    END IF;
    IF p_action IN ('pass', 'return')
       AND (opinion IS NULL OR btrim(opinion) = '')
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'the opinion (审批意见) is required',
                              'opinion');
    END IF;
    IF p_action IN ('void', 'delete', 'resume')
       AND (jsonb_typeof(p_body->CASE p_action WHEN 'resume' THEN 'result'
                                               ELSE 'reason' END)
                IS DISTINCT FROM 'string'
            OR btrim(coalesce(p_body->>CASE p_action WHEN 'resume'
                                  THEN 'result' ELSE 'reason' END, '')) = ''
            OR length(p_body->>CASE p_action WHEN 'resume' THEN 'result'
                                             ELSE 'reason' END) > 2000)
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'a text of 1 to 2000 characters is needed',
                              CASE p_action WHEN 'resume' THEN 'result'
                                            ELSE 'reason' END);
    END IF;
    IF p_action = 'complete' THEN
        IF result IS NULL OR result NOT IN ('approved', 'refused') THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'approved or refused', 'result');
        END IF;
        IF c.result = 'refused' AND result = 'approved' THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'the case was returned (退窗): its result'
                                  || ' is refused', 'result');
        END IF;
    END IF;

    need := CASE p_action
        WHEN 'accept' THEN 'acceptance'
        WHEN 'reject' THEN 'rejection'
        WHEN 'request_correction' THEN 'correction'
        WHEN 'suspend' THEN 'special_procedure'
        WHEN 'extend' THEN 'extension'
        WHEN 'complete' THEN CASE result WHEN 'approved'
                                 THEN 'approval_decision'
                                 ELSE 'refusal_decision' END
    END;

    IF need IS NOT NULL THEN
        p := govsvc_notice_params(need, p_body, c.materials);
        SELECT * INTO n FROM notices
            WHERE case_no = c.case_no AND kind = need
              AND case_version = c.version AND params = p
            ORDER BY issued_at DESC, notice_no DESC LIMIT 1;
        IF NOT FOUND THEN
            PERFORM govsvc_refuse(409, 'notice_required',
                                  'print the ' || need || ' notice for the'
                                  || ' case as it is now, with the same'
                                  || ' parameters, first');
        END IF;
    END IF;

    SELECT * INTO i FROM items WHERE code = c.item_code;

    CASE p_action
    WHEN 'accept' THEN
        next_step := coalesce(i.steps->0->>'code', 'complete');
        UPDATE cases SET state = 'in_progress', step = next_step,
               step_role = govsvc_step_role(c.item_code, next_step),
               step_started_at = now(), step_paused_days = 0,
               accepted_at = now(),
               promised_date = (n.content->>'promised_date')::date,
               due_date = (n.content->>'promised_date')::date,
               query_password_hash = n.query_password_hash,
               correction = NULL
            WHERE case_no = c.case_no;
        query_password := n.query_password;
        UPDATE notices SET query_password = NULL
            WHERE case_no = c.case_no AND query_password IS NOT NULL;
    WHEN 'reject' THEN
        UPDATE cases SET state = 'rejected', step = NULL, step_role = NULL,
               completed_at = now()
            WHERE case_no = c.case_no;
    WHEN 'request_correction' THEN
        UPDATE cases SET state = 'correction',
               correction = jsonb_build_object(
                   'reason', p->'reason',
                   'deadline', n.content->'deadline',
                   'materials', p->'materials',
                   'round', c.correction_round + 1,
                   'notice_no', n.notice_no)
            WHERE case_no = c.case_no;
    WHEN 'resubmit' THEN
        UPDATE cases SET state = 'draft',
               correction_round = correction_round + 1,
               resubmitted_at = now()
            WHERE case_no = c.case_no;
    WHEN 'pass' THEN
        SELECT coalesce((SELECT s2->>'code'
                         FROM jsonb_array_elements(i.steps)
                              WITH ORDINALITY a (s1, k1),
                              jsonb_array_elements(i.steps)
                              WITH ORDINALITY b (s2, k2)
                         WHERE a.s1->>'code' = c.step AND k2 = k1 + 1),
                        'complete')
            INTO next_step;
        UPDATE cases SET step = next_step,
               step_role = govsvc_step_role(c.item_code, next_step),
               step_started_at = now(), step_paused_days = 0
            WHERE case_no = c.case_no;
    WHEN 'return' THEN
        UPDATE cases SET step = 'complete', step_role = 'clerk',
               step_started_at = now(), step_paused_days = 0,
               result = 'refused'
            WHERE case_no = c.case_no;
    WHEN 'suspend' THEN
        INSERT INTO special_procedures (case_no, step, procedure, reason,
                                        days, notice_no)
            VALUES (c.case_no, c.step, p->>'procedure', p->>'reason',
                    (p->>'days')::int, n.notice_no);
        UPDATE cases SET state = 'suspended', paused_since = today
            WHERE case_no = c.case_no;
    WHEN 'resume' THEN
        -- the module computed the move for the suspension it read; the
        -- version compare above proves it is still this one
        IF (p_dates->>'paused_since')::date IS DISTINCT FROM c.paused_since
           OR (p_dates->>'due_date') IS NULL
        THEN
            PERFORM govsvc_refuse(409, 'version_conflict',
                                  'the case changed meanwhile; read it'
                                  || ' again');
        END IF;
        UPDATE special_procedures SET ended_at = now(),
               taken_days = (p_dates->>'taken')::int,
               result = p_body->>'result'
            WHERE case_no = c.case_no AND ended_at IS NULL;
        UPDATE cases SET state = 'in_progress', paused_since = NULL,
               due_date = (p_dates->>'due_date')::date,
               step_paused_days = step_paused_days
                                  + (p_dates->>'taken')::int
            WHERE case_no = c.case_no;
    WHEN 'extend' THEN
        UPDATE cases SET extended_days = (p->>'days')::int,
               due_date = (n.content->>'new_due_date')::date
            WHERE case_no = c.case_no;
    WHEN 'complete' THEN
        UPDATE cases SET state = 'completed', step = NULL, step_role = NULL,
               result = p_body->>'result',
               result_code = CASE WHEN p_body->>'result' = 'refused' THEN 1
                                  WHEN p ? 'licence_no' THEN 0
                                  ELSE 6 END,
               licence_no = p->>'licence_no',
               valid_until = (p->>'valid_until')::date,
               completed_at = now()
            WHERE case_no = c.case_no;
    ELSE -- void, delete
        UPDATE cases SET
               state = CASE p_action WHEN 'void' THEN 'voided'
                                     ELSE 'deleted' END,
               result_code = CASE WHEN p_action = 'delete' THEN 3
                                  WHEN c.state = 'correction' THEN 5
                                  ELSE 2 END,
               ended_reason = p_body->>'reason',
               completed_at = now()
            WHERE case_no = c.case_no;
    END CASE;

    UPDATE cases SET version = version + 1, updated_at = now()
        WHERE case_no = c.case_no
        RETURNING * INTO c;

    INSERT INTO case_opinions (case_no, step, action, actor, opinion)
        VALUES (c.case_no, coalesce(old.step, 'accept'), p_action, p_actor,
                coalesce(opinion, p->>'reason', p_body->>'reason',
                         p_body->>'result'))
        RETURNING id INTO opinion_id;

    INSERT INTO worklist_done (actor, case_no, last_opinion)
        VALUES (p_actor, c.case_no, opinion_id)
        ON CONFLICT (actor, case_no)
        DO UPDATE SET last_opinion = excluded.last_opinion;

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'case.' || p_action, 'case:' || c.case_no,
        jsonb_build_object('version', c.version, 'state', c.state,
                           'step', c.step, 'notice_no', n.notice_no));
    PERFORM govsvc_outbox_append(c.node, 'case.' || p_action, c.case_no,
        jsonb_strip_nulls(jsonb_build_object('version', c.version,
                           'state', c.state, 'step', c.step,
                           'notice_no', n.notice_no,
                           'promised_date', c.promised_date,
                           'due_date', c.due_date,
                           'correction', c.correction,
                           'result', c.result,
                           'result_code', c.result_code,
                           'opinion', opinion)));

    case_json := govsvc_case_json(c);

    -- every todo list the case left or entered, and the actor's done list
    SELECT array_agg(DISTINCT l) INTO lists FROM unnest(ARRAY[
        'todo:' || old.department || ':' || old.step_role,
        'todo:' || c.department || ':' || c.step_role,
        'done:' || p_actor]) AS u (l)
        WHERE l IS NOT NULL;
END
$$;
