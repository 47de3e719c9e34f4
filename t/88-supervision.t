# E-supervision (电子监察): the warning list (yellow, red, steps over their
# own limit) for supervisors of the region and below; automatic yellow and
# red cards issued by the timer as nginx's clock (libfaketime) moves a
# case past its thresholds, once per case and colour with two nginx
# instances on one database; cards issued and revoked by hand and
# answered by the department, with every refusal; and the statistics
# against a hand-counted set of cases.  Refusals write nothing.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0, instances => 2,
                          http_extra => 'govsvc_login_limit 100 1m;'
                                        . ' govsvc_card_interval 1s;');
$t->start;

# ---- the cast ---------------------------------------------------------------

my $dA = $t->default_department;                      # 430102
my ($dB, $dCity, $dS, $dS2) = map {
    $t->psql("INSERT INTO departments (region, name)"
             . " VALUES (:'r', :'n') RETURNING id", r => $_->[0], n => $_->[1])
} ['430103', '天心区测试局'], ['430100', '长沙市监察局'],
  ['430104', '岳麓区统计局'], ['430104', '岳麓区空白局'];
my $dSup = $t->psql("INSERT INTO departments (region, name)"
                    . " VALUES ('430102', '芙蓉区监察局') RETURNING id");

my $pw = 'a good password';
my (%h, %uid);
for my $u (['clerkA', 'clerk', $dA], ['handlerA', 'handler', $dA],
           ['clerkB', 'clerk', $dB], ['supA', 'supervisor', $dSup],
           ['supB', 'supervisor', $dB], ['supCity', 'supervisor', $dCity],
           ['admin1', 'admin', $dA])
{
    $uid{ $u->[0] } = $t->create_user(username => $u->[0], name => $u->[0],
        roles => [$u->[1]], password => $pw, department => $u->[2]);
    $h{ $u->[0] } = $t->auth($t->login($u->[0], $pw));
}

my $today = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date");
sub day { $t->psql("SELECT :'d'::date + :'n'::int", d => $_[0], n => $_[1]) }
sub wd { $t->psql("SELECT govsvc_working_day(:'d'::date, :'n'::int)",
                  d => $_[0], n => $_[1]) }
sub days_between { $t->psql("SELECT :'b'::date - :'a'::date",
                            a => $_[0], b => $_[1]) }

$t->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
SELECT v.code, '000001', v.name, '01', 2, v.dept, d.region, 20, 10,
  '[{"code":"M1","name":"申请书","required":true}]', '[]',
  '[{"code":"handle","name":"初审","role":"handler","days":4},
    {"code":"approve","name":"决定","role":"approver","days":3}]'
FROM (VALUES ('W-A', '芙蓉测试许可', $dA), ('W-B', '天心测试许可', $dB),
             ('S-1', '岳麓许可一', $dS), ('S-2', '岳麓许可二', $dS))
     AS v (code, name, dept)
JOIN departments d ON d.id = v.dept;
SQL

my $seq = 0;
# a case straight into the table, in the state the test needs
sub mk_case {
    my (%c) = @_;
    my $no = '430102' . '20200101' . sprintf('%06d', ++$seq);
    $t->psql(<<'SQL',
INSERT INTO cases (case_no, node, item_code, item_version, project_name,
                   applicant, department, created_by, state, step, step_role,
                   result, result_code, received_at, accepted_at,
                   promised_date, due_date, step_started_at, paused_since,
                   completed_at)
SELECT :'no', '430102', :'item', 1, :'name',
       '{"type":"person","name":"张三","id_type":"id_card","id_no":"11010519491231002X","phone":"13800000000"}',
       i.department, :'by'::bigint, :'state', nullif(:'step', ''),
       govsvc_step_role(i.code, nullif(:'step', '')),
       nullif(:'result', ''), nullif(:'code', '')::smallint,
       coalesce(nullif(:'accepted', '')::timestamptz, now()) - interval '1 day',
       nullif(:'accepted', '')::timestamptz,
       nullif(:'due', '')::date, nullif(:'due', '')::date,
       coalesce(nullif(:'step_started', '')::timestamptz,
                CASE WHEN :'state' IN ('in_progress', 'suspended')
                     THEN now() END),
       nullif(:'paused', '')::date, nullif(:'completed', '')::timestamptz
FROM items i WHERE i.code = :'item'
SQL
        no => $no, item => $c{item} // 'W-A', name => $c{name} // "项目$seq",
        by => $uid{clerkA}, state => $c{state} // 'in_progress',
        step => $c{step} // (($c{state} // 'in_progress') =~ /^(in_progress|suspended)$/
                             ? 'handle' : ''),
        result => $c{result} // '', code => $c{code} // '',
        accepted => $c{accepted} // '', due => $c{due} // '',
        step_started => $c{step_started} // '', paused => $c{paused} // '',
        completed => $c{completed} // '');
    return $no;
}

