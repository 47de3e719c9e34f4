# Worker 0 purges ended sessions and old Idempotency-Keys, and keeps the
# rest.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_purge_interval 1s;');
$t->start;

my $pw = 'a good password';
my $uid = $t->create_user(username => 'clerk', name => '张窗口',
                          roles => ['clerk'], password => $pw);
my $live = $t->login('clerk', $pw)->{token};

$t->psql(<<"SQL");
INSERT INTO sessions (token_hash, csrf_hash, user_id, address, expires_at,
                      revoked_at)
VALUES (repeat('a', 64), repeat('b', 64), $uid, '-', now() - interval '2 days',
        NULL),
       (repeat('c', 64), repeat('d', 64), $uid, '-', now() + interval '1 hour',
        now() - interval '2 days'),
       (repeat('e', 64), repeat('f', 64), $uid, '-', now() + interval '1 hour',
        now() - interval '1 hour');
INSERT INTO idempotency_keys (user_id, key, body_sha256, status, answer,
                              created_at)
VALUES ($uid, 'old', repeat('0', 64), 201, '{}', now() - interval '25 hours'),
       ($uid, 'new', repeat('0', 64), 201, '{}', now());
SQL

my $t0 = time;
my $left;
while (time - $t0 < 5) {
    $left = $t->psql("SELECT count(*) FROM sessions WHERE token_hash IN"
                     . " (repeat('a', 64), repeat('c', 64))");
    last if $left eq '0';
    sleep 0.2;
}
is($left, '0', 'sessions ended a day ago are purged');
is($t->psql("SELECT count(*) FROM sessions WHERE token_hash ="
            . " repeat('e', 64)"), '1', 'one ended an hour ago is kept');
is($t->psql("SELECT string_agg(key, ',') FROM idempotency_keys"), 'new',
   'only keys within their 24 hours are kept');
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => $t->auth($live))->{status}, 200,
   'a live session goes on');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'login'"), '1',
   'the audit log keeps the sign-in');

$t->stop;
done_testing;
