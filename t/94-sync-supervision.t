# Node to node (三级联动), supervision up: a county's cards (issued,
# answered, revoked) and ratings reach its city with the county's events,
# and the city keeps a read-only copy of each, in the department of the
# case's copy: its supervisors list the county's cards, its statistics
# count them and the rating, no rectification opens there, and neither a
# card's revocation nor its answer is the city's to give.  An event that
# cannot be copied (no case copy here, data that does not fit) is held
# all the same.
#
# Two nodes, each with its own database, as t/90: the county (430102)
# drives a case through the API, its outbox rows go to the city (430100)
# with the city's certificate of the county.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $pw = 'a good password';
my $limit = 'govsvc_login_limit 100 1m;';

# ---- the county: a case carded, answered, completed, rated badly ----------

my $k = GovSvc::Test->new(demo => 1, redis => 0, node => '430102',
                          http_extra => $limit);
$k->start;

my $kd = $k->psql("INSERT INTO departments (region, name)"
                  . " VALUES ('430102', '芙蓉区测试局') RETURNING id");
$k->psql(<<"SQL");
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES ('T-IM', '000002', '即办事项', '01', 1, $kd, '430102', 5, 1,
        '[{"code":"M1","name":"申请表","required":true}]', '[]', '[]');
SQL
my %kh;
for my $u ([clerk => '张窗口', 'clerk'], [ksup => '周监督', 'supervisor']) {
    $k->create_user(username => $u->[0], name => $u->[1], roles => [$u->[2]],
                    password => $pw, department => $kd);
    $kh{$u->[0]} = $k->auth($k->login($u->[0], $pw));
}

