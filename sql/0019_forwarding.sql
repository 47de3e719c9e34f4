-- Three-tier linkage, forwarding (转报): a case whose item is decided at
-- a level above this node is forwarded to the parent node.  Here it ends
-- (completed, result code 4, forwarded_to the parent) and its event
-- case.forward goes up with the next batch; the parent, on holding that
-- event, takes the case up as one of its own (a new case number, at the
-- item's first step in the item's department, forwarded_from the child's
-- number) beside the read-only copy it keeps of the child's case.  What
-- the parent then does to it flows back down: every change of the
-- parent's case draws a new forward version, the child pulls the changes
-- after the version it holds (GET /sync/v1/forwarded?since=N, built by
-- govsvc_forwarded_page()) and keeps each in forward_result, which the
-- case and the applicant's public query show at the child.

-- The node above p_code (core/gs_region's rule); NULL for a province.
CREATE FUNCTION govsvc_region_parent(p_code text) RETURNS char(6)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_code ~ '^[1-8][0-9]0000$' THEN NULL
                WHEN p_code ~ '^[1-8][0-9]{3}00$'
                    THEN left(p_code, 2) || '0000'
                WHEN p_code ~ '^[1-8][0-9]{5}$'
                    THEN left(p_code, 4) || '00' END
$$;

ALTER TABLE cases
    -- at the child
    ADD COLUMN forwarded_to   char(6),
    ADD COLUMN forward_result jsonb,
    -- at the parent
    ADD COLUMN forwarded_from char(20),
    ADD COLUMN forwarded_by   char(6),
    -- a case taken up from a child has no local creator either
    DROP CONSTRAINT cases_synced_check,
    ADD CONSTRAINT cases_synced_check
        CHECK ((synced IS NULL) = (synced_seq IS NULL)
               AND (synced IS NOT NULL OR created_by IS NOT NULL
                    OR forwarded_from IS NOT NULL)),
    ADD CONSTRAINT cases_forwarded_check
        CHECK ((forwarded_from IS NULL) = (forwarded_by IS NULL));

-- a child's case is taken up once
CREATE UNIQUE INDEX cases_forwarded_from_idx ON cases (forwarded_from);

COMMENT ON COLUMN cases.forwarded_to IS
    'forwarded (转报) to this parent node';
COMMENT ON COLUMN cases.forward_result IS
    'the parent''s case as its newest forward version held here said';
COMMENT ON COLUMN cases.forwarded_from IS
    'the child''s case this case was taken up from';

-- At the parent: every case a child forwarded here, taken up
-- (parent_case_no) or not (problem: why; the event is held all the same,
-- or the child's sync would stall on it), with the forward version of its
-- newest change.  Versions must be drawn in commit order, or a child that
-- read up to N could miss a change committed later under a number at or
-- below N: whatever draws one takes the lock govsvc:forwarded first and
-- holds it to commit.  Forwarded cases are few.
CREATE SEQUENCE forwarded_version_seq;

CREATE TABLE forwarded_in (
    case_no        char(20) PRIMARY KEY,
    origin         char(6) NOT NULL,
    parent_case_no char(20) UNIQUE REFERENCES cases (case_no),
    problem        text,
    version        bigint NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent_case_no IS NULL) <> (problem IS NULL))
);

CREATE INDEX forwarded_in_origin_version_idx ON forwarded_in (origin, version);

-- At the child: the forward version each parent's answers are applied to.
CREATE TABLE sync_forwarded (
    parent        char(6) PRIMARY KEY,
    version       bigint NOT NULL CHECK (version >= 0),
    pulled_at     timestamptz NOT NULL DEFAULT now()
);


-- ---- at the child: the action ---------------------------------------------

