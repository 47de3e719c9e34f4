# The read pool (govsvc_postgres_read, issue 10): a streaming replica
# serves the heavy reads (the unified query, statistics, warnings, a
# supervisor's cards) while it is fresh; everything else, and the reads of
# a user who just wrote, stay on the primary.
#
#   - without the directive there is nothing of it in the metrics; a bad
#     parameter is refused
#   - with it: the heavy reads are served by the replica (its connections,
#     the metrics), the rest never
#   - replay paused on the replica and a case registered: the supervisor's
#     search does not find it yet (the replica answered), the clerk who
#     registered it finds it at once (own write: the primary); once the
#     replica is more than lag= behind, the search goes to the primary
#     and finds it, the metrics and the log say so; replay resumed, the
#     replica serves again
#   - the replica stopped: every read still answered (the primary), the
#     state "down"; started again, the replica serves again
#   - target_session_attrs=prefer-standby over the primary and the
#     replica, the primary first: the read pool is on the replica

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 1, workers => 2,
                          http_extra => 'govsvc_login_limit 1000 1m;');
$t->start;

my $dept = $t->default_department;
$t->add_item('R-001', steps => [[handle => '初审', handler => 4]]);
my %h = $t->case_staff($dept, $dept);

sub register {
    my ($name) = @_;
    return $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
                   json => { item_code => 'R-001', project_name => $name,
                             applicant => GovSvc::Test::person(), form => {},
                             materials => [] });
}
# the unified query for a project name, as WHO: how many cases it finds
sub search {
    my ($who, $name) = @_;
    my $r = $t->req(GET => "/api/v1/cases?q=$name&limit=50", tls => 1,
                    headers => $h{$who});
    return ($r->{status}, $r->{status} == 200
                          ? scalar @{ $r->{json}{items} } : -1, $r);
}
sub metrics { $t->req(GET => '/metrics')->{body} }
sub metric {
    my ($re, $body) = @_;
    $body //= metrics();
    my $sum = 0;
    $sum += $1 while $body =~ /^$re (\d+)(?:\.\d+)?$/mg;
    return $sum;
}
sub replica_reads { metric('govsvc_pg_reads_total\{server="replica"[^}]*\}') }
sub primary_reads {
    my ($why) = @_;
    return metric("govsvc_pg_reads_total\\{server=\"primary\",reason=\"$why\"\\}");
}
sub state { metric("govsvc_pg_replica_state\\{state=\"$_[0]\"\\}") }
sub backends {
    my ($server, $app) = @_;
    return $server->psql('SELECT count(*) FROM pg_stat_activity'
                         . " WHERE application_name = :'a'", a => $app);
}
sub log_since {
    my ($size) = @_;
    return substr(GovSvc::Test::slurp($t->error_log), $size);
}

register("before-$_") for 1 .. 3;

unlike(metrics(), qr/govsvc_pg_replica/,
       'without govsvc_postgres_read: no replica in the metrics');

my $sb = $t->start_standby(name => 'replica1');
my $lag = 3;
my $read = 'hostaddr=127.0.0.1 port=' . $sb->port
    . ' dbname=govsvc user=govsvc application_name=govsvc-read';
my $extra = $t->http_extra;

$t->stop_nginx;
$t->nginx_conninfo($t->conninfo . ' application_name=govsvc-primary');
$t->http_extra("$extra govsvc_postgres_read \"$read\" max=4 lag=soon;");
$t->expect_log(qr/invalid parameter "lag=soon"/);
ok(!eval { $t->start_nginx; 1 }, 'a bad parameter is refused');
like($@, qr/invalid parameter "lag=soon"/, '... and named');

$t->http_extra("$extra govsvc_postgres_read \"$read\" max=4 timeout=5s"
               . " lag=${lag}s;");
$t->start_nginx;

# ---- the replica serves the heavy reads -------------------------------------

ok($t->eventually(sub { state('ok') == 1 }, 15), 'the replica is checked'
   . ' and found fresh');
is(metric('govsvc_pg_replica_up'), 1, 'govsvc_pg_replica_up 1');
my $size = -s $t->error_log;
my $n0 = replica_reads();
my @paths = (map({ '/api/v1/cases?limit=5' } 1 .. 10),
             '/api/v1/supervision/stats', '/api/v1/supervision/warnings',
             '/api/v1/cards');
my @bad = grep { $_->{status} != 200 }
          map { $t->req(GET => $_, tls => 1, headers => $h{sup}) } @paths;
is(scalar @bad, 0, 'the unified query, statistics, warnings and cards'
   . ' answered');
my ($st, $found) = search('sup', 'before-');
is($found, 3, 'the replica holds what was there before it');
cmp_ok(replica_reads() - $n0, '>=', @paths + 1, 'all served by the replica');
cmp_ok(backends($sb, 'govsvc-read'), '>', 0,
       'the read pool is connected to the replica');
is(backends($t, 'govsvc-read'), 0, 'and not to the primary');
is(backends($sb, 'govsvc-primary'), 0,
   'the primary pool is not connected to the replica');

