# The hash-chained audit log through HTTP: a failed login, a successful
# login (password and certificate), a department creation and a logout each
# append one entry naming actor, address, action and object; the chain
# verifies with scripts/audit-verify; altering an entry's content names that
# entry, removing one names the entry after it; and audit_log refuses
# UPDATE and DELETE while its trigger is on.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1);
$t->start;

my $PW = 'correct horse 电池';
my $admin = $t->create_user(username => 'audit.admin', name => '审计管理员',
                            roles => ['admin'], password => $PW);
$t->bind_cert($admin, 'admin');

sub count { $t->psql('SELECT count(*) FROM audit_log') }
sub last_id { $t->psql('SELECT coalesce(max(id), 0) FROM audit_log') }

# entries after id $after, oldest first, as hashes
sub entries_after {
    my ($after) = @_;
    my $rows = $t->psql(<<'SQL', after => $after);
SELECT coalesce(json_agg(a ORDER BY a.id), '[]')
FROM (SELECT id, actor_id, actor, address, action, object, detail
      FROM audit_log WHERE id > :'after'::bigint) a;
SQL
    return JSON::PP->new->decode($rows);
}

sub verify {
    my $out = `"$ENV{GOVSVC_ROOT}/scripts/audit-verify" '${\ $t->conninfo }' 2>&1`;
    return ($? >> 8, $out);
}

# one entry appended by $what, with the usual fields; returns it
sub one_entry {
    my ($after, $what) = @_;
    my $e = entries_after($after);
    is(scalar @$e, 1, "$what: one audit entry") or diag explain $e;
    my $x = $e->[-1] // {};
    for my $f (qw(actor action object)) {
        ok(defined $x->{$f} && $x->{$f} ne '', "$what: $f given")
            or diag explain $x;
    }
    is($x->{address}, '127.0.0.1', "$what: the client's address");
    return $x;
}

is(count(), 0, 'no entry yet');
my ($rc, $out) = verify();
is($rc, 0, 'empty log verifies');
like($out, qr/^audit log intact: 0 entries$/m, 'says 0 entries');

# ---- a failed login
my $mark = last_id();
my $r = $t->req(POST => '/api/v1/sessions', tls => 1,
                json => { username => 'audit.admin', password => 'wrong-pw-x' });
is($r->{status}, 401, 'wrong password: 401');
is($r->{json}{error}{code}, 'bad_credentials', 'bad_credentials');
my $failed = one_entry($mark, 'failed login');
like(JSON::PP->new->canonical->encode($failed), qr/audit\.admin/,
     'failed login: names the username tried');

# an unknown user is audited too, without telling more than for a known one
$mark = last_id();
$r = $t->req(POST => '/api/v1/sessions', tls => 1,
             json => { username => 'nobody.here', password => 'wrong-pw-y' });
is($r->{status}, 401, 'unknown user: 401');
is($r->{json}{error}{code}, 'bad_credentials', 'unknown user: same code');
my $unknown = one_entry($mark, 'failed login of an unknown user');
is($unknown->{action}, $failed->{action}, 'same action as a wrong password');

# ---- a successful login
$mark = last_id();
my $s = $t->login('audit.admin', $PW);
my $ok = one_entry($mark, 'login');
is($ok->{actor_id}, $admin, 'login: actor_id is the user');
isnt($ok->{action}, $failed->{action}, 'login: its own action');

# ---- a certificate login
$mark = last_id();
my $cs = $t->login_cert('admin');
my $cert = one_entry($mark, 'certificate login');
is($cert->{actor_id}, $admin, 'certificate login: actor_id is the user');

# ---- an administrative change, once the admin API answers
$mark = last_id();
$r = $t->req(POST => '/api/v1/departments', tls => 1,
             headers => $t->auth($s),
             json => { name => '芙蓉区审计测试局', region => '430102',
                       phone => '0731-84009999' });
my $dept_made = 0;
SKIP: {
    skip "department creation answers $r->{status} (admin API not there)", 6
        if $r->{status} == 501 || $r->{status} == 404;
    $dept_made = 1;
    is($r->{status}, 201, 'department created') or diag $r->{body};
    my $d = one_entry($mark, 'department creation');
    is($d->{actor_id}, $admin, 'department creation: actor_id is the admin');
}

