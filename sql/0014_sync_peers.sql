-- Three-tier linkage (三级联动), the first part: what a node knows of its
-- peers.  The parent acknowledges this node's outbox up to a sequence;
-- each child's origin is applied here up to a sequence, and the child was
-- last heard from at a time.  The region of a peer is the one its
-- verified node certificate names, never a header or a body.

CREATE TABLE sync_peers (
    region        char(6) PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('parent', 'child')),
    acknowledged  bigint NOT NULL DEFAULT 0,
    last_seen     timestamptz
);

-- The status of this node (p_node): its outbox against what its parent
-- acknowledged, and its children; p_peer, a child, is seen now.
CREATE FUNCTION govsvc_sync_status(p_node char(6), p_parent char(6),
                                   p_peer char(6))
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    acked bigint;
BEGIN
    IF p_peer IS NOT NULL THEN
        INSERT INTO sync_peers (region, role, last_seen)
            VALUES (p_peer, 'child', now())
            ON CONFLICT (region) DO UPDATE SET last_seen = now();
    END IF;

    SELECT coalesce((SELECT s.last FROM outbox_seq s
                     WHERE s.origin = p_node), 0) INTO last;
    SELECT coalesce((SELECT p.acknowledged FROM sync_peers p
                     WHERE p.region = p_parent AND p.role = 'parent'), 0)
        INTO acked;

    RETURN json_build_object(
        'node', p_node,
        'level', CASE WHEN p_node ~ '0000$' THEN 'province'
                      WHEN p_node ~ '00$' THEN 'city'
                      ELSE 'county' END,
        'parent', p_parent,
        'outbox', json_build_object(
            'last', last,
            'acknowledged', acked,
            'lag_events', last - acked,
            'lag_seconds', coalesce((
                SELECT floor(extract(epoch FROM now() - min(o.at)))::bigint
                FROM outbox o
                WHERE o.origin = p_node AND o.seq > acked), 0)),
        'children', (
            SELECT coalesce(json_agg(json_build_object(
                       'region', p.region, 'acknowledged', p.acknowledged,
                       'last_seen', govsvc_time(p.last_seen))
                       ORDER BY p.region), '[]')
            FROM sync_peers p WHERE p.role = 'child'));
END
$$;
