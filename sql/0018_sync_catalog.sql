-- Three-tier linkage, the third part: the catalog flows down.  Items,
-- departments and the working-day calendar published at a level reach
-- every node below it: a child asks its parent for the changes after the
-- catalog version it holds (GET /sync/v1/catalog?since=N, built by
-- govsvc_catalog_page()) and applies each answer with
-- govsvc_catalog_apply().  A row received from above keeps the region it
-- came from in source (NULL: made here) and is never edited here.
--
-- A department is known across nodes by uid: ids are per database, and a
-- name can change.

CREATE SEQUENCE catalog_version_seq;

ALTER TABLE departments
    ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    ADD COLUMN source char(6) CHECK (source ~ '^[1-8][0-9]{5}$'),
    ADD COLUMN catalog_version bigint;
ALTER TABLE items
    ADD COLUMN source char(6) CHECK (source ~ '^[1-8][0-9]{5}$'),
    ADD COLUMN catalog_version bigint;
ALTER TABLE calendar_days
    ADD COLUMN source char(6) CHECK (source ~ '^[1-8][0-9]{5}$'),
    ADD COLUMN catalog_version bigint;

-- what was there before has been published, in this order
UPDATE departments SET catalog_version = nextval('catalog_version_seq');
UPDATE items SET catalog_version = nextval('catalog_version_seq');
UPDATE calendar_days SET catalog_version = nextval('catalog_version_seq');

ALTER TABLE departments ALTER COLUMN catalog_version SET NOT NULL;
ALTER TABLE items ALTER COLUMN catalog_version SET NOT NULL;
ALTER TABLE calendar_days ALTER COLUMN catalog_version SET NOT NULL;

CREATE INDEX departments_catalog_version_idx ON departments (catalog_version);
CREATE INDEX items_catalog_version_idx ON items (catalog_version);
CREATE INDEX calendar_days_catalog_version_idx
    ON calendar_days (catalog_version);

-- A deleted calendar day leaves its tombstone, or a child would keep it.
-- A day set again takes its tombstone away.
CREATE TABLE calendar_tombstones (
    day              date PRIMARY KEY,
    source           char(6),
    catalog_version  bigint NOT NULL
);

CREATE INDEX calendar_tombstones_catalog_version_idx
    ON calendar_tombstones (catalog_version);

-- The version each parent's catalog has been applied to here.
CREATE TABLE sync_catalog (
    parent        char(6) PRIMARY KEY,
    version       bigint NOT NULL CHECK (version >= 0),
    pulled_at     timestamptz NOT NULL DEFAULT now()
);


-- Versions must be drawn in commit order, or a child that read up to N
-- could miss a row committed later under a number at or below N: every
-- statement that writes the catalog takes one lock, held to commit,
-- before its first row draws a version.  Catalog edits are rare.  Taken
-- per statement, before any row lock, so that it cannot deadlock with a
-- single-row edit.
CREATE FUNCTION govsvc_catalog_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:catalog'));
    RETURN NULL;
END
$$;

CREATE FUNCTION govsvc_catalog_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.catalog_version := nextval('catalog_version_seq');

    IF TG_TABLE_NAME = 'calendar_days' AND TG_OP = 'INSERT' THEN
        DELETE FROM calendar_tombstones WHERE day = NEW.day;
    END IF;

    RETURN NEW;
END
$$;

CREATE FUNCTION govsvc_calendar_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO calendar_tombstones (day, source, catalog_version)
        VALUES (OLD.day, OLD.source, nextval('catalog_version_seq'))
        ON CONFLICT (day) DO UPDATE SET source = EXCLUDED.source,
            catalog_version = EXCLUDED.catalog_version;
    RETURN NULL;
END
$$;