sub ok_k {
    my ($method, $path, $who, $json, $status, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $k->req($method => $path, tls => 1, headers => $kh{$who},
                    $json ? (json => $json) : ());
    is($r->{status}, $status, "county: $what") or diag $r->{body};
    return $r->{json};
}
sub batch_of {
    my ($from, $to) = @_;
    return $k->psql(<<'SQL', f => $from, t => $to);
SELECT json_build_object('origin', '430102', 'batch_id', 't94-' || :'f',
         'events', json_agg(json_build_object('origin', origin, 'seq', seq,
             'type', type, 'case_no', case_no, 'at', govsvc_time(at),
             'data', data, 'hash', hash) ORDER BY seq))
FROM outbox WHERE origin = '430102' AND seq BETWEEN :'f' AND :'t'
SQL
}
sub last_seq {
    return $k->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");
}

my $c = ok_k(POST => '/api/v1/cases', 'clerk', {
    item_code => 'T-IM', project_name => '某某便利店',
    applicant => { type => 'person', name => '张三', id_type => 'id_card',
                   id_no => '11010519491231002X', phone => '13800000000' },
    form => {}, materials => [{ code => 'M1', received => JSON::PP::true }] },
    201, 'registered');
my $no = $c->{case_no};
ok_k(POST => "/api/v1/cases/$no/notices", 'clerk', { kind => 'acceptance' },
     201, 'acceptance notice');
$c = ok_k(POST => "/api/v1/cases/$no/actions", 'clerk',
          { version => $c->{version}, action => 'accept' }, 200, 'accepted');
my $password = $c->{query_password};

my $card = ok_k(POST => "/api/v1/supervision/cases/$no/cards", 'ksup',
                { color => 'yellow', reason => '材料审查拖延' }, 201,
                'a yellow card by the supervisor');
ok_k(POST => "/api/v1/cards/$card->{id}/response", 'clerk',
     { content => '已加派人手' }, 200, 'answered by the department');
$card = ok_k(GET => "/api/v1/cards?case_no=$no", 'ksup', undef, 200,
             'the card')->{items}[0];
is($card->{status}, 'answered', 'county: the card is answered');

ok_k(POST => "/api/v1/cases/$no/notices", 'clerk',
     { kind => 'approval_decision' }, 201, 'decision notice');
$c = ok_k(POST => "/api/v1/cases/$no/actions", 'clerk',
          { version => $c->{version}, action => 'complete',
            result => 'approved' }, 200, 'completed');
my $r = $k->req(POST => "/api/v1/public/cases/$no/evaluation",
                json => { password => $password, score => 5,
                          channel => 'web', comment => '太慢了' });
is($r->{status}, 201, 'county: rated 5 by the public') or diag $r->{body};
is($k->psql("SELECT count(*) FROM rectifications"), 1,
   'county: the bad rating opened a rectification there');
is($k->psql("SELECT count(*) FROM outbox WHERE type IN ('card.issue',"
            . " 'card.respond', 'case.evaluated', 'rectification.opened')"),
   4, 'county: each of them an event');

my $last1 = last_seq();
my $batch1 = batch_of(1, $last1);

# later, at the county: the card revoked
ok_k(POST => "/api/v1/supervision/cards/$card->{id}/revoke", 'ksup',
     { reason => '情况已核实' }, 200, 'the card revoked later');
my $revoked_at = $k->psql("SELECT govsvc_time(revoked_at) FROM cards"
                          . " WHERE id = :'i'", i => $card->{id});
my $last2 = last_seq();
is($k->psql("SELECT string_agg(type, ',') FROM outbox"
            . " WHERE origin = '430102' AND seq > :'s'", s => $last1),
   'card.revoke', 'county: one more event, the revocation');
my $batch2 = batch_of($last1 + 1, $last2);
$k->check_log;
$k->stop;

# ---- the city -----------------------------------------------------------------

my $t = GovSvc::Test->new(redis => 0, node => '430100', http_extra => $limit);
$t->start;

$t->create_user(username => 'sup', name => '陈监督', roles => ['supervisor'],
                password => $pw, department => $t->default_department);
my %h = (sup => $t->auth($t->login('sup', $pw)));

sub post {
    return $t->req(POST => '/sync/v1/batches', tls => 1,
                   cert => 'nodes/430102', body => $_[0],
                   headers => { 'Content-Type' => 'application/json' });
}
sub get {
    my ($who, $path) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->req(GET => $path, tls => 1, headers => $h{$who});
    is($r->{status}, 200, "$who: GET $path") or diag $r->{body};
    return $r->{json};
}
my $today = $t->psql("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date");
my $dept;
sub stats {
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $s = get(sup => "/api/v1/supervision/stats?department=$dept"
                       . "&from=$today&to=$today")->{items}[0];
    return join ' ', "issued $s->{cards_issued}",
        "revoked $s->{cards_revoked}",
        map { "$_ $s->{ratings}{$_}" } qw(good neutral bad);
}
# what the city writes of its own: none of it for a child's card
my $written = sub {
    join ',', map { $t->psql("SELECT count(*) FROM $_") }
        qw(outbox audit_log rectifications),
        'cards WHERE revoked_at IS NOT NULL OR response IS NOT NULL';
};

$r = post($batch1);
is($r->{status}, 200, 'the county\'s batch') or diag $r->{body};
is_deeply($r->{json}{acked}, { 430102 => $last1 + 0 },
          'acknowledged to the end');
$dept = $t->psql("SELECT department FROM cases WHERE case_no = :'c'",
                 c => $no);
is($t->psql("SELECT region || ' ' || name FROM departments WHERE id = :'d'",
            d => $dept), '430102 芙蓉区测试局',
   'the case\'s copy is in the city\'s department of the county\'s');

# ---- the card, as the city's supervisor sees it ------------------------------

my $list = get(sup => '/api/v1/cards');
is(scalar @{ $list->{items} }, 1, 'the city\'s card list holds the card');
my $kc = $list->{items}[0];
is($kc->{case_no}, $no, 'of the county\'s case');
is_deeply($kc->{department}, { id => $dept + 0, name => '芙蓉区测试局' },
          'in the city\'s department of that name');
is($kc->{region}, '430102', 'of the county');
is_deeply($kc->{item}, { code => 'T-IM', name => '即办事项' },
          'an item the city does not know, by the case\'s snapshot');
is(join(' ', @$kc{qw(color source reason status response)}),
   'yellow manual 材料审查拖延 answered 已加派人手', 'as the county has it');
is($kc->{issued_at}, $card->{issued_at}, 'issued when the county issued it');
is($kc->{responded_at}, $card->{responded_at}, 'answered when it was');
is($kc->{origin}, '430102', 'it names its origin');
ok($kc->{read_only}, 'read-only');
ok(!defined $kc->{issued_by}, 'the county\'s user is none of the city\'s');
is($t->psql("SELECT origin || ' ' || origin_id FROM cards WHERE id = :'i'",
            i => $kc->{id}), "430102 $card->{id}", 'the copy of the county\'s'
   . ' card by its id there');
is_deeply([ map { $_->{id} } @{ get(sup => "/api/v1/cards?department=$dept"
                                          . '&status=answered')->{items} } ],
          [ $kc->{id} ], 'filtered by department and status');

# ---- read-only ---------------------------------------------------------------

$t->create_user(username => 'clerk', name => '刘窗口', roles => ['clerk'],
                password => $pw, department => $dept);
$h{clerk} = $t->auth($t->login('clerk', $pw));
my $before = $written->();
$r = $t->req(POST => "/api/v1/supervision/cards/$kc->{id}/revoke", tls => 1,
             headers => $h{sup}, json => { reason => '市里撤销' });
$t->refused($r, 403, 'forbidden', 'the city\'s supervisor revokes');
is($r->{json}{error}{message}, 'a card of another node is read-only',
   'because it is a copy');
$r = $t->req(POST => "/api/v1/cards/$kc->{id}/response", tls => 1,
             headers => $h{clerk}, json => { content => '再次说明' });
$t->refused($r, 403, 'forbidden', 'the department answers again here');
is($r->{json}{error}{message}, 'a card of another node is read-only',
   'because it is a copy');
is($written->(), $before, 'and nothing was written');
is(get(sup => "/api/v1/cards?case_no=$no")->{items}[0]{status}, 'answered',
   'the copy is as it was');

# ---- the rating ---------------------------------------------------------------

is($t->psql("SELECT score || ' ' || channel || ' ' || comment FROM"
            . " evaluations WHERE case_no = :'c'", c => $no),
   '5 web 太慢了', 'the rating is kept with its case');
is($t->psql("SELECT count(*) FROM sync_inbox"
            . " WHERE type = 'rectification.opened'"), 1,
   'the county\'s rectification is held');
is($t->psql("SELECT count(*) FROM rectifications"), 0,
   'but no rectification opens at the city');
is_deeply(get(sup => '/api/v1/rectifications')->{items}, [],
          'nor does the city\'s list show one');

# ---- the statistics -------------------------------------------------------------

is(stats(), 'issued 1 revoked 0 good 0 neutral 0 bad 1',
   'the city\'s statistics count the county\'s card and rating');
my $county_row = get(sup => "/api/v1/supervision/stats?region=430102"
                            . "&from=$today&to=$today")->{items};
is_deeply([ map { $_->{department}{id} } @$county_row ], [ $dept + 0 ],
          'in the county\'s department, by region');

# ---- once -------------------------------------------------------------------------

$r = post($batch1);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => $last1 + 0 } ],
          'the same batch again: acknowledged');
