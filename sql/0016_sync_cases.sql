-- Three-tier linkage, cases up: every outbox event of a case of this node
-- carries the case as it is after the change (data.case, covered by the
-- event's hash), and a parent keeps a read-only copy of each case of its
-- children, newest version first, in the cases table itself: the unified
-- query, the warnings, the abnormal list and the statistics (whose
-- triggers see the copy's inserts and updates like any other) count it
-- with no code of their own.
--
-- A copy ("synced": the snapshot it was made from) has no local creator
-- and, usually, no local item (items flow down, never up); its department
-- is the local row of the same region and name, made when missing, since
-- department ids are per database.  It never enters a worklist (its
-- step_role stays NULL), gets no automatic card here (its own node's timer
-- issues those, and they come up as card.* events) and refuses every
-- change but the next snapshot.

ALTER TABLE cases
    ADD COLUMN synced     jsonb,
    ADD COLUMN synced_seq bigint,
    ALTER COLUMN created_by DROP NOT NULL,
    -- a local case's item is checked by its registration (items are never
    -- deleted, only suspended); a copy names an item of another node
    DROP CONSTRAINT cases_item_code_fkey,
    ADD CONSTRAINT cases_synced_check
        CHECK ((synced IS NULL) = (synced_seq IS NULL)
               AND (synced IS NOT NULL OR created_by IS NOT NULL));

COMMENT ON COLUMN cases.synced IS
    'a child''s case: the snapshot of its newest event held here';
COMMENT ON COLUMN cases.synced_seq IS
    'the sequence, in the case''s origin, of the event it came with';


-- ---- the snapshot ----------------------------------------------------------

-- A case as its own node's API shows it (govsvc_case_json: keep the two
-- together), with what means nothing elsewhere left out or replaced: the
-- department by its region and name, users by their display names, file
-- ids dropped; with each notice's printed content (never the query
-- password, which notices.content does not hold, nor its hash); and
-- under "row" what the copy's columns need beyond that (the clock of the
-- deadline block and the warning levels).
CREATE FUNCTION govsvc_case_snapshot(c cases) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'case_no', c.case_no,
        'item', jsonb_build_object('code', c.item_code, 'name', i.name,
                                   'version', c.item_version),
        'project_name', c.project_name,
        'applicant', c.applicant,
        'form', c.form,
        'materials', (
            SELECT coalesce(jsonb_agg(m.value || jsonb_build_object('files', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'name', f.name, 'size', f.size,
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
        'department', jsonb_build_object('region', d.region,
                                         'region_name', r.name,
                                         'name', d.name),
        'received_at', govsvc_time(c.received_at),
        'accepted_at', govsvc_time(c.accepted_at),
        'promised_date', c.promised_date,
        'completed_at', govsvc_time(c.completed_at),
        'licence', CASE WHEN c.licence_no IS NOT NULL THEN
                       jsonb_build_object('licence_no', c.licence_no,
                                          'valid_until', c.valid_until) END,
        'extension', CASE WHEN c.extended_days IS NOT NULL THEN
                         jsonb_build_object('days', c.extended_days) END,
        'correction', c.correction,
        'opinions', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'step', o.step, 'action', o.action,
                       'actor', jsonb_build_object('name', u.name),
                       'opinion', o.opinion, 'at', govsvc_time(o.at))
                       ORDER BY o.id), '[]')
            FROM case_opinions o JOIN users u ON u.id = o.actor
            WHERE o.case_no = c.case_no),
        'notices', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'notice_no', n.notice_no, 'kind', n.kind,
                       'issued_at', govsvc_time(n.issued_at),
                       'sha256', n.sha256, 'content', n.content)
                       ORDER BY n.issued_at, n.notice_no), '[]')
            FROM notices n WHERE n.case_no = c.case_no),
        'special_procedures', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'kind', s.procedure, 'reason', s.reason,
                       'started_at', govsvc_time(s.started_at),
                       'ended_at', govsvc_time(s.ended_at),
                       'days', coalesce(s.taken_days, s.days),
                       'result', s.result, 'notice_no', s.notice_no)
                       ORDER BY s.id), '[]')
            FROM special_procedures s WHERE s.case_no = c.case_no),
        'version', c.version,
        'row', jsonb_build_object(
            'due_date', c.due_date,
            'paused_since', c.paused_since,
            'step_started_at', govsvc_time(c.step_started_at),
            'step_days', (SELECT (s->>'days')::int
                          FROM jsonb_array_elements(i.steps) s
                          WHERE s->>'code' = c.step LIMIT 1),
            'step_paused_days', c.step_paused_days,
            'resubmitted_at', govsvc_time(c.resubmitted_at),
            'correction_round', c.correction_round,
            'ended_reason', c.ended_reason))
    FROM departments d
    JOIN regions r ON r.code = d.region
    LEFT JOIN items i ON i.code = c.item_code
    WHERE d.id = c.department
