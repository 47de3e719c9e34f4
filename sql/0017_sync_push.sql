-- Three-tier linkage, the third part: what this node pushes to its
-- parent.  Its own outbox and the events it holds from its children
-- (sync_inbox) go up unchanged; sync_upstream remembers, per origin, up to
-- which sequence the parent has acknowledged.  A batch is a prefix of each
-- origin's pending events, so the parent never sees a gap that is not a
-- lost acknowledgement.

CREATE TABLE sync_upstream (
    origin        char(6) PRIMARY KEY,
    acked         bigint NOT NULL DEFAULT 0,
    acked_at      timestamptz
);

-- an origin first held here is one more to relay
CREATE FUNCTION govsvc_sync_upstream_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_upstream (origin) VALUES (NEW.origin)
        ON CONFLICT (origin) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_inbox_upstream AFTER INSERT ON sync_inbox
    FOR EACH ROW EXECUTE FUNCTION govsvc_sync_upstream_add();

INSERT INTO sync_upstream (origin)
    SELECT DISTINCT origin FROM sync_inbox
    ON CONFLICT (origin) DO NOTHING;

-- The next batch for the parent (api.md's shape) with at most p_limit
-- events and about 4 MB of data, taken in turn from every origin so that
-- one busy county cannot hold the others back; NULL when nothing is
-- pending.  The events' data
-- is the jsonb kept here, so that its text, and therefore its hash, is
-- the one the origin computed.
CREATE FUNCTION govsvc_sync_pending(p_node char(6), p_limit int)
RETURNS text
LANGUAGE sql STABLE AS $$
    WITH o AS (
        SELECT p_node AS origin,
               coalesce((SELECT u.acked FROM sync_upstream u
                         WHERE u.origin = p_node), 0) AS acked
        UNION ALL
        SELECT u.origin, u.acked FROM sync_upstream u
        WHERE u.origin <> p_node
    ), e AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.origin
                                       ORDER BY x.seq) AS turn
        FROM o, LATERAL (
            SELECT b.origin, b.seq, b.type, b.case_no, b.at, b.data, b.hash
            FROM outbox b
            WHERE o.origin = p_node AND b.origin = o.origin
              AND b.seq > o.acked
            ORDER BY b.seq LIMIT p_limit) x
        UNION ALL
        SELECT x.*, row_number() OVER (PARTITION BY x.origin
                                       ORDER BY x.seq)
        FROM o, LATERAL (
            SELECT i.origin, i.seq, i.type, i.case_no, i.at, i.data, i.hash
            FROM sync_inbox i
            WHERE o.origin <> p_node AND i.origin = o.origin
              AND i.seq > o.acked
            ORDER BY i.seq LIMIT p_limit) x
    ), taken AS (
        SELECT e.*, sum(octet_length(e.data::text))
                        OVER (ORDER BY e.turn, e.origin) AS bytes
        FROM (SELECT * FROM e ORDER BY turn, origin LIMIT p_limit) e
    ), batch AS (
        -- about 4 MB at most (the parent reads 8 MB), one event always
        SELECT * FROM taken t
        WHERE t.bytes - octet_length(t.data::text) < 4194304
    )
    SELECT json_build_object(
               'origin', p_node,
               'batch_id', p_node || '-' || min(b.origin || ':' || b.seq)
                           || '-' || count(*),
               'events', json_agg(json_build_object(
                   'origin', b.origin, 'seq', b.seq, 'type', b.type,
                   'case_no', b.case_no, 'at', govsvc_time(b.at),
                   'data', b.data, 'hash', b.hash)
                   ORDER BY b.origin, b.seq))::text
    FROM batch b
    HAVING count(*) > 0
$$;

-- The parent's answer to a batch: {"acked":{ORIGIN: SEQ}} moves each
-- origin forward (never back: a late answer to an older batch changes
-- nothing); the node's own origin is also the parent's row of
-- sync_peers, which GET /sync/v1/status reports.  Returns how many events
-- the answer acknowledged for the first time.
--
-- A parent that holds more of this node's own events than its outbox has
-- numbered means this node was restored from an older backup: the events
-- it numbered again since were skipped as held, and so would the next.
-- The sequence moves on past the parent's, so that nothing more is lost,
-- and the answer is -1 - the count of events the parent may have skipped
-- (those this node sent and had not had acknowledged: some may be the
-- parent's very events, held from before the backup), for the caller to
-- raise the alarm (DEPLOYMENT.md, "Backup and restore").
CREATE FUNCTION govsvc_sync_acked(p_node char(6), p_parent char(6),
                                  p_acked jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
    mine bigint;
    lost bigint;
    theirs bigint := (p_acked->>p_node)::bigint;
BEGIN
    SELECT s.last INTO mine FROM outbox_seq s WHERE s.origin = p_node;
    IF theirs > coalesce(mine, 0) THEN
        INSERT INTO outbox_seq AS o (origin, last) VALUES (p_node, theirs)
            ON CONFLICT (origin) DO UPDATE
                SET last = greatest(o.last, excluded.last);
        lost := greatest(coalesce(mine, 0) - coalesce((SELECT u.acked
                    FROM sync_upstream u WHERE u.origin = p_node), 0), 0);
    END IF;

    SELECT coalesce(sum(greatest(a.value::bigint - coalesce(u.acked, 0),
                                 0)), 0)
        INTO moved
        FROM jsonb_each_text(p_acked) a
        LEFT JOIN sync_upstream u ON u.origin = a.key;

    INSERT INTO sync_upstream AS u (origin, acked, acked_at)
        SELECT a.key, a.value::bigint, now()
        FROM jsonb_each_text(p_acked) a
        ON CONFLICT (origin) DO UPDATE
            SET acked = greatest(u.acked, excluded.acked),
                acked_at = now();

    IF p_acked ? p_node THEN
        INSERT INTO sync_peers AS p (region, role, acknowledged, last_seen)
            VALUES (p_parent, 'parent', (p_acked->>p_node)::bigint, now())
            ON CONFLICT (region) DO UPDATE
                SET acknowledged = greatest(p.acknowledged,
                                            excluded.acknowledged),
                    last_seen = now();
    END IF;

    RETURN CASE WHEN lost IS NULL THEN moved ELSE -1 - lost END;
END
$$;

-- The parent's 409 sequence_gap: {"ORIGIN": EXPECTED} is where it
-- continues, whatever this node believed (a parent restored from a
-- backup holds less than it acknowledged).
CREATE FUNCTION govsvc_sync_rewind(p_node char(6), p_parent char(6),
                                   p_expected jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_upstream AS u (origin, acked, acked_at)
        SELECT e.key, e.value::bigint - 1, now()
        FROM jsonb_each_text(p_expected) e
        WHERE e.value ~ '^[1-9][0-9]{0,17}$'
        ON CONFLICT (origin) DO UPDATE
            SET acked = excluded.acked, acked_at = now();

    IF p_expected ? p_node THEN
        UPDATE sync_peers SET acknowledged = (p_expected->>p_node)::bigint - 1
            WHERE region = p_parent AND role = 'parent';
    END IF;

    RETURN 0;
END
$$;
