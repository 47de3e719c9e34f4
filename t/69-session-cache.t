# govsvc_session_cache: a worker answers a session it checked lately
# without PostgreSQL, forgets it the moment PostgreSQL says it changed
# (sql/0025's triggers, LISTEN govsvc_auth), never keeps it past ttl or
# the session's expiry, and caches nothing while it cannot listen.  That
# an answer came from the cache is shown by changing the database behind
# the triggers' back (session_replication_role = replica fires none).
# A logout on another worker or instance reaches this one with
# PostgreSQL's notification: in a millisecond on an idle machine, later on
# a starved one (t/74's strict checks are those of the default, no cache).

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, workers => 1, instances => 2,
                          http_extra => 'govsvc_session_cache 3 ttl=3s;');
$t->start;

my $PW = 'a good password';
my $uid = $t->create_user(username => 'clerk.one', name => '张窗口',
                          roles => ['clerk'], password => $PW);

sub me { $t->req(GET => '/api/v1/me', tls => 1, headers => $t->auth($_[0])) }
sub hash_of {
    return $t->psql("SELECT encode(sha256(convert_to(:'t', 'UTF8')), 'hex')",
                    t => $_[0]{token});
}
# an UPDATE no trigger hears
sub quietly {
    my ($sql, %v) = @_;
    $t->psql("SET session_replication_role = replica; $sql", %v);
}
sub listener {
    $t->psql("SELECT count(*) FROM pg_stat_activity"
             . " WHERE query = 'LISTEN govsvc_auth'");
}

ok($t->eventually(sub { listener() == 2 }, 10),
   'the worker of each instance listens on govsvc_auth');

# ---- an answer from the cache, and its ttl ------------------------------------

my $s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'checked in PostgreSQL');
my $at = time;
quietly("UPDATE sessions SET revoked_at = now() WHERE token_hash = :'h'",
        h => hash_of($s));
is(me($s)->{status}, 200, 'revoked behind the cache\'s back: still cached');
my $gone;
while (time - $at < 8) {
    $gone = me($s)->{status} == 401 and last;
    sleep 0.2;
}
ok($gone, 'but not past ttl');
cmp_ok(time - $at, '>=', 2.5, sprintf('after ttl (%.1f s)', time - $at));

# ---- a logout on the other instance ------------------------------------------------

my @took;
for (1 .. 10) {
    my $x = $t->login('clerk.one', $PW);
    me($x);
    my $t0 = time;
    $t->req(DELETE => '/api/v1/sessions/current', tls => 1, instance => 2,
            headers => $t->auth($x));
    1 until me($x)->{status} == 401 || time - $t0 > 2;
    push @took, time - $t0;
}
ok(!grep({ $_ > 2 } @took), 'a logout on instance 2 reaches instance 1');
note(sprintf 'from the logout\'s request to a 401 on the other: max %.1f ms',
     1000 * (sort { $b <=> $a } @took)[0]);

# ---- what PostgreSQL says, heard at once -------------------------------------------

$s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'a new session, cached');
$t->psql("UPDATE sessions SET revoked_at = now() WHERE token_hash = :'h'",
         h => hash_of($s));
is(me($s)->{status}, 401, 'revoked in SQL: 401 at once');

$s = $t->login('clerk.one', $PW);
is_deeply(me($s)->{json}{roles}, ['clerk'], 'cached with its roles');
$t->psql("UPDATE users SET roles = '{clerk,handler}' WHERE id = :'id'",
         id => $uid);
is_deeply(me($s)->{json}{roles}, ['clerk', 'handler'],
          'roles changed: the next request has them');
my $dept = $t->default_department;
$t->psql("UPDATE departments SET name = '新名字' WHERE id = :'d'", d => $dept);
is(me($s)->{json}{department}{name}, '新名字',
   'a department renamed: the next request has it');
$t->psql("UPDATE users SET active = false WHERE id = :'id'", id => $uid);
is(me($s)->{status}, 401, 'the user disabled: 401 at once');
$t->psql("UPDATE users SET active = true WHERE id = :'id'", id => $uid);

# the session's own end, within ttl
$s = $t->login('clerk.one', $PW);
$t->psql("UPDATE sessions SET expires_at = now() + interval '1 second'"
         . " WHERE token_hash = :'h'", h => hash_of($s));
is(me($s)->{status}, 200, 'a session about to expire, cached');
sleep 1.5;
is(me($s)->{status}, 401, 'expired: 401, though ttl has not passed');

# ---- the CSRF check and the roles of a route still apply -------------------

$s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'cached');
is($t->req(POST => '/api/v1/cases', tls => 1,
           headers => $t->cookie_auth($s, csrf => 0), json => {})->{status},
   403, 'a cookie without X-CSRF-Token: 403');
is($t->req(GET => '/api/v1/users', tls => 1,
           headers => $t->auth($s))->{status},
   403, 'a route of other roles: 403');

# ---- more sessions than it keeps -----------------------------------------------

my @s = map { $t->login('clerk.one', $PW) } 1 .. 5;
is_deeply([ map { me($_)->{status} } @s, @s ], [ (200) x 10 ],
          'five sessions in a cache of three: each still answers');

# ---- not listening: nothing cached ------------------------------------------------

$s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'cached');
$t->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
         . " WHERE query = 'LISTEN govsvc_auth'");
quietly("UPDATE sessions SET revoked_at = now() WHERE token_hash = :'h'",
        h => hash_of($s));
is(me($s)->{status}, 401, 'the listener lost: the cache emptied at once');
$t->expect_log(qr/the session cache cannot listen to PostgreSQL/);
ok($t->eventually(sub { listener() == 2 }, 10), 'and it listens again');
$s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'cached');
quietly("UPDATE sessions SET revoked_at = now() WHERE token_hash = :'h'",
        h => hash_of($s));
is(me($s)->{status}, 200, 'cached again once listening');

# PostgreSQL away: nothing cached answers; back: the cache again
$s = $t->login('clerk.one', $PW);
is(me($s)->{status}, 200, 'cached');
$t->stop_pg;
is(me($s)->{status}, 503, 'PostgreSQL away: 503, not the cache');
$t->expect_log(qr/PostgreSQL/);
$t->start_pg;
ok($t->eventually(sub { me($s)->{status} == 200 }, 15),
   'PostgreSQL back: 200');
ok($t->eventually(sub { listener() == 2 }, 15), 'listening again');

$t->stop;
done_testing;
