-- What the public and the departments exchange: consultations answered
-- (网上咨询), ratings of completed cases (好差评) and the rectification
-- tasks a bad rating opens.

ALTER TABLE consultations
    ADD COLUMN reply        text,
    ADD COLUMN replier      bigint REFERENCES users (id),
    ADD COLUMN replied_by   bigint REFERENCES users (id),
    ADD COLUMN visibility   text CHECK (visibility IN ('public', 'private')),
    ADD COLUMN replied_at   timestamptz;

-- one rating per case: the primary key makes a second one a conflict
CREATE TABLE evaluations (
    case_no       char(20) PRIMARY KEY REFERENCES cases (case_no),
    score         smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    channel       text NOT NULL,
    comment       text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- a rating of 4 (不满意) or 5 (非常不满意) opens one, for the case's
-- department, due in govsvc_rectify_days working days
CREATE TABLE rectifications (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no       char(20) NOT NULL UNIQUE REFERENCES cases (case_no),
    department    bigint NOT NULL REFERENCES departments (id),
    score         smallint NOT NULL,
    comment       text,
    due_date      date NOT NULL,
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'answered')),
    response      text,
    responded_by  bigint REFERENCES users (id),
    responded_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rectifications_department_idx
    ON rectifications (department, status, id);

-- The channels a rating comes by (评价渠道): the window's rating pad
-- (窗口评价器), the web portal, the mobile app, a self-service kiosk
-- (自助终端), the phone (12345) and text messages.
ALTER TABLE evaluations
    ADD CONSTRAINT evaluations_channel_check
    CHECK (channel IN ('window', 'web', 'app', 'kiosk', 'phone', 'sms')),
    ADD CONSTRAINT evaluations_comment_check
    CHECK (length(comment) <= 2000);

-- A consultation about an item names one the node knows; NOT VALID leaves
-- rows written before this check alone.
ALTER TABLE consultations
    ADD CONSTRAINT consultations_item_fkey FOREIGN KEY (item_code)
    REFERENCES items (code) NOT VALID;

-- the department's list, newest first; the questions asked of no
-- department in particular, per node; the public list per item
CREATE INDEX consultations_department_id_idx
    ON consultations (department, id);
CREATE INDEX consultations_unassigned_idx
    ON consultations (node, id) WHERE department IS NULL;
CREATE INDEX consultations_public_idx
    ON consultations (item_code, id)
    WHERE status = 'replied' AND visibility = 'public';
CREATE INDEX evaluations_created_idx ON evaluations (created_at);


-- The working days in (p_from, p_to] on the calendar table, 0 when p_to
-- is not after p_from: how late a reply or a rectification is.  The rule
-- is govsvc_working_day()'s and core/gs_calendar's.
CREATE FUNCTION govsvc_working_days(p_from date, p_to date) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int
    FROM generate_series(p_from + 1, p_to, interval '1 day') AS g (d)
    LEFT JOIN calendar_days k ON k.day = g.d::date
    WHERE p_to > p_from
      AND CASE k.kind WHEN 'holiday' THEN false
                      WHEN 'workday' THEN true
                      ELSE extract(isodow FROM g.d) < 6 END
$$;

