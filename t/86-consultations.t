# Consultations (网上咨询, manual 3.7): the public asks; staff of the
# department list them by title, status and date, open one and reply,
# choosing the replier from their department and the visibility; public
# replies are listed without any asker data, and the asker reads its own,
# private reply included, with its code.  Each question shows its reply
# due date and the working days it is overdue.  Every refusal answers its
# api.md error and writes nothing.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use POSIX qw(strftime);
use Time::Local qw(timegm);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          public_write_limit => '100 1m',
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dept = $t->default_department;
my $other = $t->psql("INSERT INTO departments (region, name)"
                     . " VALUES ('430102', '别的部门') RETURNING id");
my $city = $t->psql("INSERT INTO departments (region, name)"
                    . " VALUES ('430100', '长沙市监察局') RETURNING id");
my $tianxin = $t->psql("INSERT INTO departments (region, name)"
                       . " VALUES ('430103', '天心区监察局') RETURNING id");
$t->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-C1', '000001', '食品经营许可', '01', 2, $dept, '430102', 20, 10,
        '[]', '[]', '[]');
SQL

my $pw = 'a good password';
my (%h, %uid);
for my $u ([clerk => '张窗口', 'clerk', $dept],
           [handler => '王承办', 'handler', $dept],
           [clerk2 => '李窗口', 'clerk', $other],
           [sup => '陈监督', 'supervisor', $city],
           [sup2 => '周监督', 'supervisor', $tianxin]) {
    $uid{$u->[0]} = $t->create_user(username => $u->[0], name => $u->[1],
                                    roles => [$u->[2]], password => $pw,
                                    department => $u->[3]);
    $h{$u->[0]} = $t->auth($t->login($u->[0], $pw));
}
$uid{gone} = $t->create_user(username => 'gone', name => '离职者',
                             roles => ['clerk'], department => $dept,
                             active => 0);