sub written {
    return join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(cards audit_log outbox),
        'cards WHERE revoked_at IS NOT NULL OR response IS NOT NULL';
}
sub get {
    my ($who, $path, %o) = @_;
    return $t->req(GET => $path, tls => 1, headers => $h{$who}, %o);
}
sub post {
    my ($who, $path, $json, %o) = @_;
    return $t->req(POST => $path, tls => 1, headers => $h{$who},
                   json => $json, %o);
}
sub nos { [ map { $_->{case_no} } @{ $_[0]{json}{items} // [] } ] }
sub auto_cards {
    my ($no, $color) = @_;
    return $t->psql("SELECT count(*) FROM cards WHERE case_no = :'n'"
                    . " AND source = 'auto' AND color = :'c'",
                    n => $no, c => $color);
}

# ---- the warning list --------------------------------------------------------

my $red = mk_case(due => day($today, -3), name => '红色项目');
my $yellow = mk_case(due => wd($today, 1), name => '黄色项目');
my $slow = mk_case(due => wd($today, 10), name => '初审超时项目',
                   step_started => day($today, -30) . ' 09:00+08');
my $fine = mk_case(due => wd($today, 10), name => '正常项目');
my $paused_since = day($today, -10);
my $paused = mk_case(state => 'suspended', paused => $paused_since,
                     due => wd($paused_since, 1), name => '中止项目',
                     step_started => day($today, -10) . ' 09:00+08');
my $closed = mk_case(state => 'completed', step => '', result => 'approved',
                     code => 6, due => day($today, -20),
                     accepted => day($today, -40) . ' 09:00+08',
                     completed => day($today, -5) . ' 09:00+08');
my $redB = mk_case(item => 'W-B', due => day($today, -2), name => '天心红色');

my $r = get(supA => '/api/v1/supervision/warnings');
is($r->{status}, 200, 'warnings for the county supervisor') or diag $r->{body};
# the suspended case's due date is the earliest: it stopped 10 days ago
is_deeply(nos($r), [$paused, $red, $yellow, $slow],
          'red, yellow, paused yellow and the slow step of the county,'
          . ' earliest due date first');
my %row = map { $_->{case_no} => $_ } @{ $r->{json}{items} };
is($row{$red}{level}, 'red', 'red');
is($row{$yellow}{level}, 'yellow', 'yellow');
is($row{$paused}{level}, 'yellow', 'a suspended case keeps its level');
ok($row{$paused}{paused}, 'and says it is paused');
is($row{$slow}{level}, 'normal', 'the slow step\'s case is not late');
ok($row{$slow}{step_overdue}, 'but its step is over its limit');
ok(!$row{$yellow}{step_overdue}, 'a step within its limit');
is_deeply($row{$red}{department}, { id => $dA + 0, name => '芙蓉区市场监督管理局' },
          'department {id,name}');
is($row{$red}{region}, '430102', 'region');
is($row{$red}{step}, 'handle', 'step');
is($row{$red}{item}{code}, 'W-A', 'item');
is($row{$red}{due_date}, day($today, -3), 'due date');
is($row{$red}{project_name}, '红色项目', 'project name');
is(ref $row{$red}{cards}, 'ARRAY', 'the cards it has');

# the step limit as core computes it for the case itself
for my $no ($slow, $yellow) {
    my $c = get(supA => "/api/v1/cases/$no");
    is($c->{status}, 200, "case $no read") or diag $c->{body};
    is(($c->{json}{deadline}{step_overdue} ? 1 : 0),
       ($row{$no}{step_overdue} ? 1 : 0),
       "step_overdue of $no as core/gs_deadline says");
    is($c->{json}{deadline}{level}, $row{$no}{level}, "level of $no too");
}

$r = get(supCity => '/api/v1/supervision/warnings');
is_deeply(nos($r), [$paused, $red, $redB, $yellow, $slow],
          'the city supervisor sees its counties');
is_deeply(nos(get(supB => '/api/v1/supervision/warnings')), [$redB],
          'another county sees its own');
is_deeply(nos(get(supCity => '/api/v1/supervision/warnings?level=red')),
          [$red, $redB], 'level=red');
is_deeply(nos(get(supCity => '/api/v1/supervision/warnings?level=yellow')),
          [$paused, $yellow], 'level=yellow');
is_deeply(nos(get(supCity => '/api/v1/supervision/warnings?region=430103')),
          [$redB], 'region=430103');
is_deeply(nos(get(supCity => "/api/v1/supervision/warnings?department=$dB")),
          [$redB], 'department=');
is_deeply(nos(get(supA => '/api/v1/supervision/warnings?region=430103')),
          [], 'a region outside the supervisor\'s shows nothing');
is_deeply(nos(get(supA => "/api/v1/supervision/warnings?department=$dB")),
          [], 'nor does a department outside it');

# pages
my @seen;
my $cursor = '';
for (1 .. 5) {
    $r = get(supCity => "/api/v1/supervision/warnings?limit=2$cursor");
    is($r->{status}, 200, 'a page of 2') or last;
    ok(@{ $r->{json}{items} } <= 2, 'at most 2 rows');
    push @seen, @{ nos($r) };
    last unless defined $r->{json}{next_cursor};
    $cursor = "&cursor=$r->{json}{next_cursor}";
}
is_deeply(\@seen, [$paused, $red, $redB, $yellow, $slow],
          'the pages, in order, each row once');

for my $who (qw(clerkA handlerA admin1)) {
    $t->refused(get($who => '/api/v1/supervision/warnings'), 403, 'forbidden',
                "$who: no warnings");
}
$t->refused($t->req(GET => '/api/v1/supervision/warnings', tls => 1), 401,
            'unauthenticated', 'no session: no warnings');
$t->refused(get(supA => '/api/v1/supervision/warnings?level=green'), 400,
            'invalid_request', 'level=green', 'level');
$t->refused(get(supA => '/api/v1/supervision/warnings?cursor=x'), 400,
            'invalid_request', 'a bad cursor', 'cursor');
$t->refused(get(supA => '/api/v1/supervision/warnings?limit=0'), 400,
            'invalid_request', 'limit=0', 'limit');
$t->refused(get(supA => '/api/v1/supervision/warnings?region=12'), 400,
            'invalid_request', 'a bad region', 'region');

# ---- automatic cards: the timer, on nginx's clock ------------------------------

# the timer runs every second on both instances: cases already yellow or
# red get their cards, the others none
ok($t->eventually(sub { auto_cards($red, 'red') == 1
                        && auto_cards($redB, 'red') == 1
                        && auto_cards($paused, 'yellow') == 1 }, 15),
   'the timer issued the cards of the cases already past a threshold');
is(auto_cards($red, 'yellow'), 1, 'a red case crossed yellow too: one each');
is(auto_cards($yellow, 'yellow'), 1, 'a yellow case: its yellow card');
is(auto_cards($yellow, 'red'), 0, 'and no red one');
is(auto_cards($_, $_ eq $paused ? 'red' : 'yellow'), 0,
   "no card for $_ (normal, a step over its limit, paused yellow)")
    for $slow, $fine, $paused;
is(auto_cards($closed, 'red'), 0, 'nor for a completed case');

my $due = wd($today, 5);
my $x = mk_case(due => $due, name => '时钟项目');
sleep 2.5;
is(auto_cards($x, 'yellow') + auto_cards($x, 'red'), 0,
   'a case 5 working days from its due date: no card');

my $audits = sub {
    $t->psql("SELECT count(*) FROM audit_log a JOIN cards k"
             . " ON a.object = 'card:' || k.id WHERE k.case_no = :'n'"
             . " AND a.action = 'card.issue' AND a.actor = 'system'",
             n => $_[0]);
};
my $events = sub {
    $t->psql("SELECT count(*) FROM outbox WHERE case_no = :'n'"
             . " AND type = 'card.issue'", n => $_[0]);
};

sub restart_at {
    my ($date) = @_;
    my $offset = days_between($today, $date);
    $t->instance($_)->stop_nginx for 1, 2;
    $t->faketime(sprintf '%+dd', $offset);
    $t->instance($_)->start_nginx for 1, 2;
}

# the day before the due date: one working day left, yellow
restart_at(day($due, -1));
ok($t->eventually(sub { auto_cards($x, 'yellow') == 1 }, 15),
   'the clock moved past yellow: a yellow card');
is_deeply(nos(get(supA => '/api/v1/supervision/warnings?level=yellow')),
          [$paused, $x], 'the warning list counts on the same clock')
    or diag explain get(supA => '/api/v1/supervision/warnings');
is(auto_cards($x, 'red'), 0, 'no red card yet');
is($audits->($x), 1, 'its audit entry, by the timer');
is($events->($x), 1, 'its outbox event');
my $card = $t->psql("SELECT json_build_object('reason', reason,"
                    . " 'department', department, 'issued_by', issued_by)"
                    . " FROM cards WHERE case_no = :'n'", n => $x);
like($card, qr/"department" : $dA\b/, 'the card is for the case\'s department');
like($card, qr/"issued_by" : null/, 'issued by nobody: the timer');
like($card, qr/\Q$due\E/, 'its reason names the due date');

# the day after: red
restart_at(day($due, 1));
ok($t->eventually(sub { auto_cards($x, 'red') == 1 }, 15),
   'past the due date: a red card');
sleep 3;
is(auto_cards($x, 'yellow'), 1, 'still one yellow card after more runs');
is(auto_cards($x, 'red'), 1, 'and one red card, with two instances');
is($audits->($x), 2, 'one audit entry per card');
is($events->($x), 2, 'one outbox event per card');
is($t->psql("SELECT count(*) FROM (SELECT case_no, color FROM cards"
            . " WHERE source = 'auto' GROUP BY 1, 2 HAVING count(*) > 1) d"),
   0, 'no case has two automatic cards of a colour');
# a run by hand on the same day (when no timer holds the lock) has
# nothing left to issue
is($t->eventually(sub {
       my $v = $t->psql("SELECT skipped || ',' || issued"
                        . " FROM govsvc_cards_auto(:'d'::date, 2)",
                        d => day($due, 1));
       $v eq 'false,0' ? $v : undef }, 10), 'false,0',
   'a run by hand finds nothing left to issue');
my $n_auto = $t->psql("SELECT count(*) FROM cards WHERE source = 'auto'");

# the card a case has shows in the warning list
$r = get(supA => '/api/v1/supervision/warnings?level=red');
my ($xrow) = grep { $_->{case_no} eq $x } @{ $r->{json}{items} };
is_deeply([ sort map { "$_->{source}:$_->{color}" } @{ $xrow->{cards} } ],
          ['auto:red', 'auto:yellow'], 'the warning row lists its cards');

# back to the real clock for what follows
$t->instance($_)->stop_nginx for 1, 2;
$t->faketime(undef);
$t->instance($_)->start_nginx for 1, 2;

# ---- cards by hand -----------------------------------------------------------

my $before = written();
$t->refused(post(clerkA => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'yellow', reason => 'x' }), 403, 'forbidden',
            'a clerk issues no card');
$t->refused(post(supB => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'yellow', reason => 'x' }), 403, 'forbidden',
            'a supervisor of another county neither');
$t->refused(post(supA => '/api/v1/supervision/cases/43010299990101000001/cards',
                 { color => 'yellow', reason => 'x' }), 404, 'not_found',
            'an unknown case');
$t->refused(post(supA => '/api/v1/supervision/cases/123/cards',
                 { color => 'yellow', reason => 'x' }), 404, 'not_found',
            'not a case number');
$t->refused(post(supA => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'green', reason => 'x' }), 422,
            'validation_failed', 'a green card', 'color');
