# Node to node (三级联动), forwarding (转报): a county forwards a case of
# an item decided by its city (result code 4 there); the city takes it up
# as one of its own when the county's event arrives, decides it, and the
# decision flows back down, so that the applicant's public query at the
# county shows it.
#
# Two nodes, each with its own database, under one development CA; sync
# is driven by hand: the county's outbox rows, as they are, go to the
# city with the county's node certificate, and the city's answer to
# GET /sync/v1/forwarded is applied at the county with psql.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $pw = 'a good password';
my $limit = 'govsvc_login_limit 100 1m;';
my $steps = '[{"code":"handle","name":"初审","role":"handler","days":4},'
          . '{"code":"approve","name":"决定","role":"approver","days":3}]';
my $materials = '[{"code":"M1","name":"申请书","required":true}]';

sub item {
    my ($t, $code, $region, $dept) = @_;
    my %v = (c => $code, r => $region, d => $dept, s => $steps,
             m => $materials);
    $t->psql(<<'SQL', %v);
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES (:'c', '000001', '测试许可 ' || :'c', '01', 2, :'d', :'r', 20, 10,
        :'m', '[]', :'s')
SQL
}
sub staff {
    my ($t, $dept, @who) = @_;
    my %h;
    for (@who) {
        # USERNAME, or USERNAME:ROLE
        my ($u, $role) = split /:/;
        $t->create_user(username => $u, name => "$u 某",
                        roles => [$role // $u], password => $pw,
                        department => $dept);
        $h{$u} = $t->auth($t->login($u, $pw));
    }
    return \%h;
}

# ---- the city: its own item F-001 -------------------------------------------

my $city = GovSvc::Test->new(demo => 1, node => '430100', http_extra => $limit);
$city->start;
my $cd = $city->psql("INSERT INTO departments (region, name)"
                     . " VALUES ('430100', '长沙市测试局') RETURNING id");
item($city, 'F-001', '430100', $cd);
my $ch = staff($city, $cd, qw(clerk handler approver));

# ---- the county: the city's item as received, and its own T-001 ------------

my $county = GovSvc::Test->new(demo => 1, node => '430102',
                               ca => $city->ca_dir, http_extra => $limit);
$county->start;
# as the catalog pull makes them: the city's department and item, with
# their region; the county's window staff of that item work in it
my $kcity = $county->psql("INSERT INTO departments (region, name)"
                          . " VALUES ('430100', '长沙市测试局') RETURNING id");
item($county, 'F-001', '430100', $kcity);
# received from the city too, but no longer the city's: it cannot take
# up what is forwarded on it
item($county, 'F-002', '430100', $kcity);
my $kd = $county->psql("INSERT INTO departments (region, name)"
                       . " VALUES ('430102', '芙蓉区测试局') RETURNING id");
item($county, 'T-001', '430102', $kd);
my $kh = staff($county, $kcity, qw(clerk handler));
%$kh = (%$kh, %{ staff($county, $kd, 'own_clerk:clerk') });

sub req_as {
    my ($t, $h, $method, $path, $who, $json) = @_;
    return $t->req($method => $path, tls => 1, headers => $h->{$who},
                   $json ? (json => $json) : ());
}
sub ok_is {
    my ($r, $status, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, $status, $what) or diag $r->{body};
    return $r->{json};
}
sub act {
    my ($t, $h, $c, $who, $json) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok_is(req_as($t, $h, POST => "/api/v1/cases/$c->{case_no}/actions",
                        $who, { version => $c->{version}, %$json }),
                 200, "$json->{action} by $who");
}
sub notice {
    my ($t, $h, $c, $json, $who) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return ok_is(req_as($t, $h, POST => "/api/v1/cases/$c->{case_no}/notices",
                        $who // 'clerk', $json), 201, "$json->{kind} notice");
}
sub accepted_case {
    my ($item, $name, $clerk) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = ok_is(req_as($county, $kh, POST => '/api/v1/cases', $clerk, {
        item_code => $item, project_name => $name,
        applicant => { type => 'person', name => '张三', id_type => 'id_card',
                       id_no => '11010519491231002X',
                       phone => '13800000000' },
        form => {}, materials => [{ code => 'M1',
                                    received => JSON::PP::true }] }),
        201, "county: registered $name");
    notice($county, $kh, $c, { kind => 'acceptance' }, $clerk);
    return act($county, $kh, $c, $clerk => { action => 'accept' });
}

# ---- forwarded at the county ------------------------------------------------

my $own = accepted_case('T-001', '芙蓉区自己的事项', 'own_clerk');
ok(!grep({ $_ eq 'forward' } @{ $own->{actions} }),
   'a case of a county item does not offer 转报');
my $r = req_as($county, $kh, POST => "/api/v1/cases/$own->{case_no}/actions",
               own_clerk => { action => 'forward', version => $own->{version},
                          opinion => '报市局' });
$county->refused($r, 409, 'invalid_state', 'forward of a county item');

my $c = accepted_case('F-001', '某某市级许可', 'clerk');
my $password = $c->{query_password};
like($password, qr/\S{6,}/, 'the query password of the accept answer');
ok(grep({ $_ eq 'forward' } @{ $c->{actions} }),
   'a case of a city item offers the window 转报');

$r = req_as($county, $kh, POST => "/api/v1/cases/$c->{case_no}/actions",
            handler => { action => 'forward', version => $c->{version},
                         opinion => '报市局' });
$county->refused($r, 403, 'forbidden', 'forward by a handler');
$r = req_as($county, $kh, POST => "/api/v1/cases/$c->{case_no}/actions",
            clerk => { action => 'forward', version => $c->{version} + 1,
                       opinion => '报市局' });
$county->refused($r, 409, 'version_conflict', 'forward of an old version');

my $f = act($county, $kh, $c, clerk => { action => 'forward',
                                         opinion => '须由市局决定，转报' });
is($f->{state}, 'completed', 'forwarded: completed here');
is($f->{result_code}, 4, 'result code 4 (转报)');
is($f->{result}, 'forwarded', 'result forwarded');
is_deeply($f->{forwarded}, { to => '430100', case_no => undef,
                             state => undef, result => undef,
                             result_code => undef, completed_at => undef },
          'forwarded to the city, not yet taken up');
is($county->psql("SELECT data->>'to' FROM outbox WHERE type = 'case.forward'"
                 . " AND case_no = :'c'", c => $c->{case_no}),
   '430100', 'its event names the city');
$r = req_as($county, $kh, POST => "/api/v1/cases/$c->{case_no}/actions",
            clerk => { action => 'forward', version => $f->{version},
                       opinion => 'x' });
$county->refused($r, 409, 'invalid_state', 'forwarded twice');

my $lost = accepted_case('F-002', '某某无主许可', 'clerk');
$lost = act($county, $kh, $lost, clerk => { action => 'forward',
                                            opinion => '转报' });

$r = $county->req(GET => "/api/v1/public/cases/$c->{case_no}"
                         . "?password=$password", tls => 1);
is($r->{status}, 200, 'the public query at the county') or diag $r->{body};
is($r->{json}{result_code}, 4, 'shows 转报');
is($r->{json}{steps}[-1]{name}, '转报', 'as its last step');
is($r->{json}{forwarded}{to}, '430100', 'to the city');

# the county's outbox as a batch for its city
my $batch = $county->psql(<<'SQL');
SELECT json_build_object('origin', '430102', 'batch_id', 't93',
         'events', json_agg(json_build_object('origin', origin, 'seq', seq,
             'type', type, 'case_no', case_no, 'at', govsvc_time(at),
             'data', data, 'hash', hash) ORDER BY seq))
FROM outbox WHERE origin = '430102'
SQL
my $last = $county->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");

# ---- taken up at the city ---------------------------------------------------

sub post_batch {
    return $city->req(POST => '/sync/v1/batches', tls => 1,
                      cert => 'nodes/430102', body => $batch,
                      headers => { 'Content-Type' => 'application/json' });
}
# the handler's 待办 read (and cached in Redis) before the case arrives
req_as($city, $ch, GET => '/api/v1/worklist?box=todo', 'handler');
my $cached = $city->req(GET => '/api/v1/worklist?box=todo', tls => 1,
                        headers => $ch->{handler});
is($cached->{headers}{'x-cache'}, 'hit', 'the 待办 before: cached');
is(scalar @{ $cached->{json}{items} }, 0, 'and empty');
$r = post_batch();
is($r->{status}, 200, 'the batch at the city') or diag $r->{body};
is_deeply($r->{json}{acked}, { 430102 => $last + 0 }, 'held whole');

my $no = $city->psql("SELECT case_no FROM cases WHERE forwarded_from = :'c'",
                     c => $c->{case_no});
like($no, qr/^430100\d{14}$/, 'a case of the city\'s own, by its number');
is($city->psql("SELECT count(*) FROM cases WHERE synced IS NOT NULL"
               . " AND case_no = :'c'", c => $c->{case_no}),
   1, 'beside the read-only copy of the county\'s case');
is($city->psql("SELECT problem FROM forwarded_in WHERE case_no = :'c'",
               c => $lost->{case_no}),
   'no item F-002 at 430100', 'a case of an item the city lacks: set aside');
is($city->psql("SELECT count(*) FROM cases WHERE forwarded_from = :'c'",
               c => $lost->{case_no}), 0, 'not taken up');

my $p = ok_is(req_as($city, $ch, GET => "/api/v1/cases/$no", 'handler'), 200,
              'the city\'s case');
is($p->{state}, 'in_progress', 'in progress');
is($p->{step}, 'handle', 'at the item\'s first step');
is($p->{department}{id}, $cd + 0, 'in the item\'s department');
ok(!$p->{read_only}, 'not read-only');
is($p->{project_name}, '某某市级许可', 'the project');
is($p->{applicant}{name}, '张三', 'the applicant');
is_deeply($p->{forwarded_from}, { node => '430102', case_no => $c->{case_no} },
          'where it came from');
is($city->psql("SELECT count(*) FROM outbox WHERE type = 'case.created'"
               . " AND case_no = :'n' AND data->'case'->>'state'"
               . " = 'in_progress'", n => $no),
   1, 'its own case.created goes on up');
my @todo = map { $_->{case_no} } @{
    ok_is(req_as($city, $ch, GET => '/api/v1/worklist?box=todo', 'handler'),
          200, 'the handler\'s 待办')->{items} };
is_deeply(\@todo, [ $no ], 'holds it');

sub forwarded {
    my ($cert, $since) = @_;
    return $city->req(GET => "/sync/v1/forwarded?since=$since", tls => 1,
                      cert => $cert);
}
my $early = forwarded('nodes/430102', 0);
is($early->{status}, 200, 'the county asks for its answers')
    or diag $early->{body};
is_deeply([ map { join ' ', map { $_ // '-' }
                  @$_{qw(case_no parent_case_no state problem)} }
            @{ $early->{json}{cases} } ],
          [ "$c->{case_no} $no in_progress -",
            "$lost->{case_no} - - no item F-002 at 430100" ],
          'one taken up, in progress; one set aside, and why');

# ---- decided at the city ----------------------------------------------------

$p = act($city, $ch, $p, handler => { action => 'pass', opinion => '同意' });
$p = act($city, $ch, $p, approver => { action => 'pass',
                                       opinion => '准予许可' });
notice($city, $ch, $p, { kind => 'approval_decision',
                         licence_no => 'SJ14301000000001',
                         valid_until => '2031-11-28' });
$p = act($city, $ch, $p, clerk => { action => 'complete', result => 'approved',
                                    licence_no => 'SJ14301000000001',
                                    valid_until => '2031-11-28' });
is($p->{state}, 'completed', 'completed at the city');
is($p->{result_code}, 0, 'with a licence');

$r = forwarded('nodes/430102', 0);
is($r->{status}, 200, 'the answers again') or diag $r->{body};
my $page = $r->{body};
my ($e) = grep { $_->{case_no} eq $c->{case_no} } @{ $r->{json}{cases} };
is(scalar @{ $r->{json}{cases} }, 2, 'both cases');
is_deeply([ @$e{qw(case_no parent_case_no state result result_code)} ],
          [ $c->{case_no}, $no, 'completed', 'approved', 0 ],
          'with the city\'s decision');
ok($e->{version} > $early->{json}{cases}[0]{version}, 'at a newer version');
is($r->{json}{cases}[-1]{case_no}, $c->{case_no}, 'the newest last');
is($r->{json}{next}, $e->{version}, 'next: its version');
ok(!$r->{json}{more}, 'no more');
is_deeply(forwarded('nodes/430102', $e->{version})->{json}{cases}, [],
          'nothing after it');

$r = forwarded('nodes/430103', 0);
is($r->{status}, 200, 'another county asks') or diag $r->{body};
is_deeply($r->{json}{cases}, [], 'and gets none of this county\'s cases');
$city->refused(forwarded('nodes/430000', 0), 403, 'forbidden',
               'the province');
$city->refused($city->req(GET => '/sync/v1/forwarded?since=0', tls => 1),
               401, 'certificate_required', 'no certificate');
$city->refused(forwarded('nodes/430102', 'x'), 422, 'validation_failed',
               'a bad since', 'since');

# ---- back down at the county ------------------------------------------------

sub apply_page {
    my ($body) = @_;
    return JSON::PP::decode_json($county->psql(
        "SELECT govsvc_forwarded_apply('430100', :'page'::jsonb)::text",
        page => $body));
}
is_deeply(apply_page($page), { next => $e->{version}, more => JSON::PP::false },
          'the page applied at the county');
is($county->psql("SELECT govsvc_forwarded_since('430100')"), $e->{version},
   'the version to ask from next');

my $q = $county->req(GET => "/api/v1/public/cases/$c->{case_no}"
                            . "?password=$password", tls => 1);
is($q->{status}, 200, 'the applicant asks at the county') or diag $q->{body};
is_deeply([ @{ $q->{json}{forwarded} }{qw(to case_no state result
                                          result_code)} ],
          [ '430100', $no, 'completed', 'approved', 0 ],
          'and sees the city\'s decision');
ok($q->{json}{forwarded}{completed_at}, 'and when');
my $k = ok_is(req_as($county, $kh, GET => "/api/v1/cases/$c->{case_no}",
                     'clerk'), 200, 'the county\'s case');
is($k->{forwarded}{case_no}, $no, 'shows it too');
is($k->{version}, $f->{version}, 'its own version unchanged');

is($county->psql("SELECT forward_result->>'problem' FROM cases"
                 . " WHERE case_no = :'c'", c => $lost->{case_no}),
   'no item F-002 at 430100', 'the case set aside: why, for the staff');

my $held = $county->psql("SELECT forward_result::text FROM cases"
                         . " WHERE case_no = :'c'", c => $c->{case_no});
apply_page($page);
apply_page($early->{body});
is($county->psql("SELECT forward_result::text FROM cases"
                 . " WHERE case_no = :'c'", c => $c->{case_no}),
   $held, 'applied twice, or an older page after it: no change');
is($county->psql("SELECT govsvc_forwarded_since('430100')"), $e->{version},
   'nor does the version go back');
eval { apply_page('{"cases": 1}') };
like($@, qr/validation_failed/, 'a malformed page is refused');

# ---- the same batch again ---------------------------------------------------

$r = post_batch();
is($r->{status}, 200, 'the same batch again') or diag $r->{body};
is($city->psql("SELECT count(*) FROM cases WHERE forwarded_from = :'c'",
               c => $c->{case_no}), 1, 'no second case');

$county->check_log;
$county->stop;
$city->check_log;
$city->stop;

done_testing();
