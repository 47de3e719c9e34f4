# Administration (role admin): departments, users, passwords, client
# certificates and the working-day calendar; every change writes its audit
# entry, disabling a user or unbinding a certificate ends sessions at once,
# and a calendar change drops the cached year.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 1);
$t->start;

my $dept = $t->default_department;

my $admin_id = $t->create_user(username => 'admin1', name => '管理员',
                               roles => ['admin'],
                               password => 'admin password 1');
my $clerk_id = $t->create_user(username => 'clerk1', name => '张受理',
                               roles => ['clerk'],
                               password => 'clerk password 1');
my $A = $t->auth($t->login('admin1', 'admin password 1'));
my $C = $t->auth($t->login('clerk1', 'clerk password 1'));

sub call {
    my ($method, $path, $auth, %o) = @_;
    return $t->req($method => $path, tls => 1,
                   headers => { %{ $auth // {} }, %{ $o{headers} // {} } },
                   map { exists $o{$_} ? ($_ => $o{$_}) : () }
                       qw(json body));
}

sub invalid {
    my ($r, $field, $what) = @_;
    is($r->{status}, 422, "$what: 422");
    is($r->{json}{error}{code}, 'validation_failed', "$what: code");
    is($r->{json}{error}{field}, $field, "$what: field $field");
}

sub audit_count {
    my ($action, $object) = @_;
    return $t->psql("SELECT count(*) FROM audit_log WHERE action = '$action'"
                    . ($object ? " AND object = '$object'" : ''));
}

# ---- who may

is(call(GET => '/api/v1/departments')->{status}, 401, 'no token: 401');
is(call(GET => '/api/v1/departments', undef)->{json}{error}{code},
   'unauthenticated', 'no token: unauthenticated');
my $r = call(GET => '/api/v1/departments', $C);
is($r->{status}, 403, 'clerk: 403');
is($r->{json}{error}{code}, 'forbidden', 'clerk: forbidden');
is(call(POST => '/api/v1/users', $C, json => { username => 'x' })->{status},
   403, 'clerk cannot create users');
is(call(PUT => '/api/v1/calendar/2026-12-31', $C,
        json => { kind => 'holiday' })->{status}, 403,
   'clerk cannot change the calendar');

# ---- departments

$r = call(GET => '/api/v1/departments', $A);
is($r->{status}, 200, 'departments list');
ok(@{ $r->{json}{items} } >= 3, 'demo departments listed');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor},
   'one page: next_cursor null');

$r = call(GET => '/api/v1/departments?limit=2', $A);
is(scalar @{ $r->{json}{items} }, 2, 'limit respected');
is($r->{json}{next_cursor}, "$r->{json}{items}[1]{id}",
   'cursor is the last id shown');
my $r2 = call(GET => "/api/v1/departments?limit=2&cursor="
                     . $r->{json}{next_cursor}, $A);
ok($r2->{json}{items}[0]{id} > $r->{json}{items}[1]{id},
   'cursor continues after itself');
is(call(GET => '/api/v1/departments?limit=501', $A)->{status}, 400,
   'limit over 500: 400');
is(call(GET => '/api/v1/departments?cursor=x', $A)->{status}, 400,
   'bad cursor: 400');

$r = call(POST => '/api/v1/departments', $A,
          json => { name => '芙蓉区民政局', region => '430102',
                    phone => '0731-84000009' });
is($r->{status}, 201, 'department created');
my $d = $r->{json};
is($d->{name}, '芙蓉区民政局', 'name');
is($d->{region}, '430102', 'region');
is($d->{phone}, '0731-84000009', 'phone');
like($d->{id}, qr/^\d+$/, 'id');

$r = call(POST => '/api/v1/departments', $A,
          json => { name => '芙蓉区民政局', region => '430102' });
is($r->{status}, 409, 'same name in the region: 409');
is($r->{json}{error}{code}, 'duplicate', 'duplicate');

invalid(call(POST => '/api/v1/departments', $A,
             json => { name => '某局', region => '999999' }),
        'region', 'unknown region');
invalid(call(POST => '/api/v1/departments', $A,
             json => { name => '某局', region => '43010' }),
        'region', 'region not six digits');
