-- An item as api.md shows it, with its department's name and region.

CREATE FUNCTION govsvc_item_json(i items) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'code', i.code, 'basic_code', i.basic_code, 'name', i.name,
        'type', i.type, 'case_type', i.case_type,
        'department', i.department, 'department_name', d.name,
        'region', i.region, 'legal_days', i.legal_days,
        'promised_days', i.promised_days, 'materials', i.materials,
        'fields', i.fields, 'steps', i.steps, 'fees', i.fees,
        'status', i.status, 'version', i.version)
    FROM departments d
    WHERE d.id = i.department
$$;
