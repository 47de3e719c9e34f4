# PostgreSQL failover (issue 10, "Beyond one machine"): a primary and its
# synchronous streaming standby, and govsvc_postgres naming both
# (hostaddr=A,B port=P,S target_session_attrs=read-write).
#
#   1. The standby listed first: libpq connects to it, finds it read-only
#      and moves on to the primary on a new socket, often under the number
#      of the one it just closed.  Every request is served, none waits
#      for a timeout, no epoll_ctl alert, no connection left on the
#      standby.
#   2. The primary listed first, clerks registering and accepting cases:
#      the primary is stopped (immediate: a crash as clients see it) and
#      the standby promoted.  Meanwhile every answer is 503 unavailable
#      (JSON), none slow; writes succeed again within a few seconds of the
#      promotion (every request from 2.5 s after it: a worker's pool
#      waits at most a second before it tries again), with the same nginx
#      master and workers; every registration answered 201 and every
#      acceptance answered 200 is on the new primary with its audit and
#      outbox rows, nothing is half written, the audit chain verifies; no
#      worker keeps a socket to the dead primary, and the pools'
#      connections are all on the new one.
#   3. A first server that hangs instead of refusing (a listener that
#      never answers where the old primary was: a machine gone silent):
#      each attempt there gives up after connect_timeout= and the next
#      server is tried, so a freshly started nginx serves within that
#      time, and its pools then start with the server that answered.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use List::Util qw(max);
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 1, workers => 2,
                          public_write_limit => '1000000 1m',
                          http_extra => 'govsvc_login_limit 1000 1m;'
                                        . ' govsvc_session_cache 100;');
$t->start;

my $dept = $t->default_department;
$t->add_item('F-001', steps => [[handle => '初审', handler => 4],
                                [review => '复审', reviewer => 3]]);
my %h = $t->case_staff($dept, $dept);

my $sb = $t->start_standby(name => 'standby1', sync => 1);
is($t->psql("SELECT sync_state FROM pg_stat_replication"
            . " WHERE application_name = 'standby1'"), 'sync',
   'the standby streams synchronously');
is($t->psql('SHOW synchronous_commit'), 'on', 'commits wait for it');
is($sb->psql('SELECT pg_is_in_recovery()'), 't', 'the standby is read-only');

my ($P, $S) = ($t->pg_port, $sb->port);
my $app = 'govsvc-nginx';

# nginx again, its pools on these servers in this order
sub use_servers {
    my ($ports, $more) = @_;
    $t->nginx_conninfo('hostaddr=' . join(',', ('127.0.0.1') x @$ports)
        . ' port=' . join(',', @$ports) . ' dbname=govsvc user=govsvc'
        . " target_session_attrs=read-write application_name=$app"
        . ($more // ''));
    $t->stop_nginx;
    $t->start_nginx;
}

sub register {
    my ($name) = @_;
    return $t->timed_req(POST => '/api/v1/cases', tls => 1,
        headers => $h{clerk}, timeout => 30,
        json => { item_code => 'F-001', project_name => $name,
                  applicant => GovSvc::Test::person(), form => {},
                  materials => [] });
}
# the acceptance notice, then the acceptance
sub accept_case {
    my ($c) = @_;
    my $r = $t->timed_req(POST => "/api/v1/cases/$c->{case_no}/notices",
                          tls => 1, headers => $h{clerk}, timeout => 30,
                          json => { kind => 'acceptance' });
    return $r if $r->{status} != 201;
    return $t->timed_req(POST => "/api/v1/cases/$c->{case_no}/actions",
                         tls => 1, headers => $h{clerk}, timeout => 30,
                         json => { action => 'accept',
                                   version => $c->{version} });
}

# the module's backends on a server
# the LISTEN connections of the workers' session caches on a server (the
# pools' are the backends above)
sub listeners {
    my ($pg) = @_;
    return $pg->psql("SELECT count(*) FROM pg_stat_activity"
                     . " WHERE query = 'LISTEN govsvc_auth'");
}
sub backends {
    my ($server) = @_;
    return $server->psql('SELECT count(*) FROM pg_stat_activity'
                         . " WHERE application_name = :'a'"
                         . " AND query <> 'LISTEN govsvc_auth'", a => $app);
}

# sockets of the workers connected to 127.0.0.1:PORT
sub worker_sockets_to {
    my ($port) = @_;
    my %mine;
    for my $pid ($t->worker_pids) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $l = readlink($fd) // next;
            $mine{$1} = 1 if $l =~ /^socket:\[(\d+)\]/;
        }
    }
    my $n = 0;
    open my $fh, '<', '/proc/net/tcp' or die "/proc/net/tcp: $!";
    <$fh>;
    while (<$fh>) {
        my @f = split ' ';
        my ($rport) = $f[2] =~ /:([0-9A-Fa-f]+)\z/ or next;
        $n++ if hex($rport) == $port && $mine{$f[9]};
    }
    return $n;
}

sub metric {
    my ($re) = @_;
    my $m = $t->req(GET => '/metrics')->{body};
    my $sum = 0;
    $sum += $1 while $m =~ /^$re (\d+)$/mg;
    return $sum;
}