-- As in 0010, with forward: a clerk of the case's department, on a case in
-- progress not yet returned, whose item belongs to a level above this
-- node (its parent's or its province's: the parent forwards on what it
-- cannot decide either); else 409 invalid_state.
CREATE OR REPLACE FUNCTION govsvc_case_act(p_case_no text, p_version int,
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
                        'extend', 'complete', 'void', 'delete',
                        'forward')
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
        WHEN p_action = 'forward'
            THEN c.state = 'in_progress' AND c.result IS NULL
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

    -- only up, and only what this node may not decide: a case of an item
    -- of its own level stays here
    IF p_action = 'forward'
       AND (govsvc_region_parent(c.node) IS NULL
            OR coalesce(i.region NOT IN (govsvc_region_parent(c.node),
                                         left(c.node, 2) || '0000'), true))
    THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the item ' || c.item_code || ' is decided'
                              || ' at this node: there is no level above'
                              || ' to forward it to');
    END IF;

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
    WHEN 'forward' THEN
        UPDATE cases SET state = 'completed', step = NULL, step_role = NULL,
               result = 'forwarded', result_code = 4,
               forwarded_to = govsvc_region_parent(c.node),
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
                           'to', c.forwarded_to,
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

-- The forwarded block of a case of this node: where it went and, once
-- the parent's answer is held, the parent's case number, state and result.
CREATE FUNCTION govsvc_forwarded_json(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.forwarded_to IS NOT NULL THEN json_build_object(
        'to', c.forwarded_to,
        'case_no', c.forward_result->'parent_case_no',
        'state', c.forward_result->'state',
        'result', c.forward_result->'result',
        'result_code', c.forward_result->'result_code',
        'completed_at', c.forward_result->'completed_at') END
$$;

-- As in 0016, with the forwarded block at the child and, at the parent,
-- the case it was taken up from.
CREATE OR REPLACE FUNCTION govsvc_case_json(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.synced IS NOT NULL THEN
        ((c.synced - 'row')
         || jsonb_build_object(
                'department', jsonb_build_object('id', d.id,
                                                 'name', d.name),
                'origin', c.node,
                'read_only', true))::json
    ELSE json_build_object(
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
        'version', c.version,
        'origin', c.node,
        'read_only', false,
        'forwarded', govsvc_forwarded_json(c),
        'forwarded_from', CASE WHEN c.forwarded_from IS NOT NULL THEN
                              json_build_object('node', c.forwarded_by,
                                                'case_no',
                                                c.forwarded_from) END)
        END
    FROM departments d
    LEFT JOIN items i ON i.code = c.item_code
    WHERE d.id = c.department
$$;

-- As in 0011: forward is a step the applicant sees, and the parent's
-- decision is shown at the applicant's own node.
CREATE OR REPLACE FUNCTION govsvc_case_public_json(c cases) RETURNS json
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
                           WHEN 'forward' THEN '转报'
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
                               'resume', 'extend', 'complete',
                               'forward')),
        'promised_date', c.promised_date,
        'due_date', CASE WHEN c.state IN ('in_progress', 'suspended')
                         THEN c.due_date END,
        'result', CASE WHEN c.state = 'completed' THEN c.result END,
        'result_code', CASE WHEN c.state = 'completed'
                            THEN c.result_code END,
        'completed_at', CASE WHEN c.state = 'completed'
                             THEN govsvc_time(c.completed_at) END,
        'forwarded', govsvc_forwarded_json(c))
    FROM items i, departments d
    WHERE i.code = c.item_code AND d.id = c.department
$$;


-- ---- at the parent: taking the case up -------------------------------------

