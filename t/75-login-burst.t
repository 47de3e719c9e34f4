# Password hashing runs in a thread pool: while a burst of sign-ins is
# hashing, the same worker goes on answering other requests.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0, workers => 1,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $pw = 'a long enough password';
$t->create_user(username => "u$_", name => "用户$_", roles => ['clerk'],
                password => $pw) for 1 .. 8;

my $t0 = time;
my @logins = map {
    $t->async_req(POST => '/api/v1/sessions', tls => 1,
                  json => { username => "u$_", password => $pw })
} 1 .. 8;
sleep 0.1;

my ($n, $worst) = (0, 0);
while (time - $t0 < 1.5) {
    my $s = time;
    my $r = $t->req(GET => '/healthz');
    my $d = time - $s;
    $worst = $d if $d > $worst;
    $n++;
    is($r->{status}, 200, 'healthz answered') if $r->{status} != 200;
}

my $last = 0;
for my $h (@logins) {
    my ($r, $elapsed) = $h->wait;
    is($r->{status}, 201, 'sign-in done');
    $last = $elapsed if $elapsed > $last;
}

cmp_ok($last, '>', 0.6,
       sprintf('the burst took %.2fs of hashing', $last));
cmp_ok($n, '>=', 10, "$n other requests answered meanwhile");
cmp_ok($worst, '<', 0.5,
       sprintf('the slowest of them took %.0f ms', $worst * 1000));

$t->stop;
done_testing;