-- What came from above is changed only by govsvc_catalog_apply() for the
-- parent it came from (the transaction-local govsvc.catalog_from); every
-- other change answers 403, naming where it is to be edited: the region
-- that published an item or department, the parent for a calendar day.
CREATE FUNCTION govsvc_catalog_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.source IS NOT NULL
       AND current_setting('govsvc.catalog_from', true)
           IS DISTINCT FROM OLD.source
    THEN
        PERFORM govsvc_refuse(403, 'forbidden',
            'received from above, edit it at '
            || coalesce(to_jsonb(OLD) ->> 'region', OLD.source));
    END IF;

    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER departments_catalog_lock
    BEFORE INSERT OR UPDATE OR DELETE ON departments
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_catalog_lock();
CREATE TRIGGER departments_catalog_guard
    BEFORE UPDATE OR DELETE ON departments
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_guard();
CREATE TRIGGER departments_catalog_version
    BEFORE INSERT OR UPDATE ON departments
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_version();

CREATE TRIGGER items_catalog_lock
    BEFORE INSERT OR UPDATE OR DELETE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_catalog_lock();
CREATE TRIGGER items_catalog_guard
    BEFORE UPDATE OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_guard();
CREATE TRIGGER items_catalog_version
    BEFORE INSERT OR UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_version();

CREATE TRIGGER calendar_days_catalog_lock
    BEFORE INSERT OR UPDATE OR DELETE ON calendar_days
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_catalog_lock();
CREATE TRIGGER calendar_days_catalog_guard
    BEFORE UPDATE OR DELETE ON calendar_days
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_guard();
CREATE TRIGGER calendar_days_catalog_version
    BEFORE INSERT OR UPDATE ON calendar_days
    FOR EACH ROW EXECUTE FUNCTION govsvc_catalog_version();
CREATE TRIGGER calendar_days_catalog_tombstone
    AFTER DELETE ON calendar_days
    FOR EACH ROW EXECUTE FUNCTION govsvc_calendar_tombstone();


-- Whether a row of node p_node flows down to its children: it belongs to
-- this node's level or above (p_region; a calendar day has none), and was
-- made here or received from this node's parent, not from elsewhere.
CREATE FUNCTION govsvc_catalog_flows(p_node char(6), p_region char(6),
                                     p_source char(6))
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_region IS NULL
            OR p_region IN (p_node, left(p_node, 4) || '00',
                            left(p_node, 2) || '0000'))
       AND (p_source IS NULL
            OR (p_node !~ '0000$'
                AND p_source = CASE WHEN p_node ~ '00$'
                                    THEN left(p_node, 2) || '0000'
                                    ELSE left(p_node, 4) || '00' END))
$$;

-- The catalog of node p_node after version p_since, for its child
-- p_peer (seen now): at most 500 changes in version order, as
--   {"since": N, "items": [ITEM], "departments": [DEPARTMENT],
--    "calendar": [{"day","kind","name"} | {"day","deleted":true}],
--    "next": M, "more": true|false}
-- where an ITEM is the item of api.md with "department" {"uid","region",
-- "name"} instead of an id, and a DEPARTMENT {"uid","region","name",
-- "phone"}.  The departments of the page's items come with it, changed
-- or not, so that a page can be applied on its own.  next is the version
-- to ask from next; more, whether there is more after it.
CREATE FUNCTION govsvc_catalog_page(p_node char(6), p_peer char(6),
                                    p_since bigint)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    lim CONSTANT int := 500;
    upto bigint;
    more boolean;