-- The working days a reply came (or is) late: past reply_due up to the
-- day of the reply (China's date), or up to p_today while none came.
CREATE FUNCTION govsvc_consult_overdue(c consultations, p_today date)
RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT govsvc_working_days(c.reply_due,
        coalesce((c.replied_at AT TIME ZONE 'Asia/Shanghai')::date, p_today))
$$;

-- A consultation as staff see it.
CREATE FUNCTION govsvc_consult_json(c consultations, p_today date)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id,
        'title', c.title,
        'content', c.content,
        'item', CASE WHEN c.item_code IS NOT NULL THEN json_build_object(
                    'code', c.item_code,
                    'name', (SELECT name FROM items
                             WHERE code = c.item_code)) END,
        'department', (SELECT json_build_object('id', d.id, 'name', d.name)
                       FROM departments d WHERE d.id = c.department),
        'asker', json_build_object('name', c.asker_name,
                                   'phone', c.asker_phone),
        'status', c.status,
        'created_at', govsvc_time(c.created_at),
        'reply_due', c.reply_due,
        'overdue_days', govsvc_consult_overdue(c, p_today),
        'reply', c.reply,
        'visibility', c.visibility,
        'replier', (SELECT json_build_object('id', u.id, 'name', u.name)
                    FROM users u WHERE u.id = c.replier),
        'replied_by', (SELECT json_build_object('id', u.id, 'name', u.name)
                       FROM users u WHERE u.id = c.replied_by),
        'replied_at', govsvc_time(c.replied_at))
$$;

-- A consultation as the public sees it: never the asker, nor who of the
-- department replied.  The reply shows when it is public, or to the asker
-- (p_own, the code was right) whatever its visibility.
CREATE FUNCTION govsvc_consult_public_json(c consultations, p_own boolean)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id,
        'title', c.title,
        'content', c.content,
        'item', CASE WHEN c.item_code IS NOT NULL THEN json_build_object(
                    'code', c.item_code,
                    'name', (SELECT name FROM items
                             WHERE code = c.item_code)) END,
        'department', (SELECT d.name FROM departments d
                       WHERE d.id = c.department),
        'status', c.status,
        'created_at', govsvc_time(c.created_at),
        'reply_due', c.reply_due,
        'reply', CASE WHEN p_own OR c.visibility = 'public'
                      THEN c.reply END,
        'visibility', c.visibility,
        'replied_at', govsvc_time(c.replied_at))
$$;

-- POST /api/v1/consultations/{id}/reply: one reply, by staff of the
-- consultation's department, naming a replier (回复人) who is an active
-- user of that department.  A question asked of no department in
-- particular may be answered by any department of its node, which takes
-- it.  Checks in order: 404, 403, 409 invalid_state, 422.
CREATE FUNCTION govsvc_consult_reply(p_id bigint, p_body jsonb,
    p_today date, p_actor bigint, p_username text, p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c consultations;
    u users;
    v_region char(6);
    v_content text := p_body->>'content';
    v_replier bigint;
BEGIN
    SELECT * INTO c FROM consultations WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such consultation');
    END IF;

    SELECT * INTO u FROM users WHERE id = p_actor;
    SELECT d.region INTO v_region FROM departments d WHERE d.id = u.department;

    IF (c.department IS NULL AND v_region IS DISTINCT FROM c.node)
       OR c.department <> u.department
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the consultation is another department''s');
    END IF;

    IF c.status <> 'pending' THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the consultation has its reply already');
    END IF;

    IF jsonb_typeof(p_body->'content') IS DISTINCT FROM 'string'
       OR btrim(v_content) = '' OR length(v_content) > 5000
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'a reply of 1 to 5000 characters is needed',
                              'content');
    END IF;

    IF jsonb_typeof(p_body->'replier') IS DISTINCT FROM 'number'
       OR (p_body->>'replier') !~ '^[1-9][0-9]{0,17}$'
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'the replier is a user id', 'replier');
    END IF;

    v_replier := (p_body->>'replier')::bigint;

    IF NOT EXISTS (SELECT 1 FROM users
                   WHERE id = v_replier AND department = u.department
                     AND active)
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'the replier must be an active user of the'
                              || ' department', 'replier');
    END IF;

    IF jsonb_typeof(p_body->'visibility') IS DISTINCT FROM 'string'
       OR p_body->>'visibility' NOT IN ('public', 'private')
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'public or private', 'visibility');
    END IF;

    UPDATE consultations SET department = u.department, status = 'replied',
           reply = v_content, replier = v_replier,
           replied_by = p_actor, visibility = p_body->>'visibility',
           replied_at = now()
        WHERE id = c.id
        RETURNING * INTO c;

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'consultation.reply', 'consultation:' || c.id,
        jsonb_build_object('replier', c.replier,
                           'visibility', c.visibility,
                           'department', c.department));
    PERFORM govsvc_outbox_append(c.node, 'consultation.replied', NULL,
        jsonb_build_object('id', c.id, 'department', c.department,
                           'replier', c.replier,
                           'visibility', c.visibility, 'reply', c.reply,
                           'replied_at', govsvc_time(c.replied_at),
                           'overdue_days',
                           govsvc_consult_overdue(c, p_today)));

    RETURN govsvc_consult_json(c, p_today);
