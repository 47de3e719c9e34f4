# Redis as a cache that may vanish: reads go on from PostgreSQL while it is
# away, /healthz says degraded, and it is used again when it returns.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(redis => 1);
$t->start;
$t->psql(GovSvc::Test::slurp("$ENV{GOVSVC_ROOT}/sql/demo.sql"));

sub metric {
    my ($name) = @_;
    my $m = $t->req(GET => '/metrics')->{body};
    return $m =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

my $r = $t->req(GET => '/healthz');
is($r->{status}, 200, 'healthz');
is_deeply($r->{json}, { status => 'ok', postgres => 'ok', redis => 'ok' },
          'all ok');

# a miss fills the cache; the next read is a hit and needs no PostgreSQL
my $misses = metric('govsvc_cache_misses_total');
$r = $t->req(GET => '/api/v1/calendar?year=2026');
is($r->{status}, 200, 'calendar read');
my $first = $r->{body};
is(metric('govsvc_cache_misses_total'), $misses + 1, 'first read misses');
like($t->redis_cli('PTTL', 'govsvc:calendar:2026'), qr/^\d+$/,
     'cached with a TTL');

# prove the hit is served from Redis: change the row behind its back
$t->psql("UPDATE calendar_days SET name = 'changed' WHERE day = '2026-10-01'");
my $hits = metric('govsvc_cache_hits_total');
$r = $t->req(GET => '/api/v1/calendar?year=2026');
is($r->{body}, $first, 'second read is the cached answer');
is(metric('govsvc_cache_hits_total'), $hits + 1, 'counted as a hit');

# Redis away: reads still answered, from PostgreSQL, quickly
$t->stop_redis;
my $t0 = time;
$r = $t->req(GET => '/api/v1/calendar?year=2026');
is($r->{status}, 200, 'Redis away: still 200');
like($r->{body}, qr/changed/, 'answered from PostgreSQL');
cmp_ok(time - $t0, '<', 1.5, 'without waiting long on Redis');

for (1 .. 20) {
    is($t->req(GET => '/api/v1/calendar?year=2026')->{status}, 200,
       "read $_ while Redis is away") or last;
}

$r = $t->req(GET => '/healthz');
is($r->{status}, 200, 'healthz still 200');
is($r->{json}{status}, 'degraded', 'status degraded');
is($r->{json}{redis}, 'down', 'redis down');
is($r->{json}{postgres}, 'ok', 'postgres ok');

# Redis back (empty): used again without a restart
$t->start_redis;
$t0 = time;
my $ok = 0;
while (time - $t0 < 5) {
    $ok = grep { ($_->{json}{redis} // '') eq 'ok' }
          map { $t->req(GET => '/healthz') } 1 .. 4;
    last if $ok == 4;
    sleep 0.1;
}
is($ok, 4, 'healthz ok again on every worker tried');
cmp_ok(time - $t0, '<', 3, 'within a few seconds');

$t->req(GET => '/api/v1/calendar?year=2026') for 1 .. 4;
ok($t->eventually(sub {
       $t->redis_cli('GET', 'govsvc:calendar:2026') =~ /changed/ }),
   'the cache is filled again, with current data');

$t->stop;
done_testing;
