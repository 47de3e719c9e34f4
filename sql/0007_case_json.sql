-- A case as api.md shows it.  The deadline block is the module's: it is
-- computed from the working-day calendar in core/.  Opinions, notices and
-- special procedures arrive with the approval issue; until then they are
-- empty lists.

CREATE FUNCTION govsvc_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'Asia/Shanghai',
                   'YYYY-MM-DD"T"HH24:MI:SS"+08:00"')
$$;

CREATE FUNCTION govsvc_case_json(c cases) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'case_no', c.case_no,
        'item', json_build_object('code', i.code, 'name', i.name),
        'project_name', c.project_name,
        'applicant', c.applicant,
        'form', c.form,
        'materials', c.materials,
        'channel', c.channel,
        'state', c.state,
        'step', c.step,
        'result', c.result,
        'result_code', c.result_code,
        'department', json_build_object('id', d.id, 'name', d.name),
        'received_at', govsvc_time(c.received_at),
        'accepted_at', govsvc_time(c.accepted_at),
        'promised_date', c.promised_date,
        'correction', c.correction,
        'opinions', '[]'::json,
        'notices', '[]'::json,
        'special_procedures', '[]'::json,
        'version', c.version)
    FROM items i, departments d
    WHERE i.code = c.item_code AND d.id = c.department
$$;

-- The calendar exceptions a deadline starting on d needs, as the module
-- reads them: "YYYY-MM-DDholiday,YYYY-MM-DDworkday,..."
CREATE FUNCTION govsvc_calendar_from(d date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(day::text || kind, ',' ORDER BY day), '')
    FROM calendar_days
    WHERE day > d
      AND day <= greatest(d, (now() AT TIME ZONE 'Asia/Shanghai')::date) + 60
$$;