$t->refused(post(supA => "/api/v1/supervision/cases/$fine/cards",
                 { reason => 'x' }), 422, 'validation_failed',
            'no colour', 'color');
$t->refused(post(supA => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'red' }), 422, 'validation_failed',
            'no reason', 'reason');
$t->refused(post(supA => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'red', reason => '   ' }), 422,
            'validation_failed', 'a blank reason', 'reason');
$t->refused(post(supA => "/api/v1/supervision/cases/$fine/cards",
                 { color => 'red', reason => 'x' x 2001 }), 422,
            'validation_failed', 'a reason too long', 'reason');
is(written(), $before, 'the refused issues wrote nothing');

$r = post(supA => "/api/v1/supervision/cases/$fine/cards",
          { color => 'yellow', reason => '材料审查拖延' });
is($r->{status}, 201, 'the county supervisor issues a yellow card')
    or diag $r->{body};
my $c1 = $r->{json};
is($c1->{color}, 'yellow', 'yellow');
is($c1->{source}, 'manual', 'by hand');
is($c1->{status}, 'open', 'open');
is($c1->{case_no}, $fine, 'for the case');
is($c1->{reason}, '材料审查拖延', 'with its reason');
is_deeply($c1->{issued_by}, { id => $uid{supA} + 0, name => 'supA' },
          'issued by the supervisor');
