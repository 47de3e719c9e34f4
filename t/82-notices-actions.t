# The three outcomes of acceptance (受理, 不予受理, 补正补齐) and resubmission,
# each only after its notice: numbering, the printable page, the canonical
# form with its SHA-256 and CMS signature, public verification, the query
# password, and every refusal writing nothing.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(decode_base64);
use POSIX qw(strftime);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dept = $t->default_department;
my $other = $t->psql("INSERT INTO departments (region, name)"
                     . " VALUES ('430102', '别的部门') RETURNING id");
$t->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-001', '000001', '测试许可', '01', 2, $dept, '430102', 20, 10,
  \$j\$[{"code":"M1","name":"申请书","required":true},
       {"code":"M2","name":"营业执照复印件","required":false},
       {"code":"M3","name":"场地证明","required":false}]\$j\$,
  '[]',
  \$j\$[{"code":"handle","name":"初审","role":"handler","days":4}]\$j\$),
 ('T-IM', '000002', '即办事项', '01', 1, $dept, '430102', 5, 1,
  '[{"code":"M1","name":"申请表","required":true}]', '[]', '[]');
SQL

my %h = $t->case_staff($dept, $other);

my %person = (type => 'person', name => '张三', id_type => 'id_card',
              id_no => '11010519491231002X', phone => '13800000000');
my %org = (type => 'org', name => '长沙市某某餐饮有限公司', id_type => 'uscc',
           id_no => '91350100M000100Y43', phone => '0731-84561234');

