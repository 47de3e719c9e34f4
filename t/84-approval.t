# Approval (办件审批) to completion (办结): every step by its role, the
# opinions in order, a special procedure that stops the clock and moves the
# due date, the one extension, the decision notices, 退窗, the on-the-spot
# item, abnormal cases voided and deleted, the unified query, and two
# clerks acting on one case at once.  Every refusal answers its api.md
# error and writes nothing.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_login_limit 100 1m;'
                                        . ' govsvc_abnormal_draft_days 10;');
$t->start;

my $dept = $t->default_department;
my $other = $t->psql("INSERT INTO departments (region, name)"
                     . " VALUES ('430102', '别的部门') RETURNING id");
$t->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-001', '000001', '测试许可', '01', 2, $dept, '430102', 20, 10,
  \$j\$[{"code":"M1","name":"申请书","required":true}]\$j\$, '[]',
  \$j\$[{"code":"handle","name":"初审","role":"handler","days":4},
       {"code":"review","name":"复审","role":"reviewer","days":3},
       {"code":"approve","name":"决定","role":"approver","days":3}]\$j\$),
 ('T-IM', '000002', '即办事项', '01', 1, $dept, '430102', 5, 1,
  '[{"code":"M1","name":"申请表","required":true}]', '[]', '[]');
SQL
my %h = $t->case_staff($dept, $other);
for my $u ([reviewer => '赵审核'], [approver => '钱批准']) {
    $t->create_user(username => $u->[0], name => $u->[1], roles => [$u->[0]],
                    password => 'a good password', department => $dept);
    $h{$u->[0]} = $t->auth($t->login($u->[0], 'a good password'));
}

my %person = (type => 'person', name => '张三', id_type => 'id_card',
              id_no => '11010519491231002X', phone => '13800000000');

