# Node to node (三级联动), cases up: a county's case events carry the case
# (data.case, covered by the hash, never the query password), and its city
# keeps a read-only copy of each case, newest first, that the unified
# query, the case itself, the warnings and the statistics show, and that
# no worklist, action, edit or card of the city touches.
#
# Two nodes, each with its own database: the county (430102) drives real
# cases through the API; its outbox rows, as they are, go to the city
# (430100) over the city's own development CA with the city's certificate
# of the county (the identity is the certificate's, the events the
# county's).

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $pw = 'a good password';
my $limit = 'govsvc_login_limit 100 1m;';

# ---- the county: a case completed, another late at 复审 -------------------

my $k = GovSvc::Test->new(demo => 1, redis => 0, node => '430102',
                          http_extra => $limit);
$k->start;

my $kd = $k->psql("INSERT INTO departments (region, name)"
                  . " VALUES ('430102', '芙蓉区测试局') RETURNING id");
$k->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-001', '000001', '测试许可', '01', 2, $kd, '430102', 20, 10,
  \$j\$[{"code":"M1","name":"申请书","required":true}]\$j\$, '[]',
  \$j\$[{"code":"handle","name":"初审","role":"handler","days":4},
       {"code":"review","name":"复审","role":"reviewer","days":3},
       {"code":"approve","name":"决定","role":"approver","days":3}]\$j\$);
SQL
my %kh;
for my $u ([clerk => '张窗口'], [handler => '王承办'],
           [reviewer => '赵审核'], [approver => '钱批准'])
{
    $k->create_user(username => $u->[0], name => $u->[1],
                    roles => [$u->[0]], password => $pw, department => $kd);
    $kh{$u->[0]} = $k->auth($k->login($u->[0], $pw));
}