sub new_case {
    my ($applicant, $item) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                    json => { item_code => $item // 'T-001',
                              project_name => '某某项目',
                              applicant => $applicant, form => {},
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
    my ($c) = @_;
    return $t->req(GET => "/api/v1/cases/$c->{case_no}", tls => 1,
                   headers => $h{clerk})->{json};
}
# what any refusal must leave untouched
sub written {
    return join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(notices outbox audit_log case_opinions),
        "cases WHERE state <> 'draft'";
}

my $year = strftime('%Y', gmtime(time + 8 * 3600));

# ---- accept -------------------------------------------------------------

my $c = new_case(\%person);
my $before = written();

$t->refused(act($c, { action => 'accept', version => 1 }), 409,
        'notice_required', 'accept without its notice');
$t->refused(act($c, { action => 'frobnicate', version => 1 }), 422,
        'validation_failed', 'no such action');
$t->refused(act($c, { version => 1 }), 422, 'validation_failed',
        'no action given');
$t->refused(act($c, { action => 'accept' }), 422, 'validation_failed',
        'no version given');
$t->refused(notice($c, { kind => 'welcome' }), 422, 'validation_failed',
        'no such kind of notice');
$t->refused(notice($c, { kind => 'acceptance' }, 'handler'), 403, 'forbidden',
        'a handler issues no acceptance notice');
$t->refused(notice($c, { kind => 'acceptance' }, 'clerk2'), 403, 'forbidden',
        'nor a clerk of another department');
$t->refused(notice($c, { kind => 'extension', reason => 'x', days => 3 }), 403,
        'forbidden', 'an extension needs an approver');
$t->refused(notice({ case_no => '43010220000101999999' },
               { kind => 'acceptance' }), 404, 'not_found',
        'a notice for no case');
is(written(), $before, 'the refusals wrote nothing');

my $r = notice($c, { kind => 'acceptance' });
is($r->{status}, 201, 'acceptance notice issued') or diag $r->{body};
my $n = $r->{json};
like($n->{notice_no}, qr/^430102-SL-$year-\d{6}$/, 'numbered: node, kind, year');
like($n->{sha256}, qr/^[0-9a-f]{64}$/, 'with its SHA-256');
is($n->{url}, "/api/v1/notices/$n->{notice_no}", 'and where to print it');
like($n->{issued_at}, qr/\+08:00$/, 'issued_at with offset');

my $n2 = notice($c, { kind => 'acceptance' })->{json};
my ($s1) = $n->{notice_no} =~ /(\d{6})$/;
my ($s2) = $n2->{notice_no} =~ /(\d{6})$/;
is($s2 + 0, $s1 + 1, 'the next one of the kind has the next number');

# the page: A4 HTML with what the law asks for
$r = $t->req(GET => $n2->{url}, tls => 1, headers => $h{clerk});
is($r->{status}, 200, 'the notice prints');
like($r->{headers}{'content-type'}, qr{^text/html}, 'as HTML');
is($r->{headers}{'cache-control'}, 'no-store', 'never cached');
like($r->{headers}{'content-security-policy'}, qr/default-src 'none'/,
     'and no script may run in it');
my $page = $r->{body};
like($page, qr/受理通知书/, 'titled 受理通知书');
like($page, qr/张三/, 'the applicant');
like($page, qr/测试许可/, 'the item');
like($page, qr/\Q$c->{case_no}\E/, 'the case number');
like($page, qr/0731-12345/, 'the supervision phone');
like($page, qr/\Q$n2->{sha256}\E/, 'its SHA-256 for verification');
like($page, qr/110105\*{8}002X/, 'the ID number masked');
unlike($page, qr/11010519491231002X/, 'never in full');
my ($password) = $page =~ /查询密码.{0,200}?([A-HJ-NP-Z2-9]{8})/s;
ok($password, 'the query password is on it');

# the fields, their canonical form, its hash and signature
$r = $t->req(GET => $n2->{url}, tls => 1,
             headers => { %{ $h{clerk} }, Accept => 'application/json' });
is($r->{status}, 200, 'the notice as JSON');
my $nj = $r->{json};
is(sha256_hex($nj->{canonical}), $n2->{sha256},
   'the SHA-256 is of the canonical form');
is($nj->{fields}{applicant_name}, '张三', 'fields given');
ok(!exists $nj->{fields}{query_password},
   'the query password is not part of the signed content');
like($nj->{fields}{promised_date}, qr/^\d{4}-\d\d-\d\d$/, 'promised date');
ok($nj->{signature}, 'signed');

my $dir = $t->dir;
open my $fh, '>', "$dir/canonical" or die;
binmode $fh;
print $fh $nj->{canonical};
close $fh;
open $fh, '>', "$dir/sig.der" or die;
binmode $fh;
print $fh decode_base64($nj->{signature});
close $fh;
my $ca = $t->ca_dir;
my $out = `openssl cms -verify -binary -inform DER -in $dir/sig.der -content $dir/canonical -CAfile $ca/ca.crt -out /dev/null 2>&1`;
is($?, 0, 'the CMS signature verifies with the CA') or diag $out;
open $fh, '>>', "$dir/canonical" or die;
print $fh ' ';
close $fh;
`openssl cms -verify -binary -inform DER -in $dir/sig.der -content $dir/canonical -CAfile $ca/ca.crt -out /dev/null 2>&1`;
isnt($?, 0, 'and fails for altered content');

# public verification by number and hash
$r = $t->req(GET => "/api/v1/public/notices/$n2->{notice_no}/verify?sha256="
                    . uc $n2->{sha256});
is($r->{status}, 200, 'anyone verifies');
is_deeply([@{ $r->{json} }{qw(valid kind issuer)}],
          [JSON::PP::true, 'acceptance', $nj->{fields}{issuer}],
          'valid, its kind and issuer');
$r = $t->req(GET => "/api/v1/public/notices/$n2->{notice_no}/verify?sha256="
                    . ('0' x 64));
ok(!$r->{json}{valid}, 'another hash is not valid');
$t->refused($t->req(GET => "/api/v1/public/notices/$n2->{notice_no}/verify"
                       . '?sha256=xyz'), 422, 'validation_failed',
        'verify with no hash');
$t->refused($t->req(GET => "/api/v1/public/notices/430102-SL-$year-999999/verify"
                       . '?sha256=' . ('0' x 64)), 404, 'not_found',
        'verify an unknown number');
$t->refused($t->req(GET => $n2->{url}, tls => 1, headers => $h{clerk2}), 403,
        'forbidden', 'another department reads no notice');
$t->refused($t->req(GET => $n2->{url}), 401, 'unauthenticated',
        'nor does the public');

# a change of the case needs a new notice
$r = $t->req(PATCH => "/api/v1/cases/$c->{case_no}", tls => 1,
             headers => $h{clerk},
             json => { version => 1, project_name => '改过的项目名' });
is($r->{status}, 200, 'the draft changed');
$before = written();
$t->refused(act($c, { action => 'accept', version => 2 }), 409,
        'notice_required', 'the notice was for the case before the change');
$t->refused(act($c, { action => 'accept', version => 1 }), 409,
        'version_conflict', 'a stale version');
is(written(), $before, 'the refusals wrote nothing');

$n = notice($c, { kind => 'acceptance' })->{json};
$page = $t->req(GET => $n->{url}, tls => 1, headers => $h{clerk})->{body};
($password) = $page =~ /查询密码.{0,200}?([A-HJ-NP-Z2-9]{8})/s;
my $promised = $t->req(GET => $n->{url}, tls => 1,
                       headers => { %{ $h{clerk} },
                                    Accept => 'application/json' })
                 ->{json}{fields}{promised_date};

$t->refused(act($c, { action => 'accept', version => 2 }, 'handler'), 403,
        'forbidden', 'a handler does not accept');
$t->refused(act($c, { action => 'accept', version => 2 }, 'clerk2'), 403,
        'forbidden', 'nor a clerk of another department');

$r = act($c, { action => 'accept', version => 2, opinion => '材料齐全' });
is($r->{status}, 200, 'accepted') or diag $r->{body};
my $a = $r->{json};
is($a->{state}, 'in_progress', 'in progress');
is($a->{step}, 'handle', 'at the first step of the item');
is($a->{version}, 3, 'a new version');
is($a->{promised_date}, $promised, 'the promised date of the notice');
like($a->{accepted_at}, qr/\+08:00$/, 'accepted_at');
is($a->{query_password}, $password,
   'the answer carries the password printed on the notice');
is_deeply([map { [$_->{action}, $_->{opinion}, $_->{actor}{name}] }
           @{ $a->{opinions} }],
          [['accept', '材料齐全', '张窗口']], 'the opinion is kept');
is(scalar(grep { $_->{notice_no} eq $n->{notice_no} } @{ $a->{notices} }), 1,
   'the case lists its notices');
like($t->psql("SELECT query_password_hash FROM cases"
              . " WHERE case_no = '$c->{case_no}'"), qr/^pbkdf2-sha256\$/,
     'the case keeps the password hashed');
is($t->psql("SELECT count(*) FROM notices WHERE query_password IS NOT NULL"
            . " AND case_no = '$c->{case_no}'"), '0',
   'and no notice keeps it in clear');
ok(!exists get_case($c)->{query_password}, 'a read never shows it');
$page = $t->req(GET => $n->{url}, tls => 1, headers => $h{clerk})->{body};
unlike($page, qr/\Q$password\E/, 'nor does the notice printed again');
like($page, qr/已于受理时告知/, 'which says it was told');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'case.accept'"
            . " AND object = 'case:$c->{case_no}'"), '1', 'audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'case.accept'"
            . " AND case_no = '$c->{case_no}'"), '1', 'in the outbox');