# ---- a logout
$mark = last_id();
$r = $t->req(DELETE => '/api/v1/sessions/current', tls => 1,
             headers => $t->auth($s));
is($r->{status}, 204, 'logout: 204');
my $lo = one_entry($mark, 'logout');
is($lo->{actor_id}, $admin, 'logout: actor_id is the user');
isnt($lo->{action}, $ok->{action}, 'logout: its own action');

# more sessions, so that the chain is long enough for what follows
for my $k (1 .. 2) {
    my $x = $t->login_cert('admin');
    is($t->req(DELETE => '/api/v1/sessions/current', tls => 1,
               headers => $t->auth($x))->{status}, 204, "logout $k");
}

# secrets never reach the log
is($t->psql(<<'SQL', a => 'wrong-pw-x', b => $PW, c => $s->{token},
SELECT count(*) FROM audit_log
WHERE strpos(row_to_json(audit_log)::text, :'a') > 0
   OR strpos(row_to_json(audit_log)::text, :'b') > 0
   OR strpos(row_to_json(audit_log)::text, :'c') > 0;
SQL
            ), 0, 'no password or token in the audit log');

# ---- the chain verifies
my $n = count();
# 2 failed logins, 1 login, 1 certificate login, the department, 1 logout,
# 2 more certificate logins and logouts
is($n, 9 + $dept_made, "$n entries: one for each");
($rc, $out) = verify();
is($rc, 0, 'audit-verify exits 0');
like($out, qr/^audit log intact: $n entries$/m, "intact: $n entries");

# ---- the trigger refuses changes
for my $sql ('UPDATE audit_log SET actor = actor',
             'DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)')
{
    my $ok = eval { $t->psql($sql); 1 };
    ok(!$ok, "refused: $sql");
    like($@, qr/append-only/, 'with "append-only"');
}
is(count(), $n, 'nothing removed');
{
    my $trunc = eval {
        $t->psql('BEGIN; TRUNCATE audit_log; ROLLBACK');
        1;
    };
    ok(!$trunc, 'TRUNCATE refused');
    like($@, qr/append-only/, 'with "append-only"');
}
is(count(), $n, 'still all there');

# ---- an attacker with superuser rights alters an entry's detail
my @ids = split /\n/, $t->psql('SELECT id FROM audit_log ORDER BY id');
my $victim = $ids[2];
my $saved = $t->psql("SELECT detail::text FROM audit_log WHERE id = :'id'",
                     id => $victim);
$t->psql('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
$t->psql(<<'SQL', id => $victim);
UPDATE audit_log SET detail = detail || '{"note": "nothing happened"}'
WHERE id = :'id'::bigint;
SQL
($rc, $out) = verify();
is($rc, 1, 'altered detail: audit-verify exits 1');
like($out, qr/^audit log broken at entry $victim: .*altered/m,
     "names entry $victim") or diag $out;

# put it back: intact again
$t->psql("UPDATE audit_log SET detail = :'d'::jsonb WHERE id = :'id'::bigint",
         d => $saved, id => $victim);
($rc, $out) = verify();
is($rc, 0, 'restored: exits 0') or diag $out;

# the actor of another entry: named, then put back
my $actor = $t->psql("SELECT actor FROM audit_log WHERE id = :'id'",
                     id => $ids[1]);
$t->psql(<<'SQL', id => $ids[1]);
UPDATE audit_log SET actor = 'someone else' WHERE id = :'id'::bigint;
SQL
($rc, $out) = verify();
is($rc, 1, 'altered actor: exits 1');
like($out, qr/^audit log broken at entry $ids[1]: /m, "names entry $ids[1]")
    or diag $out;
$t->psql("UPDATE audit_log SET actor = :'a' WHERE id = :'id'::bigint",
         a => $actor, id => $ids[1]);
is((verify())[0], 0, 'restored again: exits 0');

# remove a middle entry: the entry after it is named
my ($gone, $next) = @ids[3, 4];
$t->psql("DELETE FROM audit_log WHERE id = :'id'::bigint", id => $gone);
($rc, $out) = verify();
is($rc, 1, 'removed entry: exits 1');
like($out, qr/^audit log broken at entry $next: .*removed/m,
     "removing $gone names $next, the entry after it") or diag $out;

$t->psql('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
$t->check_log;
$t->stop;
done_testing;
