# Node to node (三级联动), the catalog flowing down: a city answers its child
# counties GET /sync/v1/catalog?since=N with the items, departments and
# calendar days of its level and above changed after N (deletions as
# tombstones), page by page; a county applies the pages with
# govsvc_catalog_apply(), once, marking what it received, which its own
# administrator can then no longer change.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

# byte strings in and out, as GovSvc::Test passes them
my $JSON = JSON::PP->new->canonical->latin1;

# ---- the city (430100), its county 430102 pulling ---------------------------

my $c = GovSvc::Test->new(demo => 1, redis => 0, node => '430100');
$c->start;

sub pull {
    my ($since, %o) = @_;
    my $cert = $o{cert} // '430102';
    return $c->req(GET => '/sync/v1/catalog'
                   . (defined $since ? "?since=$since" : ''),
                   tls => 1, $cert eq 'none' ? () : (cert => "nodes/$cert"));
}

$c->refused(pull(0, cert => 'none'), 401, 'certificate_required',
            'no certificate');
$c->refused(pull(0, cert => '430000'), 403, 'forbidden',
            'the parent province pulls nothing from its child');
$c->refused(pull(0, cert => '430100'), 403, 'forbidden',
            'the node itself is not its child');
$c->refused($c->req(GET => '/sync/v1/catalog', tls => 1, cert => 'clerk'),
            403, 'forbidden', 'a user\'s certificate');
for my $bad ('abc', '-1', '1.5', '', '0x10', '1' x 19) {
    $c->refused(pull($bad), 422, 'validation_failed', "since=$bad", 'since');
}

# the city's own department and items; sql/demo.sql's rows belong to the
# county 芙蓉区 (430102), below the city: they do not flow down
my $dept = $c->default_department;
my $pw = 'a good password';
$c->create_user(username => 'cadmin', roles => ['admin'], password => $pw);
my $A = $c->auth($c->login('cadmin', $pw));

my %item = (
    code => '430100-XK-0001', basic_code => '000102001000',
    name => '市级食品生产许可', type => '01', case_type => 2,
    department => $dept + 0, legal_days => 20, promised_days => 10,
    materials => [{ code => 'M1', name => '申请书', required => JSON::PP::true }],
    fields => [{ name => 'address', label => '生产场所',
                 required => JSON::PP::true, type => 'text' }],
    steps => [{ code => 'handle', name => '初审', role => 'handler', days => 4 },
              { code => 'approve', name => '决定', role => 'approver',
                days => 3 }],
    fees => [], status => 'active');
sub api {
    my ($t, $auth, $method, $path, $json) = @_;
    return $t->req($method => $path, tls => 1, headers => $auth,
                   $json ? (json => $json) : ());
}
is(api($c, $A, POST => '/api/v1/items', \%item)->{status}, 201,
   'a city item');
is(api($c, $A, POST => '/api/v1/items',
       { %item, code => '430100-XK-0002', name => '市级药品经营许可' })
       ->{status}, 201, 'a second one');
is(api($c, $A, POST => '/api/v1/items',
       { %item, code => 'C-CLASH-1', name => '城市的事项' })->{status}, 201,
   'a third, whose code the county also uses');

my $r = pull(undef);
is($r->{status}, 200, 'a child county: 200') or diag $r->{body};
my $p = $r->{json};
is($p->{since}, 0, 'since defaults to 0');
is_deeply([ sort map { $_->{code} } @{ $p->{items} } ],
          [ '430100-XK-0001', '430100-XK-0002', 'C-CLASH-1' ],
          'the city\'s items, not the county\'s of the demo data');
my ($i1) = grep { $_->{code} eq '430100-XK-0001' } @{ $p->{items} };
is_deeply([ @{ $i1->{department} }{qw(region name)} ],
          [ '430100', '测试部门' ],
          'an item names its department by region and name');
like($i1->{department}{uid}, qr/^[0-9a-f-]{36}$/, 'and by its uid');
ok(!exists $i1->{department}{id}, 'not by this database\'s id');
is_deeply($i1->{steps}, $item{steps}, 'the item whole');
is_deeply([ map { "$_->{region} $_->{name}" } @{ $p->{departments} } ],
          [ '430100 测试部门' ], 'only the city\'s department');
