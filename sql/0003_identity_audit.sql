-- Users, their client certificates, sessions, and the hash-chained audit
-- log that every login, logout and administrative change appends to in
-- the same transaction as the change.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE
                  CHECK (username ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name          text NOT NULL CHECK (name <> ''),
    department    bigint NOT NULL REFERENCES departments (id),
    roles         text[] NOT NULL DEFAULT '{}'
                  CHECK (roles <@ ARRAY['clerk', 'handler', 'reviewer',
                         'approver', 'supervisor', 'admin']::text[]),
    active        boolean NOT NULL DEFAULT true,
    -- "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64): the parameters stay
    -- with the hash so that they can be raised later
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A certificate is known by the SHA-256 of its DER encoding.
CREATE TABLE user_certificates (
    sha256        char(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    user_id       bigint NOT NULL REFERENCES users (id),
    subject       text NOT NULL,
    not_after     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_certificates_user_idx ON user_certificates (user_id);

-- A session is known by the SHA-256 of its token; the token itself is
-- handed out once and never stored.  A certificate session names its
-- certificate so that unbinding it ends the session.
CREATE TABLE sessions (
    token_hash    char(64) PRIMARY KEY,
    csrf_hash     char(64) NOT NULL,
    user_id       bigint NOT NULL REFERENCES users (id),
    cert_sha256   char(64),
    address       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);

CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Append-only.  Each entry's hash covers its own content and the hash of
-- the entry before it, so an altered or removed entry breaks the chain at
-- the first entry after it.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor_id      bigint,
    actor         text NOT NULL,
    address       text NOT NULL,
    action        text NOT NULL,
    object        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}',
    prev_hash     char(64) NOT NULL,
    hash          char(64) NOT NULL
);

CREATE FUNCTION govsvc_audit_hash(a audit_log) RETURNS char(64)
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws('|', a.prev_hash, a.id,
        to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(a.actor_id::text, ''), a.actor, a.address, a.action,
        a.object, a.detail::text), 'UTF8')), 'hex')
$$;

-- The one way in.  The advisory lock orders appends, so that each sees
-- the previous entry; it is held to the end of the caller's transaction.
CREATE FUNCTION govsvc_audit_append(p_actor_id bigint, p_actor text,
                                    p_address text, p_action text,
                                    p_object text, p_detail jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    e audit_log;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govsvc_audit_log'));

    e.prev_hash := coalesce((SELECT hash FROM audit_log
                             ORDER BY id DESC LIMIT 1), repeat('0', 64));
    e.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    e.at := clock_timestamp();
    e.actor_id := p_actor_id;
    e.actor := p_actor;
    e.address := p_address;
    e.action := p_action;
    e.object := p_object;
    e.detail := coalesce(p_detail, '{}');
    e.hash := govsvc_audit_hash(e);

    INSERT INTO audit_log OVERRIDING SYSTEM VALUE SELECT e.*;
    RETURN e.id;
END
$$;

-- The first entry whose content or link does not hold, or no row.
CREATE FUNCTION govsvc_audit_verify()
RETURNS TABLE (id bigint, problem text)
LANGUAGE plpgsql AS $$
DECLARE
    e audit_log;
    prev char(64) := repeat('0', 64);
BEGIN
    FOR e IN SELECT * FROM audit_log ORDER BY audit_log.id LOOP
        IF e.prev_hash <> prev THEN
            id := e.id;
            problem := 'does not follow the entry before it: an entry '
                       'before it was removed or altered';
            RETURN NEXT;
            RETURN;
        END IF;
        IF govsvc_audit_hash(e) <> e.hash THEN
            id := e.id;
            problem := 'its content was altered';
            RETURN NEXT;
            RETURN;
        END IF;
        prev := e.hash;
    END LOOP;
END
$$;

CREATE FUNCTION govsvc_audit_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_audit_refuse();