$before = written();
$t->refused(act($c, { action => 'accept', version => 3 }), 409, 'invalid_state',
        'accepted twice');
$t->refused(notice($c, { kind => 'rejection', reason => 'x' }), 409,
        'invalid_state', 'a rejection notice for a case in progress');
$t->refused($t->req(PATCH => "/api/v1/cases/$c->{case_no}", tls => 1,
                headers => $h{clerk},
                json => { version => 3, project_name => 'x' }), 409,
        'invalid_state', 'a case in progress is no draft to change');
is(written(), $before, 'the refusals wrote nothing');

# an on-the-spot item goes straight to completion
my $im = new_case(\%person, 'T-IM');
notice($im, { kind => 'acceptance' });
$r = act($im, { action => 'accept', version => 1 });
is($r->{json}{step}, 'complete', '即办件: no approval steps');

# ---- reject (an organisation) ------------------------------------------

my $o = new_case(\%org);
$t->refused(notice($o, { kind => 'rejection' }), 422, 'validation_failed',
        'a rejection needs its reason');
$r = notice($o, { kind => 'rejection', reason => '不属于本机关职权范围' });
is($r->{status}, 201, 'rejection notice issued');
like($r->{json}{notice_no}, qr/^430102-BSL-$year-\d{6}$/, 'its own numbers');
$page = $t->req(GET => $r->{json}{url}, tls => 1,
                headers => $h{clerk})->{body};
like($page, qr/不予受理通知书/, 'titled 不予受理通知书');
like($page, qr/不属于本机关职权范围/, 'with the reason');
like($page, qr/行政复议/, 'the right to reconsideration');
like($page, qr/行政诉讼/, 'and to a lawsuit');
like($page, qr/长沙市某某餐饮有限公司/, 'the organisation');

$before = written();
$t->refused(act($o, { action => 'reject', version => 1, reason => '别的理由' }),
        409, 'notice_required', 'a reason other than the notice\'s');
is(written(), $before, 'nothing written');
$r = act($o, { action => 'reject', version => 1,
               reason => '不属于本机关职权范围' });