my $days = $c->psql('SELECT count(*) FROM calendar_days');
is(scalar @{ $p->{calendar} }, $days, 'every calendar day');
is_deeply((grep { $_->{day} eq '2026-10-01' } @{ $p->{calendar} })[0],
          { day => '2026-10-01', kind => 'holiday', name => '国庆节' },
          'a day as day, kind and name');
ok(!$p->{more}, 'all in one page');
my $n0 = $p->{next};
ok($n0 > 0, 'the version to ask from next');
my @pages = ($r->{body});

$r = pull($n0);
is_deeply([ @{ $r->{json} }{qw(items departments calendar next more)} ],
          [ [], [], [], $n0, JSON::PP::false ],
          'from there: nothing new');

# a change after N is in the next pull, alone but for its department
$r = api($c, $A, PUT => '/api/v1/items/430100-XK-0002',
         { %item, code => undef, name => '市级药品经营许可（改）',
           version => 1 });
is($r->{status}, 200, 'an item changed') or diag $r->{body};
is(api($c, $A, DELETE => '/api/v1/calendar/2026-09-20')->{status}, 204,
   'a calendar day deleted');
$r = pull($n0);
$p = $r->{json};
is_deeply([ map { "$_->{code} $_->{name}" } @{ $p->{items} } ],
          [ '430100-XK-0002 市级药品经营许可（改）' ], 'the changed item');
is(scalar @{ $p->{departments} }, 1, 'with its department');
is_deeply($p->{calendar},
          [ { day => '2026-09-20', deleted => JSON::PP::true } ],
          'the deletion, as a tombstone');
ok($p->{next} > $n0, 'a later version');
push @pages, $r->{body};
my $n1 = $p->{next};

# rows from below, or received from elsewhere, do not flow down
$c->psql("INSERT INTO departments (region, name) VALUES ('430103', '天心区某局');"
         . "INSERT INTO calendar_days (day, kind, source)"
         . " VALUES ('2027-01-04', 'holiday', '430103')");
is_deeply([ @{ pull($n1)->{json} }{qw(departments calendar)} ], [ [], [] ],
          'a county\'s department, a day received from elsewhere: not sent');

# pages of at most 500 changes, in version order, nothing lost between them
$c->psql("INSERT INTO calendar_days (day, kind, name)"
         . " SELECT d::date, 'holiday', 'p' FROM generate_series("
         . "'2030-01-01'::date, '2030-01-01'::date + 599, '1 day') d");
$r = pull($n1);
$p = $r->{json};
is(scalar @{ $p->{calendar} }, 500, 'a page holds 500 changes');
ok($p->{more}, 'and says there are more');
push @pages, $r->{body};
$r = pull($p->{next});
is(scalar @{ $r->{json}{calendar} }, 100, 'the next page the rest');
ok(!$r->{json}{more}, 'and no more');
my %seen = map { $_->{day} => 1 }
           @{ $p->{calendar} }, @{ $r->{json}{calendar} };
is(scalar keys %seen, 600, 'every one of the 600 days, once');
push @pages, $r->{body};

# ---- the county (430102), its own database ----------------------------------

my $k = GovSvc::Test->new(demo => 1, redis => 0, node => '430102');
$k->start;

sub apply {
    my ($body) = @_;
    return $JSON->decode($k->psql(
        "SELECT govsvc_catalog_apply('430100', :'page'::jsonb)",
        page => $body));
}
sub since { $k->psql("SELECT govsvc_catalog_since('430100')") }
# the catalog as received, with the versions it has here
sub snapshot {
    $k->psql("SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
             . " SELECT concat_ws(',', code, name, department, source,"
             . "  catalog_version) x FROM items"
             . " UNION ALL SELECT concat_ws(',', uid, name, source,"
             . "  catalog_version) FROM departments"
             . " UNION ALL SELECT concat_ws(',', day, kind, name, source,"
             . "  catalog_version) FROM calendar_days) s");
}

