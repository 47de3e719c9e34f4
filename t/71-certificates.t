# Certificate sign-in (证书登录): bound, unbound, revoked, and unbound
# while signed in.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0);
$t->start;

my $id = $t->create_user(username => 'handler1', name => '李承办',
                         roles => ['handler'], password => 'a long password');
$t->bind_cert($id, 'handler');

my $r = $t->req(POST => '/api/v1/sessions/cert', tls => 1);
is($r->{status}, 401, 'no certificate: 401');
is($r->{json}{error}{code}, 'certificate_required', 'certificate_required');

$r = $t->req(POST => '/api/v1/sessions/cert', tls => 1, cert => 'handler');
is($r->{status}, 201, 'bound certificate: signed in');
is($r->{json}{user}{username}, 'handler1', 'as the user it is bound to');
my $token = $r->{json}{token};
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => $t->auth($token))->{json}{name}, '李承办',
   'the session works');

$r = $t->req(POST => '/api/v1/sessions/cert', tls => 1, cert => 'reviewer');
is($r->{status}, 401, 'unbound certificate: 401');
is($r->{json}{error}{code}, 'certificate_unknown', 'certificate_unknown');

# unbinding ends the sessions opened with it, at once
$t->psql("DELETE FROM user_certificates WHERE user_id = $id");
is($t->req(GET => '/api/v1/me', tls => 1,
           headers => $t->auth($token))->{status}, 401,
   'unbound while signed in: the session ends');

# a revoked certificate never gets a session, bound or not
$t->bind_cert($id, 'handler');
my $mark = $t->psql('SELECT clock_timestamp()');
$t->revoke('handler');
$r = $t->req(POST => '/api/v1/sessions/cert', tls => 1, cert => 'handler');
is($r->{status}, 401, 'revoked certificate: 401');
is($r->{json}{error}{code}, 'certificate_unknown', 'certificate_unknown');
is($t->psql("SELECT count(*) FROM sessions WHERE user_id = $id"
            . " AND revoked_at IS NULL AND cert_sha256 IS NOT NULL"
            . " AND created_at > '$mark'"), '0',
   'no session was opened');

$t->stop;
done_testing;
