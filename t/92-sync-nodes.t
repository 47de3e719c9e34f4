# Three-tier linkage (三级联动) end to end: a province, a city and a county,
# each its own PostgreSQL and nginx under one development CA.  The county's
# cases go up through the city to the province by the sync timer (nginx's
# own TLS client with the node certificate); a parent that was away gets
# everything once, in order per origin; the county keeps serving
# meanwhile; the catalog published at the province comes down.

use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use JSON::PP ();
use GovSvc::Test;

my $prov = GovSvc::Test->new(node => '430000', demo => 1, redis => 0);
$prov->start;
my $city = GovSvc::Test->new(node => '430100', demo => 1, redis => 0,
                             ca => $prov->ca_dir, parent => $prov);
$city->start;
my $t = GovSvc::Test->new(node => '430102', demo => 1, redis => 0,
                          ca => $prov->ca_dir, parent => $city,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dept = $t->default_department;
$t->add_item('K-001', materials => [[M1 => '申请书']],
             steps => [[handle => '初审', handler => 4]]);
my %h = $t->case_staff($dept, $dept);

sub new_case {
    my ($name) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                    json => { item_code => 'K-001', project_name => $name,
                              applicant => GovSvc::Test::person(),
                              form => {},
                              materials => [{ code => 'M1',
                                              received => JSON::PP::true }] });
    return $r;
}
sub accepted_case {
    my ($name) = @_;
    my $r = new_case($name);
    is($r->{status}, 201, "$name registered at the county") or diag $r->{body};
    my $c = $r->{json};
    $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
                 headers => $h{clerk}, json => { kind => 'acceptance' });
    is($r->{status}, 201, 'its acceptance notice') or diag $r->{body};
    $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                 headers => $h{clerk},
                 json => { action => 'accept', version => $c->{version} });
    is($r->{status}, 200, 'accepted') or diag $r->{body};
    return $r->{json};
}
# what a node holds of the county's origin: count, and whether the
# sequences are exactly 1..count
sub held {
    my ($node) = @_;
    return $node->psql("SELECT count(*) || ':' || coalesce(max(seq), 0)"
                       . " FROM sync_inbox WHERE origin = '430102'");
}
sub outbox_last {
    return $t->psql("SELECT coalesce(max(seq), 0) FROM outbox"
                    . " WHERE origin = '430102'");
}

# ---- a case accepted at the county reaches the city and the province -------

my $c = accepted_case('联动项目一');
my $last = outbox_last();
ok($last >= 3, "the county's outbox has its events ($last)");

my $t0 = Time::HiRes::time();
ok($t->eventually(sub { held($prov) eq "$last:$last" }, 10),
   'the province holds every event of the county, 1..last, within 10 s')
    or diag 'city ' . held($city) . ', province ' . held($prov);
my $lag = Time::HiRes::time() - $t0;
diag sprintf 'county -> city -> province: %.2f s', $lag;
is(held($city), "$last:$last", 'so does the city');
is($prov->psql("SELECT string_agg(DISTINCT peer, ',') FROM sync_inbox"
               . " WHERE origin = '430102'"), '430100',
   'the province got them from the city (relayed, origin unchanged)');
is($prov->psql("SELECT count(*) FROM sync_inbox i"
               . " WHERE i.origin = '430102' AND i.case_no = :'c'",
               c => $c->{case_no}),
   $t->psql("SELECT count(*) FROM outbox WHERE case_no = :'c'",
            c => $c->{case_no}),
   'every event of the case, and only once');
is($prov->psql("SELECT string_agg(hash, ',' ORDER BY seq) FROM sync_inbox"
               . " WHERE origin = '430102'"),
   $t->psql("SELECT string_agg(hash, ',' ORDER BY seq) FROM outbox"
            . " WHERE origin = '430102'"),
   'with the hashes the county computed');

ok($t->eventually(sub {
       my $s = $t->req(GET => '/sync/v1/status', tls => 1,
                       cert => 'nodes/430102');
       $s->{json}{outbox}{acknowledged} == $last
   }, 5), 'the county\'s status: everything acknowledged by the city');
