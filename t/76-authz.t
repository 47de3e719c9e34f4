# Authorization, deny by default: every role (and no session) against
# every endpoint that exists so far.  Later issues add their rows.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my @roles = qw(clerk handler reviewer approver supervisor admin);
my $pw = 'role password 1';
my (%token, %uid);
for my $role (@roles) {
    $uid{$role} = $t->create_user(username => "r_$role", name => $role,
                                  roles => [$role], password => $pw);
    $token{$role} = $t->login("r_$role", $pw)->{token};
}
my $dept = $t->psql('SELECT min(id) FROM departments');
my $pem = GovSvc::Test::slurp($t->ca_dir . '/users/supervisor.crt');
# the user the rows act on, so that no signed-in user is changed
my $other = $t->create_user(username => 'target', name => 'target',
                            roles => ['clerk'], password => $pw);

# who may: 'all' (public), 'any' (any signed-in user), or a role list;
# expectations are about access only: a permitted request may still be
# refused on its merits (404, 409, 422), never with 401 or 403
my @table = (
    [GET    => '/api/v1/regions',                   'all'],
    [GET    => '/api/v1/regions/430102',            'all'],
    [GET    => '/api/v1/calendar?year=2026',        'all'],
    [PUT    => '/api/v1/calendar/2026-12-31',       'admin',
        { kind => 'holiday', name => 'x' }],
    [DELETE => '/api/v1/calendar/2026-12-30',       'admin'],
    [POST   => '/api/v1/public/consultations',      'all',
        { title => 't', content => 'c' }],
    [GET    => '/api/v1/me',                        'any'],
    [GET    => '/api/v1/departments',               'admin'],
    [POST   => '/api/v1/departments',               'admin',
        { name => 'dept-ROLE', region => '430102' }],
    [GET    => "/api/v1/departments/$dept",         'admin'],
    [PUT    => "/api/v1/departments/$dept",         'admin',
        { name => '芙蓉区行政审批服务局' }],
    [GET    => '/api/v1/users',                     'admin'],
    [POST   => '/api/v1/users',                     'admin',
        { username => 'new_ROLE', name => 'n', department => $dept + 0,
          roles => ['clerk'], password => 'a fine password' }],
    [GET    => "/api/v1/users/$other",              'admin'],
    [PUT    => "/api/v1/users/$other",              'admin',
        { name => 'target' }],
    # someone else's password: admin only (a user may change its own)
    [POST   => "/api/v1/users/$other/password",     'admin',
        { password => 'another password' }],
    [POST   => "/api/v1/users/$other/certificates", 'admin',
        \$pem],
    [POST   => '/api/v1/cases',                     'clerk',
        { item_code => 'NONE' }],
    [GET    => '/api/v1/cases/43010220260101000001',
        'clerk,handler,reviewer,approver,supervisor'],
    [PATCH  => '/api/v1/cases/43010220260101000001', 'clerk',
        { version => 1 }],
    [POST   => '/api/v1/cases/43010220260101000001/actions',
        'clerk,handler,reviewer,approver,supervisor',
        { action => 'accept', version => 1 }],
    [POST   => '/api/v1/cases/43010220260101000001/notices',
        'clerk,handler,reviewer,approver,supervisor',
        { kind => 'acceptance' }],
    [GET    => '/api/v1/notices/430102-SL-2026-999999',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/public/notices/430102-SL-2026-999999/verify?sha256='
               . ('0' x 64),                         'all'],
    [PUT    => '/api/v1/cases/43010220260101000001/materials/M1/files',
        'clerk'],
    [GET    => '/api/v1/files/999999',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/cases?state=draft',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/worklist?box=todo',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/worklist?box=done',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/abnormal',                  'clerk,supervisor'],
    [GET    => '/api/v1/consultations',
        'clerk,handler,reviewer,approver,supervisor'],
    [GET    => '/api/v1/consultations/999999',
        'clerk,handler,reviewer,approver,supervisor'],
    [POST   => '/api/v1/consultations/999999/reply',
        'clerk,handler,reviewer,approver,supervisor',
        { content => 'c', replier => 1, visibility => 'public' }],
    [GET    => '/api/v1/public/consultations',      'all'],
    [GET    => '/api/v1/public/consultations/999999?code=ABCDEFGHJKLM',
        'all'],
    # a failed query counts against govsvc_public_query_limit (10 a
    # minute): these 7 stay below it
    [GET    => '/api/v1/public/cases/43010220260101000001?password=ABCDEFGH',
        'all'],
    # no password: 422 before any check, so nothing is counted
    [POST   => '/api/v1/public/cases/43010220260101000001/evaluation',
        'all', { score => 5, channel => 'web' }],
    [GET    => '/api/v1/rectifications',
        'clerk,handler,reviewer,approver,supervisor'],
    [POST   => '/api/v1/rectifications/999999/response',
        'clerk,handler,reviewer,approver,supervisor', { content => 'c' }],
    [GET    => '/api/v1/supervision/warnings',      'supervisor'],
    [GET    => '/api/v1/supervision/stats',         'supervisor'],
    [POST   => '/api/v1/supervision/cases/43010220260101000001/cards',
        'supervisor', { color => 'yellow', reason => 'x' }],
    [POST   => '/api/v1/supervision/cards/999999/revoke', 'supervisor',
        { reason => 'x' }],
    [GET    => '/api/v1/cards',
        'clerk,handler,reviewer,approver,supervisor'],
    [POST   => '/api/v1/cards/999999/response',
        'clerk,handler,reviewer,approver,supervisor', { content => 'x' }],
    [GET    => '/api/v1/items',                     'all'],
    [GET    => '/api/v1/items/NONE',                'all'],
    [DELETE => "/api/v1/users/$other/certificates/" . ('0' x 64), 'admin'],
    [POST   => '/api/v1/sessions',                  'all',
        { username => 'r_ROLE', password => 'not the password' }],
    [POST   => '/api/v1/sessions/cert',             'all'],
    # last: it ends each role's session
    [DELETE => '/api/v1/sessions/current',          'any'],
);