sub new_case {
    my ($item, $name) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                    json => { item_code => $item // 'T-001',
                              project_name => $name // '某某项目',
                              applicant => \%person, form => {},
                              materials => [{ code => 'M1',
                                              received => JSON::PP::true }] });
    is($r->{status}, 201, 'case registered') or diag $r->{body};
    return $r->{json};
}
sub notice {
    my ($c, $json, $who) = @_;
    return $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
                   headers => $h{$who // 'clerk'}, json => $json);
}
sub act {
    my ($c, $json, $who) = @_;
    return $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                   headers => $h{$who // 'clerk'}, json => $json);
}
sub get_case {
    my ($c, $who) = @_;
    return $t->req(GET => "/api/v1/cases/$c->{case_no}", tls => 1,
                   headers => $h{$who // 'clerk'});
}
sub written {
    return join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(notices outbox audit_log case_opinions special_procedures),
        'cases WHERE version > 1';
}
# the next step: a successful action answers the case
sub ok_act {
    my ($c, $json, $who, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = act($c, { version => $c->{version}, %$json }, $who);
    is($r->{status}, 200, $what) or diag $r->{body};
    return $r->{json} // $c;
}
sub ok_notice {
    my ($c, $json, $who) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = notice($c, $json, $who);
    is($r->{status}, 201, "$json->{kind} notice issued") or diag $r->{body};
    return $r->{json};
}
sub worklist {
    my ($who, %q) = @_;
    my $r = $t->req(GET => '/api/v1/worklist?box=' . ($q{box} // 'todo'),
                    tls => 1, headers => $h{$who});
    is($r->{status}, 200, "$who: worklist") or diag $r->{body};
    return [ map { $_->{case_no} } @{ $r->{json}{items} } ];
}
sub has { my ($list, $c) = @_; return scalar grep { $_ eq $c->{case_no} } @$list }
# the actions the case page offers $who now (the case's "actions")
sub actions {
    my ($c, $who) = @_;
    my $r = get_case($c, $who);
    return join ',', @{ $r->{json}{actions} // ['none given'] };
}
sub working_day {
    my ($from, $n) = @_;
    return $t->psql("SELECT govsvc_working_day(:'f'::date, :'n'::int)",
                    f => $from, n => $n);
}

# ---- accepted: the first step, its deadline --------------------------------

my $c = new_case();
is(actions($c), 'accept,reject,request_correction',
   'a draft offers the window its three outcomes');
is(actions($c, 'handler'), '', 'and a handler nothing');
ok_notice($c, { kind => 'acceptance' });
$c = ok_act($c, { action => 'accept' }, 'clerk', 'accepted');
is(join(',', @{ $c->{actions} }), '',
   'the answer lists what the actor may do next: the window nothing');
is(actions($c, 'handler'), 'pass,return,suspend',
   'the 初审 handler may pass, return or suspend');
is(actions($c, 'approver'), 'extend', 'an approver may extend');
is(actions($c, 'reviewer'), '', 'the reviewer nothing yet');
is(actions($c, 'sup'), '', 'a supervisor acts on no case');
is($c->{state}, 'in_progress', 'in progress');
is($c->{step}, 'handle', 'at the first step, 初审');
is($c->{deadline}{kind}, 'promised', 'the deadline is the promised date');
is($c->{deadline}{due_date}, $c->{promised_date}, 'due on the promised date');
is($c->{deadline}{remaining_working_days}, 10, '10 working days left');
is($c->{deadline}{level}, 'normal', 'level normal');
ok(!$c->{deadline}{paused}, 'not paused');
ok(!$c->{deadline}{step_overdue}, 'the step is within its limit');

ok(has(worklist('handler'), $c), 'in the handler\'s 待办');
ok(!has(worklist('reviewer'), $c), 'not yet the reviewer\'s');
ok(!has(worklist('clerk'), $c), 'nor the clerk\'s');

# ---- pass: only the step's role, with an opinion, on this version ---------

my $before = written();
$t->refused(act($c, { action => 'pass', version => $c->{version},
                  opinion => '同意' }), 403, 'forbidden',
        'a clerk passes no 初审');
$t->refused(act($c, { action => 'pass', version => $c->{version},
                  opinion => '同意' }, 'reviewer'), 403, 'forbidden',
        'nor does the reviewer before it is theirs');
$t->refused(act($c, { action => 'pass', version => $c->{version} }, 'handler'),
        422, 'validation_failed', 'a pass without an opinion', 'opinion');
$t->refused(act($c, { action => 'pass', version => $c->{version} - 1,
                  opinion => '同意' }, 'handler'), 409, 'version_conflict',
        'a pass on a stale version');
$t->refused(act($c, { action => 'complete', version => $c->{version},
                  result => 'approved' }), 409, 'invalid_state',
        'complete before the last step');
$t->refused(act($c, { action => 'resume', version => $c->{version},
                  result => 'x' }, 'handler'), 409, 'invalid_state',
        'resume what is not suspended');
$t->refused(act($c, { action => 'void', version => $c->{version},
                  reason => 'x' }), 409, 'invalid_state',
        'void a case that is not abnormal');
is(written(), $before, 'the refusals wrote nothing');

$c = ok_act($c, { action => 'pass', opinion => '材料齐全，同意' }, 'handler',
            '初审 passed');
is($c->{step}, 'review', 'on to 复审');
ok(!has(worklist('handler'), $c), 'gone from the handler\'s 待办');
ok(has(worklist('handler', box => 'done'), $c), 'in the handler\'s 已办');
ok(has(worklist('reviewer'), $c), 'in the reviewer\'s 待办');

# ---- special procedure (Art.45): the clock stops, then moves --------------

$t->refused(act($c, { action => 'suspend', procedure => 'expert_review',
                  reason => '需专家评审', days => 5,
                  version => $c->{version} }, 'reviewer'),
        409, 'notice_required', 'suspend without its notice');
$t->refused(notice($c, { kind => 'special_procedure', procedure => 'expert_review',
                     reason => '需专家评审', days => 5 }, 'handler'),
        403, 'forbidden', 'the notice belongs to the current step\'s role');
$t->refused(notice($c, { kind => 'special_procedure', procedure => 'magic',
                     reason => '需专家评审', days => 5 }, 'reviewer'),
        422, 'validation_failed', 'a procedure not in Art.45', 'procedure');
my $tb = ok_notice($c, { kind => 'special_procedure',
                         procedure => 'expert_review',
                         reason => '需专家评审', days => 5 }, 'reviewer');
like($tb->{notice_no}, qr/-TB-/, 'numbered as a 特别程序告知书');
my $page = $t->req(GET => $tb->{url}, tls => 1, headers => $h{reviewer});
like($page->{body}, qr/特别程序告知书/, 'printed as such');
like($page->{body}, qr/专家评审/, 'with the procedure\'s name');
$t->refused(act($c, { action => 'suspend', procedure => 'expert_review',
                  reason => '需专家评审', days => 6,
                  version => $c->{version} }, 'reviewer'),
        409, 'notice_required', 'suspend with other days than printed');
$c = ok_act($c, { action => 'suspend', procedure => 'expert_review',
                  reason => '需专家评审', days => 5 }, 'reviewer',
            'suspended');
is($c->{state}, 'suspended', 'state suspended');
is(actions($c, 'reviewer'), 'resume', 'a suspended case may only resume');
is(actions($c, 'approver'), '', 'and is not extended meanwhile');
ok($c->{deadline}{paused}, 'the clock is paused');
is($c->{special_procedures}[0]{kind}, 'expert_review', 'the procedure listed');
ok(!defined $c->{special_procedures}[0]{ended_at}, 'running');
ok(has(worklist('reviewer'), $c), 'still in the reviewer\'s 待办');
$t->refused(act($c, { action => 'pass', opinion => '同意',
                  version => $c->{version} }, 'reviewer'),
        409, 'invalid_state', 'no pass while suspended');
$t->refused(act($c, { action => 'resume', version => $c->{version} },
            'reviewer'), 422, 'validation_failed', 'resume without a result',
        'result');

# the procedure began a week ago (fixture): resuming today moves the due
# date by the working days it took
my $due = $c->{deadline}{due_date};
$t->psql("UPDATE cases SET paused_since = paused_since - 7"
         . " WHERE case_no = :'c'", c => $c->{case_no});
my $since = $t->psql("SELECT paused_since FROM cases WHERE case_no = :'c'",
                     c => $c->{case_no});
my $today = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date");
my $taken = $t->psql(<<'SQL', s => $since, t => $today);
SELECT count(*) FROM generate_series(:'s'::date + 1, :'t'::date, '1 day') g(d)
WHERE govsvc_working_day(g.d::date - 1, 1) = g.d::date
SQL
ok($taken >= 4, "the procedure took $taken working days");
$c = ok_act($c, { action => 'resume', result => '专家评审通过' }, 'reviewer',
            'resumed');
is($c->{state}, 'in_progress', 'in progress again');
ok(!$c->{deadline}{paused}, 'the clock runs');
is($c->{deadline}{due_date}, working_day($due, $taken),
   'the due date moved by the working days it took');
is($c->{special_procedures}[0]{days}, $taken, 'and the procedure says so');
is($c->{special_procedures}[0]{result}, '专家评审通过', 'with its result');

# ---- extension (Art.42): an approver, once, at most 10 working days ----------

$t->refused(notice($c, { kind => 'extension', reason => '情况复杂', days => 3 },
               'reviewer'), 403, 'forbidden', 'an extension needs an approver');
$t->refused(notice($c, { kind => 'extension', reason => '情况复杂', days => 11 },
               'approver'), 422, 'validation_failed',
        'an extension of 11 working days', 'days');
my $yq = ok_notice($c, { kind => 'extension', reason => '情况复杂',
                         days => 3 }, 'approver');
like($yq->{notice_no}, qr/-YQ-/, 'numbered as a 延期通知书');
$due = $c->{deadline}{due_date};
$c = ok_act($c, { action => 'extend', reason => '情况复杂', days => 3 },
            'approver', 'extended');
is(actions($c, 'approver'), '', 'extended once, not again');
is($c->{deadline}{due_date}, working_day($due, 3),
   'due 3 working days later');
is($c->{extension}{days}, 3, 'the extension is shown');
$t->refused(notice($c, { kind => 'extension', reason => '再延', days => 1 },
               'approver'), 409, 'invalid_state', 'a second extension');

# ---- the last steps, and completion with the decision ----------------------

$c = ok_act($c, { action => 'pass', opinion => '同意' }, 'reviewer',
            '复审 passed');
is($c->{step}, 'approve', 'on to 决定');
$c = ok_act($c, { action => 'pass', opinion => '准予许可' }, 'approver',
            '决定 passed');
is($c->{step}, 'complete', 'on to 办结');
is(actions($c), 'complete', 'at 办结 the window may complete');
is(actions($c, 'approver'), '', 'nobody else');
ok(has(worklist('clerk'), $c), 'back in the clerk\'s 待办');
$t->refused(act($c, { action => 'complete', result => 'approved',
                  licence_no => 'JY14301020000001',
                  valid_until => '2031-11-28', version => $c->{version} }),
        409, 'notice_required', 'complete before the decision is printed');
$t->refused(act($c, { action => 'complete', result => 'maybe',
                  version => $c->{version} }), 422, 'validation_failed',
        'an unknown result', 'result');
ok_notice($c, { kind => 'approval_decision', licence_no => 'JY14301020000001',
                valid_until => '2031-11-28' });
$t->refused(act($c, { action => 'complete', result => 'approved',
                  licence_no => 'JY14301020000002',
                  valid_until => '2031-11-28', version => $c->{version} }),
        409, 'notice_required', 'complete with another licence than printed');
$c = ok_act($c, { action => 'complete', result => 'approved',
                  licence_no => 'JY14301020000001',
                  valid_until => '2031-11-28' }, 'clerk', 'completed');
is($c->{state}, 'completed', 'state completed');
is($c->{result}, 'approved', 'approved');
is($c->{result_code}, 0, 'result code 0 出证办结');
is($c->{licence}{licence_no}, 'JY14301020000001', 'the licence recorded');
ok(!has(worklist('clerk'), $c), 'gone from every 待办');
ok(has(worklist('clerk', box => 'done'), $c), 'in the clerk\'s 已办');
is_deeply([ map { "$_->{step}:$_->{action}:$_->{actor}{name}" }
            @{ $c->{opinions} } ],
          [ 'accept:accept:张窗口', 'handle:pass:王承办',
            'review:suspend:赵审核', 'review:resume:赵审核',
            'review:extend:钱批准', 'review:pass:赵审核',
            'approve:pass:钱批准', 'complete:complete:张窗口' ],
          'every opinion in order, with step, action and actor');
is($c->{opinions}[1]{opinion}, '材料齐全，同意', 'the opinion text kept');
is($t->psql("SELECT count(*) FROM outbox WHERE case_no = :'c'"
            . " AND type LIKE 'case.%'", c => $c->{case_no}), 9,
   'an outbox event for the creation and each of the 8 actions');
is($t->psql("SELECT count(*) FROM audit_log WHERE object = :'o'"
            . " AND action LIKE 'case.%'", o => "case:$c->{case_no}"), 9,
   'and an audit entry for each');

# ---- 退窗: returned to the window, refused ---------------------------------

my $rt = new_case(undef, '退窗的项目');
ok_notice($rt, { kind => 'acceptance' });
$rt = ok_act($rt, { action => 'accept' }, 'clerk', 'accepted');
$t->refused(act($rt, { action => 'return', version => $rt->{version} }, 'handler'),
        422, 'validation_failed', 'a return without an opinion', 'opinion');
$rt = ok_act($rt, { action => 'return', opinion => '不符合条件' }, 'handler',
            'returned to the window (退窗)');
is($rt->{step}, 'complete', 'straight to 办结');
is($rt->{result}, 'refused', 'with the result refused');
is(actions($rt), 'complete', 'a returned case may be completed');
$t->refused(notice($rt, { kind => 'approval_decision' }), 409, 'invalid_state',
        'no approval decision for a returned case');
ok_notice($rt, { kind => 'refusal_decision', reason => '不符合法定条件' });
$t->refused(act($rt, { action => 'complete', result => 'approved',
                  version => $rt->{version} }), 422, 'validation_failed',
        'a returned case is not approved', 'result');
$rt = ok_act($rt, { action => 'complete', result => 'refused',
                  reason => '不符合法定条件' }, 'clerk', 'completed');
is($rt->{result_code}, 1, 'result code 1 退回');

# ---- 即办件: no approval steps ------------------------------------------------

my $im = new_case('T-IM', '即办的项目');
ok_notice($im, { kind => 'acceptance' });
$im = ok_act($im, { action => 'accept' }, 'clerk', 'accepted');
is($im->{step}, 'complete', 'an on-the-spot case goes straight to 办结');
ok_notice($im, { kind => 'approval_decision' });
$im = ok_act($im, { action => 'complete', result => 'approved' }, 'clerk',
             'completed without a licence');
is($im->{result_code}, 6, 'result code 6 办结');

# ---- abnormal cases: void and delete, only for those ------------------------

my $x = new_case(undef, '补正不来的项目');
ok_notice($x, { kind => 'correction', reason => '缺材料', deadline_days => 1,
                materials => ['M1'] });
$x = ok_act($x, { action => 'request_correction', reason => '缺材料',
                  deadline_days => 1, materials => ['M1'] }, 'clerk',
            'correction requested');
$t->refused(act($x, { action => 'void', reason => '逾期', version => $x->{version} }),
        409, 'invalid_state', 'void before the deadline passed');
$t->psql("UPDATE cases SET correction = jsonb_set(correction, '{deadline}',"
         . " to_jsonb((current_date - 3)::text)) WHERE case_no = :'c'",
         c => $x->{case_no});
my $stale = new_case(undef, '逾期不来的项目');
$t->psql("UPDATE cases SET received_at = now() - interval '11 days'"
         . " WHERE case_no = :'c'", c => $stale->{case_no});
my $fresh = new_case(undef, '新的草稿');

my $r = $t->req(GET => '/api/v1/abnormal', tls => 1, headers => $h{clerk});
is($r->{status}, 200, 'the abnormal list') or diag $r->{body};
my %kind = map { $_->{case_no} => $_->{kind} } @{ $r->{json}{items} };
is($kind{$x->{case_no}}, 'correction_overdue', 'a correction past its deadline');
is($kind{$stale->{case_no}}, 'draft_stale',
   'a draft older than govsvc_abnormal_draft_days');
ok(!exists $kind{$fresh->{case_no}}, 'not a fresh draft');
is(actions($x), 'resubmit,void,delete',
   'a correction past its deadline may be resubmitted, voided or deleted');
is(actions($stale), 'accept,reject,request_correction,void,delete',
   'a stale draft may still be accepted, or voided or deleted');
is(actions($fresh), 'accept,reject,request_correction',
   'a fresh draft not voided or deleted');
$r = $t->req(GET => '/api/v1/abnormal?kind=draft_stale', tls => 1,
             headers => $h{clerk});
is_deeply([ map { $_->{case_no} } @{ $r->{json}{items} } ],
          [ $stale->{case_no} ], 'filtered by kind');
$t->refused($t->req(GET => '/api/v1/abnormal?kind=late', tls => 1,
                headers => $h{clerk}), 400, 'invalid_request',
        'an unknown kind', 'kind');
$t->refused($t->req(GET => '/api/v1/abnormal', tls => 1, headers => $h{handler}),
        403, 'forbidden', 'a handler has no abnormal list');
is_deeply($t->req(GET => '/api/v1/abnormal', tls => 1,
                  headers => $h{clerk2})->{json}{items}, [],
          'another department sees none of them');

$before = written();
$t->refused(act($x, { action => 'void', version => $x->{version} }), 422,
        'validation_failed', 'void without a reason', 'reason');
$t->refused(act($x, { action => 'void', reason => '逾期',
                  version => $x->{version} }, 'handler'),
        403, 'forbidden', 'a handler voids nothing');
$t->refused(act($fresh, { action => 'delete', reason => '重复',
                      version => $fresh->{version} }),
        409, 'invalid_state', 'delete a draft that is not abnormal');
is(written(), $before, 'and nothing was written');

$x = ok_act($x, { action => 'void', reason => '逾期未补正' }, 'clerk',
            'voided (作废办结)');
is($x->{state}, 'voided', 'state voided');
is($x->{result_code}, 5, 'result code 5 补正不来办结');
is(actions($x), '', 'a voided case offers nothing');
ok_act($stale, { action => 'delete', reason => '逾期不来办理' }, 'clerk',
       'deleted (删除办结)');
$t->refused(get_case($stale), 404, 'not_found', 'a deleted case is hidden');
is($t->psql("SELECT state FROM cases WHERE case_no = :'c'",
            c => $stale->{case_no}), 'deleted', 'but kept');
is($t->psql("SELECT count(*) FROM audit_log WHERE object = :'o'",
            o => "case:$stale->{case_no}"), 2, 'with its audit trail');

# ---- the unified query ---------------------------------------------------------

sub query {
    my ($who, $q) = @_;
    my $r = $t->req(GET => "/api/v1/cases?$q", tls => 1, headers => $h{$who});
    is($r->{status}, 200, "$who: /api/v1/cases?$q") or diag $r->{body};
    return [ map { $_->{case_no} } @{ $r->{json}{items} } ];
}
my $all = query('clerk', '');
ok(has($all, $c) && has($all, $rt) && has($all, $x), 'the department\'s cases');
ok(!has($all, $stale), 'never a deleted one');
is_deeply(query('clerk', 'state=completed'),
          [ sort { $b cmp $a } $c->{case_no}, $rt->{case_no}, $im->{case_no} ],
          'by state, newest first');
is_deeply(query('clerk', 'q=' . '%E9%80%80%E7%AA%97'), [ $rt->{case_no} ],
          'by project name (退窗)');
is_deeply(query('clerk', "q=$c->{case_no}"), [ $c->{case_no} ],
          'by case number');
is_deeply(query('clerk', 'item=T-IM'), [ $im->{case_no} ], 'by item');
is_deeply(query('clerk2', ''), [], 'another department sees none');
is_deeply(query('clerk', 'state=in_progress&step=handle'), [],
          'by state and step: nothing left at 初审');
is_deeply(query('sup', "department=$dept&state=voided"), [ $x->{case_no} ],
          'a supervisor by department');
is_deeply(query('sup', "department=$other"), [], 'an empty department');
my $tomorrow = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date"
                        . " + 1");
is(scalar @{ query('clerk', "from=$today&to=$today") }, scalar @$all,
   'received today: all of them');
is_deeply(query('clerk', "from=$tomorrow"), [], 'received from tomorrow: none');
ok(has(query('sup', 'region=430102'), $c), 'a supervisor sees the region');
is_deeply(query('sup', 'region=430103'), [], 'and filters by region');
my $p1 = $t->req(GET => '/api/v1/cases?limit=2', tls => 1,
                 headers => $h{clerk})->{json};
is(scalar @{ $p1->{items} }, 2, 'a page of 2');
my $p2 = $t->req(GET => "/api/v1/cases?limit=2&cursor=$p1->{next_cursor}",
                 tls => 1, headers => $h{clerk})->{json};
ok($p2->{items}[0]{case_no} lt $p1->{items}[1]{case_no},
   'the next page follows on');
$t->refused($t->req(GET => '/api/v1/cases?level=purple', tls => 1,
                headers => $h{clerk}), 400, 'invalid_request',
        'an unknown level', 'level');
$t->refused($t->req(GET => '/api/v1/cases?cursor=x', tls => 1,
                headers => $h{clerk}), 400, 'invalid_request',
        'a cursor it did not give', 'cursor');

# the level in lists is PostgreSQL's; the case's is core's: the same
my $y = new_case(undef, '快到期的项目');
ok_notice($y, { kind => 'acceptance' });
$y = ok_act($y, { action => 'accept' }, 'clerk', 'accepted');
$t->psql("UPDATE cases SET due_date = govsvc_working_day(current_date, 1)"
         . " WHERE case_no = :'c'", c => $y->{case_no});
is(get_case($y)->{json}{deadline}{level}, 'yellow', 'one day left: yellow');
is_deeply(query('clerk', 'level=yellow'), [ $y->{case_no} ],
          'and the unified query agrees');
$t->psql("UPDATE cases SET due_date = current_date - 1 WHERE case_no = :'c'",
         c => $y->{case_no});
is(get_case($y)->{json}{deadline}{level}, 'red', 'past due: red');
is_deeply(query('clerk', 'level=red'), [ $y->{case_no} ], 'agreed again');

# a step has its own limit: 初审 4 working days, begun three weeks ago
ok(!get_case($y)->{json}{deadline}{step_overdue}, 'the step is within it');
$t->psql("UPDATE cases SET due_date = current_date + 30,"
         . " step_started_at = now() - interval '21 days'"
         . " WHERE case_no = :'c'", c => $y->{case_no});
my $dl = get_case($y)->{json}{deadline};
ok($dl->{step_overdue}, 'the step is over its limit');
is($dl->{level}, 'normal', 'while the case as a whole is not late');

# ---- two users act on one case at once: one wins -----------------------------

for my $round (1 .. 5) {
    my $z = new_case(undef, "并发$round");
    ok_notice($z, { kind => 'acceptance' });
    $z = ok_act($z, { action => 'accept' }, 'clerk', 'accepted');
    my @a = map {
        $t->async_req(POST => "/api/v1/cases/$z->{case_no}/actions", tls => 1,
                      headers => $h{handler},
                      json => { action => 'pass', version => $z->{version},
                                opinion => "意见$_" })
    } 1 .. 4;
    my @st = sort map { $_->wait->{status} } @a;
    is("@st", '200 409 409 409', "round $round: exactly one pass wins");
    is($t->psql("SELECT count(*) FROM case_opinions WHERE case_no = :'c'"
                . " AND action = 'pass'", c => $z->{case_no}), 1,
       "round $round: one opinion written");
}

$t->check_log;
$t->stop;
done_testing();
