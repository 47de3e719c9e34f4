# Faults under load on the case write path (R1, R2, R3, R5 of targets.md;
# t/60-faults.t does the same with public consultations):
#   R1  a worker killed with SIGKILL while clerks register cases: every
#       case whose registration answered 201 is there once
#   R3  PostgreSQL restarted while clerks register and accept cases: 201/
#       200 or 503 unavailable only; every case has exactly the audit and
#       outbox rows of what happened to it; writes succeed again within 2 s
#   R2  Redis stopped while clerks accept cases and handlers read their
#       待办: every read answered, /healthz degraded meanwhile, and no
#       worklist stale once Redis is back
#   R5  eight handlers pass each of 20 cases at the same moment: one 200,
#       seven 409, one opinion and one version step per case

use strict;
use warnings;
use Test::More;
use POSIX ();
use JSON::PP ();
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 1, workers => 2,
                          public_write_limit => '1000000 1m',
                          http_extra => 'govsvc_login_limit 1000 1m;');
$t->start;

my $dept = $t->default_department;
$t->add_item('F-001', steps => [[handle => '初审', handler => 4],
                                [review => '复审', reviewer => 3]]);
my %h = $t->case_staff($dept, $dept);

sub register {
    my ($name) = @_;
    return $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                   timeout => 10,
                   json => { item_code => 'F-001', project_name => $name,
                             applicant => GovSvc::Test::person(),
                             form => {}, materials => [] });
}
# the acceptance notice, then the acceptance
sub accept_case {
    my ($c) = @_;
    my $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
                    headers => $h{clerk}, timeout => 10,
                    json => { kind => 'acceptance' });
    return $r if $r->{status} != 201;
    return $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                   headers => $h{clerk}, timeout => 10,
                   json => { action => 'accept', version => $c->{version} });
}

