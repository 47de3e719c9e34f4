-- Demo data for `make run`: node 430102 (芙蓉区) and its parents, a few
-- departments, and the 2026 holiday calendar as published by the State
-- Council (check it against the official notice before relying on it).
-- Idempotent: run it as often as you like.  With the psql variables of
-- scripts/run.sh it also creates the demo staff (see the end).

INSERT INTO regions (code, name, parent, level) VALUES
    ('430000', '湖南省', NULL, 1),
    ('430100', '长沙市', '430000', 2),
    ('430102', '芙蓉区', '430100', 3),
    ('430103', '天心区', '430100', 3),
    ('430104', '岳麓区', '430100', 3)
ON CONFLICT (code) DO NOTHING;

INSERT INTO departments (region, name, phone) VALUES
    ('430102', '芙蓉区市场监督管理局', '0731-84000001'),
    ('430102', '芙蓉区住房和城乡建设局', '0731-84000002'),
    ('430102', '芙蓉区行政审批服务局', '0731-84000003')
ON CONFLICT (region, name) DO NOTHING;

INSERT INTO calendar_days (day, kind, name)
SELECT d::date, 'holiday', n
FROM (VALUES
    ('2026-01-01', '2026-01-03', '元旦'),
    ('2026-02-15', '2026-02-23', '春节'),
    ('2026-04-04', '2026-04-06', '清明节'),
    ('2026-05-01', '2026-05-05', '劳动节'),
    ('2026-06-19', '2026-06-21', '端午节'),
    ('2026-09-25', '2026-09-27', '中秋节'),
    ('2026-10-01', '2026-10-07', '国庆节')
) AS h (f, t, n),
LATERAL generate_series(f::date, t::date, interval '1 day') AS d
ON CONFLICT (day) DO NOTHING;

INSERT INTO calendar_days (day, kind, name) VALUES
    ('2026-01-04', 'workday', '元旦调休'),
    ('2026-02-14', 'workday', '春节调休'),
    ('2026-02-28', 'workday', '春节调休'),
    ('2026-05-09', 'workday', '劳动节调休'),
    ('2026-09-20', 'workday', '国庆节调休'),
    ('2026-10-10', 'workday', '国庆节调休')
ON CONFLICT (day) DO NOTHING;

-- Demo staff of 芙蓉区行政审批服务局, one role each.  Created by
-- scripts/run.sh, which hashes their passwords with build/govsvc-passwd
-- and passes the stored forms as the psql variable demo_hashes, a JSON
-- object {"USERNAME": "pbkdf2-sha256$..."}; without it (tests load this
-- file as it is) no user is created.  A user that exists is left alone, so
-- a password changed since is kept.
\if :{?demo_hashes}
INSERT INTO users (username, name, department, roles, password_hash)
SELECT s.username, s.name, d.id, ARRAY[s.role],
       (:'demo_hashes'::jsonb) ->> s.username
FROM (VALUES
    ('admin',      '李管理', 'admin'),
    ('clerk',      '张窗口', 'clerk'),
    ('handler',    '王承办', 'handler'),
    ('reviewer',   '赵审核', 'reviewer'),
    ('approver',   '刘审批', 'approver'),
    ('supervisor', '陈监督', 'supervisor')
) AS s (username, name, role)
JOIN departments d ON d.region = '430102' AND d.name = '芙蓉区行政审批服务局'
ON CONFLICT (username) DO NOTHING;
\endif

-- Their client certificates from the development CA (STATE/ca/users/
-- NAME.crt), passed by scripts/run.sh as the psql variable demo_certs: a
-- JSON array of {"username","sha256","subject","not_after"}.  A certificate
-- already bound stays as it is.
\if :{?demo_certs}
INSERT INTO user_certificates (sha256, user_id, subject, not_after)
SELECT c.sha256, u.id, c.subject, c.not_after
FROM jsonb_to_recordset(:'demo_certs'::jsonb)
     AS c (username text, sha256 text, subject text, not_after timestamptz)
JOIN users u ON u.username = c.username
ON CONFLICT (sha256) DO NOTHING;
\endif

-- Service items of the demo node: promised-time items (承诺件) with the
-- default approval chain, and on-the-spot ones (即办件) without steps.
-- Most belong to 芙蓉区行政审批服务局, where the demo staff work.
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps, fees)
SELECT i.code, i.basic_code, i.name, '01', i.case_type, d.id, d.region,
       i.legal_days, i.promised_days, i.materials::jsonb, i.fields::jsonb,
       CASE WHEN i.case_type = 1 THEN '[]'::jsonb ELSE
       '[{"code":"handle","name":"初审","role":"handler","days":4},
         {"code":"review","name":"复审","role":"reviewer","days":3},
         {"code":"approve","name":"决定","role":"approver","days":3}]'::jsonb
       END, i.fees::jsonb
FROM (VALUES
    ('430102-XK-0001', '000102001000', '食品经营许可', 2, 20, 10,
     '芙蓉区行政审批服务局',
     '[{"code":"M1","name":"食品经营许可申请书","required":true},
       {"code":"M2","name":"营业执照复印件","required":true},
       {"code":"M3","name":"法定代表人身份证明","required":true},
       {"code":"M4","name":"经营场所平面图","required":false}]',
     '[{"name":"address","label":"经营场所","required":true,"type":"text"},
       {"name":"uscc","label":"统一社会信用代码","required":true,"type":"uscc"},
       {"name":"contact","label":"联系电话","required":true,"type":"phone"}]',
     '[]'),
    ('430102-XK-0002', '000102002000', '公共场所卫生许可', 2, 20, 15,
     '芙蓉区行政审批服务局',
     '[{"code":"M1","name":"卫生许可申请书","required":true},
       {"code":"M2","name":"卫生检测报告","required":true}]',
     '[{"name":"address","label":"场所地址","required":true,"type":"text"},
       {"name":"area","label":"营业面积（平方米）","required":false,"type":"number"}]',
     '[]'),
    ('430102-XK-0003', '000102003000', '户外广告设施设置许可', 2, 20, 12,
     '芙蓉区行政审批服务局',
     '[{"code":"M1","name":"设置申请表","required":true},
       {"code":"M2","name":"设计效果图","required":true},
       {"code":"M3","name":"场地使用权证明","required":true}]',
     '[{"name":"location","label":"设置地点","required":true,"type":"text"},
       {"name":"start","label":"设置起始日期","required":true,"type":"date"}]',
     '[{"code":"F1","name":"证照工本费","amount":0,"basis":"免收"}]'),
    ('430102-DJ-0001', '000201001000', '个体工商户设立登记', 1, 15, 1,
     '芙蓉区行政审批服务局',
     '[{"code":"M1","name":"个体工商户登记申请书","required":true},
       {"code":"M2","name":"经营者身份证明","required":true}]',
     '[{"name":"operator_id","label":"经营者身份证号","required":true,"type":"id_card"},
       {"name":"address","label":"经营场所","required":true,"type":"text"}]',
     '[]'),
    ('430102-XK-0004', '000103001000', '建筑工程施工许可', 2, 15, 7,
     '芙蓉区住房和城乡建设局',
     '[{"code":"M1","name":"施工许可申请表","required":true},
       {"code":"M2","name":"建设工程规划许可证","required":true},
       {"code":"M3","name":"施工合同","required":true}]',
     '[{"name":"project","label":"工程名称","required":true,"type":"text"}]',
     '[]')
) AS i (code, basic_code, name, case_type, legal_days, promised_days,
        department, materials, fields, fees)
JOIN departments d ON d.region = '430102' AND d.name = i.department
ON CONFLICT (code) DO NOTHING;