my $s = $t->req(GET => '/sync/v1/status', tls => 1, cert => 'nodes/430102');
is($s->{json}{outbox}{lag_events}, 0, 'no lag in events');
ok($city->eventually(sub {
       my $st = $city->req(GET => '/sync/v1/status', tls => 1,
                           cert => 'nodes/430100');
       my ($k) = grep { $_->{region} eq '430102' }
                 @{ $st->{json}{children} };
       $k && $k->{acknowledged} == $last
   }, 5), 'the city\'s status: the county acknowledged to its last event');

# ---- the city away: the county keeps serving, nothing lost or doubled -------

$city->stop_nginx;
my @during;
for my $i (1 .. 3) {
    my $r = new_case("城市停机期间$i");
    is($r->{status}, 201, "the county registers case $i while the city is away")
        or diag $r->{body};
    push @during, $r->{json}{case_no};
}
sleep 1;
$last = outbox_last();
isnt(held($prov), "$last:$last", 'the province has not got them yet');
$t->expect_log(qr/exchange with the parent|connect\(\) to the parent/);

$city->start_nginx(keep_ports => 1);
ok($t->eventually(sub { held($prov) eq "$last:$last" }, 15),
   'the city back: the province holds 1..last, each once')
    or diag 'city ' . held($city) . ', province ' . held($prov);
is($prov->psql("SELECT count(DISTINCT case_no) FROM sync_inbox"
               . " WHERE case_no = ANY(string_to_array(:'c', ','))",
               c => join(',', @during)), 3,
   'with the three cases registered meanwhile');

# ---- a burst: batches of the configured size, in order -------------------

for my $i (1 .. 20) {
    new_case("批量$i")->{status} == 201 or fail("burst case $i");
}
$last = outbox_last();
ok($t->eventually(sub { held($prov) eq "$last:$last" }, 15),
   'a burst of 20 cases: all of it at the province');

# ---- events resent that the city holds, the same: acknowledged again ----------

my $before = outbox_last();
$t->psql("UPDATE sync_upstream SET acked = acked - 2 WHERE origin = '430102'");
ok($t->eventually(sub {
       $t->psql("SELECT acked FROM sync_upstream WHERE origin = '430102'")
           == $before
   }, 10), 'two events resent: the city acknowledges them again');
is(outbox_last(), $before, 'the same as it holds: nothing numbered again');
unlike(GovSvc::Test::slurp($t->error_log), qr/numbered again/,
       'and nothing said about it');

# ---- the county restored from an older backup ----------------------------------

# as if the backup had been taken three events ago, all acknowledged then:
# the three cases of those events (the burst's last) are gone, and their
# numbers will be given again
my $city_held = $city->psql("SELECT max(seq) FROM sync_inbox"
                            . " WHERE origin = '430102'");
my @lost = split /\n/, $t->psql("SELECT case_no FROM outbox"
    . " WHERE origin = '430102' ORDER BY seq DESC LIMIT 3");
is(scalar(grep { $city->psql("SELECT count(*) FROM cases WHERE case_no = :'c'",
                             c => $_) } @lost), 3,
   'the city holds the three cases the restore loses');
$t->psql(<<'SQL', c => join(',', @lost));
DELETE FROM cases WHERE case_no = ANY (string_to_array(:'c', ','));
UPDATE case_seq SET last = last - 3 WHERE node = '430102'
    AND day = (now() AT TIME ZONE 'Asia/Shanghai')::date;
UPDATE outbox_seq SET last = last - 3 WHERE origin = '430102';
DELETE FROM outbox WHERE origin = '430102'
    AND seq > (SELECT last FROM outbox_seq WHERE origin = '430102');
UPDATE sync_upstream SET acked = (SELECT last FROM outbox_seq
                                  WHERE origin = '430102')
    WHERE origin = '430102';
UPDATE sync_peers SET acknowledged = (SELECT last FROM outbox_seq
                                      WHERE origin = '430102')
    WHERE role = 'parent';
SQL
my $restored = new_case('恢复之后');
is($restored->{status}, 201, 'the restored county registers a case');
my $reused = $restored->{json}{case_no} // '';
ok(grep({ $_ eq $reused } @lost), "under a number a lost case had ($reused)");
ok($t->eventually(sub {
       $t->psql("SELECT last FROM outbox_seq WHERE origin = '430102'")
           == $city_held + 1
   }, 10), 'its event, numbered again after what the city holds');
