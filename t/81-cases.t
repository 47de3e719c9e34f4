# Registering a case (收件): numbering, validation against the item,
# Idempotency-Key, department scope, drafts with the version check, and
# the Art.32 deadline of a draft.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use POSIX qw(strftime);
use GovSvc::Test;

my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dept = $t->default_department;
my $other = $t->psql("INSERT INTO departments (region, name)"
                     . " VALUES ('430102', '别的部门') RETURNING id");
$t->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-001', '000001', '测试许可', '01', 2, $dept, '430102', 20, 10,
  \$j\$[{"code":"M1","name":"申请书","required":true},
       {"code":"M2","name":"营业执照复印件","required":false}]\$j\$,
  \$j\$[{"name":"address","label":"经营场所","required":true,"type":"text"},
       {"name":"opening","label":"开业日期","required":false,"type":"date"},
       {"name":"legal_id","label":"法人身份证","required":false,
        "type":"id_card"}]\$j\$,
  \$j\$[{"code":"handle","name":"初审","role":"handler","days":4}]\$j\$),
 ('T-002', '000002', '暂停事项', '01', 2, $dept, '430102', 20, 10,
  '[]', '[]', '[]'),
 ('T-003', '000003', '别的部门的事项', '01', 2, $other, '430102', 20, 10,
  '[]', '[]', '[]');
UPDATE items SET status = 'suspended' WHERE code = 'T-002';
SQL

my %h = $t->case_staff($dept, $other);

my %person = (type => 'person', name => '张三', id_type => 'id_card',
              id_no => '11010519491231002X', phone => '13800000000',
              address => '长沙市芙蓉区');
my %case = (item_code => 'T-001', project_name => '芙蓉区某某餐馆食品经营许可',
            applicant => \%person, form => { address => '五一大道1号' },
            materials => [{ code => 'M1', received => JSON::PP::true }],
            channel => 'window');

sub create { $t->req(POST => '/api/v1/cases', tls => 1, @_) }
sub count  { $t->psql('SELECT count(*) FROM cases') }

my $r = create(json => \%case, headers => $h{clerk});
is($r->{status}, 201, 'a person\'s case registered');
my $c = $r->{json};
my $today = strftime('%Y%m%d', gmtime(time + 8 * 3600));
like($c->{case_no}, qr/^430102${today}\d{6}$/, 'number: region, date, seq');
is($c->{state}, 'draft', 'a draft');
is($c->{version}, 1, 'version 1');
is($c->{item}{name}, '测试许可', 'its item');
is($c->{department}{id}, $dept, 'the clerk\'s department');
is_deeply([map { [$_->{code}, $_->{received} ? 1 : 0, $_->{required} ? 1 : 0] }
           @{ $c->{materials} }],
          [['M1', 1, 1], ['M2', 0, 0]], 'materials with what was received');
is($c->{deadline}{kind}, 'deemed_acceptance', 'Art.32 deadline shown');
like($c->{deadline}{due_date}, qr/^\d{4}-\d\d-\d\d$/, 'with its date');
cmp_ok($c->{deadline}{remaining_working_days}, '<=', 5, 'days left');
like($c->{received_at}, qr/\+08:00$/, 'received_at with offset');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'case.created'"
            . " AND case_no = '$c->{case_no}'"), '1', 'outbox event');
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'case.create'"
            . " AND object = 'case:$c->{case_no}'"), '1', 'audit entry');

$r = create(json => { %case, applicant => { type => 'org',
            name => '某某餐饮有限公司', id_no => '91350100M000100Y43',
            phone => '0731-84000001' } }, headers => $h{clerk});
is($r->{status}, 201, 'an organisation\'s case registered');
is(substr($r->{json}{case_no}, -6) - substr($c->{case_no}, -6), 1,
   'the next number of the day');

