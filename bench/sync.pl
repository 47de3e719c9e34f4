#!/usr/bin/perl
# P4 (targets: ../shared/spec/targets.md): the relay county -> city ->
# province, three nodes on loopback (three PostgreSQL, three nginx, one
# development CA), as t/92-sync-nodes.t starts them.
#
#   ceiling  the same events inserted straight into the province's
#            database: govsvc_sync_apply() called in SQL with the batches
#            the county's nginx would send (what the province does with a
#            batch, without the transport and the relay)
#   relay    BENCH_SYNC_EVENTS (20,000) events written at once into the
#            county's outbox, each with a payload about the size of a case
#            snapshot; the rate from the first event's arrival at the
#            province to the last's (and, besides, the time from the
#            county's commit until the province holds them all)
#   lag      a steady stream (200 events/s for 10 s, one transaction each)
#            at the county: per event, the province's received_at minus
#            the event's time at the county
#
# Printed as ratios of this very run; nothing fails on timing.

use strict;
use warnings;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $N = $ENV{BENCH_SYNC_EVENTS} || 20000;
my $BATCH = 500;
my $interval = $ENV{BENCH_SYNC_INTERVAL} || '1s';

my $prov = GovSvc::Test->new(node => '430000', redis => 0, tap => 0);
$prov->start;
my $city = GovSvc::Test->new(node => '430100', redis => 0, tap => 0,
                             ca => $prov->ca_dir, parent => $prov,
                             sync_interval => $interval,
                             http_extra => "govsvc_sync_batch $BATCH;");
$city->start;
my $county = GovSvc::Test->new(node => '430102', redis => 0, tap => 0,
                               ca => $prov->ca_dir, parent => $city,
                               sync_interval => $interval,
                               http_extra => "govsvc_sync_batch $BATCH;");
$county->start;

# a payload of about 1.5 kB, as a case snapshot with a few opinions
my $pad = 'x' x 1400;
sub append_sql {
    my ($n, $commit_each) = @_;
    return <<"SQL";
DO \$\$
BEGIN
    FOR i IN 1..$n LOOP
        PERFORM govsvc_outbox_append('430102', 'bench.event',
            '430102' || to_char(now(), 'YYYYMMDD') || lpad(i::text, 6, '0'),
            jsonb_build_object('i', i, 'pad', '$pad'));
        ${\ ($commit_each ? 'COMMIT; PERFORM pg_sleep(0.005);' : '') }
    END LOOP;
END
\$\$;
SQL
}
sub held {
    my ($node) = @_;
    return $node->psql("SELECT count(*) FROM sync_inbox"
                       . " WHERE origin = '430102' AND type = 'bench.event'");
}
sub wait_for {
    my ($node, $n, $limit) = @_;
    my $until = time + $limit;
    while (time < $until) {
        return time if held($node) >= $n;
        sleep 0.02;
    }
    return undef;
}

# ---- relay ------------------------------------------------------------------

$county->psql('SELECT 1');     # connections warm
my $t0 = time;
$county->psql(append_sql($N, 0));
my $written = time;
my $done = wait_for($prov, $N, 600);
my $base = $county->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");
# the flow itself: from the first event's arrival at the province to the
# last's (the wait for the first round, up to an interval per hop, is the
# lag's part)
my $span = $prov->psql("SELECT extract(epoch FROM max(received_at)"
                       . " - min(received_at)) FROM sync_inbox"
                       . " WHERE origin = '430102'");

# ---- ceiling: the same batches applied straight at a fresh province --------

# the province's database makes the same events itself (untimed), then
# applies them in the batches a child sends, one psql call and one
# transaction each (timed)
my $direct = GovSvc::Test->new(node => '430000', redis => 0, tap => 0,
                               ca => $prov->ca_dir);
$direct->start;
$direct->psql(append_sql($N, 0));
$direct->psql(<<"SQL");
CREATE TABLE bench_batches AS
SELECT b, jsonb_build_object('origin', '430100', 'batch_id', 'b' || b,
           'events', jsonb_agg(jsonb_build_object(
               'origin', origin, 'seq', seq, 'type', type,
               'case_no', case_no, 'at', at, 'data', data,
               'hash', hash) ORDER BY seq)) AS j
FROM (SELECT o.*, (seq - 1) / $BATCH AS b FROM outbox o
      WHERE origin = '430102') x
GROUP BY b
SQL
my $nb = $direct->psql('SELECT count(*) FROM bench_batches');
my $d0 = time;
for my $b (0 .. $nb - 1) {
    $direct->psql("SELECT govsvc_sync_apply('430100', '4301',"
                  . " (SELECT j FROM bench_batches WHERE b = $b))");
}
my $d1 = time;
my $direct_n = held($direct);
$direct->stop;

# ---- steady-state lag -------------------------------------------------------

my $steady = 2000;
$county->psql(append_sql($steady, 1));
wait_for($prov, $N + $steady, 60);
my $lags = $prov->psql(<<"SQL");
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 3)
       || ' ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric,
                       3)
       || ' ' || round(max(l)::numeric, 3)
FROM (SELECT extract(epoch FROM received_at - at) AS l FROM sync_inbox
      WHERE origin = '430102' AND seq > $base) x
SQL
my ($p50, $p99, $max) = split ' ', $lags // '';

# ---- figures ------------------------------------------------------------------

print "P4 (sync relay county -> city -> province, three nodes on loopback,"
    . " batches of $BATCH, interval $interval)\n";
if (!defined $done) {
    print "  relay: the province did not hold all $N events within 600 s\n";
} else {
    my $relay = $N / $span;
    my $ceil = $direct_n / ($d1 - $d0);
    printf "  ceiling: %d events applied straight at the province"
        . "  %8.0f events/s\n", $direct_n, $ceil;
    printf "  relay:   %d events county -> city -> province"
        . "      %8.0f events/s  %5.1f%% of ceiling  (target >= 50%%)\n",
        $N, $relay, 100 * $relay / $ceil;
    printf "  (all of them held at the province %.2f s after the county's"
        . " commit, %.2f s of it before the first arrived; writing them"
        . " took %.2f s)\n", $done - $written, $done - $written - $span,
        $written - $t0;
}
printf "  steady lag at the province, %d events at 200/s: p50 %s s"
    . "  p99 %s s  max %s s  (target < 2 s)\n", $steady,
    $p50 // '?', $p99 // '?', $max // '?';

$county->stop;
$city->stop;
$prov->stop;