-- Takes up case p_case_no of child p_origin, forwarded here, from its
-- snapshot s: a new case of this node (p_origin's parent) in progress at
-- the first step of the local item of the same code, in that item's
-- department, received and accepted now (its deadline runs here from
-- today; the child's dates stay on the child's copy), with its own
-- case.created event so that it goes on up.  Files stay at the child:
-- the materials keep what was received, the copy lists the files.  What
-- cannot be taken up (no such item here, a snapshot that does not fit)
-- is recorded in forwarded_in, with a warning in the log, and never
-- refuses the batch.
CREATE FUNCTION govsvc_forward_take(p_origin char(6), p_case_no text,
                                    s jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    node char(6) := govsvc_region_parent(p_origin);
    i items;
    c cases;
    first text;
    due date;
    problem text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:forwarded'));

    SELECT * INTO i FROM items WHERE code = s#>>'{item,code}';
    IF NOT FOUND THEN
        problem := 'no item ' || coalesce(s#>>'{item,code}', '(none)')
                   || ' at ' || node;
    ELSE
        first := coalesce(i.steps->0->>'code', 'complete');
        due := govsvc_working_day((now() AT TIME ZONE 'Asia/Shanghai')::date,
                                  i.promised_days);
        BEGIN
            INSERT INTO cases (case_no, node, item_code, item_version,
                project_name, applicant, form, materials, channel,
                department, state, step, step_role, received_at,
                accepted_at, step_started_at, promised_date, due_date,
                forwarded_from, forwarded_by)
            VALUES (govsvc_case_no(node), node, i.code, i.version,
                s->>'project_name', s->'applicant',
                coalesce(s->'form', '{}'),
                (SELECT coalesce(jsonb_agg(m.value - 'files'
                                           ORDER BY m.ordinality), '[]')
                 FROM jsonb_array_elements(coalesce(s->'materials', '[]'))
                      WITH ORDINALITY m),
                coalesce(s->>'channel', 'window'), i.department,
                'in_progress', first, govsvc_step_role(i.code, first),
                now(), now(), now(), due, due, p_case_no, p_origin)
            RETURNING * INTO c;
        EXCEPTION
            WHEN data_exception OR integrity_constraint_violation THEN
                problem := 'the case does not fit: ' || SQLERRM;
        END;
    END IF;

    INSERT INTO forwarded_in (case_no, origin, parent_case_no, problem,
                              version)
        VALUES (p_case_no, p_origin, c.case_no, problem,
                nextval('forwarded_version_seq'));

    IF problem IS NOT NULL THEN
        RAISE WARNING 'govsvc: case % forwarded by % not taken up: %',
            p_case_no, p_origin, problem;
        RETURN;
    END IF;

    -- the todo list it enters, bumped by the batch's handler after commit
    PERFORM set_config('govsvc.lists',
        concat_ws(' ', nullif(current_setting('govsvc.lists', true), ''),
                  'todo:' || c.department || ':' || c.step_role), true);

    PERFORM govsvc_audit_append(NULL, 'sync', p_origin, 'case.take_up',
        'case:' || c.case_no,
        jsonb_build_object('version', c.version, 'state', c.state,
                           'step', c.step, 'forwarded_from', p_case_no,
                           'forwarded_by', p_origin));
    PERFORM govsvc_outbox_append(node, 'case.created', c.case_no,
        jsonb_build_object('version', c.version, 'state', c.state,
                           'step', c.step, 'forwarded_from', p_case_no,
                           'forwarded_by', p_origin));
END
$$;

-- A case.forward event held from a child, naming this node (the child's
-- parent: the batch came from the child itself), is taken up; the same
-- event relayed further up names another node and is only held.
CREATE FUNCTION govsvc_forward_received() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.origin = NEW.peer
       AND NEW.data->>'to' = govsvc_region_parent(NEW.peer)
       AND jsonb_typeof(NEW.data->'case') = 'object'
    THEN
        PERFORM govsvc_forward_take(NEW.origin, NEW.case_no,
                                    NEW.data->'case');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_inbox_forward AFTER INSERT ON sync_inbox
    FOR EACH ROW WHEN (NEW.type = 'case.forward')
    EXECUTE FUNCTION govsvc_forward_received();

-- A change the child shows draws a new forward version.
CREATE FUNCTION govsvc_forwarded_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:forwarded'));
    UPDATE forwarded_in SET version = nextval('forwarded_version_seq')
        WHERE case_no = NEW.forwarded_from;
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_forwarded_version AFTER UPDATE ON cases
    FOR EACH ROW
    WHEN (NEW.forwarded_from IS NOT NULL
          AND (OLD.state, OLD.step, OLD.result, OLD.result_code,
               OLD.completed_at)
              IS DISTINCT FROM
              (NEW.state, NEW.step, NEW.result, NEW.result_code,
               NEW.completed_at))
    EXECUTE FUNCTION govsvc_forwarded_changed();

-- The cases child p_peer (seen now) forwarded here, changed after forward
-- version p_since: at most 500 in version order, as
--   {"since": N, "cases": [{"case_no" (the child's), "parent_case_no",
--    "state", "step", "result", "result_code", "completed_at", "version",
--    "problem"}], "next": M, "more": true|false}
-- where the result shows once the case is completed, and a case not taken
-- up has no parent_case_no but the problem.
CREATE FUNCTION govsvc_forwarded_page(p_peer char(6), p_since bigint)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    lim CONSTANT int := 500;
BEGIN
    INSERT INTO sync_peers (region, role, last_seen)
        VALUES (p_peer, 'child', now())
        ON CONFLICT (region) DO UPDATE SET last_seen = now();

    RETURN (
        SELECT json_build_object(
            'since', p_since,
            'cases', coalesce(json_agg(json_build_object(
                         'case_no', f.case_no,
                         'parent_case_no', f.parent_case_no,
                         'state', c.state,
                         'step', c.step,
                         'result', CASE WHEN c.state = 'completed'
                                        THEN c.result END,
                         'result_code', CASE WHEN c.state = 'completed'
                                             THEN c.result_code END,
                         'completed_at', govsvc_time(c.completed_at),
                         'version', f.version,
                         'problem', f.problem) ORDER BY f.version)
                         FILTER (WHERE f.n <= lim), '[]'),
            'next', coalesce(max(f.version) FILTER (WHERE f.n <= lim),
                             p_since),
            'more', count(*) > lim)
        FROM (SELECT x.*, row_number() OVER (ORDER BY x.version) AS n
              FROM forwarded_in x
              WHERE x.origin = p_peer AND x.version > p_since
              ORDER BY x.version LIMIT lim + 1) f
        LEFT JOIN cases c ON c.case_no = f.parent_case_no);
END
$$;


-- ---- at the child: the answers ---------------------------------------------

-- The forward version of p_parent's answers to ask from.
CREATE FUNCTION govsvc_forwarded_since(p_parent char(6)) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT version FROM sync_forwarded
                     WHERE parent = p_parent), 0)
$$;

-- Applies p_page, an answer of p_parent's GET /sync/v1/forwarded, in one
-- transaction: each entry newer than what its case holds becomes that
-- case's forward_result (a case of this node forwarded to p_parent; any
-- other is not this page's to change), and the version to ask from next
-- is kept, never moved back.  Applied again, it changes nothing.  A
-- malformed page answers 422.  Returns {"next": M, "more": bool}.
CREATE FUNCTION govsvc_forwarded_apply(p_parent char(6), p_page jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    upto bigint;
BEGIN
    IF p_parent IS NULL OR p_parent !~ '^[1-8][0-9]{5}$'
       OR jsonb_typeof(p_page) IS DISTINCT FROM 'object'
       OR jsonb_typeof(p_page->'cases') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_page->'next') IS DISTINCT FROM 'number'
       OR (p_page->>'next') !~ '^[0-9]{1,18}$'
       OR jsonb_typeof(p_page->'more') IS DISTINCT FROM 'boolean'
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'a page of forwarded cases has cases, next'
                              || ' and more', 'forwarded');
    END IF;

    -- two pulls from one parent at once: one after the other
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:forwarded:'
                                           || p_parent));

    FOR e IN SELECT x.value FROM jsonb_array_elements(p_page->'cases') x
    LOOP
        IF jsonb_typeof(e->'case_no') IS DISTINCT FROM 'string'
           OR jsonb_typeof(e->'version') IS DISTINCT FROM 'number'
           OR (e->>'version') !~ '^[0-9]{1,18}$'
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'every forwarded case has case_no and'
                                  || ' version', 'cases');
        END IF;

        -- as char: compared as text, the primary key would not serve
        UPDATE cases SET forward_result = e - 'case_no'
            WHERE case_no = (e->>'case_no')::bpchar
              AND forwarded_to = p_parent AND synced IS NULL
              AND (forward_result IS NULL
                   OR (forward_result->>'version')::bigint
                      < (e->>'version')::bigint);
    END LOOP;

    upto := greatest(govsvc_forwarded_since(p_parent),
                     (p_page->>'next')::bigint);

    INSERT INTO sync_forwarded (parent, version)
        VALUES (p_parent, upto)
        ON CONFLICT (parent) DO UPDATE SET version = EXCLUDED.version,
            pulled_at = now();

    RETURN jsonb_build_object('next', upto,
                              'more', (p_page->>'more')::boolean);
END
$$;