$$;

-- As in 0002, and an event naming a case of this node carries its
-- snapshot as this transaction sees it, unless the caller passed one
-- (data.case): a data-modifying CTE must, since a function called from
-- another part of its statement sees the case as it was before.
CREATE OR REPLACE FUNCTION govsvc_outbox_append(p_origin char(6),
                                                p_type text,
                                                p_case_no text,
                                                p_data jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    t timestamptz := now();
    c cases;
BEGIN
    IF p_case_no IS NOT NULL AND jsonb_typeof(p_data) = 'object'
       AND NOT p_data ? 'case'
    THEN
        -- as char: compared as text, the primary key would not serve
        SELECT * INTO c FROM cases
            WHERE case_no = p_case_no::bpchar AND synced IS NULL;
        IF FOUND THEN
            p_data := p_data || jsonb_build_object('case',
                                                   govsvc_case_snapshot(c));
        END IF;
    END IF;

    -- The audit chain's lock first, then the sequence's row: a change
    -- writes both, in either order (a CTE does not say which of its parts
    -- runs first), and two changes taking them in opposite orders
    -- deadlocked under load.  Taken again by govsvc_audit_append, the
    -- lock is already held.
    PERFORM pg_advisory_xact_lock(hashtext('govsvc_audit_log'));

    INSERT INTO outbox_seq AS o (origin, last) VALUES (p_origin, 1)
        ON CONFLICT (origin) DO UPDATE SET last = o.last + 1
        RETURNING last INTO s;

    INSERT INTO outbox (origin, seq, type, case_no, at, data, hash)
    VALUES (p_origin, s, p_type, p_case_no, t, p_data,
            encode(sha256(convert_to(concat_ws('|', p_origin, s, p_type,
                          coalesce(p_case_no, ''), p_data::text), 'UTF8')),
                   'hex'));
    RETURN s;
END
$$;


-- ---- read-only copies ------------------------------------------------------

-- govsvc_sync_case() alone sets govsvc.sync_apply, for its own statement.
CREATE FUNCTION govsvc_case_read_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('govsvc.sync_apply', true) IS DISTINCT FROM 'on' THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'a case of another node is read-only');
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER cases_read_only BEFORE UPDATE OR DELETE ON cases
    FOR EACH ROW WHEN (OLD.synced IS NOT NULL)
    EXECUTE FUNCTION govsvc_case_read_only();

-- The region p_code and the province and city above it, as the region
-- codes imply (core/gs_region), where this node does not know them yet;
-- a region made here is named by its code, but p_code by p_name.
CREATE FUNCTION govsvc_sync_region(p_code text, p_name text)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO regions (code, name, parent, level)
    SELECT r.code, CASE WHEN r.code = p_code
                        THEN coalesce(nullif(p_name, ''), r.code)
                        ELSE r.code END,
           r.parent, r.level
    FROM (VALUES (left(p_code, 2) || '0000', NULL, 1),
                 (left(p_code, 4) || '00', left(p_code, 2) || '0000', 2),
                 (p_code, left(p_code, 4) || '00', 3)) AS r (code, parent,
                                                              level)
    WHERE r.level <= CASE WHEN p_code LIKE '__0000' THEN 1
                          WHEN p_code LIKE '____00' THEN 2
                          ELSE 3 END
    -- the parent's row is checked at the end of the statement
    ON CONFLICT (code) DO NOTHING
$$;