BEGIN
    INSERT INTO sync_peers (region, role, last_seen)
        VALUES (p_peer, 'child', now())
        ON CONFLICT (region) DO UPDATE SET last_seen = now();

    -- versions are unique across the three tables: one sequence
    SELECT coalesce(max(c.v) FILTER (WHERE c.n <= lim), p_since),
           count(*) > lim
        INTO upto, more
    FROM (SELECT u.v, row_number() OVER (ORDER BY u.v) AS n
          FROM (SELECT d.catalog_version AS v FROM departments d
                WHERE d.catalog_version > p_since
                  AND govsvc_catalog_flows(p_node, d.region, d.source)
                UNION ALL
                SELECT i.catalog_version FROM items i
                WHERE i.catalog_version > p_since
                  AND govsvc_catalog_flows(p_node, i.region, i.source)
                UNION ALL
                SELECT k.catalog_version FROM calendar_days k
                WHERE k.catalog_version > p_since
                  AND govsvc_catalog_flows(p_node, NULL, k.source)
                UNION ALL
                SELECT t.catalog_version FROM calendar_tombstones t
                WHERE t.catalog_version > p_since
                  AND govsvc_catalog_flows(p_node, NULL, t.source)
                ORDER BY 1 LIMIT lim + 1) u) c;

    RETURN json_build_object(
        'since', p_since,
        'items', (
            SELECT coalesce(json_agg(json_build_object(
                       'code', i.code, 'basic_code', i.basic_code,
                       'name', i.name, 'type', i.type,
                       'case_type', i.case_type,
                       'department', json_build_object('uid', d.uid,
                           'region', d.region, 'name', d.name),
                       'region', i.region, 'legal_days', i.legal_days,
                       'promised_days', i.promised_days,
                       'materials', i.materials, 'fields', i.fields,
                       'steps', i.steps, 'fees', i.fees,
                       'status', i.status, 'version', i.version)
                       ORDER BY i.catalog_version), '[]')
            FROM items i JOIN departments d ON d.id = i.department
            WHERE i.catalog_version > p_since AND i.catalog_version <= upto
              AND govsvc_catalog_flows(p_node, i.region, i.source)),
        'departments', (
            SELECT coalesce(json_agg(json_build_object(
                       'uid', d.uid, 'region', d.region, 'name', d.name,
                       'phone', d.phone) ORDER BY d.catalog_version), '[]')
            FROM departments d
            WHERE (d.catalog_version > p_since AND d.catalog_version <= upto
                   AND govsvc_catalog_flows(p_node, d.region, d.source))
               OR d.id IN (SELECT i.department FROM items i
                           WHERE i.catalog_version > p_since
                             AND i.catalog_version <= upto
                             AND govsvc_catalog_flows(p_node, i.region,
                                                      i.source))),
        'calendar', (
            SELECT coalesce(json_agg(c.e ORDER BY c.v), '[]')
            FROM (SELECT k.catalog_version AS v, json_build_object(
                         'day', k.day, 'kind', k.kind, 'name', k.name) AS e
                  FROM calendar_days k
                  WHERE k.catalog_version > p_since
                    AND k.catalog_version <= upto
                    AND govsvc_catalog_flows(p_node, NULL, k.source)
                  UNION ALL
                  SELECT t.catalog_version, json_build_object(
                         'day', t.day, 'deleted', true)
                  FROM calendar_tombstones t
                  WHERE t.catalog_version > p_since
                    AND t.catalog_version <= upto
                    AND govsvc_catalog_flows(p_node, NULL, t.source)) c),
        'next', upto,
        'more', more);
END
$$;

-- The version of p_parent's catalog to ask from.
CREATE FUNCTION govsvc_catalog_since(p_parent char(6)) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT version FROM sync_catalog
                     WHERE parent = p_parent), 0)
$$;

