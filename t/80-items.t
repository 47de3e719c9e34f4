# The catalog: public reading and searching, the administrator's writes
# with validation, versions, audit and outbox.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0);
$t->start;

my $dept = $t->default_department;
my $pw = 'a good password';
$t->create_user(username => 'admin', name => '李管理', roles => ['admin'],
                password => $pw);
$t->create_user(username => 'clerk', name => '张窗口', roles => ['clerk'],
                password => $pw);
my $admin = $t->auth($t->login('admin', $pw)->{token});
my $clerk = $t->auth($t->login('clerk', $pw)->{token});

my %item = (
    code => '430102-TS-0001', basic_code => '000102001000',
    name => '食品经营许可', type => '01', case_type => 2,
    department => $dept + 0, legal_days => 20, promised_days => 10,
    materials => [{ code => 'M1', name => '申请书', required => JSON::PP::true }],
    fields => [{ name => 'address', label => '经营场所',
                 required => JSON::PP::true, type => 'text' }],
    steps => [{ code => 'handle', name => '初审', role => 'handler', days => 4 },
              { code => 'review', name => '复审', role => 'reviewer', days => 3 },
              { code => 'approve', name => '决定', role => 'approver', days => 3 }],
    fees => [{ code => 'F1', name => '工本费', amount => 1000, basis => '...' }],
    status => 'active');

sub post { $t->req(POST => '/api/v1/items', tls => 1, json => $_[0],
                   headers => $_[1] // $admin) }

my $r = post(\%item);
is($r->{status}, 201, 'item created');
is($r->{json}{version}, 1, 'version 1');
is($r->{json}{region}, '430102', 'the department\'s region');
is($r->{json}{steps}[1]{role}, 'reviewer', 'steps kept in order');
is($r->{json}{fees}[0]{amount}, 1000, 'fees in fen');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'item.create'"),
   '1', 'audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'item.created'"),
   '1', 'an outbox event for the nodes below');

is(post(\%item)->{json}{error}{code}, 'duplicate', 'the same code: 409');
is(post(\%item, $clerk)->{status}, 403, 'a clerk cannot write the catalog');

my @bad = (
    ['code', { code => 'a b' }],
    ['type', { type => '99' }],
    ['case_type', { case_type => 3 }],
    ['department', { department => 999999 }],
    ['promised_days', { promised_days => 30 }],
    ['legal_days', { legal_days => 0 }],
    ['materials[1].code', { materials => [{ code => 'M1', name => 'a' },
                                          { code => 'M1', name => 'b' }] }],
    ['fields[0].type', { fields => [{ name => 'x', label => 'x',
                                      type => 'colour' }] }],
    ['fields[0].name', { fields => [{ name => 'X', label => 'x' }] }],
    ['steps[0].role', { steps => [{ code => 'h', name => 'h',
                                    role => 'clerk', days => 1 }] }],
    ['steps[0].code', { steps => [{ code => 'complete', name => 'h',
                                    role => 'handler', days => 1 }] }],
    ['steps', { steps => [] }],
    ['steps', { case_type => 1 }],
    ['fees[0].amount', { fees => [{ code => 'F', name => 'f',
                                    amount => -1 }] }],
    ['status', { status => 'gone' }],
);
for my $b (@bad) {
    my ($field, $patch) = @$b;
    $r = post({ %item, code => 'X-1', %$patch });
    is("$r->{status} " . ($r->{json}{error}{field} // ''), "422 $field",
       "refused: $field");
}
is($t->psql("SELECT count(*) FROM items WHERE code = 'X-1'"), '0',
   'no refused item written');

# public reading, no session
$r = $t->req(GET => '/api/v1/items/430102-TS-0001', tls => 1);
is($r->{status}, 200, 'read without a session');
is($r->{json}{name}, '食品经营许可', 'its name');
is($t->req(GET => '/api/v1/items/NOPE', tls => 1)->{status}, 404,
   'an unknown item: 404');

post({ %item, code => "430102-TS-000$_", name => "测试事项$_" }) for 2 .. 4;
$r = $t->req(GET => '/api/v1/items?q=' . '%E6%B5%8B%E8%AF%95&limit=2',
             tls => 1);
is(scalar @{ $r->{json}{items} }, 2, 'search by name, limited');
ok($r->{json}{next_cursor}, 'with a cursor');
$r = $t->req(GET => "/api/v1/items?q=%E6%B5%8B%E8%AF%95&cursor="
             . $r->{json}{next_cursor}, tls => 1);
is(scalar @{ $r->{json}{items} }, 1, 'the rest');
is($t->req(GET => '/api/v1/items?q=%25', tls => 1)->{json}{items}[0],
   undef, 'a % in q is a character, not a wildcard');

# an update: the whole item, with its version
$r = $t->req(PUT => '/api/v1/items/430102-TS-0001', tls => 1,
             json => { %item, version => 1, name => '食品经营许可（新）',
                       status => 'suspended' }, headers => $admin);
is($r->{status}, 200, 'updated');
is($r->{json}{version}, 2, 'version 2');
$r = $t->req(PUT => '/api/v1/items/430102-TS-0001', tls => 1,
             json => { %item, version => 1 }, headers => $admin);
is("$r->{status} $r->{json}{error}{code}", '409 version_conflict',
   'a stale version: 409');
is($t->req(PUT => '/api/v1/items/NOPE', tls => 1,
           json => { %item, version => 1 }, headers => $admin)->{status},
   404, 'an unknown item: 404');
is(scalar(grep { $_->{code} eq '430102-TS-0001' }
          @{ $t->req(GET => '/api/v1/items', tls => 1)->{json}{items} }),
   0, 'a suspended item is not listed by default');
is($t->req(GET => '/api/v1/items?status=suspended', tls => 1)
       ->{json}{items}[0]{code}, '430102-TS-0001', 'unless asked for');

$t->stop;
done_testing;