invalid(call(POST => '/api/v1/departments', $A,
             json => { region => '430102' }), 'name', 'no name');
invalid(call(POST => '/api/v1/departments', $A,
             json => { name => '某局', region => '430102',
                       phone => 'call me' }), 'phone', 'bad phone');
invalid(call(POST => '/api/v1/departments', $A,
             json => { name => 42, region => '430102' }),
        'name', 'name not a string');

$r = call(GET => "/api/v1/departments/$d->{id}", $A);
is($r->{status}, 200, 'one department');
is_deeply($r->{json}, $d, 'as created');
is(call(GET => '/api/v1/departments/999999', $A)->{status}, 404,
   'unknown department: 404');
is(call(GET => '/api/v1/departments/abc', $A)->{status}, 404,
   'id not a number: 404');
is(call(GET => '/api/v1/departments/0', $A)->{status}, 404, 'id 0: 404');

$r = call(PUT => "/api/v1/departments/$d->{id}", $A,
          json => { name => '芙蓉区民政局（新）' });
is($r->{status}, 200, 'department updated');
is($r->{json}{name}, '芙蓉区民政局（新）', 'new name');
is($r->{json}{phone}, '0731-84000009', 'phone kept');
$r = call(PUT => "/api/v1/departments/$d->{id}", $A,
          json => { phone => undef });
is($r->{json}{phone}, undef, 'phone cleared');
is(call(PUT => '/api/v1/departments/999999', $A,
        json => { name => 'x' })->{status}, 404, 'update unknown: 404');
invalid(call(PUT => "/api/v1/departments/$d->{id}", $A,
             json => { name => '' }), 'name', 'empty name');
$r = call(PUT => "/api/v1/departments/$d->{id}", $A, json => { x => 1 });
is($r->{status}, 200, 'a PUT with no known member: 200');
is($r->{json}{name}, '芙蓉区民政局（新）', 'and the department as it is');
is(call(PUT => "/api/v1/departments/$d->{id}", $A,
        json => { %{ $r->{json} } })->{status}, 200,
   'what was read, sent back: 200');

is(audit_count('department.create', "department:$d->{id}"), 1,
   'audit: department.create');
is(audit_count('department.update', "department:$d->{id}"), 2,
   'audit: department.update for each change');
is($t->psql("SELECT actor || ' ' || actor_id FROM audit_log"
            . " WHERE action = 'department.create'"), "admin1 $admin_id",
   'audit names the admin');

# ---- users

my %new = (username => 'wang.li', name => '王立', department => $dept + 0,
           roles => ['handler', 'clerk'], password => 'first password');
$r = call(POST => '/api/v1/users', $A, json => \%new);
is($r->{status}, 201, 'user created');
my $u = $r->{json};
is($u->{username}, 'wang.li', 'username');
is($u->{name}, '王立', 'name');
is($u->{department}, $dept, 'department');
is_deeply($u->{roles}, ['clerk', 'handler'], 'roles, in canonical order');
ok($u->{active}, 'active by default');
ok(!grep({ /password|hash/ } keys %$u), 'no password in the answer');
like($t->psql("SELECT password_hash FROM users WHERE id = $u->{id}"),
     qr/^pbkdf2-sha256\$/, 'password stored hashed');

$r = call(POST => '/api/v1/users', $A, json => \%new);
is($r->{status}, 409, 'same username: 409');
is($r->{json}{error}{code}, 'duplicate', 'duplicate');

invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'bad name!' }),
        'username', 'bad username');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'x' x 65 }),
        'username', 'username too long');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', roles => [] }),
        'roles', 'no roles');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', roles => ['boss'] }),
        'roles', 'unknown role');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', roles => 'clerk' }),
        'roles', 'roles not an array');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', department => 999999 }),
        'department', 'unknown department');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', department => 'x' }),
        'department', 'department not a number');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', password => 'short' }),
        'password', 'password too short');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', password => undef }),
        'password', 'no password');
invalid(call(POST => '/api/v1/users', $A,
             json => { %new, username => 'u2', active => 'yes' }),
        'active', 'active not a boolean');