END
$$;


-- What the public case query shows (统一查询): the state, the steps the
-- case passed with their dates by the item's step names, the promised
-- date and the result.  Never a name, an ID number, a phone, an opinion's
-- text or who acted.
CREATE FUNCTION govsvc_case_public_json(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'case_no', c.case_no,
        'item', json_build_object('code', i.code, 'name', i.name),
        'department', d.name,
        'state', c.state,
        'steps', (
            SELECT coalesce(json_agg(json_build_object(
                       'name', CASE o.action
                           WHEN 'accept' THEN '受理'
                           WHEN 'complete' THEN '办结'
                           WHEN 'suspend' THEN '特别程序'
                           WHEN 'resume' THEN '特别程序结束'
                           WHEN 'extend' THEN '延期'
                           WHEN 'return' THEN coalesce(s.name, o.step)
                                              || '（退回）'
                           ELSE coalesce(s.name, o.step) END,
                       'at', govsvc_time(o.at))
                       ORDER BY o.id), '[]')
            FROM case_opinions o
            LEFT JOIN LATERAL (
                SELECT e->>'name' AS name
                FROM jsonb_array_elements(i.steps) e
                WHERE e->>'code' = o.step LIMIT 1) s ON true
            WHERE o.case_no = c.case_no
              AND o.action IN ('accept', 'pass', 'return', 'suspend',
                               'resume', 'extend', 'complete')),
        'promised_date', c.promised_date,
        'due_date', CASE WHEN c.state IN ('in_progress', 'suspended')
                         THEN c.due_date END,
        'result', CASE WHEN c.state = 'completed' THEN c.result END,
        'result_code', CASE WHEN c.state = 'completed'
                            THEN c.result_code END,
        'completed_at', CASE WHEN c.state = 'completed'
                             THEN govsvc_time(c.completed_at) END)
    FROM items i, departments d
    WHERE i.code = c.item_code AND d.id = c.department
$$;


-- A rectification task as the department and supervisors see it;
-- overdue_days counts the working days past its due date, to the answer
-- or to p_today.
CREATE FUNCTION govsvc_rectification_json(t rectifications, p_today date)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id,
        'case_no', t.case_no,
        'item', (SELECT json_build_object('code', i.code, 'name', i.name)
                 FROM cases c JOIN items i ON i.code = c.item_code
                 WHERE c.case_no = t.case_no),
        'department', (SELECT json_build_object('id', d.id, 'name', d.name)
                       FROM departments d WHERE d.id = t.department),
        'score', t.score,
        'comment', t.comment,
        'status', t.status,
        'created_at', govsvc_time(t.created_at),
        'due_date', t.due_date,
        'overdue_days', govsvc_working_days(t.due_date,
            coalesce((t.responded_at AT TIME ZONE 'Asia/Shanghai')::date,
                     p_today)),
        'response', t.response,
        'responded_by', (SELECT json_build_object('id', u.id, 'name', u.name)
                         FROM users u WHERE u.id = t.responded_by),
        'responded_at', govsvc_time(t.responded_at))
$$;


