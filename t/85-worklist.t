# Worklists (待办/已办) cached in Redis, on two nginx instances with two
# workers each: a page is read from the cache until a transition changes
# it, and then the next read anywhere shows the change; with Redis away the
# lists come from PostgreSQL and are right; when it returns nothing stale
# is served.  Paging and ordering by due date.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, instances => 2, workers => 2,
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
  \$j\$[{"code":"M1","name":"申请书","required":true}]\$j\$, '[]',
  \$j\$[{"code":"handle","name":"初审","role":"handler","days":4},
       {"code":"review","name":"复审","role":"reviewer","days":3}]\$j\$);
SQL
my %h = $t->case_staff($dept, $other);
$t->create_user(username => 'reviewer', name => '赵审核', roles => ['reviewer'],
                password => 'a good password', department => $dept);
$h{reviewer} = $t->auth($t->login('reviewer', 'a good password'));

sub accepted_case {
    my ($name) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                    json => { item_code => 'T-001', project_name => $name,
                              applicant => { type => 'person', name => '张三',
                                             id_type => 'id_card',
                                             id_no => '11010519491231002X',
                                             phone => '13800000000' },
                              form => {},
                              materials => [{ code => 'M1',
                                              received => JSON::PP::true }] });
    my $c = $r->{json};
    $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
            headers => $h{clerk}, json => { kind => 'acceptance' });
    $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                 headers => $h{clerk},
                 json => { action => 'accept', version => $c->{version} });
    is($r->{status}, 200, "$name accepted") or diag $r->{body};
    return $r->{json};
}
# (cases, X-Cache) of a worklist read on instance $i
sub wl {
    my ($who, $i, $q) = @_;
    my $r = $t->req(GET => '/api/v1/worklist?' . ($q // 'box=todo'),
                    tls => 1, instance => $i, headers => $h{$who});
    is($r->{status}, 200, "$who on instance $i: worklist " . ($q // 'todo'))
        or diag $r->{body};
    return ([ map { $_->{case_no} } @{ $r->{json}{items} } ],
            $r->{headers}{'x-cache'}, $r->{json});
}
sub pass_case {
    my ($c, $i) = @_;
    my $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                    instance => $i, headers => $h{handler},
                    json => { action => 'pass', version => $c->{version},
                              opinion => '同意' });
    is($r->{status}, 200, "$c->{project_name} passed on instance $i")
        or diag $r->{body};
    return $r->{json};
}
# every worker of both instances (each request is a new connection)
sub everywhere {
    my ($who, $want, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @seen;
    for my $i (1, 2) {
        for (1 .. 4) {
            my ($list) = wl($who, $i);
            push @seen, join ',', @$list;
        }
    }
    is_deeply(\@seen, [ (join ',', @$want) x 8 ], $what);
}

my @c = map { accepted_case("案件$_") } 1 .. 3;
# due dates apart, so that the order is the due date's
for my $k (0 .. 2) {
    $t->psql("UPDATE cases SET due_date = current_date + :'d'::int"
             . " WHERE case_no = :'c'", d => 30 - 10 * $k,
             c => $c[$k]{case_no});
}
$t->redis_cli('FLUSHALL');
my @want = map { $_->{case_no} } reverse @c;

# ---- cached: a miss, then hits on both instances --------------------------

my ($list, $xc) = wl('handler', 1);
is_deeply($list, \@want, 'the handler\'s 待办, most urgent first');
is($xc, 'miss', 'first read: a miss');
($list, $xc) = wl('handler', 1);
is($xc, 'hit', 'again: a hit');
($list, $xc) = wl('handler', 2);
is($xc, 'hit', 'a hit on the other instance too');
is_deeply($list, \@want, 'with the same page');
is_deeply((wl('reviewer', 1))[0], [], 'nothing for the reviewer yet');
is_deeply((wl('clerk2', 1))[0], [], 'nor for another department');
# the fill follows the answer: wait for it
ok($t->eventually(sub {
    3 == (() = ($t->redis_cli('KEYS', 'govsvc:wl:page:*') // '') =~ /page/g)
}), 'three pages kept: one per list read');

# ---- a transition on one instance, the next read on the other --------------

$c[2] = pass_case($c[2], 1);
($list, $xc) = wl('handler', 2);
is_deeply($list, [ @want[1, 2] ], 'instance 2 no longer lists it');
is($xc, 'miss', 'because its page was invalidated');
($list, $xc) = wl('reviewer', 2);
is_deeply($list, [ $want[0] ], 'the reviewer\'s 待办 has it');
($list, $xc) = wl('handler', 2, 'box=done');
is_deeply($list, [ $want[0] ], 'and the handler\'s 已办');
everywhere('handler', [ @want[1, 2] ], 'every worker of both agrees');
is($t->redis_cli('GET', "govsvc:wl:todo:$dept:handler"), '1',
   'one bump of the handler\'s list');

# paging
my (undef, undef, $p1) = wl('handler', 1, 'box=todo&limit=1');
is(scalar @{ $p1->{items} }, 1, 'a page of one');
is($p1->{items}[0]{case_no}, $want[1], 'the most urgent');
is($p1->{items}[0]{level}, 'normal', 'with its level');
ok($p1->{next_cursor}, 'and a cursor');
my (undef, undef, $p2) = wl('handler', 1,
                            "box=todo&limit=1&cursor=$p1->{next_cursor}");
is_deeply([ map { $_->{case_no} } @{ $p2->{items} } ], [ $want[2] ],
          'the next page');
is($p2->{next_cursor}, undef, 'and the last');
my $bad = $t->req(GET => '/api/v1/worklist?box=todo&cursor=2026-01-01.x',
                  tls => 1, headers => $h{handler});
is($bad->{status}, 400, 'a cursor it did not give: 400');
is($bad->{json}{error}{field}, 'cursor', 'naming it');
$bad = $t->req(GET => '/api/v1/worklist?box=later', tls => 1,
               headers => $h{handler});
is($bad->{json}{error}{field}, 'box', 'an unknown box: 400 naming it');

# ---- Redis away: from PostgreSQL, and right ---------------------------------

$t->stop_redis;
($list, $xc) = wl('handler', 1);
is($xc, 'bypass', 'Redis away: bypass');
is_deeply($list, [ @want[1, 2] ], 'the same list');
$c[1] = pass_case($c[1], 2);
everywhere('handler', [ $want[2] ], 'a pass while Redis is away shows');
my $hz = $t->req(GET => '/healthz');
is($hz->{json}{redis}, 'down', '/healthz says Redis is down');
is($hz->{json}{status}, 'degraded', 'and degraded');

$t->start_redis;
ok($t->eventually(sub {
    $t->req(GET => '/healthz')->{json}{redis} eq 'ok'
        && $t->req(GET => '/healthz', instance => 2)->{json}{redis} eq 'ok'
}, 5), 'Redis back on both instances');
everywhere('handler', [ $want[2] ], 'and nothing stale after it');
($list, $xc) = wl('handler', 1);
is($xc, 'hit', 'cached again');
ok(($t->redis_cli('GET', 'govsvc:wl:epoch') // 0) >= 1,
   'the epoch was bumped for the change Redis missed');

# ---- Redis stalls (its data kept) while a case moves -----------------------

wl('handler', 2) for 1 .. 2;    # instance 2 holds a cached page
kill 'STOP', $t->{redis_pid};
my $c0 = pass_case($c[0], 1);   # the bump times out
kill 'CONT', $t->{redis_pid};
($list) = wl('handler', 1);
is_deeply($list, [], 'the instance that missed the bump lists it right');
# its first read through Redis again bumps the epoch first
ok($t->eventually(sub { (wl('handler', 1))[1] ne 'bypass' }, 5),
   'instance 1 reads through Redis again');
everywhere('handler', [], 'and every worker of both lists it right');
is_deeply((wl('reviewer', 2))[0], \@want, 'the reviewer has all three');

$t->check_log;
$t->stop;
done_testing();