is($r->{status}, 200, 'rejected');
is($r->{json}{state}, 'rejected', 'the case ends');
ok(!exists $r->{json}{query_password}, 'no password for a rejection');

# ---- correction and resubmission ---------------------------------------

my $k = new_case(\%person);
$before = written();
$t->refused(notice($k, { kind => 'correction', reason => '缺少材料',
                     deadline_days => 9, materials => ['M2'] }),
        422, 'validation_failed', 'a deadline over 5 working days');
is(notice($k, { kind => 'correction', reason => '缺少材料',
                deadline_days => 9, materials => ['M2'] })
       ->{json}{error}{field}, 'deadline_days', 'field named');
is(notice($k, { kind => 'correction', reason => '缺少材料',
                deadline_days => 3, materials => ['M9'] })
       ->{json}{error}{field}, 'materials', 'a material the item lacks');
is(notice($k, { kind => 'correction', reason => '缺少材料',
                deadline_days => 3, materials => [] })
       ->{json}{error}{field}, 'materials', 'an empty list');
is(written(), $before, 'nothing written');

$r = notice($k, { kind => 'correction', reason => '缺少材料',
                  deadline_days => 3, materials => ['M3', 'M2'] });
is($r->{status}, 201, 'correction notice issued');
$page = $t->req(GET => $r->{json}{url}, tls => 1,
                headers => $h{clerk})->{body};
like($page, qr/补正/, 'a correction notice');
like($page, qr/M2 营业执照复印件/, 'lists one material');
like($page, qr/M3 场地证明/, 'and the other');
my $deadline = $t->req(GET => $r->{json}{url}, tls => 1,
                       headers => { %{ $h{clerk} },
                                    Accept => 'application/json' })
                 ->{json}{fields}{deadline};

$t->refused(act($k, { action => 'request_correction', version => 1,
                  reason => '缺少材料', deadline_days => 4,
                  materials => ['M2', 'M3'] }),
        409, 'notice_required', 'another deadline than the notice\'s');
$r = act($k, { action => 'request_correction', version => 1,
               reason => '缺少材料', deadline_days => 3,
               materials => ['M2', 'M3'] });
is($r->{status}, 200, 'corrections requested (the same list, in any order)')
    or diag $r->{body};
is($r->{json}{state}, 'correction', 'waiting for corrections');
is_deeply($r->{json}{correction}{materials}, ['M2', 'M3'], 'what to bring');
is($r->{json}{correction}{round}, 1, 'round 1');
is($r->{json}{correction}{deadline}, $deadline, 'by the notice\'s deadline');

$t->refused(act($k, { action => 'accept', version => 2 }), 409, 'invalid_state',
        'no acceptance while corrections are awaited');
$r = act($k, { action => 'resubmit', version => 2 });
is($r->{status}, 200, 'the materials were brought');
is($r->{json}{state}, 'draft', 'a draft again');
is($t->psql("SELECT correction_round FROM cases"
            . " WHERE case_no = '$k->{case_no}'"), '1', 'the round went up');
is($r->{json}{deadline}{kind}, 'deemed_acceptance',
   'the Art.32 clock runs again');

notice($k, { kind => 'correction', reason => '仍缺材料', deadline_days => 2,
             materials => ['M2'] });
$r = act($k, { action => 'request_correction', version => 3,
               reason => '仍缺材料', deadline_days => 2,
               materials => ['M2'] });
is($r->{json}{correction}{round}, 2, 'a second round');
$t->refused(act($k, { action => 'resubmit', version => 3 }), 409,
        'version_conflict', 'resubmit with a stale version');
is(act($k, { action => 'resubmit', version => 4 })->{status}, 200,
   'resubmitted again');

is_deeply([map { $_->{action} } @{ get_case($k)->{opinions} }],
          [qw(request_correction resubmit request_correction resubmit)],
          'every action in order');

# ---- a notice hashing its query password through a reload ---------------

# the old workers shut down gracefully: the request waiting for the
# password thread pool is answered before its worker exits
my $w = new_case(\%person);
my $inflight = $t->async_req(POST => "/api/v1/cases/$w->{case_no}/notices",
                             tls => 1, headers => $h{clerk},
                             json => { kind => 'acceptance' });
select(undef, undef, undef, 0.03);
$t->reload;
my ($answer, $secs) = $inflight->wait;
is($answer->{status}, 201, 'a notice in flight through a reload');
ok($secs < ($ENV{GOVSVC_VALGRIND} ? 60 : 3), 'answered at once')
    or diag "after $secs s";
$t->check_log;

$t->stop;
done_testing;