-- POST /api/v1/public/cases/{case_no}/evaluation, once the module has
-- checked the query password: the rating (好差评) of a completed case,
-- once; a score of 4 (不满意) or 5 (非常不满意) opens a rectification task
-- for the case's department due p_due (the module computed it on the
-- calendar).  The case row lock orders two ratings at once; the primary
-- key of evaluations stops a second in any case.
CREATE FUNCTION govsvc_case_evaluate(p_case_no text, p_score int,
    p_channel text, p_comment text, p_due date, p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    e evaluations;
    t rectifications;
BEGIN
    SELECT * INTO c FROM cases
        WHERE case_no = p_case_no AND state <> 'deleted' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found',
                              'no such case, or a wrong password');
    END IF;

    IF c.state <> 'completed' THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'a case is rated once it is completed');
    END IF;

    IF EXISTS (SELECT 1 FROM evaluations WHERE case_no = c.case_no) THEN
        PERFORM govsvc_refuse(409, 'duplicate', 'the case is rated already');
    END IF;

    INSERT INTO evaluations (case_no, score, channel, comment)
        VALUES (c.case_no, p_score, p_channel, p_comment)
        RETURNING * INTO e;

    PERFORM govsvc_audit_append(NULL, 'anonymous', p_address,
        'case.evaluate', 'case:' || c.case_no,
        jsonb_build_object('score', e.score, 'channel', e.channel));
    PERFORM govsvc_outbox_append(c.node, 'case.evaluated', c.case_no,
        jsonb_build_object('score', e.score, 'channel', e.channel,
                           'comment', e.comment,
                           'department', c.department,
                           'at', govsvc_time(e.created_at)));

    IF p_score >= 4 THEN
        INSERT INTO rectifications (case_no, department, score, comment,
                                    due_date)
            VALUES (c.case_no, c.department, e.score, e.comment, p_due)
            RETURNING * INTO t;

        PERFORM govsvc_audit_append(NULL, 'anonymous', p_address,
            'rectification.open', 'rectification:' || t.id,
            jsonb_build_object('case_no', c.case_no, 'score', t.score,
                               'department', t.department,
                               'due_date', t.due_date));
        PERFORM govsvc_outbox_append(c.node, 'rectification.opened',
            c.case_no,
            jsonb_build_object('id', t.id, 'department', t.department,
                               'score', t.score, 'comment', t.comment,
                               'due_date', t.due_date));
    END IF;

    RETURN json_build_object('case_no', e.case_no, 'score', e.score,
                             'channel', e.channel, 'comment', e.comment,
                             'created_at', govsvc_time(e.created_at));
END
$$;


-- POST /api/v1/rectifications/{id}/response: the department's answer,
-- once.  Checks in order: 404, 403, 409 invalid_state, 422.
CREATE FUNCTION govsvc_rectification_answer(p_id bigint, p_body jsonb,
    p_today date, p_actor bigint, p_username text, p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    t rectifications;
    v_content text := p_body->>'content';
BEGIN
    SELECT * INTO t FROM rectifications WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such rectification');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM users
                   WHERE id = p_actor AND department = t.department)
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the rectification is another'
                              || ' department''s');
    END IF;

    IF t.status <> 'open' THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the rectification is answered already');
    END IF;

    IF jsonb_typeof(p_body->'content') IS DISTINCT FROM 'string'
       OR btrim(v_content) = '' OR length(v_content) > 2000
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'an answer of 1 to 2000 characters is needed',
                              'content');
    END IF;

    UPDATE rectifications SET status = 'answered', response = v_content,
           responded_by = p_actor, responded_at = now()
        WHERE id = t.id
        RETURNING * INTO t;

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'rectification.answer', 'rectification:' || t.id,
        jsonb_build_object('case_no', t.case_no));
    PERFORM govsvc_outbox_append(
        (SELECT node FROM cases WHERE case_no = t.case_no),
        'rectification.answered', t.case_no,
        jsonb_build_object('id', t.id, 'response', t.response,
                           'responded_at', govsvc_time(t.responded_at)));

    RETURN govsvc_rectification_json(t, p_today);
END
$$;