is($c1->{department}{id}, $dA, 'for the case\'s department');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'card.issue'"
            . " AND object = :'o' AND actor_id = :'u'::bigint",
            o => "card:$c1->{id}", u => $uid{supA}), 1, 'audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'card.issue'"
            . " AND data->>'id' = :'i'", i => $c1->{id}), 1,
   'and in the outbox');

$r = post(supCity => "/api/v1/supervision/cases/$redB/cards",
          { color => 'red', reason => '超期未办' });
is($r->{status}, 201, 'the city supervisor cards a case of a county')
    or diag $r->{body};
my $cB = $r->{json};

# revoke
$before = written();
$t->refused(post(clerkA => "/api/v1/supervision/cards/$c1->{id}/revoke",
                 { reason => 'x' }), 403, 'forbidden', 'a clerk revokes none');
$t->refused(post(supB => "/api/v1/supervision/cards/$c1->{id}/revoke",
                 { reason => 'x' }), 403, 'forbidden',
            'a supervisor of another county neither');
$t->refused(post(supA => '/api/v1/supervision/cards/999999/revoke',
                 { reason => 'x' }), 404, 'not_found', 'an unknown card');
$t->refused(post(supA => '/api/v1/supervision/cards/abc/revoke',
                 { reason => 'x' }), 404, 'not_found', 'not a card id');
$t->refused(post(supA => "/api/v1/supervision/cards/$c1->{id}/revoke", {}),
            422, 'validation_failed', 'no reason', 'reason');