sub kreq {
    my ($method, $path, $who, $json) = @_;
    return $k->req($method => $path, tls => 1, headers => $kh{$who},
                   $json ? (json => $json) : ());
}
sub ok_k {
    my ($r, $status, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, $status, "county: $what") or diag $r->{body};
    return $r->{json};
}
sub act {
    my ($c, $who, $json) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok_k(kreq(POST => "/api/v1/cases/$c->{case_no}/actions", $who,
                     { version => $c->{version}, %$json }),
                200, "$json->{action} by $who");
}
sub notice {
    my ($c, $who, $json) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok_k(kreq(POST => "/api/v1/cases/$c->{case_no}/notices", $who,
                     $json), 201, "$json->{kind} notice");
}
sub new_case {
    my ($name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok_k(kreq(POST => '/api/v1/cases', 'clerk', {
        item_code => 'T-001', project_name => $name,
        applicant => { type => 'person', name => '张三', id_type => 'id_card',
                       id_no => '11010519491231002X',
                       phone => '13800000000' },
        form => {}, materials => [{ code => 'M1',
                                    received => JSON::PP::true }] }),
        201, "registered $name");
}
# the county's outbox as a batch for its city, newest first: the order in
# a batch is the parent's to sort
sub batch_of {
    my ($from, $to) = @_;
    return $k->psql(<<'SQL', f => $from, t => $to);
SELECT json_build_object('origin', '430102', 'batch_id', 't90-' || :'f',
         'events', json_agg(json_build_object('origin', origin, 'seq', seq,
             'type', type, 'case_no', case_no, 'at', govsvc_time(at),
             'data', data, 'hash', hash) ORDER BY seq DESC))
FROM outbox WHERE origin = '430102' AND seq BETWEEN :'f' AND :'t'
SQL
}
sub seq_of {
    my ($c, $type, $which) = @_;
    return $k->psql("SELECT $which(seq) FROM outbox WHERE case_no = :'c'"
                    . " AND type = :'t'", c => $c->{case_no}, t => $type);
}

my $c1 = new_case('某某餐馆');
is($c1->{origin}, '430102', 'a local case names its origin');
ok(!$c1->{read_only}, 'and is not read-only');
$c1 = ok_k(kreq(PATCH => "/api/v1/cases/$c1->{case_no}", 'clerk',
                { version => $c1->{version}, project_name => '某某餐馆许可' }),
           200, 'kept as a draft with a new name');
notice($c1, clerk => { kind => 'acceptance' });
$c1 = act($c1, clerk => { action => 'accept' });
my $password = $c1->{query_password};
like($password, qr/\S{6,}/, 'accept answers the query password');
$c1 = act($c1, handler => { action => 'pass', opinion => '材料齐全，同意' });
$c1 = act($c1, reviewer => { action => 'pass', opinion => '复审同意' });
$c1 = act($c1, approver => { action => 'pass', opinion => '准予许可' });
notice($c1, clerk => { kind => 'approval_decision',
                       licence_no => 'JY14301020000001',
                       valid_until => '2031-11-28' });
my $decided = $k->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");
my $v_decided = $c1->{version};
$c1 = act($c1, clerk => { action => 'complete', result => 'approved',
                          licence_no => 'JY14301020000001',
                          valid_until => '2031-11-28' });
is($c1->{state}, 'completed', 'case 1 completed at the county');

my $c2 = new_case('某某超市');
notice($c2, clerk => { kind => 'acceptance' });
$c2 = act($c2, clerk => { action => 'accept' });
# three days overdue (fixture), then on to 复审: its event carries that
$k->psql("UPDATE cases SET due_date = (now() AT TIME ZONE 'Asia/Shanghai')"
         . "::date - 3 WHERE case_no = :'c'", c => $c2->{case_no});
$c2 = act($c2, handler => { action => 'pass', opinion => '同意' });
is($c2->{deadline}{level}, 'red', 'case 2 is overdue at the county');

# ---- the events carry the case ---------------------------------------------

is($k->psql("SELECT count(*) FROM outbox WHERE case_no IS NOT NULL"
            . " AND jsonb_typeof(data->'case') IS DISTINCT FROM 'object'"),
   0, 'every event of a case carries its snapshot');
is($k->psql("SELECT count(*) FROM outbox WHERE hash <> encode(sha256("
            . "convert_to(concat_ws('|', origin, seq, type,"
            . " coalesce(case_no, ''), data::text), 'UTF8')), 'hex')"),
   0, 'and every hash covers it');
is($k->psql("SELECT data->'case'->>'project_name' FROM outbox"
            . " WHERE type = 'case.updated' AND case_no = :'c'",
            c => $c1->{case_no}),
   '某某餐馆许可', 'case.updated: the case after the edit, not before');
is($k->psql("SELECT (data #>> '{case,version}') || (data #>> '{case,state}')"
            . " FROM outbox WHERE type = 'case.created' AND case_no = :'c'",
            c => $c1->{case_no}),
   '1draft', 'case.created: the new draft');
is($k->psql("SELECT jsonb_array_length(data #> '{case,notices}')"
            . " FROM outbox WHERE seq = :'s' AND origin = '430102'",
            s => $decided),
   2, 'notice.issued: the case with the notice just issued');
is($k->psql("SELECT data #> '{case,opinions,1,actor}' FROM outbox"
            . " WHERE type = 'case.pass' AND case_no = :'c'"
            . " ORDER BY seq LIMIT 1", c => $c1->{case_no}),
   '{"name": "王承办"}', 'a user by the display name alone');
is($k->psql("SELECT data #>> '{case,department}' FROM outbox"
            . " WHERE seq = 1 AND origin = '430102'"),
   '{"name": "芙蓉区测试局", "region": "430102", "region_name": "芙蓉区"}',
   'the department by its region and name, not its id');
is($k->psql("SELECT count(*) FROM outbox WHERE strpos(data::text, :'p') > 0"
            . " OR data::text ~ 'query_password|pbkdf2'", p => $password),
   0, 'no event holds the query password or its hash');

my $last = $k->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");
my $batch1 = batch_of(1, $decided);
my $batch2 = batch_of($decided + 1, $last);
my $created1 = seq_of($c1, 'case.created', 'min');
my $old_snapshot = $k->psql("SELECT data->'case' FROM outbox"
                            . " WHERE origin = '430102' AND seq = :'s'",
                            s => $created1);
my $completed1 = seq_of($c1, 'case.complete', 'max');
$k->stop;

# ---- the city ---------------------------------------------------------------

my $t = GovSvc::Test->new(redis => 0, node => '430100', http_extra => $limit);
$t->start;

my $cityd = $t->default_department;
is($t->psql("SELECT count(*) FROM regions WHERE code = '430102'"), 0,
   'the city knows no county yet');
$t->create_user(username => 'sup', name => '陈监督', roles => ['supervisor'],
                password => $pw, department => $cityd);
my %h = (sup => $t->auth($t->login('sup', $pw)));

sub post {
    my ($body) = @_;
    return $t->req(POST => '/sync/v1/batches', tls => 1,
                   cert => 'nodes/430102', body => $body,
                   headers => { 'Content-Type' => 'application/json' });
}
sub get {
    my ($who, $path) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->req(GET => $path, tls => 1, headers => $h{$who});
    is($r->{status}, 200, "$who: GET $path") or diag $r->{body};
    return $r->{json};
}
sub copy_of {
    my ($c) = @_;
    return $t->psql("SELECT version || ' ' || state || ' ' || synced_seq"
                    . " FROM cases WHERE case_no = :'c'", c => $c->{case_no});
}

my $r = post($batch1);
is($r->{status}, 200, 'the first batch, newest first') or diag $r->{body};
is_deeply($r->{json}{acked}, { 430102 => $decided + 0 },
          'acknowledged to the decision notice');
my $c = get(sup => "/api/v1/cases/$c1->{case_no}");
is($c->{state}, 'in_progress', 'the copy: at its newest state');
is($c->{step}, 'complete', 'at 办结');
is_deeply([ map { $_->{kind} } @{ $c->{notices} } ],
          [ 'acceptance', 'approval_decision' ],
          'with the decision notice, which changed no version');
is(copy_of($c1), "$v_decided in_progress $decided",
   'the copy is the decision notice\'s snapshot');

$r = post($batch2);
is($r->{status}, 200, 'the second batch') or diag $r->{body};
is_deeply($r->{json}{acked}, { 430102 => $last + 0 },
          'acknowledged to the end');

# the region and department the county's cases belong to, made here
is($t->psql("SELECT name || ' ' || parent || ' ' || level FROM regions"
            . " WHERE code = '430102'"), '芙蓉区 430100 3',
   'the county\'s region, named by its snapshot');
my $dept = $t->psql("SELECT id FROM departments WHERE region = '430102'"
                    . " AND name = '芙蓉区测试局'");
ok($dept, 'and its department');

# ---- what the city shows -----------------------------------------------------

$c = get(sup => "/api/v1/cases/$c1->{case_no}");
is($c->{origin}, '430102', 'the case names its origin');
ok($c->{read_only}, 'read-only');
is($c->{state}, 'completed', 'completed');
is($c->{version}, $c1->{version}, 'the county\'s version');
is($c->{project_name}, '某某餐馆许可', 'as edited');
is_deeply($c->{item}, { code => 'T-001', name => '测试许可', version => 1 },
          'an item the city does not know, by its snapshot');
is_deeply($c->{department}, { id => $dept + 0, name => '芙蓉区测试局' },
          'the city\'s department of that name');
is($c->{licence}{licence_no}, 'JY14301020000001', 'the licence');
is_deeply([ map { "$_->{step}/$_->{action}/$_->{actor}{name}" }
            @{ $c->{opinions} } ],
          [ 'accept/accept/张窗口', 'handle/pass/王承办',
            'review/pass/赵审核', 'approve/pass/钱批准',
            'complete/complete/张窗口' ], 'every opinion, in order');
is($c->{opinions}[1]{opinion}, '材料齐全，同意', 'with its text');
is(scalar @{ $c->{notices} }, 2, 'both notices');
is($c->{notices}[0]{content}{project_name}, '某某餐馆许可',
   'each with its printed content');
ok(!exists $c->{row}, 'the snapshot\'s own columns are not shown');

$c = get(sup => "/api/v1/cases/$c2->{case_no}");
is($c->{step}, 'review', 'case 2 at 复审');
is($c->{deadline}{level}, 'red', 'late, by its snapshot\'s due date');
is($c->{deadline}{due_date}, $c2->{deadline}{due_date},
   'the county\'s due date');

my $list = get(sup => '/api/v1/cases');
my ($row) = grep { $_->{case_no} eq $c1->{case_no} } @{ $list->{items} };
ok($row, 'the unified query finds the county\'s case');
is($row->{origin}, '430102', 'with its origin');
ok($row->{read_only}, 'read-only');
is($row->{item}{name}, '测试许可', 'and its item\'s name');
is(scalar @{ get(sup => '/api/v1/cases?region=430102&state=completed')
             ->{items} }, 1, 'filtered by region and state');

my $warn = get(sup => '/api/v1/supervision/warnings');
is_deeply([ map { "$_->{case_no} $_->{level}" } @{ $warn->{items} } ],
          [ "$c2->{case_no} red" ], 'the late copy among the warnings');

my $today = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date");
my $stats = get(sup => "/api/v1/supervision/stats?department=$dept"
                       . "&from=$today&to=$today");
is($stats->{items}[0]{accepted}, 2, 'statistics: both accepted today');
is($stats->{items}[0]{completed}{0}, 1, 'one completed with a licence');

# ---- read-only ---------------------------------------------------------------

for my $u ([clerk => '刘窗口'], [reviewer => '孙审核']) {
    $t->create_user(username => $u->[0], name => $u->[1],
                    roles => [$u->[0]], password => $pw,
                    department => $dept);
    $h{$u->[0]} = $t->auth($t->login($u->[0], $pw));
}
my $written = sub {
    join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(outbox case_opinions notices cards audit_log worklist_done),
        "cases WHERE case_no = '$c2->{case_no}' AND version = $c2->{version}";
};
my $before = $written->();

is_deeply(get(reviewer => '/api/v1/worklist?box=todo')->{items}, [],
          'no 待办 of the department holds the copy at 复审');
is_deeply(get(clerk => '/api/v1/worklist?box=todo')->{items}, [],
          'nor the clerk\'s');
is_deeply(get(reviewer => '/api/v1/worklist?box=done')->{items}, [],
          'nor any 已办');
ok((grep { $_->{case_no} eq $c2->{case_no} }
    @{ get(reviewer => '/api/v1/cases')->{items} }),
   'while the department\'s unified query shows it');

$r = $t->req(POST => "/api/v1/cases/$c2->{case_no}/actions", tls => 1,
             headers => $h{reviewer},
             json => { action => 'pass', version => $c2->{version},
                       opinion => '同意' });
$t->refused($r, 403, 'forbidden', 'pass on a copy, by the step\'s role');
is($r->{json}{error}{message}, 'a case of another node is read-only',
   'because it is a copy');
$t->refused($t->req(POST => "/api/v1/cases/$c1->{case_no}/actions", tls => 1,
                    headers => $h{clerk},
                    json => { action => 'void', version => $c1->{version},
                              reason => 'x' }),
            403, 'forbidden', 'void');
$r = $t->req(PATCH => "/api/v1/cases/$c2->{case_no}", tls => 1,
             headers => $h{clerk},
             json => { version => $c2->{version}, project_name => 'x' });
$t->refused($r, 403, 'forbidden', 'an edit');
$t->refused($t->req(POST => "/api/v1/supervision/cases/$c2->{case_no}/cards",
                    tls => 1, headers => $h{sup},
                    json => { color => 'red', reason => '超期' }),
            403, 'forbidden', 'a card by hand');
is($t->psql("SELECT issued FROM govsvc_cards_auto(:'d'::date, 2)",
            d => $today), 0, 'the timer issues none for the late copy');
is($written->(), $before, 'and nothing was written');
eval { $t->psql("UPDATE cases SET state = 'voided' WHERE case_no = :'c'",
                c => $c2->{case_no}) };
like($@, qr/a case of another node is read-only/,
     'nor can SQL change a copy');

# ---- newest first, once ------------------------------------------------------

my $accepted = sub {
    $t->psql("SELECT sum(accepted) FROM stats_cases_daily"
             . " WHERE department = :'d'", d => $dept);
};
$r = post($batch1);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => $decided + 0 } ],
          'an old batch again: acknowledged as far as it went');