# the county's own item under a code the city also has: it stays its own
$k->psql("INSERT INTO items (code, basic_code, name, type, case_type,"
         . " department, region, legal_days, promised_days)"
         . " SELECT 'C-CLASH-1', '000102001000', '区县的事项', '01', 1,"
         . "  min(id), '430102', 5, 5 FROM departments");

is(since(), 0, 'nothing pulled yet');
my $ans = apply($pages[0]);
is($ans->{next}, $n0, 'applied: next is the page\'s');
ok(!$ans->{more}, 'no more');
is_deeply($ans->{calendar_years}, [ 2026 ], 'the year whose days changed');
is_deeply($ans->{skipped}, [ 'item C-CLASH-1' ],
          'the item whose code is the county\'s own: skipped, named');
is(since(), $n0, 'the version held');
is($k->psql("SELECT concat_ws(' ', i.name, i.source, i.region, d.name,"
            . " d.region, d.source) FROM items i"
            . " JOIN departments d ON d.id = i.department"
            . " WHERE i.code = '430100-XK-0001'"),
   '市级食品生产许可 430100 430100 测试部门 430100 430100',
   'the city\'s item, in the city\'s department, marked as from 430100');
is($k->psql("SELECT concat_ws(' ', name, coalesce(source, 'own'))"
            . " FROM items WHERE code = 'C-CLASH-1'"), '区县的事项 own',
   'the county\'s own item left as it was');
is($k->psql("SELECT count(*) FROM calendar_days WHERE source = '430100'"),
   $days, 'the city\'s calendar, marked');

my $before = snapshot();
$ans = apply($pages[0]);
is($ans->{next}, $n0, 'the same page again: still at the version held');
is_deeply($ans->{calendar_years}, [], 'no day changed');
is(snapshot(), $before, 'nothing changed, not even a version');