for my $row (@table) {
    my ($method, $path, $who, $body) = @$row;
    for my $role (undef, @roles) {
        my $name = $role // 'anonymous';
        my %o = (tls => 1);
        if (ref $body eq 'SCALAR') {
            %o = (%o, body => $$body,
                  headers => { 'Content-Type' => 'application/x-pem-file' });
        } elsif (defined $body) {
            my $json = JSON::PP->new->canonical->encode($body);
            $json =~ s/ROLE/$name/g;
            %o = (%o, body => $json,
                  headers => { 'Content-Type' => 'application/json' });
        }
        $o{headers}{Authorization} = "Bearer $token{$role}" if $role;
        my $r = $t->req($method => $path, %o);

        my $expect = $who eq 'all' ? 'ok'
                   : !$role        ? 401
                   : $who eq 'any' ? 'ok'
                   : (grep { $_ eq $role } split /,/, $who) ? 'ok' : 403;

        # refused for access: 401 unauthenticated or 403 forbidden; a
        # sign-in route's own 401 (bad_credentials) is an answer on merits
        my $code = $r->{json} && $r->{json}{error} ? $r->{json}{error}{code}
                                                  : '';
        if ($expect eq 'ok') {
            ok($code ne 'unauthenticated' && $code ne 'forbidden',
               "$method $path as $name: allowed ($r->{status} $code)");
        } else {
            is("$r->{status} $code",
               $expect == 401 ? '401 unauthenticated' : '403 forbidden',
               "$method $path as $name: $expect");
        }
    }
}

# a user may change its own password, with the old one
$token{$_} = $t->login("r_$_", $pw)->{token} for qw(clerk handler);
my $r = $t->req(POST => "/api/v1/users/$uid{clerk}/password", tls => 1,
    json => { old_password => $pw, password => 'my new password' },
    headers => $t->auth($token{clerk}));
ok($r->{status} == 200 || $r->{status} == 204, 'own password changed');
$r = $t->req(POST => "/api/v1/users/$uid{handler}/password", tls => 1,
    json => { old_password => 'nope nope', password => 'my new password' },
    headers => $t->auth($token{handler}));
is($r->{status}, 403, 'own password, wrong old one: 403');

$t->stop;
done_testing;