$r = call(GET => '/api/v1/users', $A);
is($r->{status}, 200, 'users list');
is(scalar(grep { $_->{username} eq 'wang.li' } @{ $r->{json}{items} }), 1,
   'the new user listed');
ok(!grep({ exists $_->{password_hash} } @{ $r->{json}{items} }),
   'no hashes in the list');
$r = call(GET => '/api/v1/users?limit=1', $A);
is(scalar @{ $r->{json}{items} }, 1, 'users limit');
ok(defined $r->{json}{next_cursor}, 'users next_cursor');

$r = call(GET => "/api/v1/users/$u->{id}", $A);
is($r->{status}, 200, 'one user');
is_deeply($r->{json}, $u, 'as created');
is(call(GET => '/api/v1/users/999999', $A)->{status}, 404,
   'unknown user: 404');

my $W = $t->auth($t->login('wang.li', 'first password'));
is(call(GET => '/api/v1/me', $W)->{status}, 200, 'the new user signs in');

$r = call(PUT => "/api/v1/users/$u->{id}", $A,
          json => { name => '王立新', roles => ['reviewer'] });
is($r->{status}, 200, 'user updated');
is($r->{json}{name}, '王立新', 'new name');
is_deeply($r->{json}{roles}, ['reviewer'], 'new roles');
is($r->{json}{department}, $dept, 'department kept');
is($t->psql("SELECT detail->>'name' FROM audit_log WHERE action ="
            . " 'user.update' AND object = 'user:$u->{id}'"), '王立新',
   'audit: user.update lists what changed');
is(call(PUT => "/api/v1/users/$u->{id}", $A,
        json => { name => '王立新', roles => ['reviewer'] })->{status}, 200,
   'the same again: 200');
is(audit_count('user.update', "user:$u->{id}"), 1,
   'but no audit entry: nothing changed');
invalid(call(PUT => "/api/v1/users/$u->{id}", $A,
             json => { department => 999999 }), 'department',
        'update: unknown department');
is(call(PUT => '/api/v1/users/999999', $A,
        json => { name => 'x' })->{status}, 404, 'update unknown user: 404');

$r = call(PUT => "/api/v1/users/$u->{id}", $A, json => { active => \0 });
is($r->{status}, 200, 'user disabled');
ok(!$r->{json}{active}, 'inactive');
is(call(GET => '/api/v1/me', $W)->{status}, 401,
   "a disabled user's session stops at once");
is(audit_count('user.disable', "user:$u->{id}"), 1, 'audit: user.disable');
call(PUT => "/api/v1/users/$u->{id}", $A, json => { active => \1 });
is(audit_count('user.create', "user:$u->{id}"), 1, 'audit: user.create');

# ---- passwords

my $W1 = $t->auth($t->login('wang.li', 'first password'));
my $W2 = $t->auth($t->login('wang.li', 'first password'));

invalid(call(POST => "/api/v1/users/$u->{id}/password", $W1,
             json => { password => 'second password' }),
        'old_password', 'own change without the old password');
$r = call(POST => "/api/v1/users/$u->{id}/password", $W1,
          json => { password => 'second password',
                    old_password => 'wrong password' });
is($r->{status}, 403, 'wrong old password: 403');
is($r->{json}{error}{code}, 'forbidden', 'forbidden');
invalid(call(POST => "/api/v1/users/$u->{id}/password", $W1,
             json => { password => 'short',
                       old_password => 'first password' }),
        'password', 'new password too short');
is(call(POST => "/api/v1/users/$clerk_id/password", $W1,
        json => { password => 'second password',
                  old_password => 'first password' })->{status}, 403,
   "someone else's password: 403");

$r = call(POST => "/api/v1/users/$u->{id}/password", $W1,
          json => { password => 'second password',
                    old_password => 'first password' });
is($r->{status}, 204, 'own password changed: 204');
is($r->{body}, '', 'no body');
is(call(GET => '/api/v1/me', $W1)->{status}, 200,
   'the session that changed it stays');
is(call(GET => '/api/v1/me', $W2)->{status}, 401,
   'the other sessions end');
ok(eval { $t->login('wang.li', 'second password') }, 'new password works');
ok(!eval { $t->login('wang.li', 'first password') }, 'old one does not');

