-- Notices (通知书), the acceptance outcomes of a case (accept, reject,
-- request_correction, resubmit), their opinions, and material files.
--
-- Domain refusals are raised with SQLSTATE "GSnnn": nnn is the HTTP status,
-- the message is api.md's error code, DETAIL the human message and HINT
-- the field at fault.  The module answers them as they are; the statement
-- fails whole, so a refused action writes nothing.

CREATE FUNCTION govsvc_refuse(p_status int, p_code text, p_message text,
                              p_field text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'GS' || p_status::text,
        MESSAGE = p_code, DETAIL = p_message, HINT = coalesce(p_field, '');
END
$$;

ALTER TABLE cases
    ADD COLUMN correction_round integer NOT NULL DEFAULT 0,
    ADD COLUMN resubmitted_at   timestamptz;

-- One gapless sequence per node, kind and year, like case numbers.
CREATE TABLE notice_seq (
    node          char(6) NOT NULL,
    kind          text NOT NULL,
    year          smallint NOT NULL,
    last          integer NOT NULL,
    PRIMARY KEY (node, kind, year)
);

-- content holds every printed field but the query password; its jsonb
-- text is the canonical form that sha256 hashes and signature (base64 DER
-- of a detached CMS SignedData) signs.  params are what an action must
-- repeat.  The query password is kept in clear only until the case is
-- accepted, so that the printed notice can carry it; the case then keeps
-- its hash alone.
CREATE TABLE notices (
    notice_no     text PRIMARY KEY,
    node          char(6) NOT NULL,
    case_no       char(20) NOT NULL REFERENCES cases (case_no),
    case_version  integer NOT NULL,
    kind          text NOT NULL
                  CHECK (kind IN ('acceptance', 'rejection', 'correction',
                         'special_procedure', 'extension',
                         'approval_decision', 'refusal_decision')),
    params        jsonb NOT NULL,
    content       jsonb NOT NULL,
    sha256        char(64) NOT NULL,
    signature     text,
    issued_by     bigint NOT NULL REFERENCES users (id),
    issued_at     timestamptz NOT NULL DEFAULT now(),
    query_password      text,
    query_password_hash text
);

CREATE INDEX notices_case_idx ON notices (case_no, issued_at);

CREATE TABLE case_opinions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no       char(20) NOT NULL REFERENCES cases (case_no),
    step          text,
    action        text NOT NULL,
    actor         bigint NOT NULL REFERENCES users (id),
    opinion       text,
    at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX case_opinions_case_idx ON case_opinions (case_no, id);

-- The file itself lives in the content-addressed store under its sha256;
-- name is data the client gave, never a path.
CREATE TABLE case_files (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no       char(20) NOT NULL REFERENCES cases (case_no),
    material      text NOT NULL,
    name          text NOT NULL CHECK (name <> ''),
    size          bigint NOT NULL CHECK (size >= 0),
    sha256        char(64) NOT NULL,
    content_type  text NOT NULL,
    uploaded_by   bigint NOT NULL REFERENCES users (id),
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX case_files_case_idx ON case_files (case_no, material, id);


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
        'result', c.result,
        'result_code', c.result_code,
        'department', json_build_object('id', d.id, 'name', d.name),
        'received_at', govsvc_time(c.received_at),
        'accepted_at', govsvc_time(c.accepted_at),
        'promised_date', c.promised_date,
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
        'special_procedures', '[]'::json,
        'version', c.version)
    FROM items i, departments d
    WHERE i.code = c.item_code AND d.id = c.department
$$;


-- "430102-SL-2026-000001": node, kind, year and a gapless number
CREATE FUNCTION govsvc_notice_no(p_node char(6), p_kind text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    y smallint := extract(year FROM now() AT TIME ZONE 'Asia/Shanghai');
    n integer;
BEGIN
    INSERT INTO notice_seq AS s (node, kind, year, last)
        VALUES (p_node, p_kind, y, 1)
        ON CONFLICT (node, kind, year) DO UPDATE SET last = s.last + 1
        RETURNING last INTO n;
    RETURN p_node || '-' || CASE p_kind
            WHEN 'acceptance' THEN 'SL'
            WHEN 'rejection' THEN 'BSL'
            WHEN 'correction' THEN 'BZ'
            WHEN 'special_procedure' THEN 'TB'
            WHEN 'extension' THEN 'YQ'
            WHEN 'approval_decision' THEN 'ZY'
            ELSE 'BY' END
        || '-' || y::text || '-' || lpad(n::text, 6, '0');
END
$$;


-- A staff member acting on a case of their department, with the role
-- needed ('step': the role of the case's current step): the case locked,
-- or a refusal.
CREATE FUNCTION govsvc_case_lock(p_case_no text, p_actor bigint,
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

    IF p_role = 'step' THEN
        SELECT coalesce(max(s->>'role'), 'clerk') INTO p_role
            FROM items i, jsonb_array_elements(i.steps) s
            WHERE i.code = c.item_code AND s->>'code' = c.step;
    END IF;

    SELECT * INTO u FROM users WHERE id = p_actor;
    IF NOT (p_role = ANY (u.roles)) THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'this needs the role ' || p_role);
    END IF;
    IF u.department <> c.department THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the case belongs to another department');
    END IF;
    RETURN c;
END
$$;


-- What a notice of kind needs from the body, normalised, so that the
-- action can be compared with it; or a refusal naming the field.
CREATE FUNCTION govsvc_notice_params(p_kind text, p_body jsonb,
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
            WHEN 'approval_decision' THEN ARRAY['licence_no']
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
        IF jsonb_typeof(p_body->'valid_until') IS DISTINCT FROM 'string'
           OR (p_body->>'valid_until') !~ '^\d{4}-\d{2}-\d{2}$'
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'a date YYYY-MM-DD', 'valid_until');
        END IF;
        RETURN jsonb_build_object('licence_no', p_body->'licence_no',
                                  'valid_until', p_body->'valid_until');
    ELSE
        PERFORM govsvc_refuse(422, 'validation_failed', 'no such kind',
                              'kind');
    END CASE;
    RETURN NULL;
END
$$;


-- Issues a notice for the case in its current version.  p_dates carries
-- what the module computed from the working-day calendar:
-- {"promised_date", "deadline"}; p_secret the acceptance's query password
-- and its hash.  Returns the notice; the module signs its content and
-- stores the signature in the same transaction.
CREATE FUNCTION govsvc_notice_issue(p_node char(6), p_case_no text,
    p_kind text, p_body jsonb, p_dates jsonb, p_secret jsonb,
    p_phone text, p_actor bigint, p_username text, p_address text)
RETURNS notices
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    i items;
    n notices;
    p jsonb;
    content jsonb;
    lines text;
BEGIN
    c := govsvc_case_lock(p_case_no, p_actor,
                          CASE p_kind WHEN 'extension' THEN 'approver'
                                      WHEN 'special_procedure' THEN 'step'
                                      ELSE 'clerk' END);

    IF (p_kind IN ('acceptance', 'rejection', 'correction')
            AND c.state <> 'draft')
       OR (p_kind IN ('special_procedure', 'extension')
            AND (c.state <> 'in_progress' OR c.step = 'complete'))
       OR (p_kind IN ('approval_decision', 'refusal_decision')
            AND (c.state <> 'in_progress' OR c.step <> 'complete'))
    THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'a ' || p_kind || ' notice does not fit a case'
                              || ' in state ' || c.state);
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
        'materials', lines,
        'reason', p->>'reason',
        'procedure', p->>'procedure',
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


-- An action of the acceptance stage on a case: one transaction with its
-- opinion, audit entry and outbox event.  Returns the case, its JSON
-- (built here, where what this transaction wrote is visible) and, for
-- accept alone, the query password in clear.
CREATE FUNCTION govsvc_case_act(p_case_no text, p_version int,
    p_action text, p_body jsonb, p_actor bigint, p_username text,
    p_address text, OUT c cases, OUT query_password text,
    OUT case_json json)
LANGUAGE plpgsql AS $$
-- in statements, query_password is the notices' column, not the result
#variable_conflict use_column
DECLARE
    need text := CASE p_action WHEN 'accept' THEN 'acceptance'
                               WHEN 'reject' THEN 'rejection'
                               WHEN 'request_correction' THEN 'correction'
                 END;
    from_state text := CASE p_action WHEN 'resubmit' THEN 'correction'
                                     ELSE 'draft' END;
    p jsonb;
    n notices;
    first_step text;
    opinion text := p_body->>'opinion';
BEGIN
    IF p_action NOT IN ('accept', 'reject', 'request_correction',
                        'resubmit', 'pass', 'return', 'suspend', 'resume',
                        'extend', 'complete', 'void', 'delete')
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed', 'no such action',
                              'action');
    END IF;

    -- the approval issue brings the others
    IF p_action NOT IN ('accept', 'reject', 'request_correction',
                        'resubmit')
    THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'the action ' || p_action || ' is not'
                              || ' available at this node yet');
    END IF;

    c := govsvc_case_lock(p_case_no, p_actor, 'clerk');

    IF c.version <> p_version THEN
        PERFORM govsvc_refuse(409, 'version_conflict',
                              'the case changed meanwhile; read it again');
    END IF;

    IF c.state <> from_state THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              p_action || ' does not apply to a case in'
                              || ' state ' || c.state);
    END IF;

    IF opinion IS NOT NULL AND length(opinion) > 2000 THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'an opinion of at most 2000 characters',
                              'opinion');
    END IF;

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

    CASE p_action
    WHEN 'accept' THEN
        SELECT coalesce(i.steps->0->>'code', 'complete') INTO first_step
            FROM items i WHERE i.code = c.item_code;
        UPDATE cases SET state = 'in_progress', step = first_step,
               accepted_at = now(),
               promised_date = (n.content->>'promised_date')::date,
               query_password_hash = n.query_password_hash,
               correction = NULL
            WHERE case_no = c.case_no;
        query_password := n.query_password;
        UPDATE notices SET query_password = NULL
            WHERE case_no = c.case_no AND query_password IS NOT NULL;
    WHEN 'reject' THEN
        UPDATE cases SET state = 'rejected', step = NULL
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
    ELSE -- resubmit
        UPDATE cases SET state = 'draft',
               correction_round = correction_round + 1,
               resubmitted_at = now()
            WHERE case_no = c.case_no;
    END CASE;

    UPDATE cases SET version = version + 1, updated_at = now()
        WHERE case_no = c.case_no
        RETURNING * INTO c;

    INSERT INTO case_opinions (case_no, step, action, actor, opinion)
        VALUES (c.case_no, 'accept', p_action, p_actor,
                coalesce(opinion, p->>'reason'));

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'case.' || p_action, 'case:' || c.case_no,
        jsonb_build_object('version', c.version, 'state', c.state,
                           'notice_no', n.notice_no));
    PERFORM govsvc_outbox_append(c.node, 'case.' || p_action, c.case_no,
        jsonb_build_object('version', c.version, 'state', c.state,
                           'step', c.step, 'notice_no', n.notice_no,
                           'promised_date', c.promised_date,
                           'correction', c.correction));

    case_json := govsvc_case_json(c);
