-- Events a child numbered again after a restore from an older backup are
-- no longer lost at the parent.  Until now the parent skipped every event
-- it held under an (origin, seq), whatever it was, and the child, seeing
-- the parent ahead of its outbox, moved its numbering on and raised the
-- alarm: the events numbered between the restore and that push existed
-- only at the child.  Now the parent compares the hash of each event it
-- skips with the one it holds and answers the first that differs per
-- origin, {"acked":{...},"diverged":{ORIGIN:{"from":SEQ,"held":SEQ}}};
-- the child numbers its own events from there on again, after everything
-- the parent holds, and sends them with the next round.  And the parent
-- acknowledges no further than the last event of the batch, even when it
-- holds more: a child ahead of what it sent would otherwise count events
-- as delivered that the parent never compared.

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
    diverged jsonb := '{}';
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
            -- held under this number, but another event: the origin was
            -- restored from an older backup and numbered again
            IF NOT diverged ? e.origin
               AND EXISTS (SELECT 1 FROM sync_inbox i
                           WHERE i.origin = e.origin::bpchar
                             AND i.seq = e.seq AND i.hash <> e.hash)
            THEN
                diverged := diverged || jsonb_build_object(e.origin,
                    jsonb_build_object('from', e.seq, 'held', held));
            END IF;
            acked := acked || jsonb_build_object(e.origin, e.seq);
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

    RETURN jsonb_build_object('acked', acked)
           || CASE WHEN diverged = '{}' THEN '{}'
                   ELSE jsonb_build_object('diverged', diverged) END;
END
$$;


-- This node's own events from p_from on, which the parent skipped because
-- it holds other events under their numbers, numbered again after both
-- p_after (the last the parent holds) and this node's last, in their
-- order, with their hashes made again.  Nobody holds them under their old
-- numbers: the parent skipped them and only the parent is sent events.
-- Returns how many were numbered again.
CREATE FUNCTION govsvc_sync_renumber(p_node char(6), p_from bigint,
                                     p_after bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    n bigint;
BEGIN
    -- in govsvc_outbox_append()'s order: the audit lock, then the row
    PERFORM pg_advisory_xact_lock(hashtext('govsvc_audit_log'));
    SELECT greatest(s.last, p_after) INTO base
        FROM outbox_seq s WHERE s.origin = p_node FOR UPDATE;

    WITH moved AS (
        DELETE FROM outbox o WHERE o.origin = p_node AND o.seq >= p_from
        RETURNING o.*),
    renumbered AS (
        SELECT m.origin, base + row_number() OVER (ORDER BY m.seq) AS seq,
               m.type, m.case_no, m.at, m.data
        FROM moved m)
    INSERT INTO outbox (origin, seq, type, case_no, at, data, hash)
        SELECT r.origin, r.seq, r.type, r.case_no, r.at, r.data,
               encode(sha256(convert_to(concat_ws('|', r.origin, r.seq,
                      r.type, coalesce(r.case_no, ''), r.data::text),
                      'UTF8')), 'hex')
        FROM renumbered r;
    GET DIAGNOSTICS n = ROW_COUNT;

    UPDATE outbox_seq SET last = base + n WHERE origin = p_node;
    RETURN n;
END
$$;

-- The parent's 200 answer to a batch: this node's own events it reports
-- diverged are numbered again (govsvc_sync_renumber), then the
-- acknowledgements are recorded (govsvc_sync_acked).  Returns
-- {"moved": events acknowledged for the first time, "renumbered": N,
--  "diverged": origins other than this node's that differ (a node below
-- restored; nothing to do here but tell), "ahead": whether the parent
-- acknowledged more of this node's events than it numbered (a parent
-- that acknowledges what it holds rather than what it was sent, as
-- before 0024: numbering moved on, events possibly lost)}.
CREATE FUNCTION govsvc_sync_answered(p_node char(6), p_parent char(6),
                                     p_answer jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    renumbered bigint := 0;
    moved bigint;
BEGIN
    IF p_answer->'diverged' ? p_node THEN
        renumbered := govsvc_sync_renumber(p_node,
            (p_answer #>> ARRAY['diverged', p_node, 'from'])::bigint,
            (p_answer #>> ARRAY['diverged', p_node, 'held'])::bigint);
    END IF;

    moved := govsvc_sync_acked(p_node, p_parent, p_answer->'acked');

    RETURN jsonb_build_object(
        'moved', greatest(moved, 0),
        'renumbered', renumbered,
        'diverged', coalesce(p_answer->'diverged', '{}') - p_node::text,
        'ahead', moved < 0);
END
$$;