# ---- 1. libpq moves to the next server in the middle of a connection -------

use_servers([$S, $P]);
{
    # more at once than the pools hold: each worker opens all 8 of its
    # connections, each refused by the standby first
    my @a = ((map { $t->async_req(GET => '/api/v1/cases?limit=5', tls => 1,
                                  headers => $h{sup}, timeout => 30) }
              1 .. 24),
             (map { my $k = $_;
                    $t->async_req(POST => '/api/v1/cases', tls => 1,
                                  headers => $h{clerk}, timeout => 30,
                                  json => { item_code => 'F-001',
                                            project_name => "switch-$k",
                                            applicant => GovSvc::Test::person(),
                                            form => {}, materials => [] }) }
              1 .. 8));
    my @r = map { [ $_->wait ] } @a;
    my @bad = grep { $_->[0]{status} !~ /^20[01]$/ } @r;
    is(scalar @bad, 0, 'standby listed first: all ' . @r . ' requests'
       . ' served by the primary behind it')
        or diag explain [ map { "$_->[0]{status} $_->[0]{body}" }
                          @bad[0 .. 3] ];
    my $slowest = max(map { $_->[1] } @r);
    cmp_ok($slowest, '<', 4.5, sprintf('none waited for the connect'
           . ' timeout (slowest %.2f s)', $slowest));
    is($t->psql("SELECT count(*) FROM cases WHERE project_name LIKE"
                . " 'switch-%'"), 8, 'the registrations are on the primary');
    cmp_ok(metric('govsvc_pg_connects_total'), '>=', 4,
           'new connections were opened');
    cmp_ok(backends($t), '>', 0, 'the pools hold connections to the primary');
    is(backends($sb), 0, 'none to the standby');
    unlike(GovSvc::Test::slurp($t->error_log), qr/epoll_ctl|connect timed out/,
           'no epoll_ctl failure and no connect timeout in error.log');
}

# ---- 2. failover under load ------------------------------------------------

use_servers([$P, $S]);
my $master = $t->nginx_pid;
my @workers = $t->worker_pids;
is(register('warm-up')->{status}, 201, 'primary listed first: writes');

my $writes = $t->load('fo', 4, sub {
    my $r = register($_[0]);
    return $r if $r->{status} != 201;
    return ($r, accept_case($r->{json}));
});
my $reads = $t->load('rd', 1, sub {
    return $t->timed_req(GET => '/api/v1/worklist?box=todo&limit=50',
                         tls => 1, headers => $h{handler}, timeout => 30);
});

sleep 3;
ok($t->eventually(sub { worker_sockets_to($P) > 0 }, 5),
   'under load the workers hold connections to the primary');

my $killed = time;
$t->stop_pg(mode => 'immediate');
my $down = time;
diag sprintf 'primary stopped (immediate) in %.2f s', $down - $killed;

sleep 1;
my $hz = $t->req(GET => '/healthz', timeout => 30);
is($hz->{status}, 503, '/healthz 503 while there is no primary');
is($sb->psql('SELECT pg_is_in_recovery()'), 't',
   'the standby is still a standby');
sleep 1.5;

my $promoting = time;
$sb->promote;
my $promoted = time;
diag sprintf 'standby promoted in %.2f s', $promoted - $promoting;
is($sb->psql('SELECT pg_is_in_recovery()'), 'f', 'the standby is the primary');