END
$$;


-- A material file of a draft (or a case waiting for corrections): its
-- row, the case's new version, audit and outbox.  The bytes are already
-- in the store under p_sha256.
CREATE FUNCTION govsvc_case_file_add(p_case_no text, p_material text,
    p_name text, p_size bigint, p_sha256 text, p_type text, p_actor bigint,
    p_username text, p_address text)
RETURNS case_files
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    f case_files;
BEGIN
    c := govsvc_case_lock(p_case_no, p_actor, 'clerk');

    IF c.state NOT IN ('draft', 'correction') THEN
        PERFORM govsvc_refuse(409, 'invalid_state',
                              'files are added to a draft or a case waiting'
                              || ' for corrections');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(c.materials) m
                   WHERE m->>'code' = p_material)
    THEN
        PERFORM govsvc_refuse(404, 'not_found',
                              'the item asks for no such material');
    END IF;

    INSERT INTO case_files (case_no, material, name, size, sha256,
                            content_type, uploaded_by)
        VALUES (c.case_no, p_material, p_name, p_size, p_sha256, p_type,
                p_actor)
        RETURNING * INTO f;

    UPDATE cases SET version = version + 1, updated_at = now()
        WHERE case_no = c.case_no;

    PERFORM govsvc_audit_append(p_actor, p_username, p_address,
        'case.file_add', 'case:' || c.case_no,
        jsonb_build_object('file', f.id, 'material', p_material,
                           'sha256', p_sha256, 'size', p_size));
    PERFORM govsvc_outbox_append(c.node, 'case.file_added', c.case_no,
        jsonb_build_object('file', f.id, 'material', p_material,
                           'name', p_name, 'sha256', p_sha256,
                           'size', p_size, 'content_type', p_type));
    RETURN f;
END
$$;