# GovSvc::Test::load, each child's next round at once after a failure
sub load { $t->load(@_, pause => 0) }
# every registration answered 201 is one case, with that project name
sub registered_once {
    my ($lines, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %db = map { split /:/ } split /\n/, $t->psql(
        "SELECT project_name || ':' || count(*) FROM cases"
        . " WHERE project_name LIKE '$name-%' GROUP BY project_name");
    my @ok = grep { $_->[0] == 201 } @$lines;
    cmp_ok(scalar @ok, '>', 10, "$name: " . @ok . ' registrations answered');
    my @missing = grep { ($db{$_->[2]} // 0) != 1 } @ok;
    is(scalar @missing, 0, "$name: each of them is one case")
        or diag explain [@missing[0 .. 4]];
    is(scalar(grep { $_ != 1 } values %db), 0, "$name: none twice");
}

# ---- writes of two kinds at once: no deadlock ---------------------------------

# a registration and a public question each write an audit entry and an
# outbox event; taken in opposite orders, their locks deadlocked (500s)
{
    my $cases = load('mixed', 3, sub { register($_[0]) });
    my $asks = load('ask', 3, sub {
        $t->req(POST => '/api/v1/public/consultations', timeout => 10,
                json => { title => $_[0], content => 'c' });
    });
    sleep 3;
    my @lines = (@{ $cases->() }, @{ $asks->() });
    diag 'registrations and questions at once: ' . $t->statuses(\@lines);
    is(scalar(grep { $_->[0] != 201 } @lines), 0,
       'registrations and public questions at once: every one 201');
    cmp_ok(scalar @lines, '>', 30, scalar(@lines) . ' writes');
}

# ---- R1: a worker killed while cases are registered ----------------------

{
    my $done = load('kill', 4, sub { register($_[0]) });
    sleep 1;
    my $victim = $t->kill_worker;
    sleep 1;
    my $lines = $done->();
    diag "killed worker $victim: " . $t->statuses($lines);
    my @workers = $t->worker_pids;
    is(scalar @workers, 2, 'R1: the master respawned the worker');
    ok(!(grep { $_ == $victim } @workers), 'a new one');
    my @bad = grep { $_->[0] != 201 && $_->[0] != 599 } @$lines;
    is(scalar @bad, 0, 'R1: only 201, or a connection cut by the kill')
        or diag explain [@bad[0 .. 4]];
    registered_once($lines, 'kill');
}

# ---- R3: PostgreSQL restarted while cases are registered and accepted -----

{
    my $done = load('pg', 4, sub {
        my $r = register($_[0]);
        return $r if $r->{status} != 201;
        return ($r, accept_case($r->{json}));
    });
    sleep 1;
    $t->stop_pg;
    sleep 1;
    $t->start_pg;
    my $back = time;
    my $first;
    until (defined $first || time > $back + 10) {
        my $r = register('probe-' . time);
        $first = time - $back if $r->{status} == 201;
        sleep 0.05 unless defined $first;
    }
    sleep 1;
    my $lines = $done->();
    diag 'pg restart: ' . $t->statuses($lines);
    ok(defined $first && $first < 2, sprintf('R3: writes again %.2f s after'
       . ' PostgreSQL is back', $first // -1));
    my @bad = grep { $_->[0] != 201 && $_->[0] != 200
                     && !($_->[0] == 503 && $_->[1] eq 'unavailable') }
              @$lines;
    is(scalar @bad, 0, 'R3: only 201, 200 or 503 unavailable')
        or diag explain [@bad[0 .. 4]];
    ok((grep { $_->[0] == 503 } @$lines), 'some requests saw it away');
    registered_once([ grep { $_->[0] != 200 } @$lines ], 'pg');

    # no partial write: each case's audit and outbox rows are those of
    # what happened to it, no more, no fewer
    my $odd = $t->half_written('pg-');
    is($odd, 0, 'R3: every case has its audit, outbox and opinion rows,'
       . ' nothing half-written');
    my $accepted = grep { $_->[0] == 200 } @$lines;
    cmp_ok($accepted, '>', 5, "R3: $accepted acceptances answered");
    is($t->psql("SELECT count(*) FROM cases WHERE project_name = ANY("
                . "string_to_array(:'n', ',')) AND state = 'in_progress'",
                n => join ',', map { $_->[2] } grep { $_->[0] == 200 }
                                   @$lines),
       $accepted, 'R3: every acceptance answered 200 is in the database');
}

# ---- R2: Redis stopped while cases are accepted and 待办 read ----------------

sub todo_db {
    return $t->psql("SELECT count(*) FROM cases WHERE department = $dept"
                    . " AND state = 'in_progress' AND step = 'handle'");
}
{
    my $accepts = load('redis', 2, sub {
        my $r = register($_[0]);
        return $r if $r->{status} != 201;
        return ($r, accept_case($r->{json}));
    });
    my $reads = load('wl', 2, sub {
        return $t->req(GET => '/api/v1/worklist?box=todo&limit=500',
                       tls => 1, headers => $h{handler}, timeout => 10);
    });
    sleep 1;
    $t->stop_redis;
    sleep 0.5;
    my $health = $t->req(GET => '/healthz');
    is_deeply([ $health->{status}, $health->{json}{status},
                $health->{json}{redis} ], [ 200, 'degraded', 'down' ],
              'R2: /healthz degraded while Redis is away');
    sleep 1;
    $t->start_redis;
    sleep 1.5;
    my $lines = $accepts->();
    my $wl = $reads->();
    diag 'redis away, writes: ' . $t->statuses($lines) . '; reads: '
        . $t->statuses($wl);
    is(scalar(grep { $_->[0] != 200 && $_->[0] != 201 } @$lines, @$wl), 0,
       'R2: every registration, acceptance and read answered');
    cmp_ok(scalar @$wl, '>', 20, scalar(@$wl) . ' worklist reads');
    is($t->req(GET => '/healthz')->{json}{redis}, 'ok', 'Redis used again');

    # read twice: the second is a Redis hit, and must be the truth
    for my $n (1, 2) {
        my $r = $t->req(GET => '/api/v1/worklist?box=todo&limit=500',
                        tls => 1, headers => $h{handler});
        is(scalar @{ $r->{json}{items} }, todo_db(),
           "R2: after Redis is back, read $n ($r->{headers}{'x-cache'}):"
           . ' the 待办 holds every case at the step');
    }
}

# ---- R5: eight handlers at once on each of 20 cases -------------------------

{
    my @cases;
    for my $i (1 .. 20) {
        my $r = register("race-$i");
        my $a = accept_case($r->{json});
        push @cases, $a->{json};
    }
    is(scalar(grep { $_ && $_->{state} eq 'in_progress' } @cases), 20,
       'R5: 20 cases at the handler');
    my %ok;
    for my $c (@cases) {
        my @kids;
        for my $k (1 .. 8) {
            pipe my $rd, my $wr or die;
            my $pid = fork // die;
            if ($pid == 0) {
                close $rd;
                my $r = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions",
                                tls => 1, headers => $h{handler},
                                json => { action => 'pass',
                                          version => $c->{version},
                                          opinion => "同意 $k" });
                my $code = $r->{json}{error} ? $r->{json}{error}{code} : '-';
                print $wr "$r->{status} $code";
                close $wr;
                POSIX::_exit(0);
            }
            close $wr;
            push @kids, [$pid, $rd];
        }
        my @answers;
        for (@kids) {
            my $fh = $_->[1];
            push @answers, scalar <$fh>;
            waitpid $_->[0], 0;
        }
        $ok{join ',', sort @answers}++;
    }
    is_deeply([ keys %ok ],
              [ join ',', '200 -', ('409 version_conflict') x 7 ],
              'R5: each case, one 200 and seven 409 version_conflict');
    is($t->psql("SELECT count(*) FROM cases WHERE project_name LIKE 'race-%'"
                . " AND step = 'review' AND version = :'v'",
                v => $cases[0]{version} + 1), 20,
       'R5: each passed once: one step on, one version on');
    is($t->psql("SELECT count(*) FROM case_opinions p JOIN cases c"
                . " USING (case_no) WHERE c.project_name LIKE 'race-%'"
                . " AND p.action = 'pass'"), 20, 'one opinion each');
}

$t->check_log;
$t->stop;
done_testing;
