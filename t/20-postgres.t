# Reads and a multi-statement write through the asynchronous PostgreSQL
# driver; PostgreSQL stopped and started under the running nginx.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(redis => 0);
$t->start;
$t->psql(GovSvc::Test::slurp("$ENV{GOVSVC_ROOT}/sql/demo.sql"));

# regions: a list with a cursor, and one by code
my $r = $t->req(GET => '/api/v1/regions?limit=2');
is($r->{status}, 200, 'regions list');
is(scalar @{ $r->{json}{items} }, 2, 'limit respected');
is($r->{json}{items}[0]{code}, '430000', 'ordered by code');
is($r->{json}{next_cursor}, '430100', 'cursor is the last code shown');

$r = $t->req(GET => '/api/v1/regions?limit=500&cursor=430100');
is($r->{json}{items}[0]{code}, '430102', 'cursor continues after itself');
is($r->{json}{next_cursor}, undef, 'last page has no cursor');

$r = $t->req(GET => '/api/v1/regions/430102');
is($r->{status}, 200, 'one region');
is($r->{json}{name}, '芙蓉区', 'UTF-8 name intact');
is($r->{json}{parent}, '430100', 'parent');

is($t->req(GET => '/api/v1/regions/999999')->{status}, 404,
   'unknown region: 404');
is($t->req(GET => "/api/v1/regions/x'%20OR%20'1'='1")->{status}, 404,
   'SQL in the path is a value, nothing more');
is($t->req(GET => '/api/v1/regions?limit=0')->{status}, 400, 'limit 0');

# the calendar
$r = $t->req(GET => '/api/v1/calendar?year=2026');
is($r->{status}, 200, 'calendar');
my %days = map { $_->{date} => $_->{kind} } @{ $r->{json}{days} };
is($days{'2026-10-01'}, 'holiday', 'national day is a holiday');
is($days{'2026-10-10'}, 'workday', 'its Saturday is a working day');
is($t->req(GET => '/api/v1/calendar?year=26')->{status}, 422, 'bad year');

# a consultation: the question and its outbox event, one transaction
my $dept = $t->psql("SELECT min(id) FROM departments");
$r = $t->req(POST => '/api/v1/public/consultations',
             json => { title => '食品经营许可', content => '需要哪些材料？',
                       department => $dept + 0,
                       asker => { name => '张三', phone => '13800000000' } });
is($r->{status}, 201, 'consultation created');
like($r->{json}{code} // '', qr/^[A-Z2-9]{12}$/, 'asker code handed out');
like($r->{json}{reply_due} // '', qr/^\d{4}-\d\d-\d\d$/, 'reply due date');
my $id = $r->{json}{id};
is($t->psql("SELECT title || '|' || asker_name FROM consultations"
            . " WHERE id = $id"), '食品经营许可|张三', 'row written');
is($t->psql("SELECT count(*) FROM outbox WHERE type ="
            . " 'consultation.created' AND data->>'id' = '$id'"), '1',
   'outbox event written with it');
isnt($t->psql("SELECT code_hash FROM consultations WHERE id = $id"),
     $r->{json}{code}, 'only a hash of the code is kept');

$r = $t->req(POST => '/api/v1/public/consultations',
             json => { title => 't', content => 'c', department => 999999 });
is($r->{status}, 422, 'unknown department: 422');
is($r->{json}{error}{field}, 'department', 'names the field');

# atomicity: make the second statement fail; the first must not stay
$t->psql("ALTER TABLE outbox ADD CONSTRAINT t_refuse"
         . " CHECK (type <> 'consultation.created') NOT VALID");
my $before = $t->psql('SELECT count(*) FROM consultations');
$r = $t->req(POST => '/api/v1/public/consultations',
             json => { title => 't', content => 'c' });
is($r->{status}, 500, 'failing transaction: 500');
is($r->{json}{error}{code}, 'internal', 'code internal');
is($t->psql('SELECT count(*) FROM consultations'), $before,
   'the first statement was rolled back');
$t->psql('ALTER TABLE outbox DROP CONSTRAINT t_refuse');
$t->expect_log(qr/t_refuse/);

# the pool still works after the rollback
is($t->req(POST => '/api/v1/public/consultations',
           json => { title => 't', content => 'c' })->{status}, 201,
   'connection reusable after a rolled-back transaction');

# PostgreSQL away: 503 at once, nothing written
$before = $t->psql('SELECT count(*) FROM consultations');
$t->stop_pg;
my $t0 = time;
$r = $t->req(POST => '/api/v1/public/consultations',
             json => { title => 't', content => 'c' });
my $took = time - $t0;
is($r->{status}, 503, 'PostgreSQL away: 503');
is($r->{json}{error}{code}, 'unavailable', 'code unavailable');
cmp_ok($took, '<', 1, 'answered at once');
is($t->req(GET => '/api/v1/regions')->{status}, 503, 'reads too');
$r = $t->req(GET => '/healthz');
is($r->{status}, 503, 'healthz 503');
is($r->{json}{postgres}, 'down', 'healthz says postgres down');

# and back: the pools recover by themselves within 2 seconds
$t->start_pg;
$t0 = time;
my $ok = 0;
while (time - $t0 < 5) {
    # several requests, so that both workers' pools are tried
    $ok = grep { $_->{status} == 200 }
          map { $t->req(GET => '/api/v1/regions/430102') } 1 .. 4;
    last if $ok == 4;
    sleep 0.1;
}
my $recovered = time - $t0;
is($ok, 4, 'PostgreSQL back: requests succeed');
cmp_ok($recovered, '<', 2, "recovered in ${\ sprintf '%.2f', $recovered}s");
is($t->psql('SELECT count(*) FROM consultations'), $before,
   'nothing was written while it was away');
is($t->req(POST => '/api/v1/public/consultations',
           json => { title => 't', content => 'c' })->{status}, 201,
   'writes work again');

# the server closing idle connections (a restart) is noticed, not served
$t->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
         . " WHERE datname = 'govsvc' AND pid <> pg_backend_pid()");
sleep 0.2;
is($t->req(GET => '/api/v1/regions/430102')->{status}, 200,
   'idle connections closed by the server are replaced');

$t->expect_log(qr/PostgreSQL/);
$t->stop;
done_testing;