ok(!exists $r->{json}{diverged}, 'the same events as held');
is(copy_of($c1), "$c1->{version} completed $completed1",
   'and the copy stays the newest');
$t->psql("SELECT govsvc_sync_case('430102', :'q', :'c', :'s'::jsonb)",
         c => $c1->{case_no}, s => $old_snapshot, q => $created1);
is(copy_of($c1), "$c1->{version} completed "
                 . $completed1,
   'an older snapshot applied by hand changes nothing');
is($accepted->(), 2, 'counted once');

# an event whose case is not of its origin: refused whole
my $forged = $t->psql(<<'SQL', s => $last + 1, c => $c1->{case_no});
SELECT json_build_object('origin', '430102', 'batch_id', 'forged',
    'events', json_build_array(json_build_object('origin', '430102',
        'seq', :'s'::bigint, 'type', 'case.updated',
        'case_no', '43010320261129000001', 'at', '2026-11-29T09:00:00+08:00',
        'data', d, 'hash', encode(sha256(convert_to(concat_ws('|', '430102',
            :'s', 'case.updated', '43010320261129000001', d::text),
            'UTF8')), 'hex'))))
FROM (SELECT jsonb_build_object('case', synced
             || '{"case_no": "43010320261129000001"}') AS d
      FROM cases WHERE case_no = :'c') x
SQL
$t->refused(post($forged), 422, 'validation_failed',
            'a case of another node in a county\'s event', 'events');
is($t->psql("SELECT count(*) FROM sync_inbox"), $last, 'nothing held of it');

# ---- the query password never left the county -------------------------------

is($t->psql("SELECT count(*) FROM sync_inbox WHERE strpos(data::text, :'p') > 0"
            . " OR data::text ~ 'query_password|pbkdf2'", p => $password),
   0, 'no event held here holds the query password');
is($t->psql("SELECT count(*) FROM cases WHERE synced IS NOT NULL"
            . " AND (query_password_hash IS NOT NULL"
            . "      OR strpos(synced::text, :'p') > 0)", p => $password),
   0, 'nor does any copy');
$r = $t->req(GET => "/api/v1/public/cases/$c1->{case_no}?password=$password",
             tls => 1);
$t->refused($r, 404, 'not_found', 'the public query asks the county');

$t->check_log;
$t->stop;

done_testing();
