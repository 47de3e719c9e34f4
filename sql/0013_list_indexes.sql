-- Indexes the unified query needs at a million cases (bench/scale.pl): a
-- state's newest cases without sorting all of them, per department and
-- across a region.  (department, state, case_no) serves what
-- (department, state) did.

DROP INDEX cases_department_state_idx;
CREATE INDEX cases_department_state_no_idx
    ON cases (department, state, case_no);
CREATE INDEX cases_state_no_idx ON cases (state, case_no);