# refusals: each names its field, and writes nothing
my $n = count();
my @bad = (
    ['applicant.id_no', { applicant => { %person,
                                         id_no => '110105194912310021' } }],
    ['applicant.id_no', { applicant => { type => 'org', name => 'x',
                          id_no => '91350100M000100Y44',
                          phone => '13800000000' } }],
    ['applicant.phone', { applicant => { %person, phone => '12345' } }],
    ['applicant.type', { applicant => { %person, type => 'robot' } }],
    ['form.address', { form => {} }],
    ['form.unknown', { form => { address => 'x', unknown => 'y' } }],
    ['form.opening', { form => { address => 'x', opening => '2026-02-30' } }],
    ['form.legal_id', { form => { address => 'x', legal_id => '123' } }],
    ['materials', { materials => [{ code => 'M9', received => 1 }] }],
    ['project_name', { project_name => '' }],
    ['item_code', { item_code => 'NOPE' }],
    ['item_code', { item_code => 'T-002' }],
);
for my $b (@bad) {
    my ($field, $patch) = @$b;
    $r = create(json => { %case, %$patch }, headers => $h{clerk});
    is("$r->{status} " . ($r->{json}{error}{field} // ''),
       "422 $field", "refused: $field");
}
is(create(json => { %case, item_code => 'T-003' }, headers => $h{clerk})
       ->{json}{error}{code}, 'forbidden', 'an item of another department');
is(create(json => \%case, headers => $h{handler})->{status}, 403,
   'a handler cannot register');
is(create(json => \%case)->{status}, 401, 'nobody cannot register');
is(count(), $n, 'no refused registration wrote anything');

# Idempotency-Key: the same request again returns the first answer
my %k = (%{ $h{clerk} }, 'Idempotency-Key' => 'window-3-0001');
my $first = create(json => \%case, headers => \%k);
my $again = create(json => \%case, headers => \%k);
is($first->{status}, 201, 'with a key: created');
is($again->{status}, 201, 'again: 201');
is($again->{json}{case_no}, $first->{json}{case_no}, 'the same case');
is(count(), $n + 1, 'created once');
$r = create(json => { %case, project_name => '另一个' }, headers => \%k);
is("$r->{status} $r->{json}{error}{code}", '409 duplicate',
   'the same key with another body: 409');

# reading: the department's staff and supervisors above it
my $no = $c->{case_no};
$r = $t->req(GET => "/api/v1/cases/$no", tls => 1, headers => $h{clerk});
is($r->{status}, 200, 'read by its clerk');
is($r->{json}{project_name}, $case{project_name}, 'the same case');
is($t->req(GET => "/api/v1/cases/$no", tls => 1, headers => $h{handler})
       ->{status}, 200, 'read by a handler of the department');
is($t->req(GET => "/api/v1/cases/$no", tls => 1, headers => $h{clerk2})
       ->{status}, 403, 'not by another department');
is($t->req(GET => "/api/v1/cases/$no", tls => 1, headers => $h{sup})
       ->{status}, 200, 'a supervisor of the region reads it');
is($t->req(GET => '/api/v1/cases/43010220260101999999', tls => 1,
           headers => $h{clerk})->{status}, 404, 'unknown: 404');
is($t->req(GET => '/api/v1/cases/x', tls => 1, headers => $h{clerk})
       ->{status}, 404, 'not a number: 404');

# keeping a draft (临时保留): PATCH with the version
sub patch {
    my ($who, $body) = @_;
    $t->req(PATCH => "/api/v1/cases/$no", tls => 1, json => $body,
            headers => $h{$who});
}
$r = patch(clerk => { version => 1, project_name => '改过的名称',
                      materials => [{ code => 'M2', received => JSON::PP::true }] });
is($r->{status}, 200, 'draft changed');
is($r->{json}{version}, 2, 'version 2');
is($r->{json}{project_name}, '改过的名称', 'name changed');
is($r->{json}{applicant}{name}, '张三', 'the rest kept');
is($r->{json}{materials}[1]{received}, JSON::PP::true, 'M2 received now');
$r = patch(clerk => { version => 1, project_name => '旧版本' });
is("$r->{status} $r->{json}{error}{code}", '409 version_conflict',
   'a stale version: 409');
$r = patch(clerk => { version => 2, form => { address => '' } });
is("$r->{status} $r->{json}{error}{field}", '422 form.address',
   'a bad field: 422');
is(patch(clerk2 => { version => 2, project_name => 'x' })->{status}, 403,
   'another department: 403');
is($t->psql("SELECT version || project_name FROM cases"
            . " WHERE case_no = '$no'"), '2改过的名称',
   'refused changes wrote nothing');
$t->psql("UPDATE cases SET state = 'in_progress' WHERE case_no = '$no'");
$r = patch(clerk => { version => 2, project_name => 'x' });
is("$r->{status} $r->{json}{error}{code}", '409 invalid_state',
   'only drafts change: 409');

$t->stop;
done_testing;