is(written(), $before, 'the refused revocations wrote nothing');

$r = post(supA => "/api/v1/supervision/cards/$c1->{id}/revoke",
          { reason => '情况已核实，非部门原因' });
is($r->{status}, 200, 'revoked') or diag $r->{body};
is($r->{json}{status}, 'revoked', 'the card is revoked');
is($r->{json}{revoke_reason}, '情况已核实，非部门原因', 'with the reason');
is($r->{json}{revoked_by}{id}, $uid{supA}, 'by the supervisor');
ok($r->{json}{revoked_at}, 'at a time');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'card.revoke'"
            . " AND object = :'o'", o => "card:$c1->{id}"), 1, 'audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'card.revoke'"
            . " AND data->>'id' = :'i'", i => $c1->{id}), 1, 'in the outbox');
$before = written();
$t->refused(post(supA => "/api/v1/supervision/cards/$c1->{id}/revoke",
                 { reason => 'again' }), 409, 'invalid_state',
            'revoked already');
$t->refused(post(handlerA => "/api/v1/cards/$c1->{id}/response",
                 { content => '说明' }), 409, 'invalid_state',
            'a revoked card needs no answer');
is(written(), $before, 'nothing written');

# the department answers
$r = post(supA => "/api/v1/supervision/cases/$slow/cards",
          { color => 'red', reason => '初审超时' });
is($r->{status}, 201, 'another card') or diag $r->{body};
my $c2 = $r->{json};
$before = written();
$t->refused(post(clerkB => "/api/v1/cards/$c2->{id}/response",
                 { content => '说明' }), 403, 'forbidden',
            'another department answers no card');
$t->refused(post(supA => "/api/v1/cards/$c2->{id}/response",
                 { content => '说明' }), 403, 'forbidden',
            'nor does the supervisor');
$t->refused(post(admin1 => "/api/v1/cards/$c2->{id}/response",
                 { content => '说明' }), 403, 'forbidden',
            'nor an administrator of the department');
$t->refused(post(handlerA => '/api/v1/cards/999999/response',
                 { content => '说明' }), 404, 'not_found', 'an unknown card');
$t->refused(post(handlerA => "/api/v1/cards/$c2->{id}/response", {}), 422,
            'validation_failed', 'no content', 'content');
$t->refused(post(handlerA => "/api/v1/cards/$c2->{id}/response",
                 { content => 7 }), 422, 'validation_failed',
            'content not a text', 'content');
is(written(), $before, 'the refused answers wrote nothing');

$r = post(handlerA => "/api/v1/cards/$c2->{id}/response",
          { content => '已加派人手，本周内办结' });
is($r->{status}, 200, 'the department answers') or diag $r->{body};
is($r->{json}{status}, 'answered', 'answered');
is($r->{json}{response}, '已加派人手，本周内办结', 'the answer');
is($r->{json}{responded_by}{id}, $uid{handlerA}, 'by the handler');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'card.respond'"
            . " AND object = :'o'", o => "card:$c2->{id}"), 1, 'audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'card.respond'"
            . " AND data->>'id' = :'i'", i => $c2->{id}), 1, 'in the outbox');
$before = written();
$t->refused(post(clerkA => "/api/v1/cards/$c2->{id}/response",
                 { content => '再说明' }), 409, 'invalid_state',
            'answered already');
is(written(), $before, 'nothing written');

