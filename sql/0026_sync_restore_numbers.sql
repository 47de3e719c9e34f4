-- A node restored from an older backup gives its daily case numbers out
-- again: a case registered after the restore could take the number of a
-- case lost with the restore, which the parent still holds (a copy that a
-- new case of version 1 never replaces).  With its events (0024) the
-- parent now also tells such a node the highest case number it holds of
-- it for each day since its first event that diverged; the node moves its
-- numbering past them, so that no number is given twice from then on, and
-- names the cases that took a held number between the restore and that
-- answer (for the operator: the alert of the sync client).

-- govsvc_sync_apply() and, for each origin whose events diverged,
-- "cases":{"YYYYMMDD": LAST} in its diverged entry.
CREATE FUNCTION govsvc_sync_receive(p_peer char(6), p_subtree text,
                                    p_batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    answer jsonb := govsvc_sync_apply(p_peer, p_subtree, p_batch);
    o text;
    since date;
BEGIN
    FOR o IN SELECT jsonb_object_keys(answer->'diverged') LOOP
        SELECT (i.at AT TIME ZONE 'Asia/Shanghai')::date INTO since
            FROM sync_inbox i
            WHERE i.origin = o::bpchar
              AND i.seq = (answer #>> ARRAY['diverged', o, 'from'])::bigint;

        answer := jsonb_set(answer, ARRAY['diverged', o, 'cases'],
            coalesce((SELECT jsonb_object_agg(x.day, x.last)
                      FROM (SELECT substr(c.case_no, 7, 8) AS day,
                                   max(right(c.case_no, 6)::int) AS last
                            FROM cases c
                            WHERE c.case_no BETWEEN
                                      (o || to_char(since, 'YYYYMMDD')
                                         || '000000')::bpchar
                                  AND (o || '99999999999999')::bpchar
                            GROUP BY 1) x), '{}'));
    END LOOP;

    RETURN answer;
END
$$;

-- As in 0024, and with the parent's "cases": this node's numbering of
-- each of those days moved past the parent's last, and "collided": this
-- node's cases registered since the restore (their events were numbered
-- again) under a number the parent holds for another case.
CREATE OR REPLACE FUNCTION govsvc_sync_answered(p_node char(6),
                                                p_parent char(6),
                                                p_answer jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    renumbered bigint := 0;
    moved bigint;
    held bigint := (p_answer #>> ARRAY['diverged', p_node, 'held'])::bigint;
    cases jsonb := coalesce(p_answer #> ARRAY['diverged', p_node, 'cases'],
                            '{}');
    collided jsonb;
BEGIN
    IF p_answer->'diverged' ? p_node THEN
        renumbered := govsvc_sync_renumber(p_node,
            (p_answer #>> ARRAY['diverged', p_node, 'from'])::bigint, held);

        INSERT INTO case_seq AS s (node, day, last)
            SELECT p_node, to_date(d.key, 'YYYYMMDD'), d.value::int
            FROM jsonb_each_text(cases) d
            WHERE d.key ~ '^[0-9]{8}$' AND d.value ~ '^[0-9]{1,6}$'
            ON CONFLICT (node, day) DO UPDATE
                SET last = greatest(s.last, excluded.last);

        SELECT jsonb_agg(DISTINCT o.case_no) INTO collided
            FROM outbox o
            JOIN jsonb_each_text(cases) d
              ON d.key = substr(o.case_no, 7, 8)
            WHERE o.origin = p_node AND o.seq > held
              AND o.type = 'case.created'
              AND right(o.case_no, 6)::int <= d.value::int;
    END IF;

    moved := govsvc_sync_acked(p_node, p_parent, p_answer->'acked');

    RETURN jsonb_build_object(
        'moved', greatest(moved, 0),
        'renumbered', renumbered,
        'collided', coalesce(collided, '[]'),
        'diverged', coalesce(p_answer->'diverged', '{}') - p_node::text,
        'ahead', moved < 0);
END
$$;
