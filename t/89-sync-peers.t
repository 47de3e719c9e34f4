# Node to node (三级联动), the first part: /sync/v1 knows a peer by the
# region its verified node certificate names (subjectAltName
# urn:govsvc:node:CODE), never by a header; it answers this node's parent
# and children (and itself), refuses every other node, user certificates,
# revoked certificates and the certificate-less; GET /sync/v1/status
# reports the outbox and the children.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

sub status {
    my ($t, $cert, %o) = @_;
    return $t->req(GET => '/sync/v1/status', tls => $o{tls} // 1,
                   $cert ? (cert => "nodes/$cert") : (), %o);
}

# ---- a county (430102): its city is its parent -----------------------------

my $t = GovSvc::Test->new(demo => 1, redis => 0, node => '430102');
$t->start;

$t->refused(status($t, undef), 401, 'certificate_required',
            'no certificate');
$t->refused(status($t, undef, tls => 0), 401, 'certificate_required',
            'no TLS');
$t->refused($t->req(GET => '/sync/v1/status', tls => 1, cert => 'clerk'),
            403, 'forbidden', 'a user\'s certificate');
$t->refused(status($t, '430103', headers => { 'X-Node' => '430100' }), 403,
            'forbidden', 'a sibling county, whatever a header says');
$t->refused(status($t, '430000'), 403, 'forbidden',
            'the province is not the county\'s parent');

my $r = status($t, '430100');
is($r->{status}, 200, 'the parent city: 200') or diag $r->{body};
is($r->{json}{node}, '430102', 'this node');
is($r->{json}{level}, 'county', 'a county');
is($r->{json}{parent}, '430100', 'its parent');
my $last = $t->psql("SELECT coalesce(max(seq), 0) FROM outbox"
                    . " WHERE origin = '430102'");
is($r->{json}{outbox}{last}, $last, 'the outbox\'s last sequence');
is($r->{json}{outbox}{acknowledged}, 0, 'nothing acknowledged yet');
is($r->{json}{outbox}{lag_events}, $last, 'so all of it is lag');
is_deeply($r->{json}{children}, [], 'a county has no children');
is(status($t, '430102')->{status}, 200, 'the node itself: 200');

# a revoked node certificate no longer verifies
$t->revoke($t->ca_dir . '/nodes/430100.crt');
$t->refused(status($t, '430100'), 401, 'certificate_unknown',
            'the parent\'s revoked certificate');
$t->expect_log(qr/sync refused/);
$t->check_log;
$t->stop;

# ---- a city (430100): its counties are its children ------------------------

my $c = GovSvc::Test->new(demo => 1, redis => 0, node => '430100');
$c->start;

$r = status($c, '430102');
is($r->{status}, 200, 'a child county: 200') or diag $r->{body};
is($r->{json}{level}, 'city', 'a city');
is($r->{json}{parent}, '430000', 'its parent is the province');
is(scalar @{ $r->{json}{children} }, 1, 'the county that asked is known');
is($r->{json}{children}[0]{region}, '430102', 'by its certificate\'s region');
like($r->{json}{children}[0]{last_seen}, qr/\+08:00$/, 'seen just now');
status($c, '430103');
$r = status($c, '430000');
is($r->{status}, 200, 'the province, its parent: 200');
is_deeply([ map { $_->{region} } @{ $r->{json}{children} } ],
          [ '430102', '430103' ], 'both counties, not the province');
$c->check_log;
$c->stop;

done_testing();
