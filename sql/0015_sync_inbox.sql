-- Three-tier linkage, the second part: a parent applies its children's
-- batches.  Each origin's events arrive in their own gapless sequence;
-- what is held is kept in sync_inbox as it came (origin, sequence and
-- hash unchanged), which is also what this node relays to its own parent.

CREATE TABLE sync_inbox (
    origin        char(6) NOT NULL,
    seq           bigint NOT NULL CHECK (seq > 0),
    type          text NOT NULL,
    case_no       text,
    at            timestamptz NOT NULL,
    data          jsonb NOT NULL,
    hash          char(64) NOT NULL,
    peer          char(6) NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin, seq)
);

-- Applies a batch from p_peer, a child of this node, in one transaction.
-- Events already held are skipped; a gap in an origin's sequence, an
-- origin outside the peer's subtree (p_subtree: its code's prefix) or an
-- event whose hash is not its own refuses the whole batch.  Returns
-- {"acked": {ORIGIN: SEQ}} (every origin of the batch, to what is held),
-- or {"gap": {ORIGIN: EXPECTED}} with nothing written.
CREATE FUNCTION govsvc_sync_apply(p_peer char(6), p_subtree text,
                                  p_batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    e record;
    held bigint;
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

        -- two batches of one origin at once: one after the other
        PERFORM pg_advisory_xact_lock(hashtext('govsvc:sync:' || e.origin));
        SELECT coalesce(max(i.seq), 0) INTO held
            FROM sync_inbox i WHERE i.origin = e.origin;

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