$t->expect_log(qr/numbered again after the parent's/);
like(GovSvc::Test::slurp($t->error_log),
     qr/\[warn\].*1 of its events were numbered again after the parent's/,
     'and the county says so');
ok($city->eventually(sub {
       $city->psql("SELECT count(*) FROM sync_inbox WHERE origin = '430102'"
                   . " AND case_no = :'c' AND type = 'case.created'"
                   . " AND seq = :'s'", c => $reused, s => $city_held + 1)
   }, 10), 'the event of the case registered after the restore reaches the'
           . ' city: nothing lost');
$t->expect_log(qr/took numbers the parent holds/);
like(GovSvc::Test::slurp($t->error_log),
     qr/\[alert\].*took numbers the parent holds.*\Q$reused\E/,
     'the county names the case whose number the city holds for another');
my ($newest) = sort { $b cmp $a } @lost;
is($t->psql("SELECT last FROM case_seq WHERE node = '430102'"
            . " AND day = (now() AT TIME ZONE 'Asia/Shanghai')::date"),
   substr($newest, -6) + 0,
   'and numbers its cases on after the last the city holds');
is($city->psql("SELECT count(*) FROM sync_inbox WHERE origin = '430102'"
               . " AND seq > :'h'", h => $city_held - 3), 4,
   'the city keeps what it held and adds the one event');
my $next = new_case('恢复之后二');
is($next->{status}, 201, 'the next case');
is(substr($next->{json}{case_no} // '', -6), sprintf('%06d', substr($newest, -6) + 1),
   'under a number never given before');
ok($city->eventually(sub {
       $city->psql("SELECT max(seq) FROM sync_inbox WHERE origin = '430102'")
           == $city_held + 2
   }, 10), 'reaches the city, numbered after it');
$last = outbox_last();

my $m = $t->req(GET => '/metrics');
my ($events) = $m->{body} =~ /^govsvc_sync_events_total (\d+)$/m;
# the numbers acknowledged again count again: the 2 resent, and the 3 the
# restore took back
is($events, $last + 5,
   '/metrics: every acknowledgement by the parent, counted');
my ($behind) = $m->{body} =~ /^govsvc_sync_behind_seconds (\d+)$/m;
ok(defined $behind && $behind <= 2, "/metrics: caught up (behind $behind s)");
like($m->{body}, qr/^govsvc_sync_rounds_total\{result="failed"\} [1-9]/m,
     '/metrics: the rounds that failed while the city was away');

# ---- the province reads the county's case, read-only ------------------------

$prov->create_user(username => 'sheng', name => '省监督', roles => ['supervisor'],
                   password => 'a good password',
                   department => $prov->default_department);
my $sup = $prov->auth($prov->login('sheng', 'a good password'));
my $r = $prov->req(GET => "/api/v1/cases?q=$c->{case_no}", tls => 1,
                   headers => $sup);
is($r->{status}, 200, 'the province\'s unified query') or diag $r->{body};
my ($found) = grep { $_->{case_no} eq $c->{case_no} } @{ $r->{json}{items} };
ok($found, 'finds the case accepted at the county');
is($found && $found->{state}, 'in_progress', 'in the state it has there');
$r = $prov->req(GET => "/api/v1/cases/$c->{case_no}", tls => 1,
                headers => $sup);
is($r->{status}, 200, 'the province reads the case') or diag $r->{body};
is($r->{json}{origin}, '430102', 'marked with its origin');
ok($r->{json}{read_only}, 'and read-only there');
ok(scalar @{ $r->{json}{notices} // [] } >= 1, 'with its acceptance notice');
is_deeply([ map { $_->{action} } @{ $r->{json}{opinions} // [] } ],
          [ 'accept' ], 'and its opinions');

# ---- the catalog published at the province comes down ---------------------

my $pdept = $prov->default_department;
$prov->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('P-001', '000009', '省级许可', '01', 2, $pdept, '430000', 20, 10,
        '[]', '[]', '[]');
INSERT INTO calendar_days (day, kind, name)
VALUES ('2027-10-08', 'workday', '调休上班')
ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name;
SQL
ok($t->eventually(sub {
       ($t->psql("SELECT source FROM items WHERE code = 'P-001'") // '')
           eq '430100'
   }, 10), 'an item published at the province reaches the county'
           . ' (received from its city)');
is($city->psql("SELECT source FROM items WHERE code = 'P-001'"), '430000',
   'through the city, which got it from the province');
is($t->psql("SELECT name FROM items WHERE code = 'P-001'"), '省级许可',
   'whole');
ok($t->eventually(sub {
       ($t->psql("SELECT kind FROM calendar_days WHERE day = '2027-10-08'")
        // '') eq 'workday'
   }, 10), 'and so does the calendar');

# ---- forwarding (转报): a city item taken in at the county window ----------

my $cdept = $city->default_department;
$city->add_item('C-001', name => '市级许可', materials => [[M1 => '申请书']],
                steps => [[handle => '审查', handler => 5]]);
ok($t->eventually(sub {
       ($t->psql("SELECT source FROM items WHERE code = 'C-001'") // '')
           eq '430100'
   }, 10), 'the city\'s item reaches the county');
$r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
             json => { item_code => 'C-001', project_name => '转报项目',
                       applicant => { type => 'person', name => '李四',
                                      id_type => 'id_card',
                                      id_no => '11010519491231002X',
                                      phone => '13900000000' },
                       form => {},
                       materials => [{ code => 'M1',
                                       received => JSON::PP::true }] });
is($r->{status}, 201, 'any county window takes it in (代收)')
    or diag $r->{body};
my $f = $r->{json};
$t->req(POST => "/api/v1/cases/$f->{case_no}/notices", tls => 1,
        headers => $h{clerk}, json => { kind => 'acceptance' });
$r = $t->req(POST => "/api/v1/cases/$f->{case_no}/actions", tls => 1,
             headers => $h{clerk},
             json => { action => 'accept', version => $f->{version} });
is($r->{status}, 200, 'accepted at the county') or diag $r->{body};
my $password = $r->{json}{query_password};
$r = $t->req(POST => "/api/v1/cases/$f->{case_no}/actions", tls => 1,
             headers => $h{clerk},
             json => { action => 'forward', version => $r->{json}{version},
                       opinion => '属市级权限，转报' });
is($r->{status}, 200, 'forwarded') or diag $r->{body};
is($r->{json}{result_code}, 4, 'result code 4 at the county');

my $no;
ok($city->eventually(sub {
       $no = $city->psql("SELECT case_no FROM cases"
                         . " WHERE forwarded_from = :'c'",
                         c => $f->{case_no});
       $no
   }, 10), 'the city takes it up as its own case');
my %ch = $city->case_staff($cdept, $cdept);
my $p = $city->req(GET => "/api/v1/cases/$no", tls => 1,
                   headers => $ch{handler})->{json};
$r = $city->req(POST => "/api/v1/cases/$no/actions", tls => 1,
                headers => $ch{handler},
                json => { action => 'pass', version => $p->{version},
                          opinion => '准予' });
is($r->{status}, 200, 'the city\'s handler passes it') or diag $r->{body};
$p = $r->{json};
my %decision = (licence_no => 'SJ14301000000009', valid_until => '2031-11-28');
$r = $city->req(POST => "/api/v1/cases/$no/notices", tls => 1,
                headers => $ch{clerk},
                json => { kind => 'approval_decision', %decision });
is($r->{status}, 201, 'the decision notice') or diag $r->{body};
$r = $city->req(POST => "/api/v1/cases/$no/actions", tls => 1,
                headers => $ch{clerk},
                json => { action => 'complete', version => $p->{version},
                          result => 'approved', %decision });
is($r->{status}, 200, 'completed at the city') or diag $r->{body};

my $q;
ok($t->eventually(sub {
       $q = $t->req(GET => "/api/v1/public/cases/$f->{case_no}"
                           . "?password=$password", tls => 1);
       ($q->{json}{forwarded}{state} // '') eq 'completed'
   }, 10), 'the city\'s result comes down by itself')
    or diag $q->{body};
is_deeply([ @{ $q->{json}{forwarded} }{qw(to case_no result result_code)} ],
          [ '430100', $no, 'approved', 0 ],
          'the applicant\'s query at the county shows the city\'s decision');
ok($prov->eventually(sub {
       ($prov->psql("SELECT state FROM cases WHERE case_no = :'n'", n => $no)
        // '') eq 'completed'
   }, 10), 'and the province holds the city\'s case, completed');

$_->check_log for $t, $city, $prov;
$t->stop;
$city->stop;
$prov->stop;

done_testing();
