# Password sign-in, sessions by bearer token and by cookie, CSRF, logout,
# idle and absolute timeouts, failure limits, and no user enumeration.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 1,
    http_extra => 'govsvc_session_idle 3s; govsvc_session_lifetime 6s;'
                . ' govsvc_login_limit 4 1m;');
$t->start;

my $pw = 'correct horse battery';
my $id = $t->create_user(username => 'clerk1', name => '张窗口',
                         roles => ['clerk'], password => $pw);

sub login { $t->req(POST => '/api/v1/sessions', tls => 1, @_) }

# sign in
my $r = login(json => { username => 'clerk1', password => $pw });
is($r->{status}, 201, 'signed in');
like($r->{json}{token}, qr/^[A-Za-z0-9_-]{43}$/, '256-bit token, base64url');
like($r->{json}{csrf_token}, qr/^[A-Za-z0-9_-]{43}$/, 'CSRF token');
like($r->{json}{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/,
     'expires_at with offset');
is($r->{json}{user}{username}, 'clerk1', 'user in the answer');
is_deeply($r->{json}{user}{roles}, ['clerk'], 'roles');
my $cookie = $r->{headers}{'set-cookie'} // '';
like($cookie, qr/^govsvc_session=\Q$r->{json}{token}\E;/, 'cookie set');
like($cookie, qr/HttpOnly/, 'HttpOnly');
like($cookie, qr/Secure/, 'Secure');
like($cookie, qr/SameSite=Strict/, 'SameSite=Strict');
my ($token, $csrf) = @{ $r->{json} }{qw(token csrf_token)};

is($t->psql("SELECT count(*) FROM sessions WHERE token_hash ="
            . " encode(sha256('$token'), 'hex')"), '1',
   'only the hash of the token is stored');
is($t->psql("SELECT count(*) FROM sessions WHERE token_hash = '$token'"),
   '0', 'the token itself is not');

# bearer and cookie
$r = $t->req(GET => '/api/v1/me', tls => 1,
             headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'bearer token works');
is($r->{json}{name}, '张窗口', 'me: name');
is($r->{json}{region}, '430102', 'me: region');
ok($r->{json}{department}{id}, 'me: department');

my %c = (Cookie => "govsvc_session=$token");
is($t->req(GET => '/api/v1/me', tls => 1, headers => \%c)->{status}, 200,
   'cookie works');
is($t->req(GET => '/api/v1/me', tls => 1)->{status}, 401, 'none: 401');
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => { Authorization => 'Bearer ' . ('x' x 43) })
       ->{json}{error}{code}, 'unauthenticated', 'a made-up token: 401');

# CSRF: a cookie on an unsafe method needs the header
$r = $t->req(DELETE => '/api/v1/sessions/current', tls => 1,
             headers => \%c);
is($r->{status}, 403, 'cookie without X-CSRF-Token: 403');
is($r->{json}{error}{code}, 'csrf_failed', 'csrf_failed');
$r = $t->req(DELETE => '/api/v1/sessions/current', tls => 1,
             headers => { %c, 'X-CSRF-Token' => 'x' x 43 });
is($r->{json}{error}{code}, 'csrf_failed', 'a wrong CSRF token: 403');

# logout (cookie and the right CSRF token), then the token is dead
$r = $t->req(DELETE => '/api/v1/sessions/current', tls => 1,
             headers => { %c, 'X-CSRF-Token' => $csrf });
is($r->{status}, 204, 'logout');
like($r->{headers}{'set-cookie'} // '', qr/Max-Age=0/, 'cookie cleared');
for (1 .. 4) {
    is($t->req(GET => '/api/v1/me', tls => 1,
               headers => { Authorization => "Bearer $token" })->{status},
       401, "token dead after logout (request $_)");
}

# a bearer token needs no CSRF token
my $s = $t->login('clerk1', $pw);
is($t->req(DELETE => '/api/v1/sessions/current', tls => 1,
           headers => $t->auth($s->{token}))->{status}, 204,
   'bearer logout without CSRF token');

# idle timeout (3 s) and absolute lifetime (6 s)
$s = $t->login('clerk1', $pw);
sleep 3.5;
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => $t->auth($s->{token}))->{status}, 401,
   'idle for longer than govsvc_session_idle: 401');

$s = $t->login('clerk1', $pw);
my $start = time;
my $alive = 1;
while (time - $start < 5) {
    $alive &&= $t->req(GET => '/api/v1/me', tls => 1,
                       headers => $t->auth($s->{token}))->{status} == 200;
    sleep 1;
}
ok($alive, 'activity keeps a session past the idle time');
sleep(6.5 - (time - $start)) if time - $start < 6.5;
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => $t->auth($s->{token}))->{status}, 401,
   'past govsvc_session_lifetime: 401 even when active');

# failures: the same answer, and the same cost, whether or not the user
# exists
my $t0 = time;
my $bad = login(json => { username => 'clerk1', password => 'wrong one!' });
my $known = time - $t0;
$t0 = time;
my $none = login(json => { username => 'nobody', password => 'wrong one!' });
my $unknown = time - $t0;
is($bad->{status}, 401, 'wrong password: 401');
is($bad->{json}{error}{code}, 'bad_credentials', 'bad_credentials');
is($none->{body}, $bad->{body}, 'unknown user: the very same answer');
cmp_ok($unknown, '>', 0.5 * $known,
       sprintf('an unknown user costs the same hashing (%.2fs vs %.2fs)',
               $unknown, $known));

# the limit (4 failures per window, per username and per address): then
# 429, even with the right password
login(json => { username => 'clerk1', password => 'wrong two!' });
login(json => { username => 'clerk1', password => 'wrong three' });
$r = login(json => { username => 'clerk1', password => $pw });
is($r->{status}, 429, 'too many failures: 429');
is($r->{json}{error}{code}, 'rate_limited', 'rate_limited');
like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After');
is(login(json => { username => 'someone', password => 'whatever!' })
       ->{status}, 429, 'the address is limited too');

is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'login_failed'"
            . " AND object = 'user:nobody'"), '1',
   'failed sign-ins are audited');

# PostgreSQL away: authenticated routes answer 503 at once
$t->stop_pg;
$r = $t->req(GET => '/api/v1/me', tls => 1,
             headers => $t->auth('y' x 43));
is($r->{status}, 503, 'PostgreSQL away: 503 on a protected route');
$t->start_pg;

$t->stop;
done_testing;