my $first;
until (defined $first || time > $promoted + 30) {
    my $r = register('probe-' . time);
    $first = time - $promoted if $r->{status} == 201;
    sleep 0.05 unless defined $first;
}
ok(defined $first && $first < 5, sprintf('writes again %.2f s after the'
   . ' promotion', $first // -1));

sleep 4;
my $lines = $writes->();
my $rlines = $reads->();
diag 'failover, writes: ' . $t->statuses($lines) . '; reads: '
    . $t->statuses($rlines);

is($t->nginx_pid, $master, 'the same nginx master');
is_deeply([ $t->worker_pids ], \@workers, 'the same workers');

my @all = (@$lines, @$rlines);
my @bad = grep { $_->[0] != 201 && $_->[0] != 200
                 && !($_->[0] == 503 && $_->[1] eq 'unavailable') } @all;
is(scalar @bad, 0, 'only 200, 201 or 503 unavailable (JSON)')
    or diag explain [ @bad[0 .. 4] ];
my $slowest = max(map { $_->[5] } @all);
cmp_ok($slowest, '<', 8, sprintf('none hung (slowest %.2f s)', $slowest));

# sent after the primary was gone, answered before the promotion began
my @outage = grep { $_->[4] > $down + 0.2 && $_->[4] + $_->[5] < $promoting }
             @all;
cmp_ok(scalar @outage, '>', 5, scalar(@outage) . ' requests during the'
       . ' outage');
is(scalar(grep { $_->[0] != 503 } @outage), 0,
   'every one of them 503 unavailable');
# each worker's pool tries again after a backoff of at most a second
my @after = grep { $_->[4] > $promoted + 2.5 } @all;
cmp_ok(scalar @after, '>', 5, scalar(@after) . ' requests sent from 2.5 s'
       . ' after the promotion');
is(scalar(grep { $_->[0] !~ /^20[01]$/ } @after), 0,
   'every one of them served')
    or diag explain [ map { sprintf '%s %s %s sent %.2f s after the'
                            . ' promotion', @$_[0, 1, 2], $_->[4] - $promoted }
                      grep { $_->[0] !~ /^20[01]$/ } @after ];

# every registration answered 201 is on the new primary once; every
# acceptance answered 200 too, with its audit entry and outbox event
my @created = grep { $_->[0] == 201 } @$lines;
my @accepted = grep { $_->[0] == 200 } @$lines;
cmp_ok(scalar @created, '>', 5, scalar(@created) . ' registrations'
       . ' answered');
cmp_ok(scalar @accepted, '>', 3, scalar(@accepted) . ' acceptances'
       . ' answered');
my %db = map { split /:/ } split /\n/, $sb->psql(
    "SELECT project_name || ':' || count(*) FROM cases"
    . " WHERE project_name LIKE 'fo-%' GROUP BY project_name");
is(scalar(grep { ($db{$_->[2]} // 0) != 1 } @created), 0,
   'every registration answered 201 is one case on the new primary');
is(scalar(grep { $_ != 1 } values %db), 0, 'none twice');
is($sb->psql(<<'SQL', n => join ',', map { $_->[2] } @created), 0,
SELECT count(*) FROM unnest(string_to_array(:'n', ',')) AS n(name)
WHERE NOT EXISTS (
    SELECT 1 FROM cases c
    JOIN audit_log a ON a.object = 'case:' || c.case_no
                    AND a.action = 'case.create'
    JOIN outbox o ON o.case_no = c.case_no AND o.type = 'case.created'
    WHERE c.project_name = n.name)
SQL
   'each with its audit entry and outbox event');
is($sb->psql(<<'SQL', n => join ',', map { $_->[2] } @accepted), 0,
SELECT count(*) FROM unnest(string_to_array(:'n', ',')) AS n(name)
WHERE NOT EXISTS (
    SELECT 1 FROM cases c
    JOIN audit_log a ON a.object = 'case:' || c.case_no
                    AND a.action = 'case.accept'
    JOIN outbox o ON o.case_no = c.case_no AND o.type = 'case.accept'
    JOIN case_opinions p ON p.case_no = c.case_no AND p.action = 'accept'
    WHERE c.project_name = n.name AND c.state = 'in_progress')
SQL
   'every acceptance answered 200 is there, with its audit entry, outbox'
   . ' event and opinion');

# nothing half-written: each case's rows are those of its state
is($sb->half_written('fo-'), 0, 'no case half-written');

my $verify = `"$ENV{GOVSVC_ROOT}/scripts/audit-verify" '${\ $sb->conninfo }' 2>&1`;
is($?, 0, 'the audit chain verifies on the new primary') or diag $verify;

# the pools: nothing left on the dead primary, everything on the new one
ok($t->eventually(sub { worker_sockets_to($P) == 0 }, 5),
   'no worker keeps a socket to the dead primary');
ok($t->eventually(sub { listeners($sb) == 2 }, 10),
   'each worker\'s session cache listens on the new primary');
ok($t->eventually(sub {
       my $n = metric('govsvc_pg_connections\{state="(?:busy|idle)"\}');
       $n > 0 && $n == backends($sb) }, 5),
   'every pooled connection is on the new primary');

# ---- 3. the first server hangs ------------------------------------------------

{
    # where the old primary listened: connections are taken by the kernel
    # and never answered
    my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $P, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "listen on $P: $!";
    use_servers([$P, $S], ' connect_timeout=2');
    my @a = map { $t->async_req(GET => '/api/v1/cases?limit=5', tls => 1,
                                headers => $h{sup}, timeout => 30) } 1 .. 8;
    my @r = map { [ $_->wait ] } @a;
    is(scalar(grep { $_->[0]{status} != 200 } @r), 0,
       'a silent first server: every request served by the next')
        or diag explain [ map { "$_->[0]{status} $_->[0]{body}" } @r ];
    my $slowest = max(map { $_->[1] } @r);
    cmp_ok($slowest, '<', 5, sprintf('within connect_timeout and a little'
           . ' (slowest %.2f s)', $slowest));
    my $t0 = time;
    is(register('after-silent')->{status}, 201, 'writes too');
    # a new connection for each of a worker's pool: none tries the silent
    # server first any more
    my @b = map { $t->async_req(GET => '/api/v1/cases?limit=5', tls => 1,
                                headers => $h{sup}, timeout => 30) } 1 .. 16;
    my @rb = map { [ $_->wait ] } @b;
    my $slow = max(map { $_->[1] } @rb);
    cmp_ok($slow, '<', 1.5, sprintf('then the pools start with the server'
           . ' that answered (slowest of 16 at once %.2f s)', $slow));
    ok($t->eventually(sub { listeners($sb) == 2 }, 10),
       'and each worker\'s session cache listens there, past the silent'
       . ' one');
    close $silent;
}

$t->check_log;
$t->stop;
done_testing;
