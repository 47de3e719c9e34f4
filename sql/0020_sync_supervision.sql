-- Three-tier linkage, supervision up: a parent keeps a read-only copy of
-- each card (card.issue, card.revoke, card.respond) and rating
-- (case.evaluated) of its children's cases, so that its card list, its
-- warnings and its statistics (cards counted by index, ratings by the
-- triggers of 0012) count them as they count its own: the province holds
-- every case of the province, and what its supervision found.
--
-- A copy is made when the event is held for the first time, for a case
-- whose copy (0016) is already here: its department and item are the
-- copy's, since the child's department ids mean nothing here.  An event
-- of a case without a copy, or whose data does not fit (a newer or older
-- node), is only held, with a warning in the log: a refused batch would
-- stall the child's sync for good over one card.
--
-- The events relayed from further down are copied too: a province copies
-- a county's cards as its city does, each from the county's own events.

-- A copy: origin is the node that issued the card, origin_id its id
-- there.  It has no local users (the child's ids mean nothing here), and
-- names an item of another node, as its case does.
ALTER TABLE cards
    ADD COLUMN origin    char(6),
    ADD COLUMN origin_id bigint,
    DROP CONSTRAINT cards_item_code_fkey,
    DROP CONSTRAINT cards_check,
    DROP CONSTRAINT cards_check1,
    ADD CONSTRAINT cards_origin_check
        CHECK ((origin IS NULL) = (origin_id IS NULL)),
    ADD CONSTRAINT cards_issued_by_check
        CHECK (origin IS NOT NULL OR (source = 'auto') = (issued_by IS NULL)),
    ADD CONSTRAINT cards_revoked_by_check
        CHECK (origin IS NOT NULL
               OR (revoked_at IS NULL) = (revoked_by IS NULL)),
    ADD CONSTRAINT cards_copy_users_check
        CHECK (origin IS NULL
               OR num_nonnulls(issued_by, revoked_by, responded_by) = 0);

COMMENT ON COLUMN cards.origin IS
    'a child''s card: the node that issued it';
COMMENT ON COLUMN cards.origin_id IS
    'the card''s id in its origin';

CREATE UNIQUE INDEX cards_origin_idx ON cards (origin, origin_id)
    WHERE origin IS NOT NULL;

-- Copies event e, held here, into cards or evaluations, if its case has a
-- copy of e's origin: as the earlier events left it, since the trigger
-- below fires before govsvc_sync_apply() applies e's own snapshot (a
-- case's first event is case.created, never one of these).  Every card event carries the whole card, so a
-- later one (sequences are applied in order) replaces the copy's state; a
-- rating comes once, and again only with a batch already held, which
-- never gets here.  A rating copy opens no rectification: the child's
-- department answers its own (rectification.opened is only held).
CREATE FUNCTION govsvc_sync_supervision_copy(e sync_inbox) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    d jsonb := e.data;
BEGIN
    -- as char: compared as text, the primary key would not serve
    SELECT * INTO c FROM cases
        WHERE case_no = e.case_no::bpchar AND synced IS NOT NULL
          AND node = e.origin;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    BEGIN
        IF e.type = 'case.evaluated' THEN
            INSERT INTO evaluations (case_no, score, channel, comment,
                                     created_at)
                VALUES (c.case_no, (d->>'score')::smallint, d->>'channel',
                        d->>'comment', (d->>'at')::timestamptz)
                ON CONFLICT (case_no) DO NOTHING;
        ELSE
            INSERT INTO cards AS k (case_no, department, item_code, color,
                source, reason, issued_at, revoked_at, revoke_reason,
                response, responded_at, origin, origin_id)
            VALUES (c.case_no, c.department, c.item_code, d->>'color',
                d->>'source', d->>'reason', (d->>'issued_at')::timestamptz,
                (d->>'revoked_at')::timestamptz, d->>'revoke_reason',
                d->>'response', (d->>'responded_at')::timestamptz,
                e.origin, (d->>'id')::bigint)
            ON CONFLICT (origin, origin_id) WHERE origin IS NOT NULL
            DO UPDATE SET
                (color, source, reason, issued_at, revoked_at,
                 revoke_reason, response, responded_at)
                = (excluded.color, excluded.source, excluded.reason,
                   excluded.issued_at, excluded.revoked_at,
                   excluded.revoke_reason, excluded.response,
                   excluded.responded_at)
                -- a card never moves to another case
                WHERE k.case_no = excluded.case_no;
        END IF;
    EXCEPTION
        WHEN data_exception OR integrity_constraint_violation THEN
            RAISE WARNING 'govsvc: event %/% (%) held but not copied: %',
                e.origin, e.seq, e.type, SQLERRM;
    END;
END
$$;

CREATE FUNCTION govsvc_sync_supervision_held() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM govsvc_sync_supervision_copy(NEW);
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_inbox_supervision AFTER INSERT ON sync_inbox
    FOR EACH ROW
    WHEN (NEW.type LIKE 'card.%' OR NEW.type = 'case.evaluated')
    EXECUTE FUNCTION govsvc_sync_supervision_held();

-- what was held before this migration, in each origin's order
DO $$
DECLARE
    e sync_inbox;
BEGIN
    FOR e IN
        SELECT * FROM sync_inbox
        WHERE type LIKE 'card.%' OR type = 'case.evaluated'
        ORDER BY origin, seq
    LOOP
        PERFORM govsvc_sync_supervision_copy(e);
    END LOOP;
END
$$;


-- ---- what reads a card -----------------------------------------------------

-- As in 0012, and where it comes from: "origin" its node, "read_only"
-- whether it is a copy.  A copy's item may be unknown here: its case's
-- snapshot names it.
CREATE OR REPLACE FUNCTION govsvc_card_json(k cards) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', k.id,
        'case_no', k.case_no,
        'project_name', c.project_name,
        'item', json_build_object('code', c.item_code,
                                  'name', coalesce(i.name,
                                      c.synced #>> '{item,name}')),
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
        'responded_at', govsvc_time(k.responded_at),
        'origin', coalesce(k.origin, c.node),
        'read_only', k.origin IS NOT NULL)
    FROM cases c
    JOIN departments d ON d.id = k.department
    LEFT JOIN items i ON i.code = c.item_code
    WHERE c.case_no = k.case_no
$$;


-- ---- what would change a copy ----------------------------------------------

-- As in 0012; a copy is refused before anything else is checked: its
-- own node's supervisors decide it.
CREATE OR REPLACE FUNCTION govsvc_card_revoke(p_id bigint, p_body jsonb,
                                              p_actor bigint,
                                              p_username text,
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
    IF k.origin IS NOT NULL THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'a card of another node is read-only');
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

-- As in 0012; a copy is answered by its own node's department.
CREATE OR REPLACE FUNCTION govsvc_card_respond(p_id bigint, p_body jsonb,
                                               p_actor bigint,
                                               p_username text,
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
    IF k.origin IS NOT NULL THEN
        PERFORM govsvc_refuse(403, 'forbidden',
                              'a card of another node is read-only');
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