$n0 = replica_reads();
for my $p ('/api/v1/worklist?box=todo', '/api/v1/abnormal', '/api/v1/me') {
    is($t->req(GET => $p, tls => 1, headers => $h{clerk})->{status}, 200,
       "$p answered");
}
my ($case) = grep { $_->{project_name} eq 'before-1' }
             @{ $t->req(GET => '/api/v1/cases?q=before-1', tls => 1,
                        headers => $h{sup})->{json}{items} };
$n0 = replica_reads();
is($t->req(GET => "/api/v1/cases/$case->{case_no}", tls => 1,
           headers => $h{clerk})->{status}, 200, 'the case page answered');
is(replica_reads() - $n0, 0, 'worklists, the case page and the rest: never'
   . ' the replica');

# ---- replay paused: stale for others, never for the writer; then lag ----------

$sb->psql('SELECT pg_wal_replay_pause()');
is(register('paused-1')->{status}, 201, 'a case registered on the primary');
my $own = primary_reads('own_write');
($st, $found) = search('clerk', 'paused-1');
is($found, 1, 'the clerk who registered it finds it at once');
is(primary_reads('own_write') - $own, 1, '... from the primary (own write)');
$n0 = replica_reads();
($st, $found) = search('sup', 'paused-1');
is($found, 0, 'the supervisor does not yet: the replica answered, behind');
is(replica_reads() - $n0, 1, '... counted as a replica read');

my $paused = time;
ok($t->eventually(sub { (search('sup', 'paused-1'))[1] == 1 }, 20),
   'once the replica is more than lag behind, the search finds it');
diag sprintf 'found %.1f s after the pause (lag=%ds)', time - $paused, $lag;
is(state('lagging'), 1, 'the state is lagging');
is(metric('govsvc_pg_replica_up'), 0, 'govsvc_pg_replica_up 0');
cmp_ok(primary_reads('lagging'), '>', 0, 'reads counted as sent to the'
       . ' primary for lag');
cmp_ok(metric('govsvc_pg_replica_lag_seconds'), '>=', $lag,
       'govsvc_pg_replica_lag_seconds above lag');
my @lines = log_since($size) =~ /^.*\[warn\].*replica is more than.*$/mg;
is(scalar @lines, 1, 'one warning in the log') or diag explain \@lines;

$size = -s $t->error_log;
$sb->psql('SELECT pg_wal_replay_resume()');
ok($t->eventually(sub { state('ok') == 1 }, 15),
   'replay resumed: the replica is fresh again');
$n0 = replica_reads();
($st, $found) = search('sup', 'paused-1');
is($found, 1, 'the replica has the case now');
is(replica_reads() - $n0, 1, '... and answered');
@lines = log_since($size) =~ /^.*\[warn\].*replica serves the heavy reads again.*$/mg;
is(scalar @lines, 1, 'one warning that it serves again')
    or diag explain \@lines;

# ---- the replica stopped, then started ------------------------------------

$size = -s $t->error_log;
my $before = primary_reads('down') + primary_reads('failed')
           + primary_reads('lagging');
$sb->stop;
my @answers;
my $until = time + 3;
while (time < $until) {
    my ($s, $f) = search('sup', 'before-');
    push @answers, "$s $f";
}
is(scalar(grep { $_ ne '200 3' } @answers), 0, scalar(@answers)
   . ' searches while the replica stopped: every one answered in full')
    or diag explain [ @answers[0 .. 4] ];
ok($t->eventually(sub { state('down') == 1 }, 10), 'the state is down');
cmp_ok(primary_reads('down') + primary_reads('failed')
       + primary_reads('lagging') - $before, '>', 0,
       'the reads went to the primary');
@lines = log_since($size) =~ /^.*\[warn\].*replica cannot be reached.*$/mg;
is(scalar @lines, 1, 'one warning that it cannot be reached')
    or diag explain \@lines;

$sb->start;
ok($t->eventually(sub { state('ok') == 1 }, 20),
   'started again: the replica is fresh again');
$n0 = replica_reads();
($st, $found) = search('sup', 'paused-1');
is($found, 1, 'and serves the search');
is(replica_reads() - $n0, 1, '... from the replica');

# ---- prefer-standby: the standby, wherever it is listed ---------------------

$t->stop_nginx;
$t->http_extra("$extra govsvc_postgres_read \"hostaddr=127.0.0.1,127.0.0.1"
    . ' port=' . $t->pg_port . ',' . $sb->port . ' dbname=govsvc user=govsvc'
    . ' application_name=govsvc-read2 target_session_attrs=prefer-standby'
    . "\" lag=${lag}s;");
$t->start_nginx;
ok($t->eventually(sub { state('ok') == 1 }, 15), 'prefer-standby: checked');
@bad = grep { $_->{status} != 200 }
       map { $t->req(GET => '/api/v1/cases?limit=5', tls => 1,
                     headers => $h{sup}) } 1 .. 10;
is(scalar @bad, 0, 'searches answered');
cmp_ok(backends($sb, 'govsvc-read2'), '>', 0,
       'the read pool is on the standby, listed second');
is(backends($t, 'govsvc-read2'), 0, 'not on the primary, listed first');

$t->check_log;
$t->stop;
done_testing;