is(call(POST => "/api/v1/users/$u->{id}/password", $A,
        json => { password => 'third password' })->{status}, 204,
   'admin sets it without the old one');
is(call(GET => '/api/v1/me', $W1)->{status}, 401,
   "an admin's change ends all the user's sessions");
ok(eval { $t->login('wang.li', 'third password') }, 'admin-set password');
is(call(POST => '/api/v1/users/999999/password', $A,
        json => { password => 'third password' })->{status}, 404,
   'password of an unknown user: 404');
is(audit_count('user.password', "user:$u->{id}"), 2, 'audit: user.password');
is($t->psql("SELECT count(*) FROM audit_log WHERE detail::text ~"
            . " '(first|second|third) password'"), 0,
   'no password in the audit log');

# ---- certificates

my $info = $t->cert_info('clerk');
my $pem = GovSvc::Test::slurp($t->ca_dir . '/users/clerk.crt');
my %PEM = (headers => { 'Content-Type' => 'application/x-pem-file' });

$r = call(POST => "/api/v1/users/$clerk_id/certificates", $A,
          %PEM, body => $pem);
is($r->{status}, 201, 'certificate bound');
is($r->{json}{sha256}, $info->{sha256}, 'SHA-256 of the DER');
is($r->{json}{subject}, $info->{subject}, 'subject, RFC 2253');
is($r->{json}{user}, $clerk_id, 'user');
like($r->{json}{not_after} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/,
     'not_after with offset');

$r = call(POST => "/api/v1/users/$clerk_id/certificates", $A,
          %PEM, body => $pem);
is($r->{status}, 409, 'bound again: 409');
is($r->{json}{error}{code}, 'duplicate', 'duplicate');
invalid(call(POST => "/api/v1/users/$clerk_id/certificates", $A,
             %PEM, body => "not a certificate\n"),
        'certificate', 'not PEM');
(my $broken = $pem) =~ s/^(-----BEGIN CERTIFICATE-----\n)..../$1AAAA/m;
invalid(call(POST => "/api/v1/users/$clerk_id/certificates", $A,
             %PEM, body => $broken), 'certificate', 'a broken certificate');
invalid(call(POST => "/api/v1/users/$clerk_id/certificates", $A,
             %PEM, body => $pem . $pem), 'certificate', 'two certificates');
is(call(POST => '/api/v1/users/999999/certificates', $A,
        %PEM, body => GovSvc::Test::slurp($t->ca_dir
                                           . '/users/reviewer.crt'))
       ->{status}, 404, 'bind to an unknown user: 404');
is(call(POST => "/api/v1/users/$clerk_id/certificates", $C,
        %PEM, body => $pem)->{status}, 403, 'clerk cannot bind');

# a Chinese subject comes back as UTF-8, not escaped
my $zh = $t->dir . '/zh';
open my $stderr, '>&', \*STDERR or die "dup: $!";
open STDERR, '>', '/dev/null' or die "stderr: $!";
my $rc = system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
       'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-utf8',
       '-subj', '/O=芙蓉区行政审批服务局/CN=张三', '-keyout', "$zh.key",
       '-out', "$zh.crt");
open STDERR, '>&', $stderr or die "dup: $!";
$rc == 0 or die 'openssl req failed';
$r = call(POST => "/api/v1/users/$u->{id}/certificates", $A,
          %PEM, body => GovSvc::Test::slurp("$zh.crt"));
is($r->{status}, 201, 'certificate with a Chinese subject bound');
is($r->{json}{subject}, 'CN=张三,O=芙蓉区行政审批服务局',
   'its subject as UTF-8');
is($t->psql("SELECT subject FROM user_certificates WHERE user_id ="
            . " $u->{id}"), 'CN=张三,O=芙蓉区行政审批服务局', 'stored so');

my $S = $t->auth($t->login_cert('clerk'));
is(call(GET => '/api/v1/me', $S)->{json}{username}, 'clerk1',
   'the bound certificate signs in');

is(call(DELETE => "/api/v1/users/$admin_id/certificates/$info->{sha256}",
        $A)->{status}, 404, 'not bound to that user: 404');
