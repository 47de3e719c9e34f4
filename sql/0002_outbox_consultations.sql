-- The outbox every change writes in its own transaction, and the first
-- table that writes to it: public consultations (网上咨询).

-- One gapless sequence per origin node: the row lock taken by the update
-- orders concurrent writers, and a rolled-back transaction gives its
-- number back.
CREATE TABLE outbox_seq (
    origin      char(6) PRIMARY KEY,
    last        bigint NOT NULL DEFAULT 0
);

CREATE TABLE outbox (
    origin      char(6) NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    case_no     text,
    at          timestamptz NOT NULL DEFAULT now(),
    data        jsonb NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (origin, seq)
);

CREATE FUNCTION govsvc_outbox_append(p_origin char(6), p_type text,
                                     p_case_no text, p_data jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    t timestamptz := now();
BEGIN
    INSERT INTO outbox_seq AS o (origin, last) VALUES (p_origin, 1)
        ON CONFLICT (origin) DO UPDATE SET last = o.last + 1
        RETURNING last INTO s;

    INSERT INTO outbox (origin, seq, type, case_no, at, data, hash)
    VALUES (p_origin, s, p_type, p_case_no, t, p_data,
            encode(sha256(convert_to(concat_ws('|', p_origin, s, p_type,
                          coalesce(p_case_no, ''), p_data::text), 'UTF8')),
                   'hex'));
    RETURN s;
END
$$;

CREATE TABLE consultations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node        char(6) NOT NULL,
    title       text NOT NULL CHECK (title <> ''),
    content     text NOT NULL CHECK (content <> ''),
    item_code   text,
    department  bigint CONSTRAINT consultations_department_fkey
                REFERENCES departments (id),
    asker_name  text,
    asker_phone text,
    code_hash   text NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'replied')),
    reply_due   date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX consultations_department_idx
    ON consultations (department, created_at);