-- Applies p_page, an answer of p_parent's GET /sync/v1/catalog, in one
-- transaction: departments by uid, items by code (their department mapped
-- to its id here), calendar days by day, all marked source = p_parent,
-- and the version to ask from next.  What this node made itself is not
-- overwritten: an item whose code, or a department whose uid or region
-- and name, is already this node's own is skipped and named in
-- "skipped" (with the items of a skipped department); a calendar day is
-- the one exception: the day published above replaces this node's own.
-- A tombstone deletes only a day received from p_parent.  A page that
-- does not start at the version held (applied already, or older) changes
-- nothing; neither does a row that is already as received.  A malformed
-- page answers 422.  Returns {"next": M, "more": bool, "calendar_years":
-- [years whose days changed], "skipped": ["item CODE",
-- "department REGION NAME"]}.
CREATE FUNCTION govsvc_catalog_apply(p_parent char(6), p_page jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
    upto bigint;
    dept bigint;
    src char(6);
    d record;
    i record;
    k record;
    years int[] := '{}';
    skipped jsonb := '[]';
BEGIN
    IF p_parent IS NULL OR p_parent !~ '^[1-8][0-9]{5}$'
       OR jsonb_typeof(p_page) IS DISTINCT FROM 'object'
       OR jsonb_typeof(p_page->'since') IS DISTINCT FROM 'number'
       OR jsonb_typeof(p_page->'next') IS DISTINCT FROM 'number'
       OR jsonb_typeof(p_page->'more') IS DISTINCT FROM 'boolean'
       OR jsonb_typeof(p_page->'items') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_page->'departments') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_page->'calendar') IS DISTINCT FROM 'array'
    THEN
        PERFORM govsvc_refuse(422, 'validation_failed',
                              'a catalog page has since, next, more, items,'
                              || ' departments and calendar', 'catalog');
    END IF;

    -- two pulls from one parent at once: one after the other; and the
    -- catalog lock before any row, as the triggers take it
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:catalog:' || p_parent));
    PERFORM pg_advisory_xact_lock(hashtext('govsvc:catalog'));

    held := govsvc_catalog_since(p_parent);

    BEGIN
        upto := (p_page->>'next')::bigint;

        IF (p_page->>'since')::bigint <> held THEN
            RETURN jsonb_build_object('next', held, 'more', true,
                                      'calendar_years', '[]'::jsonb,
                                      'skipped', '[]'::jsonb);
        END IF;

        IF upto < held THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'next is before since', 'next');
        END IF;

        PERFORM set_config('govsvc.catalog_from', p_parent, true);

        FOR d IN
            SELECT * FROM jsonb_to_recordset(p_page->'departments')
                AS x (uid uuid, region text, name text, phone text)
        LOOP
            IF d.uid IS NULL OR d.region IS NULL
               OR d.region !~ '^[1-8][0-9]{5}$'
               OR (substr(d.region, 3, 2) = '00'
                   AND substr(d.region, 5, 2) <> '00')
               OR coalesce(d.name, '') = ''
            THEN
                PERFORM govsvc_refuse(422, 'validation_failed',
                                      'every department has uid, region'
                                      || ' and name', 'departments');
            END IF;

            SELECT x.source INTO src FROM departments x WHERE x.uid = d.uid;

            IF (FOUND AND src IS DISTINCT FROM p_parent)
               OR EXISTS (SELECT 1 FROM departments x
                          WHERE x.region = d.region AND x.name = d.name
                            AND x.uid <> d.uid)
            THEN
                skipped := skipped
                           || to_jsonb('department ' || d.region || ' '
                                       || d.name);
                CONTINUE;
            END IF;

            PERFORM govsvc_sync_region(d.region, NULL);

            INSERT INTO departments (uid, region, name, phone, source)
                VALUES (d.uid, d.region, d.name, d.phone, p_parent)
                ON CONFLICT (uid) DO UPDATE SET region = EXCLUDED.region,
                    name = EXCLUDED.name, phone = EXCLUDED.phone,
                    updated_at = now()
                WHERE (departments.region, departments.name,
                       departments.phone)
                      IS DISTINCT FROM (EXCLUDED.region, EXCLUDED.name,
                                        EXCLUDED.phone);
        END LOOP;

        FOR i IN
            SELECT * FROM jsonb_to_recordset(p_page->'items')
                AS x (code text, basic_code text, name text, type text,
                      case_type smallint, department jsonb,
                      legal_days integer, promised_days integer,
                      materials jsonb, fields jsonb, steps jsonb,
                      fees jsonb, status text, version integer)
        LOOP
            IF i.code IS NULL
               OR NOT EXISTS (SELECT 1
                              FROM jsonb_array_elements(
                                       p_page->'departments') e
                              WHERE e->>'uid' = i.department->>'uid')
            THEN
                PERFORM govsvc_refuse(422, 'validation_failed',
                                      'every item has a code and one of'
                                      || ' the page''s departments',
                                      'items');
            END IF;

            SELECT x.id INTO dept FROM departments x
                WHERE x.uid = (i.department->>'uid')::uuid
                  AND x.source = p_parent;

            IF NOT FOUND
               OR EXISTS (SELECT 1 FROM items x
                          WHERE x.code = i.code
                            AND x.source IS DISTINCT FROM p_parent)
            THEN
                skipped := skipped || to_jsonb('item ' || i.code);
                CONTINUE;
            END IF;

            INSERT INTO items (code, basic_code, name, type, case_type,
                               department, region, legal_days,
                               promised_days, materials, fields, steps,
                               fees, status, version, source)
                SELECT i.code, i.basic_code, i.name, i.type, i.case_type,
                       x.id, x.region, i.legal_days, i.promised_days,
                       coalesce(i.materials, '[]'), coalesce(i.fields, '[]'),
                       coalesce(i.steps, '[]'), coalesce(i.fees, '[]'),
                       coalesce(i.status, 'active'), coalesce(i.version, 1),
                       p_parent
                FROM departments x WHERE x.id = dept
                ON CONFLICT (code) DO UPDATE SET
                    basic_code = EXCLUDED.basic_code, name = EXCLUDED.name,
                    type = EXCLUDED.type, case_type = EXCLUDED.case_type,
                    department = EXCLUDED.department,
                    region = EXCLUDED.region,
                    legal_days = EXCLUDED.legal_days,
                    promised_days = EXCLUDED.promised_days,
                    materials = EXCLUDED.materials,
                    fields = EXCLUDED.fields, steps = EXCLUDED.steps,
                    fees = EXCLUDED.fees, status = EXCLUDED.status,
                    version = EXCLUDED.version, updated_at = now()
                WHERE (items.basic_code, items.name, items.type,
                       items.case_type, items.department, items.region,
                       items.legal_days, items.promised_days,
                       items.materials, items.fields, items.steps,
                       items.fees, items.status, items.version)
                      IS DISTINCT FROM
                      (EXCLUDED.basic_code, EXCLUDED.name, EXCLUDED.type,
                       EXCLUDED.case_type, EXCLUDED.department,
                       EXCLUDED.region, EXCLUDED.legal_days,
                       EXCLUDED.promised_days, EXCLUDED.materials,
                       EXCLUDED.fields, EXCLUDED.steps, EXCLUDED.fees,
                       EXCLUDED.status, EXCLUDED.version);
        END LOOP;

        FOR k IN
            SELECT * FROM jsonb_to_recordset(p_page->'calendar')
                AS x (day date, kind text, name text, deleted boolean)
        LOOP
            IF k.day IS NULL THEN
                PERFORM govsvc_refuse(422, 'validation_failed',
                                      'every calendar entry has a day',
                                      'calendar');
            END IF;

            IF coalesce(k.deleted, false) THEN
                DELETE FROM calendar_days
                    WHERE day = k.day AND source = p_parent;
            ELSE
                INSERT INTO calendar_days (day, kind, name, source)
                    VALUES (k.day, k.kind, coalesce(k.name, ''), p_parent)
                    ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind,
                        name = EXCLUDED.name, source = EXCLUDED.source,
                        updated_at = now()
                    WHERE (calendar_days.kind, calendar_days.name,
                           calendar_days.source)
                          IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.name,
                                            EXCLUDED.source);
            END IF;

            IF FOUND THEN
                years := years || extract(year FROM k.day)::int;
            END IF;
        END LOOP;

    EXCEPTION
        WHEN data_exception OR integrity_constraint_violation THEN
            PERFORM govsvc_refuse(422, 'validation_failed',
                                  'the catalog page does not fit: '
                                  || SQLERRM, 'catalog');
    END;

    PERFORM set_config('govsvc.catalog_from', '', true);

    INSERT INTO sync_catalog (parent, version)
        VALUES (p_parent, upto)
        ON CONFLICT (parent) DO UPDATE SET version = EXCLUDED.version,
            pulled_at = now();

    RETURN jsonb_build_object(
        'next', upto,
        'more', (p_page->>'more')::boolean,
        'calendar_years', to_jsonb(ARRAY(SELECT DISTINCT y
                                         FROM unnest(years) AS y
                                         ORDER BY y)),
        'skipped', skipped);
END
$$;