# the asker's data, which no public answer may show
my %asker = (name => '张三', phone => '13800000000');
my @public;    # every public answer body
sub pub {
    my ($method, $path, %o) = @_;
    my $r = $t->req($method => $path, %o);
    push @public, [ "$method $path", $r->{body} ];
    return $r;
}
sub ask {
    my (%q) = @_;
    return pub(POST => '/api/v1/public/consultations',
               json => { content => '需要哪些材料？', asker => \%asker, %q });
}
sub staff {
    my ($who, $path) = @_;
    return $t->req(GET => $path, tls => 1, headers => $h{$who});
}
sub ids { [ map { $_->{id} } @{ $_[0]{json}{items} // [] } ] }
sub reply {
    my ($who, $id, $json) = @_;
    return $t->req(POST => "/api/v1/consultations/$id/reply", tls => 1,
                   headers => $h{$who}, json => $json);
}
sub written {
    return join ',', map { $t->psql("SELECT count(*) FROM $_") }
        'audit_log', 'outbox', 'consultations',
        "consultations WHERE status = 'replied'";
}

# ---- the public asks ----------------------------------------------------

my $r = ask(title => '营业执照办理', department => $dept + 0);
is($r->{status}, 201, 'asked of a department') or diag $r->{body};
my $q1 = $r->{json};
like($q1->{code}, qr/^[A-HJ-NP-Z2-9]{12}$/, 'a code of 12 symbols');
$r = ask(title => '食品经营许可咨询', item_code => 'T-C1');
is($r->{status}, 201, 'asked about an item');
my $q2 = $r->{json};
is($t->psql("SELECT department FROM consultations WHERE id = $q2->{id}"),
   $dept, 'a question about an item goes to the item\'s department');
$r = ask(title => '别的部门的问题', department => $other + 0);
my $q3 = $r->{json};
$r = ask(title => '一般性问题_100%');
is($r->{status}, 201, 'asked of no department in particular');
my $q4 = $r->{json};
is($t->psql("SELECT department IS NULL FROM consultations"
            . " WHERE id = $q4->{id}"), 't', 'no department');
is($t->psql("SELECT count(*) FROM audit_log WHERE action ="
            . " 'consultation.create' AND actor = 'anonymous'"
            . " AND object IN ('consultation:$q1->{id}',"
            . " 'consultation:$q4->{id}')"), 2,
   'each question audited, with the outbox event');

my $before = written();
$t->refused(ask(title => 'x', item_code => 'NO-SUCH'), 422,
            'validation_failed', 'an unknown item', 'item_code');
$t->refused(ask(title => 'x', department => 999999), 422,
            'validation_failed', 'an unknown department', 'department');
is(written(), $before, 'the refused questions wrote nothing');

# ---- staff list: scope, each filter, paging -------------------------------

$r = staff(clerk => '/api/v1/consultations');
is($r->{status}, 200, 'the department\'s list') or diag $r->{body};
is_deeply(ids($r), [ $q4->{id}, $q2->{id}, $q1->{id} ],
          'its own and the node\'s general ones, newest first;'
          . ' not another department\'s');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
   'one page: next_cursor null');
my ($row) = grep { $_->{id} == $q1->{id} } @{ $r->{json}{items} };
is($row->{title}, '营业执照办理', 'title');
is($row->{status}, 'pending', 'pending');
is($row->{reply_due}, $q1->{reply_due}, 'the reply due date');
is($row->{overdue_days}, 0, 'not overdue');
is($row->{asker}{name}, '张三', 'staff see the asker');
is($row->{department}{id}, $dept, 'the department');
($row) = grep { $_->{id} == $q2->{id} } @{ $r->{json}{items} };
is_deeply($row->{item}, { code => 'T-C1', name => '食品经营许可' },
          'the item with its name');

is_deeply(ids(staff(clerk2 => '/api/v1/consultations')),
          [ $q4->{id}, $q3->{id} ],
          'another department: its own and the general one');
is_deeply(ids(staff(sup => '/api/v1/consultations')),
          [ $q4->{id}, $q3->{id}, $q2->{id}, $q1->{id} ],
          'a supervisor of the city sees its region and below');
is_deeply(ids(staff(sup2 => '/api/v1/consultations')), [],
          'a supervisor of another county sees none of them');

is_deeply(ids(staff(clerk => '/api/v1/consultations'
                             . '?title=%E8%90%A5%E4%B8%9A')),
          [ $q1->{id} ], 'title: a part of it (营业)');
is_deeply(ids(staff(clerk => '/api/v1/consultations?title=_100%25')),
          [ $q4->{id} ], 'title: _ and % are plain characters');
is_deeply(ids(staff(clerk => '/api/v1/consultations?title=%25')),
          [ $q4->{id} ], 'title: % matches the one title with a %');
is_deeply(ids(staff(clerk => '/api/v1/consultations?status=pending')),
          [ $q4->{id}, $q2->{id}, $q1->{id} ], 'status pending');
is_deeply(ids(staff(clerk => '/api/v1/consultations?status=replied')), [],
          'status replied: none yet');

# dates: q1 was asked on 2026-03-10 in China (fixture)
$t->psql("UPDATE consultations SET created_at ="
         . " '2026-03-10 23:30:00+08' WHERE id = $q1->{id}");
is_deeply(ids(staff(clerk => '/api/v1/consultations?from=2026-03-10'
                             . '&to=2026-03-10')),
          [ $q1->{id} ], 'from and to: that day in China');
is_deeply(ids(staff(clerk => '/api/v1/consultations?to=2026-03-09')), [],
          'to: the day before');
is_deeply(ids(staff(clerk => '/api/v1/consultations?from=2026-03-11')),
          [ $q4->{id}, $q2->{id} ], 'from: the day after');

$r = staff(clerk => '/api/v1/consultations?limit=2');
is_deeply(ids($r), [ $q4->{id}, $q2->{id} ], 'a page of 2');
ok(defined $r->{json}{next_cursor}, 'with a cursor');
is_deeply(ids(staff(clerk => '/api/v1/consultations?limit=2&cursor='
                             . $r->{json}{next_cursor})),
          [ $q1->{id} ], 'the next page');

for my $bad (['status=answered', 'status'], ['from=2026-13-01', 'from'],
             ['to=yesterday', 'to'], ['limit=0', 'limit'],
             ['limit=501', 'limit'], ['cursor=abc', 'cursor'],
             ['title=' . ('x' x 201), 'title']) {
    $t->refused(staff(clerk => "/api/v1/consultations?$bad->[0]"), 400,
                'invalid_request', "list with $bad->[0]", $bad->[1]);
}

# ---- one: 404, 403, the general one ---------------------------------------

$r = staff(clerk => "/api/v1/consultations/$q1->{id}");
is($r->{status}, 200, 'staff open one') or diag $r->{body};
is($r->{json}{content}, '需要哪些材料？', 'with its content');
is($r->{json}{asker}{phone}, '13800000000', 'and the asker\'s phone');
$t->refused(staff(clerk => '/api/v1/consultations/999999'), 404,
            'not_found', 'an unknown id');
$t->refused(staff(clerk => '/api/v1/consultations/abc'), 404,
            'not_found', 'not an id');
$t->refused(staff(clerk2 => "/api/v1/consultations/$q1->{id}"), 403,
            'forbidden', 'another department\'s');
$t->refused(staff(sup2 => "/api/v1/consultations/$q1->{id}"), 403,
            'forbidden', 'a supervisor of another county');
is(staff(sup => "/api/v1/consultations/$q1->{id}")->{status}, 200,
   'a supervisor of the region above');
is(staff(clerk2 => "/api/v1/consultations/$q4->{id}")->{status}, 200,
   'the general one: any department of the node');

# ---- replies: every refusal, then public and private ----------------------

# the page's choice of replier: the active users of one's own department
my $r0 = $t->req(GET => '/api/v1/me/colleagues', tls => 1, headers => $h{clerk});
is($r0->{status}, 200, 'colleagues') or diag $r0->{body};
is_deeply([ map { "$_->{id}:$_->{name}" } @{ $r0->{json}{items} // [] } ],
          [ map { "$uid{$_->[0]}:$_->[1]" }
            sort { $a->[1] cmp $b->[1] }
            [clerk => '张窗口'], [handler => '王承办'] ],
          'of the department only, the one who left not among them');
is_deeply($r0->{json}{items}[0]{roles}, [ $r0->{json}{items}[0]{name} eq '张窗口'
                                          ? 'clerk' : 'handler' ],
          'with their roles');
is_deeply([ map { $_->{id} } @{ $t->req(GET => '/api/v1/me/colleagues', tls => 1,
                                        headers => $h{clerk2})->{json}{items} } ],
          [ $uid{clerk2} ], 'another department sees its own');
is($t->req(GET => '/api/v1/me/colleagues', tls => 1)->{status}, 401,
   'not without a session');

$before = written();
my %ok = (content => '请携带身份证和申请表。', replier => $uid{handler} + 0,
          visibility => 'public');
$t->refused(reply(clerk => 999999, \%ok), 404, 'not_found',
            'reply to an unknown id');
$t->refused(reply(clerk2 => $q1->{id}, \%ok), 403, 'forbidden',
            'reply to another department\'s');
$t->refused(reply(sup => $q1->{id}, \%ok), 403, 'forbidden',
            'a supervisor of another department replies to none');
$t->refused(reply(clerk => $q1->{id}, { %ok, replier => $uid{gone} + 0 }),
            422, 'validation_failed', 'an inactive replier', 'replier');
$t->refused(reply(clerk => $q1->{id}, { %ok, replier => $uid{clerk2} + 0 }),
            422, 'validation_failed', 'a replier of another department',
            'replier');
$t->refused(reply(clerk => $q1->{id}, { %ok, replier => 999999 }),
            422, 'validation_failed', 'an unknown replier', 'replier');
$t->refused(reply(clerk => $q1->{id}, { %ok, replier => "$uid{handler}" }),
            422, 'validation_failed', 'a replier not a number', 'replier');
$t->refused(reply(clerk => $q1->{id}, { %ok, visibility => 'secret' }),
            422, 'validation_failed', 'an unknown visibility', 'visibility');
$t->refused(reply(clerk => $q1->{id}, { %ok, content => '  ' }),
            422, 'validation_failed', 'a blank reply', 'content');
$t->refused(reply(clerk => $q1->{id}, { %ok, content => 'x' x 5001 }),
            422, 'validation_failed', 'a reply too long', 'content');
is(written(), $before, 'the refused replies wrote nothing');

$r = reply(clerk => $q1->{id}, \%ok);
is($r->{status}, 200, 'replied, public') or diag $r->{body};
is($r->{json}{status}, 'replied', 'replied');
is($r->{json}{reply}, '请携带身份证和申请表。', 'the reply');
is($r->{json}{visibility}, 'public', 'public');
is_deeply($r->{json}{replier}, { id => $uid{handler}, name => '王承办' },
          'the replier chosen from the department');
is_deeply($r->{json}{replied_by}, { id => $uid{clerk}, name => '张窗口' },
          'who wrote it');
like($r->{json}{replied_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/,
     'the reply time');
is($t->psql("SELECT count(*) FROM audit_log WHERE action ="
            . " 'consultation.reply' AND object = 'consultation:$q1->{id}'"
            . " AND actor_id = $uid{clerk}"), 1, 'audited');
is($t->psql("SELECT data->>'visibility' FROM outbox WHERE type ="
            . " 'consultation.replied' AND (data->>'id')::bigint ="
            . " $q1->{id}"), 'public', 'an outbox event');

$before = written();
$t->refused(reply(clerk => $q1->{id}, \%ok), 409, 'invalid_state',
            'a second reply');
is(written(), $before, 'which wrote nothing');

$r = reply(clerk => $q2->{id}, { content => '需要健康证明。',
                                 replier => $uid{clerk} + 0,
                                 visibility => 'private' });
is($r->{status}, 200, 'replied, private') or diag $r->{body};

# the general one is taken by the department that answers it
$r = reply(clerk2 => $q4->{id}, { content => '请咨询相关部门。',
                                  replier => $uid{clerk2} + 0,
                                  visibility => 'public' });
is($r->{status}, 200, 'another department answers the general one');
is($r->{json}{department}{id}, $other, 'and takes it');
$t->refused(staff(clerk => "/api/v1/consultations/$q4->{id}"), 403,
            'forbidden', 'it is no longer the first department\'s');
is_deeply(ids(staff(clerk => '/api/v1/consultations?status=replied')),
          [ $q2->{id}, $q1->{id} ], 'status replied');

# ---- the public list: replied public ones, no asker -----------------------

$r = ask(title => '食品经营许可需要现场核查吗', item_code => 'T-C1');
my $q6 = $r->{json};
reply(clerk => $q6->{id}, { content => '需要。', replier => $uid{clerk} + 0,
                            visibility => 'public' });

$r = pub(GET => '/api/v1/public/consultations');
is($r->{status}, 200, 'the public list') or diag $r->{body};
is_deeply(ids($r), [ $q6->{id}, $q4->{id}, $q1->{id} ],
          'replied public ones only: not the private, not the pending');
($row) = grep { $_->{id} == $q1->{id} } @{ $r->{json}{items} };
is($row->{title}, '营业执照办理', 'title');
is($row->{content}, '需要哪些材料？', 'question');
is($row->{reply}, '请携带身份证和申请表。', 'reply');
ok($row->{created_at} && $row->{replied_at}, 'dates');
ok(!exists $row->{asker} && !exists $row->{replier}
   && !exists $row->{replied_by}, 'no asker, nor who replied');
is_deeply(ids(pub(GET => '/api/v1/public/consultations?item_code=T-C1')),
          [ $q6->{id} ], 'by item: the public one of the item');
($row) = @{ pub(GET => '/api/v1/public/consultations?item_code=T-C1')
            ->{json}{items} };
is_deeply($row->{item}, { code => 'T-C1', name => '食品经营许可' },
          'with the item');
$r = pub(GET => '/api/v1/public/consultations?limit=1');
is_deeply(ids($r), [ $q6->{id} ], 'paged');
is_deeply(ids(pub(GET => '/api/v1/public/consultations?limit=1&cursor='
                         . $r->{json}{next_cursor})), [ $q4->{id} ],
          'next page');
$t->refused(pub(GET => '/api/v1/public/consultations?limit=600'), 400,
            'invalid_request', 'public list, limit too big', 'limit');

# ---- the asker's own, with its code ---------------------------------------

$r = pub(GET => "/api/v1/public/consultations/$q2->{id}?code=$q2->{code}");
is($r->{status}, 200, 'the asker reads its own') or diag $r->{body};
is($r->{json}{reply}, '需要健康证明。', 'the private reply included');
is($r->{json}{visibility}, 'private', 'marked private');
ok(!exists $r->{json}{asker}, 'no asker data even there');
is(pub(GET => "/api/v1/public/consultations/$q2->{id}?code="
              . lc $q2->{code})->{status}, 200,
   'the code in lower case too');
$r = pub(GET => "/api/v1/public/consultations/$q3->{id}?code=$q3->{code}");
is($r->{status}, 200, 'a pending one');
is($r->{json}{status}, 'pending', 'pending');
ok(!defined $r->{json}{reply}, 'no reply yet');

my $wrong = pub(GET => "/api/v1/public/consultations/$q2->{id}"
                       . "?code=$q1->{code}");
$t->refused($wrong, 404, 'not_found', 'another question\'s code');
my $unknown = pub(GET => "/api/v1/public/consultations/999999"
                         . "?code=$q2->{code}");
$t->refused($unknown, 404, 'not_found', 'an unknown id');
is($wrong->{body}, $unknown->{body},
   'a wrong code and an unknown id answer alike');
$t->refused(pub(GET => "/api/v1/public/consultations/$q2->{id}"), 404,
            'not_found', 'no code');
is(pub(GET => "/api/v1/public/consultations/$q2->{id}?code=")->{body},
   $unknown->{body}, 'an empty code answers alike');

# ---- overdue working days (fixture dates) ----------------------------------

# replied late: due 2026-09-18, replied 2026-10-12 (China): 09-20 (调休),
# 09-21..24, 09-28..30, 10-08, 10-09, 10-10 (调休), 10-12 are working days;
# 09-25..27 中秋 and 10-01..07 国庆 are not
$t->psql("UPDATE consultations SET reply_due = '2026-09-18',"
         . " replied_at = '2026-10-12 09:00:00+08' WHERE id = $q1->{id}");
$r = staff(clerk => "/api/v1/consultations/$q1->{id}");
is($r->{json}{overdue_days}, 12,
   'replied: counted to its reply date, on the holiday calendar');
$t->psql("UPDATE consultations SET reply_due = '2026-10-12',"
         . " replied_at = '2026-10-12 23:59:00+08' WHERE id = $q1->{id}");
is(staff(clerk => "/api/v1/consultations/$q1->{id}")->{json}{overdue_days},
   0, 'replied on its due date: not overdue');

# still pending, due 20 days ago: counted to today, here by hand
my %cal = map { split /\|/ } split /\n/,
    $t->psql('SELECT day || \'|\' || kind FROM calendar_days');
my $today = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date");
my ($y, $m, $d) = split /-/, $today;
my $t0 = timegm(0, 0, 12, $d, $m - 1, $y);
my $due = strftime('%Y-%m-%d', gmtime($t0 - 20 * 86400));
my $expect = 0;
for my $k (1 .. 20) {
    my @tm = gmtime($t0 - (20 - $k) * 86400);
    my $day = strftime('%Y-%m-%d', @tm);
    my $kind = $cal{$day} // ($tm[6] == 0 || $tm[6] == 6 ? 'holiday'
                                                          : 'workday');
    $expect++ if $kind eq 'workday';
}
$t->psql("UPDATE consultations SET reply_due = :'d' WHERE id = $q3->{id}",
         d => $due);
$r = staff(clerk2 => "/api/v1/consultations/$q3->{id}");
is($r->{json}{overdue_days}, $expect,
   "pending, due $due: $expect working days overdue");
($row) = grep { $_->{id} == $q3->{id} }
         @{ staff(clerk2 => '/api/v1/consultations')->{json}{items} };
is($row->{overdue_days}, $expect, 'the list shows the same');
is($row->{reply_due}, $due, 'and the due date');

# ---- access: staff routes need a session ------------------------------------

$t->refused($t->req(GET => '/api/v1/consultations', tls => 1), 401,
            'unauthenticated', 'the staff list without a session');

# ---- no public answer carries the asker's data ----------------------------

ok(@public >= 20, scalar(@public) . ' public answers collected');
for my $p (@public) {
    for my $v (values %asker) {
        unlike($p->[1], qr/\Q$v\E/, "$p->[0]: no $v");
    }
}

$t->stop;
done_testing;
