# The public portal (统一查询、统一反馈): the case query by number and query
# password (state, the steps passed with their dates, the promised date,
# the result; no personal data), the same 404 for a wrong password and an
# unknown number, both counted against the per-address limit; the rating
# (好差评) of a completed case, once; a bad rating opens a rectification
# task the department answers.  Every public answer is scanned for the
# applicant's name, ID number and phone.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use GovSvc::Test;

my $limit = 40;
my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          public_write_limit => '100 1m',
                          http_extra => 'govsvc_login_limit 100 1m;'
                              . " govsvc_public_query_limit $limit 1h;"
                              . ' govsvc_rectify_days 7;');
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
# what no public answer may carry: the applicant, opinions, who acted
my @secret = (@person{qw(name id_no phone)}, '材料齐全，同意', '王承办',
              '张窗口', '赵审核', '钱批准', '不符合条件');

my @public;    # every public answer body
my $failed = 0;    # failed password checks so far (the limit counts them)
sub pub {
    my ($method, $path, %o) = @_;
    my $r = $t->req($method => $path, %o);
    push @public, [ "$method $path", $r->{body} ];
    $failed++ if $r->{status} == 404;
    return $r;
}
sub query {
    my ($c, $password) = @_;
    my $no = ref $c ? $c->{case_no} : $c;
    return pub(GET => "/api/v1/public/cases/$no"
                      . (defined $password ? "?password=$password" : ''));
}
sub rate {
    my ($c, $json) = @_;
    return pub(POST => "/api/v1/public/cases/$c->{case_no}/evaluation",
               json => $json);
}
sub new_case {
    my ($item) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                    json => { item_code => $item // 'T-001',
                              project_name => '某某项目',
                              applicant => \%person, form => {},
                              materials => [{ code => 'M1',
                                              received => JSON::PP::true }] });
    is($r->{status}, 201, 'case registered') or diag $r->{body};
    return $r->{json};
}
sub ok_notice {
    my ($c, $json, $who) = @_;
    my $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
                    headers => $h{$who // 'clerk'}, json => $json);
    is($r->{status}, 201, "$json->{kind} notice issued") or diag $r->{body};
}
sub ok_act {
    my ($c, $json, $who, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                    headers => $h{$who // 'clerk'},
                    json => { version => $c->{version}, %$json });
    is($r->{status}, 200, $what) or diag $r->{body};
    return $r->{json} // $c;
}
sub accept_case {
    my ($c) = @_;
    ok_notice($c, { kind => 'acceptance' });
    $c = ok_act($c, { action => 'accept' }, 'clerk', 'accepted');
    like($c->{query_password} // '', qr/^[A-HJ-NP-Z2-9]{8}$/,
         'the accept answer tells the query password');
    return $c;
}
sub written {
    return join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(evaluations rectifications audit_log outbox);
}
sub names { [ map { $_->{name} } @{ $_[0]{json}{steps} // [] } ] }
sub staff {
    my ($who, $method, $path, $json) = @_;
    return $t->req($method => $path, tls => 1, headers => $h{$who},
                   defined $json ? (json => $json) : ());
}

# ---- accepted: the query with the right password --------------------------

my $c = accept_case(new_case());
my $password = $c->{query_password};

my $r = query($c, $password);
is($r->{status}, 200, 'the public query') or diag $r->{body};
is($r->{json}{case_no}, $c->{case_no}, 'case_no');
is_deeply($r->{json}{item}, { code => 'T-001', name => '测试许可' }, 'item');
is($r->{json}{state}, 'in_progress', 'state');
is_deeply(names($r), ['受理'], 'steps: accepted');
like($r->{json}{steps}[0]{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/,
     'with the time');
is($r->{json}{promised_date}, $c->{promised_date}, 'the promised date');
ok(!defined $r->{json}{result}, 'no result yet');
is_deeply([ sort keys %{ $r->{json}{steps}[0] } ], [qw(at name)],
          'a step is its name and its time, nothing else');

# ---- a wrong password and an unknown number: the same 404 ------------------

my $t0 = time;
my $wrong = query($c, 'ABCDEFGH');
my $took_wrong = time - $t0;
$t->refused($wrong, 404, 'not_found', 'a wrong password');
$t0 = time;
my $unknown = query('43010220200101000999', $password);
my $took_unknown = time - $t0;
$t->refused($unknown, 404, 'not_found', 'an unknown number');
is($unknown->{body}, $wrong->{body}, 'the same answer, byte for byte');
cmp_ok($took_unknown, '>', 0.3 * $took_wrong,
       sprintf('an unknown number costs a hash too (%.3fs vs %.3fs)',
               $took_unknown, $took_wrong));
is(query('abc', $password)->{body}, $wrong->{body},
   'a malformed number: the same');
is(query($c)->{body}, $wrong->{body}, 'no password: the same');
is(query($c, lc $password)->{body}, $wrong->{body},
   'the password is case-sensitive: the same');

# a draft has no password yet: the same 404 as any other number
my $draft = new_case();
is(query($draft, $password)->{body}, $wrong->{body},
   'a draft (no query password yet): the same');

# ---- the steps, by the item's names -----------------------------------------

my $before = written();
$r = rate($c, { password => $password, score => 1, channel => 'web' });
$t->refused($r, 409, 'invalid_state', 'rating a case not completed');
is(written(), $before, 'which wrote nothing');

$c = ok_act($c, { action => 'pass', opinion => '材料齐全，同意' }, 'handler',
            '初审 passed');
$c = ok_act($c, { action => 'pass', opinion => '同意' }, 'reviewer',
            '复审 passed');
$c = ok_act($c, { action => 'pass', opinion => '准予许可' }, 'approver',
            '决定 passed');
$r = query($c, $password);
is_deeply(names($r), [qw(受理 初审 复审 决定)],
          'steps: each passed step by its name');
is($r->{json}{state}, 'in_progress', 'still in progress, at 办结');
ok_notice($c, { kind => 'approval_decision', licence_no => 'JY1',
                valid_until => '2031-11-28' });
$c = ok_act($c, { action => 'complete', result => 'approved',
                  licence_no => 'JY1', valid_until => '2031-11-28' },
            'clerk', 'completed');
$r = query($c, $password);
is($r->{json}{state}, 'completed', 'completed');
is_deeply(names($r), [qw(受理 初审 复审 决定 办结)], 'steps: then 办结');
is($r->{json}{result}, 'approved', 'the result');
is($r->{json}{result_code}, 0, 'its code');
my @at = map { $_->{at} } @{ $r->{json}{steps} };
is_deeply(\@at, [ sort @at ], 'steps in order of time');

# a case returned to the window (退窗): the step says so, no result until
# it is completed
my $rt = accept_case(new_case());
my $rt_password = $rt->{query_password};
$rt = ok_act($rt, { action => 'return', opinion => '不符合条件' }, 'handler',
             'returned');
$r = query($rt, $rt_password);
is_deeply(names($r), ['受理', '初审（退回）'], 'steps: 初审, returned');
ok(!defined $r->{json}{result}, 'no result before completion');

# ---- the rating: refusals, then once ----------------------------------------

$before = written();
my %good = (password => $password, score => 5, channel => 'web',
            comment => '等待时间太长');
$t->refused(rate($c, { %good, score => 0 }), 422, 'validation_failed',
            'score 0', 'score');
$t->refused(rate($c, { %good, score => 6 }), 422, 'validation_failed',
            'score 6', 'score');
$t->refused(rate($c, { %good, score => 2.5 }), 422, 'validation_failed',
            'score 2.5', 'score');
$t->refused(rate($c, { %good, score => '5' }), 422, 'validation_failed',
            'score as a string', 'score');
$t->refused(rate($c, { %good, channel => 'fax' }), 422, 'validation_failed',
            'an unknown channel', 'channel');
$t->refused(rate($c, { %good, channel => undef }), 422, 'validation_failed',
            'no channel', 'channel');
$t->refused(rate($c, { %good, comment => 'x' x 2001 }), 422,
            'validation_failed', 'a comment over 2000 characters', 'comment');
$t->refused(rate($c, { %good, password => undef }), 422, 'validation_failed',
            'no password', 'password');
my $wrong_rating = rate($c, { %good, password => 'ABCDEFGH' });
$t->refused($wrong_rating, 404, 'not_found', 'rating with a wrong password');
is($wrong_rating->{body}, $wrong->{body}, 'the same 404 as the query');
$t->refused(rate({ case_no => '43010220200101000999' }, \%good), 404,
            'not_found', 'rating an unknown number');
is(written(), $before, 'the refused ratings wrote nothing');

$r = rate($c, \%good);
is($r->{status}, 201, 'rated') or diag $r->{body};
is($r->{json}{case_no}, $c->{case_no}, 'case_no');
is($r->{json}{score}, 5, 'score 5 (非常不满意)');
is($r->{json}{channel}, 'web', 'channel');
is($r->{json}{comment}, '等待时间太长', 'comment');
$before = written();
$t->refused(rate($c, { %good, score => 1 }), 409, 'duplicate',
            'a second rating');
is(written(), $before, 'which wrote nothing');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'case.evaluate'"
            . " AND object = :'o'", o => "case:$c->{case_no}"), 1,
   'the rating audited');
is($t->psql("SELECT data->>'score' FROM outbox WHERE type = 'case.evaluated'"
            . " AND case_no = :'c'", c => $c->{case_no}), 5,
   'and in the outbox');

# an on-the-spot case rated well: no rectification
my $im = accept_case(new_case('T-IM'));
my $im_password = $im->{query_password};
is_deeply(names(query($im, $im_password)), ['受理'],
          'on the spot: accepted, straight to 办结');
ok_notice($im, { kind => 'approval_decision' });
$im = ok_act($im, { action => 'complete', result => 'approved' }, 'clerk',
             'completed');
$r = rate($im, { password => $im_password, score => 2,
                 channel => 'window', comment => '' });
is($r->{status}, 201, 'rated 2 at the window') or diag $r->{body};
ok(!defined $r->{json}{comment}, 'an empty comment is none');
is($t->psql('SELECT count(*) FROM rectifications'), 1,
   'a good rating opens no rectification');

# ---- the rectification a bad rating opened ----------------------------------

my $due = $t->psql("SELECT govsvc_working_day((now() AT TIME ZONE"
                   . " 'Asia/Shanghai')::date, 7)");
$r = staff(clerk => GET => '/api/v1/rectifications');
is($r->{status}, 200, 'the department lists its rectifications')
    or diag $r->{body};
is(scalar @{ $r->{json}{items} }, 1, 'one');
my $task = $r->{json}{items}[0];
is($task->{case_no}, $c->{case_no}, 'for the case');
is($task->{status}, 'open', 'open');
is($task->{score}, 5, 'with the score');
is($task->{comment}, '等待时间太长', 'and the comment');
is($task->{due_date}, $due, "due 7 working days later ($due), as SQL counts");
is($task->{overdue_days}, 0, 'not overdue');
is($task->{department}{id}, $dept, 'the case\'s department');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'rectification.opened'"
            . " AND case_no = :'c'", c => $c->{case_no}), 1,
   'opened with an outbox event');
is($t->psql("SELECT count(*) FROM audit_log"
            . " WHERE action = 'rectification.open'"), 1, 'and audited');

is_deeply(staff(clerk2 => GET => '/api/v1/rectifications')->{json}{items},
          [], 'another department sees none');
is(scalar @{ staff(sup => GET => '/api/v1/rectifications')->{json}{items} },
   1, 'a supervisor of the region sees it');
is_deeply(staff(clerk => GET => '/api/v1/rectifications?status=answered')
          ->{json}{items}, [], 'none answered yet');
$t->refused(staff(clerk => GET => '/api/v1/rectifications?status=done'),
            400, 'invalid_request', 'an unknown status', 'status');
$t->refused($t->req(GET => '/api/v1/rectifications', tls => 1), 401,
            'unauthenticated', 'the list needs a session');

my $path = "/api/v1/rectifications/$task->{id}/response";
$before = written();
$t->refused(staff(clerk2 => POST => $path, { content => '整改' }), 403,
            'forbidden', 'another department answers none');
$t->refused(staff(sup => POST => $path, { content => '整改' }), 403,
            'forbidden', 'nor does a supervisor of another department');
$t->refused(staff(clerk => POST => '/api/v1/rectifications/999999/response',
                  { content => '整改' }), 404, 'not_found', 'an unknown id');
$t->refused(staff(clerk => POST => $path, { content => ' ' }), 422,
            'validation_failed', 'a blank answer', 'content');
$t->refused(staff(clerk => POST => $path, {}), 422,
            'validation_failed', 'no answer', 'content');
is(written(), $before, 'the refused answers wrote nothing');

$r = staff(handler => POST => $path, { content => '已增加窗口，缩短等待。' });
is($r->{status}, 200, 'the department answers') or diag $r->{body};
is($r->{json}{status}, 'answered', 'answered');
is($r->{json}{response}, '已增加窗口，缩短等待。', 'the answer');
is($r->{json}{responded_by}{name}, '王承办', 'by whom');
$t->refused(staff(clerk => POST => $path, { content => '再次' }), 409,
            'invalid_state', 'a second answer');
is(scalar @{ staff(clerk => GET => '/api/v1/rectifications?status=answered')
             ->{json}{items} }, 1, 'listed as answered');
is_deeply(staff(clerk => GET => '/api/v1/rectifications?status=open')
          ->{json}{items}, [], 'no longer open');
is($t->psql("SELECT count(*) FROM outbox"
            . " WHERE type = 'rectification.answered'"), 1,
   'the answer in the outbox');
is($t->psql("SELECT count(*) FROM audit_log"
            . " WHERE action = 'rectification.answer'"), 1, 'and audited');

# overdue: due 2026-09-18, answered 2026-10-12 (China): 12 working days
# past it on the holiday calendar (中秋, 国庆, and two 调休 days)
$t->psql("UPDATE rectifications SET due_date = '2026-09-18',"
         . " responded_at = '2026-10-12 10:00:00+08' WHERE id = $task->{id}");
is(staff(clerk => GET => '/api/v1/rectifications')->{json}{items}[0]
   {overdue_days}, 12, 'an answer 12 working days late');

# ---- the limit: failed attempts per address ---------------------------------

# every 404 so far counted; the rest of the allowance, then 429 for all
ok($failed > 5 && $failed < $limit, "$failed failed attempts so far");
for ($failed + 1 .. $limit) {
    query('43010220200101000999', 'ABCDEFGH');
}
is($failed, $limit, "$limit failures in all, each a 404");
$r = query($c, 'ABCDEFGH');
$t->refused($r, 429, 'rate_limited', 'one more failure');
cmp_ok($r->{headers}{'retry-after'} // 0, '>', 3000, 'Retry-After: the'
       . ' rest of the hour');
$t->refused(query($c, $password), 429, 'rate_limited',
            'then even the right password, from that address');
$t->refused(rate($im, { password => $im_password, score => 1,
                        channel => 'app' }),
            429, 'rate_limited', 'and the rating');

# ---- no public answer carries personal data ---------------------------------

ok(@public > 40, scalar(@public) . ' public answers collected');
for my $p (@public) {
    for my $s (@secret) {
        unlike($p->[1], qr/\Q$s\E/, "$p->[0]: no $s");
    }
}

$t->stop;
done_testing;