-- The local department of a region and name, made when missing.
CREATE FUNCTION govsvc_sync_department(p_dept jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
    rg text := p_dept->>'region';
BEGIN
    SELECT d.id INTO id FROM departments d
        WHERE d.region = rg AND d.name = p_dept->>'name';
    IF FOUND THEN
        RETURN id;
    END IF;

    PERFORM govsvc_sync_region(rg, p_dept->>'region_name');
    INSERT INTO departments (region, name) VALUES (rg, p_dept->>'name')
        ON CONFLICT (region, name) DO NOTHING
        RETURNING departments.id INTO id;
    IF id IS NULL THEN
        -- made meanwhile by another batch
        SELECT d.id INTO id FROM departments d
            WHERE d.region = rg AND d.name = p_dept->>'name';
    END IF;
    RETURN id;
END
$$;

-- Applies one snapshot s, of event p_origin/p_seq about case p_case_no,
-- to the case's copy: made if new, replaced if s is newer (a higher
-- version, or the same version of a later event: a notice changes no
-- version), left alone otherwise.  A case of this node is never touched.
CREATE FUNCTION govsvc_sync_case(p_origin char(6), p_seq bigint,
                                 p_case_no text, s jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    dept bigint;
    w jsonb := s->'row';
BEGIN
    IF s->>'case_no' IS DISTINCT FROM p_case_no
       OR left(p_case_no, 6) <> p_origin
       OR jsonb_typeof(s->'version') IS DISTINCT FROM 'number'
       OR jsonb_typeof(s#>'{item,code}') IS DISTINCT FROM 'string'
       OR jsonb_typeof(w) IS DISTINCT FROM 'object'
       OR coalesce(s#>>'{department,region}', '') !~ '^[1-8][0-9]{5}$'
       OR coalesce(s#>>'{department,name}', '') = ''
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'event ' || p_origin || '/' || p_seq
                              || ': its case is not one of ' || p_origin,
                              'events');
    END IF;

    dept := govsvc_sync_department(s->'department');

    PERFORM set_config('govsvc.sync_apply', 'on', true);

    INSERT INTO cases AS c (case_no, node, item_code, item_version,
        project_name, applicant, form, materials, channel, department,
        state, step, result, result_code, received_at, accepted_at,
        promised_date, correction, correction_round, resubmitted_at,
        due_date, step_started_at, step_paused_days, paused_since,
        extended_days, licence_no, valid_until, completed_at, ended_reason,
        version, updated_at, synced, synced_seq)
    VALUES (p_case_no, p_origin, s#>>'{item,code}',
        coalesce((s#>>'{item,version}')::int, 1), s->>'project_name',
        s->'applicant', coalesce(s->'form', '{}'),
        coalesce(s->'materials', '[]'), coalesce(s->>'channel', 'window'),
        dept, s->>'state', s->>'step', s->>'result',
        (s->>'result_code')::smallint, (s->>'received_at')::timestamptz,
        (s->>'accepted_at')::timestamptz, (s->>'promised_date')::date,
        s->'correction', coalesce((w->>'correction_round')::int, 0),
        (w->>'resubmitted_at')::timestamptz, (w->>'due_date')::date,
        (w->>'step_started_at')::timestamptz,
        coalesce((w->>'step_paused_days')::int, 0),
        (w->>'paused_since')::date, (s#>>'{extension,days}')::int,
        s#>>'{licence,licence_no}', (s#>>'{licence,valid_until}')::date,
        (s->>'completed_at')::timestamptz, w->>'ended_reason',
        (s->>'version')::int, now(), s, p_seq)
    ON CONFLICT (case_no) DO UPDATE SET
        (item_code, item_version, project_name, applicant, form, materials,
         channel, department, state, step, result, result_code, received_at,
         accepted_at, promised_date, correction, correction_round,
         resubmitted_at, due_date, step_started_at, step_paused_days,
         paused_since, extended_days, licence_no, valid_until, completed_at,
         ended_reason, version, updated_at, synced, synced_seq)
        = (excluded.item_code, excluded.item_version, excluded.project_name,
           excluded.applicant, excluded.form, excluded.materials,
           excluded.channel, excluded.department, excluded.state,
           excluded.step, excluded.result, excluded.result_code,
           excluded.received_at, excluded.accepted_at,
           excluded.promised_date, excluded.correction,
           excluded.correction_round, excluded.resubmitted_at,
           excluded.due_date, excluded.step_started_at,
           excluded.step_paused_days, excluded.paused_since,
           excluded.extended_days, excluded.licence_no,
           excluded.valid_until, excluded.completed_at,
           excluded.ended_reason, excluded.version, excluded.updated_at,
           excluded.synced, excluded.synced_seq)
        WHERE c.synced IS NOT NULL
          AND (c.version, c.synced_seq)
              < (excluded.version, excluded.synced_seq);

    PERFORM set_config('govsvc.sync_apply', '', true);
END
$$;

-- As in 0015; an event held for the first time that carries its case
-- (data.case) is applied to the case's copy too.  Events without one
-- (consultations, older nodes) are only held.
CREATE OR REPLACE FUNCTION govsvc_sync_apply(p_peer char(6), p_subtree text,
                                             p_batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    e record;
    held bigint;
    at_origin text;
    gap jsonb := '{}';
    acked jsonb := '{}';
BEGIN
    IF jsonb_typeof(p_batch->'events') IS DISTINCT FROM 'array'
       OR jsonb_array_length(p_batch->'events') NOT BETWEEN 1 AND 1000
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              '1 to 1000 events', 'events');
    END IF;

    -- one origin at a time, in sequence order
    FOR e IN
        SELECT x.origin, x.seq, x.type, x.case_no, x.at, x.data, x.hash
        FROM jsonb_to_recordset(p_batch->'events') AS x (origin text,
             seq bigint, type text, case_no text, at timestamptz,
             data jsonb, hash text)
        ORDER BY x.origin, x.seq
    LOOP
        IF e.origin IS NULL OR e.origin !~ '^[1-8][0-9]{5}$'
           OR e.seq IS NULL OR e.seq < 1 OR e.type IS NULL
           OR e.at IS NULL OR e.data IS NULL OR e.hash IS NULL
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'every event has origin, seq, type, at,'
                                  || ' data and hash', 'events');
        END IF;

        IF left(e.origin, length(p_subtree)) <> p_subtree THEN
            PERFORM govsvc_refuse(403, 'forbidden',
                                  'origin ' || e.origin || ' is not the'
                                  || ' peer ' || p_peer || ' nor below it');
        END IF;

        IF e.hash <> encode(sha256(convert_to(concat_ws('|', e.origin,
                                   e.seq, e.type, coalesce(e.case_no, ''),
                                   e.data::text), 'UTF8')), 'hex')
        THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'event ' || e.origin || '/' || e.seq
                                  || ' does not match its hash', 'events');
        END IF;

        -- once per origin of the batch: two batches of one origin at
        -- once are applied one after the other, and what is held is
        -- counted on from here (a lookup per event would let a plan made
        -- while the inbox was empty read all of it each time)
        IF e.origin IS DISTINCT FROM at_origin THEN
            at_origin := e.origin;
            PERFORM pg_advisory_xact_lock(hashtext('govsvc:sync:'
                                                   || e.origin));
            SELECT coalesce(max(i.seq), 0) INTO held
                FROM sync_inbox i WHERE i.origin = e.origin::bpchar;
        END IF;

        IF e.seq <= held THEN
            acked := acked || jsonb_build_object(e.origin, held);
            CONTINUE;
        END IF;

        IF e.seq > held + 1 THEN
            gap := gap || jsonb_build_object(e.origin, held + 1);
            -- nothing of this batch is kept
            RAISE EXCEPTION USING ERRCODE = 'GS409',
                MESSAGE = 'sequence_gap',
                DETAIL = 'origin ' || e.origin || ' continues at '
                         || (held + 1),
                HINT = gap::text;
        END IF;

        INSERT INTO sync_inbox (origin, seq, type, case_no, at, data, hash,
                                peer)
            VALUES (e.origin, e.seq, e.type, e.case_no, e.at, e.data,
                    e.hash, p_peer);
        held := e.seq;
        IF jsonb_typeof(e.data->'case') = 'object' THEN
            PERFORM govsvc_sync_case(e.origin, e.seq, e.case_no,
                                     e.data->'case');
        END IF;
        acked := acked || jsonb_build_object(e.origin, e.seq);
    END LOOP;

    UPDATE sync_peers SET acknowledged = (acked->>p_peer)::bigint,
           last_seen = now()
        WHERE region = p_peer AND acked ? p_peer;
    INSERT INTO sync_peers (region, role, acknowledged, last_seen)
        VALUES (p_peer, 'child', coalesce((acked->>p_peer)::bigint, 0),
                now())
        ON CONFLICT (region) DO UPDATE SET last_seen = now();

    RETURN jsonb_build_object('acked', acked);
END
$$;


-- ---- what reads a case -----------------------------------------------------

-- A case as api.md shows it (see 0010), and where it comes from: "origin"
-- its node, "read_only" whether it is a copy.  A copy is its snapshot
-- with this node's department id, without the snapshot's own columns.
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
        'read_only', false) END
    FROM departments d
    LEFT JOIN items i ON i.code = c.item_code
    WHERE d.id = c.department
$$;

-- As in 0010; a copy's step limit is its snapshot's.
CREATE OR REPLACE FUNCTION govsvc_case_clock(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'state', c.state,
        'received', (coalesce(c.resubmitted_at, c.received_at)
                     AT TIME ZONE 'Asia/Shanghai')::date,
        'due', c.due_date,
        'paused_since', c.paused_since,
        'step_started', (c.step_started_at AT TIME ZONE 'Asia/Shanghai')::date,
        'step_days', coalesce((SELECT (s->>'days')::int
                               FROM items i, jsonb_array_elements(i.steps) s
                               WHERE i.code = c.item_code
                                 AND s->>'code' = c.step
                               LIMIT 1),
                              (c.synced #>> '{row,step_days}')::int),
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

-- As in 0012; a copy's step limit is its snapshot's.
CREATE OR REPLACE FUNCTION govsvc_step_overdue(c cases, p_today date)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT CASE
            WHEN l.days IS NULL OR l.days <= 0 THEN false
            WHEN l.started + l.days + c.step_paused_days
                 >= coalesce(c.paused_since, p_today) THEN false
            ELSE coalesce(c.paused_since, p_today)
                 > govsvc_working_day(l.started,
                                      l.days + c.step_paused_days) END
        FROM (SELECT coalesce((SELECT (s->>'days')::int
                               FROM items i, jsonb_array_elements(i.steps) s
                               WHERE i.code = c.item_code
                                 AND s->>'code' = c.step
                               LIMIT 1),
                              (c.synced #>> '{row,step_days}')::int)
                     AS days,
                     (c.step_started_at AT TIME ZONE 'Asia/Shanghai')::date
                     AS started) l
        WHERE c.state IN ('in_progress', 'suspended')
          AND c.step_started_at IS NOT NULL), false)
$$;


-- ---- what would change a copy ----------------------------------------------

-- As in 0010; a copy is refused before anything else is checked, and
-- the case is found by its primary key (compared as text, case_no was
-- read in full).
CREATE OR REPLACE FUNCTION govsvc_case_lock(p_case_no text, p_actor bigint,
                                            p_role text)
RETURNS cases
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    u users;
BEGIN
    SELECT * INTO c FROM cases
        WHERE case_no = p_case_no::bpchar AND state <> 'deleted' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such case');
    END IF;
    IF c.synced IS NOT NULL THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'a case of another node is read-only');
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

-- As in 0012, without copies: their own node's timer issues their cards.
CREATE OR REPLACE FUNCTION govsvc_cards_auto(p_today date, p_yellow int,
                                             OUT issued int,
                                             OUT skipped boolean)
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
                AND c.due_date < yb AND c.synced IS NULL) o,
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

-- As in 0012 (the case found by its primary key, as govsvc_case_lock);
-- a copy takes no card here: it could not reach the department that must
-- answer it.
CREATE OR REPLACE FUNCTION govsvc_card_issue(p_case_no text, p_body jsonb,
                                             p_actor bigint,
                                             p_username text,
                                             p_address text)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    k cards;
BEGIN
    SELECT * INTO c FROM cases
        WHERE case_no = p_case_no::bpchar AND state <> 'deleted';
    IF NOT FOUND THEN
        PERFORM govsvc_refuse(404, 'not_found', 'no such case');
    END IF;
    IF NOT govsvc_supervises(p_actor, (SELECT region FROM departments
                                       WHERE id = c.department))
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'the case is outside your region');
    END IF;
    IF c.synced IS NOT NULL THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'a case of another node is read-only');
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