$r = call(DELETE => "/api/v1/users/$clerk_id/certificates/$info->{sha256}",
          $A);
is($r->{status}, 204, 'certificate unbound');
is(call(GET => '/api/v1/me', $S)->{status}, 401,
   'its session ends at once');
$r = $t->req(POST => '/api/v1/sessions/cert', tls => 1, cert => 'clerk');
is($r->{status}, 401, 'the unbound certificate no longer signs in');
is($r->{json}{error}{code}, 'certificate_unknown', 'certificate_unknown');
is(call(DELETE => "/api/v1/users/$clerk_id/certificates/$info->{sha256}",
        $A)->{status}, 404, 'unbound already: 404');
is(call(DELETE => "/api/v1/users/$clerk_id/certificates/xyz", $A)->{status},
   404, 'not a SHA-256: 404');
is(audit_count('certificate.bind', "certificate:$info->{sha256}"), 1,
   'audit: certificate.bind');
is(audit_count('certificate.unbind', "certificate:$info->{sha256}"), 1,
   'audit: certificate.unbind');

# ---- calendar

sub day_of {
    my ($date) = @_;
    my $r = $t->req(GET => '/api/v1/calendar?year=' . substr($date, 0, 4));
    my ($day) = grep { $_->{date} eq $date } @{ $r->{json}{days} };
    return $day;
}

is(day_of('2026-12-31'), undef, 'not listed yet (and now cached)');
ok($t->eventually(sub {
       $t->redis_cli('EXISTS', 'govsvc:calendar:2026') =~ /1/ }),
   'the year is cached');

$r = call(PUT => '/api/v1/calendar/2026-12-31', $A,
          json => { kind => 'holiday', name => '测试假日' });
is($r->{status}, 200, 'calendar day set');
is_deeply($r->{json}, { date => '2026-12-31', kind => 'holiday',
                        name => '测试假日' }, 'answer');
is(day_of('2026-12-31')->{kind} // '', 'holiday',
   'the change shows at once: the cached year was dropped');

$r = call(PUT => '/api/v1/calendar/2026-12-31', $A,
          json => { kind => 'workday', name => '调休' });
is($r->{json}{kind}, 'workday', 'set again: updated');
is(day_of('2026-12-31')->{kind} // '', 'workday', 'shows at once again');

invalid(call(PUT => '/api/v1/calendar/2026-02-30', $A,
             json => { kind => 'holiday' }), 'date', 'impossible date');
invalid(call(PUT => '/api/v1/calendar/tomorrow', $A,
             json => { kind => 'holiday' }), 'date', 'not a date');
invalid(call(PUT => '/api/v1/calendar/2026-12-30', $A,
             json => { kind => 'party' }), 'kind', 'unknown kind');
invalid(call(PUT => '/api/v1/calendar/2026-12-30', $A, json => {}),
        'kind', 'no kind');

is(call(DELETE => '/api/v1/calendar/2026-12-31', $A)->{status}, 204,
   'calendar day deleted');
is(day_of('2026-12-31'), undef, 'gone at once');
is(call(DELETE => '/api/v1/calendar/2026-12-31', $A)->{status}, 404,
   'deleted already: 404');
invalid(call(DELETE => '/api/v1/calendar/2026-13-01', $A), 'date',
        'delete: bad date');
is(audit_count('calendar.set', 'calendar:2026-12-31'), 2,
   'audit: calendar.set');
is(audit_count('calendar.delete', 'calendar:2026-12-31'), 1,
   'audit: calendar.delete');

# Redis away: the change is made all the same (the cached year, had there
# been one, would stay stale until govsvc_cache_ttl)
$t->stop_redis;
$r = call(PUT => '/api/v1/calendar/2026-12-30', $A,
          json => { kind => 'holiday', name => '无缓存' });
is($r->{status}, 200, 'calendar change with Redis away');
is(day_of('2026-12-30')->{kind} // '', 'holiday', 'read from PostgreSQL');

is($t->psql('SELECT count(*) FROM govsvc_audit_verify()'), 0,
   'the audit chain holds');

$t->stop;
done_testing;
