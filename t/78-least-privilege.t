# The module on a database role with only the privileges of
# sql/grants.sql (app_role => 1): a case from registration to completion,
# the public query and a bad rating with its rectification, a question and
# its reply, a card issued and revoked, an administrator's changes, a
# sign-out and the sync status all work; the role cannot alter or remove
# an audit entry, change the schema or record a migration.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, app_role => 1, redis => 1,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dept = $t->default_department;
$t->add_item('L-001', steps => [[handle => '初审', handler => 4]]);
my %h = $t->case_staff($dept, $dept);
my $pw = 'a good password';
$t->create_user(username => 'boss', name => '管理员', roles => ['admin'],
                password => $pw);
$h{admin} = $t->auth($t->login('boss', $pw));

sub call {
    my ($who, $method, $path, $json, $want, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->req($method => $path, tls => 1,
                    $who ? (headers => $h{$who}) : (),
                    $json ? (json => $json) : ());
    is($r->{status}, $want, $what) or diag $r->{body};
    return $r->{json};
}

# ---- a case, start to end ----------------------------------------------------

my $c = call(clerk => POST => '/api/v1/cases',
             { item_code => 'L-001', project_name => '项目',
               applicant => GovSvc::Test::person(),
               form => {}, materials => [] }, 201, 'registered');
my $no = $c->{case_no};
call(clerk => POST => "/api/v1/cases/$no/notices", { kind => 'acceptance' },
     201, 'the acceptance notice');
$c = call(clerk => POST => "/api/v1/cases/$no/actions",
          { action => 'accept', version => $c->{version} }, 200, 'accepted');
my $password = $c->{query_password};
$c = call(handler => POST => "/api/v1/cases/$no/actions",
          { action => 'pass', version => $c->{version}, opinion => '同意' },
          200, 'passed');
my %decision = (licence_no => 'L0001', valid_until => '2031-11-28');
call(clerk => POST => "/api/v1/cases/$no/notices",
     { kind => 'approval_decision', %decision }, 201, 'the decision');
$c = call(clerk => POST => "/api/v1/cases/$no/actions",
          { action => 'complete', version => $c->{version},
            result => 'approved', %decision }, 200, 'completed');
call(handler => GET => '/api/v1/worklist?box=done', undef, 200, 'a done box');
call(clerk => GET => '/api/v1/cases?q=%E5%BC%A0', undef, 200,
     'the unified query');

# ---- the public --------------------------------------------------------------

call(undef, GET => "/api/v1/public/cases/$no?password=$password", undef, 200,
     'the public query');
call(undef, POST => "/api/v1/public/cases/$no/evaluation",
     { password => $password, score => 5, channel => 'web',
       comment => '太慢' }, 201, 'a bad rating');
my ($task) = @{ call(clerk => GET => '/api/v1/rectifications', undef, 200,
                     'its rectification')->{items} };
call(clerk => POST => "/api/v1/rectifications/$task->{id}/response",
     { content => '已整改' }, 200, 'answered');
my $q = call(undef, POST => '/api/v1/public/consultations',
             { title => '问', content => '怎么办？' }, 201, 'a question');
my $uid = $t->psql("SELECT id FROM users WHERE username = 'handler'");
call(clerk => POST => "/api/v1/consultations/$q->{id}/reply",
     { content => '这样办。', replier => $uid + 0, visibility => 'public' },
     200, 'its reply');

# ---- supervision, administration, sessions, sync -----------------------------

my $k = call(sup => POST => "/api/v1/supervision/cases/$no/cards",
             { color => 'yellow', reason => '测试' }, 201, 'a card');
call(sup => POST => "/api/v1/supervision/cards/$k->{id}/revoke",
     { reason => '撤销' }, 200, 'revoked');
call(sup => GET => '/api/v1/supervision/stats', undef, 200, 'statistics');
call(admin => POST => '/api/v1/departments',
     { region => '430102', name => '新部门' }, 201, 'a department');
call(admin => PUT => '/api/v1/calendar/2027-10-09',
     { kind => 'workday', name => '调休' }, 200, 'a calendar day');
call(admin => DELETE => '/api/v1/calendar/2027-10-09', undef, 204,
     'and removed');
call(clerk => DELETE => '/api/v1/sessions/current', undef, 204,
     'a sign-out');
is($t->req(GET => '/sync/v1/status', tls => 1,
           cert => 'nodes/430100')->{status}, 200, 'the sync status');

# ---- what the role cannot do ----------------------------------------------------

sub as_app {
    my ($sql) = @_;
    my $ci = $t->conninfo =~ s/user=govsvc$/user=govsvc_app/r;
    my $out = `psql -X -q -d '$ci' -c "$sql" 2>&1`;
    return $out;
}
like(as_app("UPDATE audit_log SET action = 'x'"), qr/permission denied/,
     'the role cannot alter an audit entry');
like(as_app('DELETE FROM audit_log'), qr/permission denied/,
     'nor remove one');
like(as_app('DROP TABLE cases'), qr/must be owner/,
     'nor change the schema');
like(as_app('ALTER TABLE audit_log DISABLE TRIGGER ALL'), qr/must be owner/,
     'nor disable the audit log\'s triggers');
like(as_app("INSERT INTO schema_migrations VALUES ('9999_x')"),
     qr/permission denied/, 'nor record a migration');

unlike(GovSvc::Test::slurp($t->error_log), qr/permission denied/,
       'nothing the module did was refused a privilege');
$t->check_log;
$t->stop;
done_testing();
