-- What the public and the departments exchange: consultations answered
-- (网上咨询), ratings of completed cases (好差评) and the rectification
-- tasks a bad rating opens.

ALTER TABLE consultations
    ADD COLUMN reply        text,
    ADD COLUMN replier      bigint REFERENCES users (id),
    ADD COLUMN replied_by   bigint REFERENCES users (id),
    ADD COLUMN visibility   text CHECK (visibility IN ('public', 'private')),
    ADD COLUMN replied_at   timestamptz;

-- one rating per case: the primary key makes a second one a conflict
CREATE TABLE evaluations (
    case_no       char(20) PRIMARY KEY REFERENCES cases (case_no),
    score         smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    channel       text NOT NULL,
    comment       text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- a rating of 4 (不满意) or 5 (非常不满意) opens one, for the case's
-- department, due in govsvc_rectify_days working days
CREATE TABLE rectifications (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_no       char(20) NOT NULL UNIQUE REFERENCES cases (case_no),
    department    bigint NOT NULL REFERENCES departments (id),
    score         smallint NOT NULL,
    comment       text,
    due_date      date NOT NULL,
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'answered')),
    response      text,
    responded_by  bigint REFERENCES users (id),
    responded_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rectifications_department_idx
    ON rectifications (department, status, id);
