-- Cases (办件): the registration part of their life.  A case number is
-- the node's region code, the date (+08:00) and a daily sequence per node;
-- the row lock on case_seq orders concurrent registrations, and a
-- rolled-back one gives its number back, so the numbers read aloud at the
-- window have no holes.

CREATE TABLE case_seq (
    node          char(6) NOT NULL,
    day           date NOT NULL,
    last          integer NOT NULL,
    PRIMARY KEY (node, day)
);

CREATE FUNCTION govsvc_case_no(p_node char(6)) RETURNS char(20)
LANGUAGE plpgsql AS $$
DECLARE
    d date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
    n integer;
BEGIN
    INSERT INTO case_seq AS s (node, day, last) VALUES (p_node, d, 1)
        ON CONFLICT (node, day) DO UPDATE SET last = s.last + 1
        RETURNING last INTO n;
    IF n > 999999 THEN
        RAISE EXCEPTION 'more than 999999 cases in one day at %', p_node;
    END IF;
    RETURN p_node || to_char(d, 'YYYYMMDD') || lpad(n::text, 6, '0');
END
$$;

CREATE TABLE cases (
    case_no       char(20) PRIMARY KEY,
    node          char(6) NOT NULL,
    item_code     text NOT NULL REFERENCES items (code),
    item_version  integer NOT NULL,
    project_name  text NOT NULL CHECK (project_name <> ''),
    applicant     jsonb NOT NULL,
    form          jsonb NOT NULL DEFAULT '{}',
    materials     jsonb NOT NULL DEFAULT '[]',
    channel       text NOT NULL DEFAULT 'window',
    department    bigint NOT NULL REFERENCES departments (id),
    state         text NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'correction', 'rejected',
                         'in_progress', 'suspended', 'completed', 'voided',
                         'deleted')),
    step          text,
    result        text,
    result_code   smallint,
    received_at   timestamptz NOT NULL DEFAULT now(),
    accepted_at   timestamptz,
    promised_date date,
    query_password_hash text,
    correction    jsonb,
    created_by    bigint NOT NULL REFERENCES users (id),
    version       integer NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX cases_department_state_idx ON cases (department, state);

-- Idempotency-Key of POST /api/v1/cases: the first answer, kept 24 hours.
CREATE TABLE idempotency_keys (
    user_id       bigint NOT NULL REFERENCES users (id),
    key           text NOT NULL,
    body_sha256   char(64) NOT NULL,
    status        smallint NOT NULL,
    answer        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
