# The event loop never blocks: while one request is held for 2 s inside
# PostgreSQL, the other requests of the same worker are answered.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

# one worker, so that the held request and the others share its loop
my $t = GovSvc::Test->new(redis => 1, workers => 1,
    server_extra => 'location = /bench/sleep { govsvc_bench_sleep; }');
$t->start;
$t->psql(GovSvc::Test::slurp("$ENV{GOVSVC_ROOT}/sql/demo.sql"));

my $held = $t->async_req(GET => '/bench/sleep?s=2');
sleep 0.2;

my ($worst, $n) = (0, 0);
my $t0 = time;
while (time - $t0 < 1.2) {
    for my $path ('/api/v1/regions/430102', '/healthz',
                  '/api/v1/calendar?year=2026')
    {
        my $s = time;
        my $r = $t->req(GET => $path);
        my $d = time - $s;
        $worst = $d if $d > $worst;
        $n++;
        is($r->{status}, 200, "$path answered") if $r->{status} != 200;
    }
}
my $others_done = time;

my ($r, $elapsed) = $held->wait;
is($r->{status}, 200, 'the held request finished');
cmp_ok($elapsed, '>=', 1.9, 'it was held for 2 s');
ok($others_done < $t0 - 0.2 + $elapsed, 'the others finished first');
cmp_ok($n, '>', 20, "$n other requests answered meanwhile");
cmp_ok($worst, '<', 0.5, sprintf('slowest of them %.0f ms', $worst * 1000));

# many held at once: more than the pool has connections
my @held = map { $t->async_req(GET => '/bench/sleep?s=1') } 1 .. 4;
sleep 0.2;
my $s = time;
is($t->req(GET => '/healthz')->{status}, 200, 'healthz while 4 are held');
cmp_ok(time - $s, '<', 0.9, 'not queued behind the held ones');
is(($_->wait)[0]{status}, 200, 'held request done') for @held;

$t->stop;
done_testing;
