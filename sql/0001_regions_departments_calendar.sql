-- Regions (GB/T 2260), departments and the working-day calendar: what
-- every later table refers to.

CREATE TABLE regions (
    code        char(6) PRIMARY KEY CHECK (code ~ '^[1-8][0-9]{5}$'),
    name        text NOT NULL CHECK (name <> ''),
    parent      char(6) REFERENCES regions (code),
    level       smallint NOT NULL CHECK (level IN (1, 2, 3)),
    CHECK ((level = 1) = (parent IS NULL))
);

COMMENT ON COLUMN regions.level IS '1 province, 2 city, 3 county';

CREATE TABLE departments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region      char(6) NOT NULL REFERENCES regions (code),
    name        text NOT NULL CHECK (name <> ''),
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (region, name)
);

-- Exceptions to Monday-Friday: public holidays, and weekend days made
-- working days (调休).  Days not listed follow the weekday rule.
CREATE TABLE calendar_days (
    day         date PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name        text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
