-- The actions a user may take on a case now (the case page shows only
-- those: issue 8), from the same rules govsvc_case_act() enforces, so the
-- page and the refusals cannot disagree.  The rules that were inline in
-- govsvc_case_act() (0019) move into the functions below, and
-- govsvc_case_act() is re-created to call them; its behaviour is
-- unchanged.

-- Every action of POST /api/v1/cases/{case_no}/actions, in the order a
-- case meets them.
CREATE FUNCTION govsvc_case_action_names() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['accept', 'reject', 'request_correction', 'resubmit',
                 'pass', 'return', 'suspend', 'resume', 'extend',
                 'complete', 'forward', 'void', 'delete']
$$;

-- The role p_action needs: the step's own for the step's work (the
-- window's when the step names none), the approver's for the single
-- extension, the window's (clerk) for the rest.
CREATE FUNCTION govsvc_action_role(c cases, p_action text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_action IN ('pass', 'return', 'suspend', 'resume')
            THEN coalesce(govsvc_step_role(c.item_code, c.step), 'clerk')
        WHEN p_action = 'extend' THEN 'approver'
        ELSE 'clerk' END
$$;

-- Whether p_action applies to c as it is now; void and delete only to an
-- abnormal case on the node's dates (p_dates: today, stale_days).
CREATE FUNCTION govsvc_action_applies(c cases, p_action text,
                                      p_dates jsonb)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
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
        WHEN p_action IN ('void', 'delete')
            THEN govsvc_abnormal_kind(c, (p_dates->>'today')::date,
                                      (p_dates->>'stale_days')::int)
                 IS NOT NULL
    END
$$;

-- Whether c may go up (转报): only to the level above, and only when its
-- item is decided there or at the province, not at this node.
CREATE FUNCTION govsvc_case_forwardable(c cases) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT govsvc_region_parent(c.node) IS NOT NULL
           AND coalesce((SELECT i.region IN (govsvc_region_parent(c.node),
                                             left(c.node, 2) || '0000')
                         FROM items i WHERE i.code = c.item_code), false)
$$;

-- The actions p_actor may take on c now: none on a copy of another
-- node's case or on a case of another department.  An action that needs
-- a notice is listed before the notice is printed; the page lights its
-- button once it is.
CREATE FUNCTION govsvc_case_actions(c cases, p_actor bigint,
                                    p_dates jsonb)
RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.name ORDER BY a.k), '{}')
    FROM users u,
         unnest(govsvc_case_action_names()) WITH ORDINALITY AS a (name, k)
    WHERE u.id = p_actor AND u.active
      AND c.synced IS NULL AND c.state <> 'deleted'
      AND u.department = c.department
      AND govsvc_action_role(c, a.name) = ANY (u.roles)
      AND govsvc_action_applies(c, a.name, p_dates)
      AND (a.name <> 'forward' OR govsvc_case_forwardable(c))
$$;

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
    IF NOT p_action = ANY (govsvc_case_action_names()) THEN
        PERFORM govsvc_refuse(422, 'validation_failed', 'no such action',
                              'action');
    END IF;

    c := govsvc_case_lock(p_case_no, p_actor, NULL);
    old := c;

    IF c.version <> p_version THEN
        PERFORM govsvc_refuse(409, 'version_conflict',
                              'the case changed meanwhile; read it again');
    END IF;

    role := govsvc_action_role(c, p_action);
    IF NOT EXISTS (SELECT 1 FROM users
                   WHERE id = p_actor AND role = ANY (roles))
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'this needs the role ' || role);
    END IF;

    ok := govsvc_action_applies(c, p_action, p_dates);
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
    IF p_action = 'forward' AND NOT govsvc_case_forwardable(c) THEN
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