is($t->psql("SELECT count(*) FROM cards") . ' '
   . $t->psql("SELECT count(*) FROM evaluations"), '1 1',
   'no second card nor rating');
is(stats(), 'issued 1 revoked 0 good 0 neutral 0 bad 1', 'counted once');

# ---- a later event of the card ----------------------------------------------------

$r = post($batch2);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => $last2 + 0 } ],
          'the revocation\'s batch') or diag $r->{body};
my $kr = get(sup => "/api/v1/cards?status=revoked")->{items};
is_deeply([ map { $_->{id} } @$kr ], [ $kc->{id} ],
          'the same copy, now revoked');
is(join(' ', @{ $kr->[0] }{qw(revoke_reason revoked_at response)}),
   "情况已核实 $revoked_at 已加派人手", 'when and why the county revoked it');
ok(!defined $kr->[0]{revoked_by}, 'by none of the city\'s users');
is($t->psql("SELECT count(*) FROM cards"), 1, 'still one card');
is(stats(), 'issued 1 revoked 1 good 0 neutral 0 bad 1',
   'the statistics count the revocation');

# ---- what cannot be copied is held ------------------------------------------------

# two events the county never sent: a card of a case the city has no copy
# of, and one whose colour no card has
my $odd = $t->psql(<<'SQL', s => $last2 + 1, c => $no);
SELECT json_build_object('origin', '430102', 'batch_id', 'odd',
    'events', json_agg(json_build_object('origin', '430102', 'seq', e.seq,
        'type', 'card.issue', 'case_no', e.case_no,
        'at', '2026-11-29T09:00:00+08:00', 'data', e.data,
        'hash', encode(sha256(convert_to(concat_ws('|', '430102', e.seq,
            'card.issue', e.case_no, e.data::text), 'UTF8')), 'hex'))
        ORDER BY e.seq))
FROM (VALUES (:'s'::bigint, '43010220261129000999',
              '{"id": 900, "color": "red", "source": "manual",
                "reason": "x", "issued_at": "2026-11-29T09:00:00+08:00"}'
              ::jsonb),
             (:'s'::bigint + 1, :'c',
              '{"id": 901, "color": "green", "source": "manual",
                "reason": "x", "issued_at": "2026-11-29T09:00:00+08:00"}'
              ::jsonb)) AS e (seq, case_no, data)
SQL
$r = post($odd);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => $last2 + 2 } ],
          'events that cannot be copied: acknowledged') or diag $r->{body};
is($t->psql("SELECT count(*) FROM sync_inbox WHERE seq > :'s'", s => $last2),
   2, 'held, to go on up');
is($t->psql("SELECT count(*) FROM cards"), 1, 'no card copied of them');
like(GovSvc::Test::slurp($t->dir . '/postgres.log'),
     qr{event 430102/\Q@{[ $last2 + 2 ]}\E \(card\.issue\) held but not copied},
     'the one that does not fit is in PostgreSQL\'s log');

$t->check_log;
$t->stop;

done_testing();