# the next pages, in a loop as a puller does
my $loops = 0;
for my $body (@pages[1 .. $#pages]) {
    $ans = apply($body);
    $loops++;
}
ok(!$ans->{more}, "applied $loops more pages");
is(since(), $c->psql("SELECT govsvc_catalog_page('430100', '430102', "
                     . since() . ")->>'next'"), 'up to the city\'s version');
is($k->psql("SELECT name FROM items WHERE code = '430100-XK-0002'"),
   '市级药品经营许可（改）', 'the change arrived');
is($k->psql("SELECT count(*) FROM calendar_days WHERE day = '2026-09-20'"),
   0, 'the deleted day is gone');
is($k->psql("SELECT count(*) FROM calendar_days"
            . " WHERE day >= '2030-01-01' AND source = '430100'"), 600,
   'all 600 days of both pages');
is($k->psql("SELECT count(*) FROM departments WHERE region = '430103'"), 0,
   'nothing the city got from elsewhere');

# pulling everything again from the start writes nothing
$before = snapshot();
$k->psql("DELETE FROM sync_catalog");
$loops = 0;
do {
    $r = pull(since());
    $ans = apply($r->{body});
} while ($ans->{more} && ++$loops < 10);
is($loops, 1, 'from 0 again: two pages');
is(since(), $r->{json}{next}, 'to the city\'s version');
is(snapshot(), $before, 'and nothing rewritten, not even a version');

# a malformed page changes nothing
for my $bad ('{"items": 5}', '[]',
             '{"since": ' . since() . ', "next": 1, "more": false,'
             . ' "items": [], "departments": [], "calendar": []}',
             '{"since": ' . since() . ', "next": ' . (since() + 1)
             . ', "more": false, "items": [], "departments": [],'
             . ' "calendar": [{"day": "2026-02-30", "kind": "holiday"}]}',
             '{"since": ' . since() . ', "next": ' . (since() + 1)
             . ', "more": false, "items": [{"code": "X-1",'
             . ' "department": {"uid": "' . ('0' x 8) . '-0000-0000-0000-'
             . ('0' x 12) . '"}}], "departments": [], "calendar": []}')
{
    my $held = since();
    eval { apply($bad) };
    like($@, qr/validation_failed/, "malformed page refused: $bad");
    is(since(), $held, 'and nothing held');
}

# a department of a region this node has not heard of brings the region
my $uid = $k->psql("SELECT gen_random_uuid()");
$ans = apply($JSON->encode({
    since => since() + 0, next => since() + 0, more => JSON::PP::false,
    items => [], calendar => [],
    departments => [ { uid => $uid, region => '430211',
                       name => '天元区某局' } ] }));
is($k->psql("SELECT string_agg(concat_ws(' ', code, coalesce(parent, '-'),"
            . " level), ', ' ORDER BY code) FROM regions"
            . " WHERE code IN ('430200', '430211')"),
   '430200 430000 2, 430211 430200 3',
   'the region, and its city, are created');
is($k->psql("SELECT source || ' ' || name FROM departments WHERE uid = :'u'",
            u => $uid), '430100 天元区某局', 'with the department');

# ---- what came from above is not the county's to change ---------------------

$k->create_user(username => 'kadmin', roles => ['admin'], password => $pw);
my $K = $k->auth($k->login('kadmin', $pw));
my $rdept = $k->psql("SELECT id FROM departments"
                     . " WHERE source = '430100' AND region = '430100'");

my %city = (%item, department => $rdept + 0, code => undef, version => 1);
$k->refused(api($k, $K, PUT => '/api/v1/items/430100-XK-0001', \%city),
            403, 'forbidden', 'a received item: edit');
like(api($k, $K, PUT => '/api/v1/items/430100-XK-0001', \%city)
         ->{json}{error}{message}, qr/received from above, edit it at 430100/,
     'which says where to edit it');
$k->refused(api($k, $K, PUT => '/api/v1/items/430100-XK-0001',
                { %city, status => 'suspended' }),
            403, 'forbidden', 'a received item: suspend');
$k->refused(api($k, $K, PUT => "/api/v1/departments/$rdept",
                { phone => '0731-1' }),
            403, 'forbidden', 'a received department');
$k->refused(api($k, $K, PUT => '/api/v1/calendar/2026-10-01',
                { kind => 'workday' }),
            403, 'forbidden', 'a received calendar day: change');
$k->refused(api($k, $K, DELETE => '/api/v1/calendar/2026-10-01'),
            403, 'forbidden', 'a received calendar day: delete');
is($k->psql("SELECT concat_ws(' ', i.name, i.status, c.kind, d.phone IS NULL)"
            . " FROM items i, calendar_days c, departments d"
            . " WHERE i.code = '430100-XK-0001' AND c.day = '2026-10-01'"
            . " AND d.id = " . ($rdept + 0)),
   '市级食品生产许可 active holiday t', 'and none of them changed');

# its own rows stay its own to change
my $own = $k->psql("SELECT version FROM items WHERE code = '430102-XK-0001'");
$r = api($k, $K, PUT => '/api/v1/items/430102-XK-0001',
         { %item, code => undef, name => '食品经营许可（区）',
           department => $k->default_department + 0, version => $own + 0 });
is($r->{status}, 200, 'its own item: 200') or diag $r->{body};
is(api($k, $K, PUT => '/api/v1/calendar/2026-12-31',
       { kind => 'holiday', name => '区' })->{status}, 200,
   'its own calendar day: 200');
is(api($k, $K, DELETE => '/api/v1/calendar/2026-12-31')->{status}, 204,
   'and deleted: 204');

# the county's own changes are its own: the received rows stay as they were
# for the next page from the city
$r = api($c, $A, PUT => '/api/v1/items/430100-XK-0001',
         { %item, code => undef, name => '市级食品生产许可（改）',
           version => 1 });
is($r->{status}, 200, 'the city changes its item again');
$r = pull(since());
$ans = apply($r->{body});
is($k->psql("SELECT name FROM items WHERE code = '430100-XK-0001'"),
   '市级食品生产许可（改）', 'and the county has it with the next pull');
is(since(), $r->{json}{next}, 'at the version the page gave');

$k->check_log;
$k->stop;
$c->check_log;
$c->stop;

done_testing();
