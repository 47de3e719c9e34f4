-- Three-tier linkage: several nginx instances of one node (behind a load
-- balancer, on one database) push to the parent one at a time.  Within
-- an instance the shared zone picks the worker; across instances this
-- row does: the instance holding it renews it with every round, and
-- another takes it over once it has not been renewed for its duration.

CREATE TABLE sync_lease (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    holder  text NOT NULL,
    until   timestamptz NOT NULL
);

-- Takes or renews the lease for p_holder for p_ms milliseconds: true when
-- p_holder holds it now, false when another instance does.
CREATE FUNCTION govsvc_sync_lease(p_holder text, p_ms int)
RETURNS boolean
LANGUAGE sql AS $$
    WITH taken AS (
        INSERT INTO sync_lease AS l (id, holder, until)
        VALUES (true, p_holder, clock_timestamp() + p_ms * interval '1 ms')
        ON CONFLICT (id) DO UPDATE
            SET holder = excluded.holder, until = excluded.until
            WHERE l.holder = excluded.holder
               OR l.until < clock_timestamp()
        RETURNING true AS held)
    SELECT coalesce((SELECT held FROM taken), false)
$$;