# the lists of cards
my $ids = sub { [ map { $_->{id} } @{ $_[0]{json}{items} // [] } ] };
my $count = sub {
    my ($where, %v) = @_;
    $t->psql("SELECT count(*) FROM cards k JOIN departments d"
             . " ON d.id = k.department WHERE $where", %v);
};
$r = get(clerkA => '/api/v1/cards?limit=500');
is($r->{status}, 200, 'a clerk lists its department\'s cards') or diag $r->{body};
is(scalar @{ $r->{json}{items} }, $count->("k.department = $dA"),
   'all of them');
ok(!(grep { $_->{department}{id} != $dA } @{ $r->{json}{items} }),
   'and no other department\'s');
$r = get(clerkB => '/api/v1/cards?limit=500');
is_deeply([ sort { $a <=> $b } @{ $ids->($r) } ],
          [ split /\n/, $t->psql("SELECT id FROM cards WHERE department"
                                 . " = $dB ORDER BY id") ],
          'the other department sees its own');
$r = get(supA => '/api/v1/cards?limit=500');
is(scalar @{ $r->{json}{items} }, $count->("d.region = '430102'"),
   'the county supervisor: its county');
$r = get(supCity => '/api/v1/cards?limit=500');
is(scalar @{ $r->{json}{items} }, $count->("d.region LIKE '4301%'"),
   'the city supervisor: the city');
is_deeply($ids->(get(supA => "/api/v1/cards?status=revoked")), [$c1->{id}],
          'status=revoked');
is_deeply($ids->(get(supA => "/api/v1/cards?status=answered")), [$c2->{id}],
          'status=answered');
is(scalar @{ get(supA => '/api/v1/cards?source=auto&limit=500')->{json}{items} },
   $count->("d.region = '430102' AND k.source = 'auto'"), 'source=auto');
is_deeply($ids->(get(supCity => "/api/v1/cards?case_no=$redB&source=manual")),
          [$cB->{id}], 'case_no and source');
is_deeply($ids->(get(supCity => "/api/v1/cards?case_no=$x&color=red")),
          [ $t->psql("SELECT id FROM cards WHERE case_no = :'n'"
                     . " AND color = 'red'", n => $x) ], 'color=red');
$r = get(supCity => '/api/v1/cards?limit=2');
is(scalar @{ $r->{json}{items} }, 2, 'a page of 2');
my $next = get(supCity => "/api/v1/cards?limit=2&cursor=$r->{json}{next_cursor}");
ok($next->{json}{items}[0]{id} < $r->{json}{items}[1]{id},
   'the next page goes on, newest first');
$t->refused(get(admin1 => '/api/v1/cards'), 403, 'forbidden',
            'no cards for the administrator');
$t->refused(get(clerkA => '/api/v1/cards?status=lost'), 400,
            'invalid_request', 'status=lost', 'status');

# ---- statistics: a hand-counted month -------------------------------------------

# March 2026 in 岳麓区统计局 (item S-1 unless said); dates in China.
# 2026-02-28 (Saturday) is a working day (春节调休).
my %s;
$s{c1} = mk_case(item => 'S-1', state => 'completed', step => '',
                 result => 'approved', code => 0,
                 accepted => '2026-03-02 10:00+08', due => '2026-03-10',
                 completed => '2026-03-06 15:00+08');  # on time, 4 days
$s{c2} = mk_case(item => 'S-2', state => 'completed', step => '',
                 result => 'refused', code => 1,
                 accepted => '2026-03-02 10:00+08', due => '2026-03-10',
                 completed => '2026-03-16 09:00+08');  # late, 10 days
$s{c3} = mk_case(item => 'S-1', state => 'completed', step => '',
                 result => 'approved', code => 6,
                 accepted => '2026-02-26 10:00+08', due => '2026-03-05',
                 completed => '2026-03-03 09:00+08');  # on time, 4 days
$s{c4} = mk_case(item => 'S-1', accepted => '2026-03-20 10:00+08',
                 due => '2030-01-04');                  # open
$s{c5} = mk_case(item => 'S-1', state => 'rejected', step => '',
                 completed => '2026-03-05 11:00+08');
$s{c6} = mk_case(item => 'S-1', state => 'voided', step => '', code => 5,
                 completed => '2026-03-10 11:00+08');
$s{c7} = mk_case(item => 'S-1', state => 'deleted', step => '', code => 3,
                 completed => '2026-03-11 11:00+08');
$s{c8} = mk_case(item => 'S-1', state => 'completed', step => '',
                 result => 'approved', code => 0,
                 accepted => '2026-03-25 10:00+08', due => '2026-04-08',
                 completed => '2026-04-01 00:30+08');  # April in China
$s{c9} = mk_case(item => 'S-1', state => 'completed', step => '',
                 result => 'approved', code => 0,
                 accepted => '2026-03-09 10:00+08', due => '2026-03-31',
                 completed => '2026-03-31 23:30+08');  # on time, 16 days
$s{c10} = mk_case(item => 'S-1', state => 'rejected', step => '',
                  completed => '2026-02-27 11:00+08');  # February
$t->psql(<<"SQL", %s, sup => $uid{supCity});
INSERT INTO cards (case_no, department, item_code, color, source, reason,
                   issued_by, issued_at, revoked_at, revoked_by,
                   revoke_reason)
SELECT c.case_no, c.department, c.item_code, v.color, 'manual', 'r',
       :'sup', v.issued::timestamptz, v.revoked::timestamptz,
       CASE WHEN v.revoked IS NOT NULL THEN :'sup'::bigint END,
       CASE WHEN v.revoked IS NOT NULL THEN 'x' END
FROM (VALUES (:'c2', 'yellow', '2026-03-05 10:00+08', NULL),
             (:'c1', 'red', '2026-03-20 10:00+08', '2026-03-21 10:00+08'),
             (:'c1', 'yellow', '2026-02-20 10:00+08', '2026-03-02 10:00+08'),
             (:'c1', 'red', '2026-04-05 10:00+08', NULL))
     AS v (case_no, color, issued, revoked)
JOIN cases c ON c.case_no = v.case_no;
INSERT INTO consultations (node, title, content, item_code, department,
                           code_hash, status, reply_due, created_at,
                           replied_at)
VALUES ('430102', 'q1', 'c', 'S-1', $dS, 'h', 'pending', '2026-03-10',
        '2026-03-03 10:00+08', NULL),                      -- pending, late
       ('430102', 'q2', 'c', NULL, $dS, 'h', 'replied', '2026-03-11',
        '2026-03-04 10:00+08', '2026-03-06 10:00+08'),     -- in time
       ('430102', 'q3', 'c', 'S-1', $dS, 'h', 'replied', '2026-03-12',
        '2026-03-05 10:00+08', '2026-03-13 10:00+08'),     -- late
       ('430102', 'q4', 'c', NULL, $dS, 'h', 'replied', '2026-03-13',
        '2026-03-06 10:00+08', '2026-03-14 10:00+08'),     -- Saturday: in time
       ('430102', 'q5', 'c', NULL, $dS, 'h', 'pending', '2026-04-08',
        '2026-04-01 10:00+08', NULL);                      -- April
INSERT INTO evaluations (case_no, score, channel, created_at)
VALUES (:'c1', 1, 'window', '2026-03-07 10:00+08'),
       (:'c2', 5, 'web', '2026-03-17 10:00+08'),
       (:'c3', 3, 'window', '2026-03-04 10:00+08'),
       (:'c9', 2, 'app', '2026-03-31 23:40+08'),
       (:'c8', 4, 'web', '2026-04-03 10:00+08');
SQL

my %zero = (completed => { map { $_ => 0 } 0 .. 6 }, accepted => 0,
            rejected => 0, on_time_rate => undef, avg_working_days => undef,
            cards_issued => 0, cards_revoked => 0, consultations_pending => 0,
            consultations_overdue => 0,
            ratings => { good => 0, neutral => 0, bad => 0 });
my %march = (
    department => { id => $dS + 0, name => '岳麓区统计局' }, region => '430104',
    accepted => 5,                      # c1 c2 c4 c8 c9
    rejected => 1,                      # c5 (c10 in February)
    completed => { 0 => 2, 1 => 1, 2 => 0, 3 => 1, 4 => 0, 5 => 1, 6 => 1 },
    on_time_rate => 0.75,               # c1 c3 c9 of c1 c2 c3 c9
    avg_working_days => 8.5,            # (4 + 10 + 4 + 16) / 4
    cards_issued => 2, cards_revoked => 2,
    consultations_pending => 1, consultations_overdue => 2,
    ratings => { good => 2, neutral => 1, bad => 1 });

sub stats {
    my ($who, $q) = @_;
    my $r = get($who => "/api/v1/supervision/stats?$q");
    is($r->{status}, 200, "stats $q") or diag $r->{body};
    return $r->{json};
}
# numbers compare as numbers (0.7500 is 0.75)
sub num {
    my ($h) = @_;
    for my $k (grep { $_ ne 'region' } keys %$h) {
        $h->{$k} += 0 if defined $h->{$k} && !ref $h->{$k};
    }
    return $h;
}

my $j = stats(supCity => 'region=430104&from=2026-03-01&to=2026-03-31');
is(scalar @{ $j->{items} }, 2, 'two departments in 430104');
is_deeply(num($j->{items}[0]), \%march, 'March, counted by hand')
    or diag explain $j->{items}[0];
is_deeply(num($j->{items}[1]),
          { %zero, department => { id => $dS2 + 0, name => '岳麓区空白局' },
            region => '430104' }, 'an idle department: zeros and nulls')
    or diag explain $j->{items}[1];
is($j->{from}, '2026-03-01', 'the period is echoed');
is($j->{next_cursor}, undef, 'one page');

$j = stats(supCity => "department=$dS&item=S-2&from=2026-03-01&to=2026-03-31");
is_deeply(num($j->{items}[0]),
          { %zero, department => $march{department}, region => '430104',
            accepted => 1, completed => { %{ $zero{completed} }, 1 => 1 },
            on_time_rate => 0, avg_working_days => 10, cards_issued => 1,
            ratings => { good => 0, neutral => 0, bad => 1 } },
          'item=S-2: case 2 alone') or diag explain $j->{items}[0];

$j = stats(supCity => "department=$dS&from=2026-04-01&to=2026-04-30");
is_deeply([ @{ num($j->{items}[0]) }{qw(accepted cards_issued
          consultations_pending)}, $j->{items}[0]{completed}{0},
          $j->{items}[0]{ratings}{bad} ], [0, 1, 1, 1, 1],
          'April: c8 completed, a card, a question, a bad rating');

$j = stats(supCity => "department=$dS&from=2026-03-31&to=2026-03-31");
is($j->{items}[0]{completed}{0}, 1,
   'a day: completed at 23:30 in China counts on that day');

$j = stats(supCity => "region=430104&limit=1");
is(scalar @{ $j->{items} }, 1, 'a page of one department');
is($j->{next_cursor}, $dS, 'the cursor is the last department');
$j = stats(supCity => "region=430104&limit=1&cursor=$j->{next_cursor}");
is($j->{items}[0]{department}{id}, $dS2, 'then the next');

$j = stats(supA => "department=$dS&from=2026-03-01&to=2026-03-31");
is_deeply($j->{items}, [], 'a county supervisor sees no other county');
$j = stats(supA => 'from=2026-03-01&to=2026-03-31');
ok(!(grep { $_->{region} ne '430102' } @{ $j->{items} }),
   'only its own county\'s departments');
ok(scalar(grep { $_->{department}{id} == $dA } @{ $j->{items} }),
   'among them the department of its cases');

# the daily figures follow changes: c4 completed on 2026-03-25 (3 working
# days after its acceptance), then a version bump that changes nothing
# counted, then its rating
$t->psql(<<'SQL', c4 => $s{c4});
UPDATE cases SET state = 'completed', step = NULL, step_role = NULL,
       result = 'approved', result_code = 0,
       completed_at = '2026-03-25 12:00+08'
    WHERE case_no = :'c4';
UPDATE cases SET version = version + 1 WHERE case_no = :'c4';
INSERT INTO evaluations (case_no, score, channel, created_at)
VALUES (:'c4', 3, 'kiosk', '2026-03-26 10:00+08');
SQL
$j = stats(supCity => "department=$dS&from=2026-03-01&to=2026-03-31");
is_deeply(num($j->{items}[0]),
          { %march, completed => { %{ $march{completed} }, 0 => 3 },
            on_time_rate => 0.8, avg_working_days => 7.4,
            ratings => { good => 2, neutral => 2, bad => 1 } },
          'a completion and a rating later: counted on their days')
    or diag explain $j->{items}[0];
$t->psql("UPDATE cases SET state = 'deleted', result_code = 3,"
         . " completed_at = '2026-04-02 10:00+08' WHERE case_no = :'c'",
         c => $s{c1});
$j = stats(supCity => "department=$dS&from=2026-03-01&to=2026-03-31");
is_deeply([ $j->{items}[0]{completed}{0}, $j->{items}[0]{on_time_rate} ],
          [2, '0.75'], 'c1 deleted in April: taken back from March')
    or diag explain $j->{items}[0];
$t->psql("UPDATE cases SET state = 'completed', result_code = 0,"
         . " completed_at = '2026-03-06 15:00+08' WHERE case_no = :'c'",
         c => $s{c1});

# the figures kept by the triggers through everything this test did are
# those computed afresh from the cases and ratings
my $fresh = <<'SQL';
WITH kept AS (SELECT * FROM stats_cases_daily
              WHERE (accepted, rejected, completed_0, completed_1,
                     completed_2, completed_3, completed_4, completed_5,
                     completed_6, timed, on_time, spans, span_days)
                    <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
     fresh AS (SELECT x.department, x.day, x.item_code, sum(x.accepted),
                      sum(x.rejected), sum(x.completed_0),
                      sum(x.completed_1), sum(x.completed_2),
                      sum(x.completed_3), sum(x.completed_4),
                      sum(x.completed_5), sum(x.completed_6), sum(x.timed),
                      sum(x.on_time), sum(x.spans), sum(x.span_days)
               FROM cases c, govsvc_calendar_marks() m,
                    LATERAL govsvc_stats_case_rows(c, 1, m.days, m.cum) x
               GROUP BY 1, 2, 3),
     rkept AS (SELECT * FROM stats_ratings_daily
               WHERE (good, neutral, bad) <> (0, 0, 0)),
     rfresh AS (SELECT x.department, x.day, x.item_code, sum(x.good),
                       sum(x.neutral), sum(x.bad)
                FROM evaluations e,
                     LATERAL govsvc_stats_rating_rows(e, 1) x
                GROUP BY 1, 2, 3)
SELECT (SELECT count(*) FROM kept) || ' '
       || (SELECT count(*) FROM ((TABLE kept EXCEPT TABLE fresh)
                                 UNION ALL
                                 (TABLE fresh EXCEPT TABLE kept)) d) || ' '
       || (SELECT count(*) FROM ((TABLE rkept EXCEPT TABLE rfresh)
                                 UNION ALL
                                 (TABLE rfresh EXCEPT TABLE rkept)) d)
SQL
like($t->psql($fresh), qr/^[1-9]\d* 0 0$/,
     'the daily figures kept are those of the cases and ratings');

for my $who (qw(clerkA admin1)) {
    $t->refused(get($who => '/api/v1/supervision/stats'), 403, 'forbidden',
                "$who: no statistics");
}
$t->refused(get(supCity => '/api/v1/supervision/stats?from=2026-13-01'), 400,
            'invalid_request', 'a bad date', 'from');
$t->refused(get(supCity => '/api/v1/supervision/stats?department=x'), 400,
            'invalid_request', 'a bad department', 'department');

is($t->psql('SELECT count(*) FROM govsvc_audit_verify()'), 0,
   'the audit chain holds');

$t->stop;
done_testing();
