-- The catalog of service items (事项), GB/T 39046-2020 fields.  Lists of
-- materials, form fields, approval steps and fees are kept as JSON arrays:
-- they are read and written whole with their item, and validated by the
-- module before they get here.

CREATE TABLE items (
    code          text PRIMARY KEY CHECK (code ~ '^[0-9A-Za-z-]{1,64}$'),
    basic_code    text NOT NULL CHECK (basic_code ~ '^[0-9A-Za-z-]{1,64}$'),
    name          text NOT NULL CHECK (name <> ''),
    type          char(2) NOT NULL CHECK (type IN ('00', '01', '02', '03',
                  '04', '05', '06', '07', '08', '09', '10', '20')),
    case_type     smallint NOT NULL CHECK (case_type IN (1, 2, 9)),
    department    bigint NOT NULL REFERENCES departments (id),
    region        char(6) NOT NULL REFERENCES regions (code),
    legal_days    integer NOT NULL CHECK (legal_days > 0),
    promised_days integer NOT NULL CHECK (promised_days > 0
                                          AND promised_days <= legal_days),
    materials     jsonb NOT NULL DEFAULT '[]',
    fields        jsonb NOT NULL DEFAULT '[]',
    steps         jsonb NOT NULL DEFAULT '[]',
    fees          jsonb NOT NULL DEFAULT '[]',
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended')),
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX items_department_idx ON items (department);
