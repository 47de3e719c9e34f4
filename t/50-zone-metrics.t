# The shared zone: the public write limit counted across workers, metrics
# summed over workers, and both kept across a reload.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

my $t = GovSvc::Test->new(redis => 0, workers => 2,
                          public_write_limit => '3 1m');
$t->start;

my @codes;
for (1 .. 5) {
    # a new connection each time: requests spread over both workers
    my $r = $t->req(POST => '/api/v1/public/consultations',
                    json => { title => "q$_", content => 'c' },
                    headers => { Connection => 'close' });
    push @codes, $r->{status};
    if ($r->{status} == 429) {
        is($r->{json}{error}{code}, 'rate_limited', 'code rate_limited');
        like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After');
        cmp_ok($r->{headers}{'retry-after'}, '<=', 60, 'within the window');
    }
}
is("@codes", '201 201 201 429 429', 'three per window, then 429');
is($t->psql('SELECT count(*) FROM consultations'), '3',
   'refused writes wrote nothing');

# metrics: requests by route and status, latency, pool use
my $m = $t->req(GET => '/metrics');
is($m->{status}, 200, 'metrics');
like($m->{headers}{'content-type'}, qr{^text/plain}, 'Prometheus text');
like($m->{body},
     qr/^govsvc_requests_total\{route="public_consultations_create",status="201"\} 3$/m,
     'created requests counted, over both workers');
like($m->{body},
     qr/^govsvc_requests_total\{route="public_consultations_create",status="429"\} 2$/m,
     'refused requests counted');
like($m->{body}, qr/^govsvc_request_duration_seconds_count \d+$/m,
     'latency histogram');
like($m->{body}, qr/^govsvc_pg_connections\{state="idle"\} [1-9]/m,
     'idle pooled connections');
like($m->{body}, qr/^govsvc_rate_limited_total 2$/m, 'rate limited count');

# a reload keeps the zone: the window goes on, the counters too
$t->reload;
my $r = $t->req(POST => '/api/v1/public/consultations',
                json => { title => 'q', content => 'c' });
is($r->{status}, 429, 'still limited after a reload');
like($t->req(GET => '/metrics')->{body},
     qr/^govsvc_requests_total\{route="public_consultations_create",status="201"\} 3$/m,
     'metrics survive a reload');

$t->stop;
done_testing;
