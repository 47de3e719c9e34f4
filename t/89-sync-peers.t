# Node to node (三级联动), the first part: /sync/v1 knows a peer by the
# region its verified node certificate names (subjectAltName
# urn:govsvc:node:CODE), never by a header; it answers this node's parent
# and children (and itself), refuses every other node, user certificates,
# revoked certificates and the certificate-less; GET /sync/v1/status
# reports the outbox and the children.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
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
# ---- batches from a child: applied once, in order, nothing half-done -------

# an event as govsvc_outbox_append() writes it: its hash covers the
# jsonb text of its data
sub event {
    my ($origin, $seq, %o) = @_;
    my $data = '{"state": "draft"}';
    my $case = $o{case} // "${origin}20261129" . sprintf('%06d', $seq);
    return { origin => $origin, seq => $seq, type => 'case.created',
             case_no => $case, at => '2026-11-29T09:00:00+08:00',
             data => { state => 'draft' },
             hash => $o{hash} // sha256_hex(join '|', $origin, $seq,
                                            'case.created', $case, $data) };
}
sub batch {
    my ($cert, @events) = @_;
    return $c->req(POST => '/sync/v1/batches', tls => 1,
                   cert => "nodes/$cert",
                   json => { origin => $cert, batch_id => 'b' . time,
                             events => \@events });
}
sub held { $c->psql("SELECT count(*) FROM sync_inbox") }

$r = batch('430102', map { event('430102', $_) } 1 .. 3);
is($r->{status}, 200, 'a batch of three from a child county') or diag $r->{body};
is_deeply($r->{json}{acked}, { 430102 => 3 }, 'acknowledged to 3');
is(held(), 3, 'three events held');
$r = batch('430102', map { event('430102', $_) } 1 .. 3);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => 3 } ],
          'the same batch again: acknowledged');
is(held(), 3, 'and applied once');
$r = batch('430102', map { event('430102', $_) } 2 .. 4);
is_deeply($r->{json}{acked}, { 430102 => 4 }, 'an overlapping batch: 4');
is(held(), 4, 'only the new one kept');
$r = batch('430102', map { event('430102', $_) } 1 .. 2);
is_deeply([ $r->{status}, $r->{json}{acked} ], [ 200, { 430102 => 2 } ],
          'held further: acknowledged no further than the batch went');
ok(!exists $r->{json}{diverged}, 'the same events: nothing diverged');
my $other = event('430102', 3, case => '43010220261129999999');
$r = batch('430102', event('430102', 2), $other, event('430102', 4));
is($r->{status}, 200, 'a batch with another event under a held number')
    or diag $r->{body};
is_deeply($r->{json}{diverged},
          { 430102 => { from => 3, held => 4, cases => {} } },
          'answered as diverged from there, with what is held (and no'
          . ' case of that origin held here)');
is_deeply($r->{json}{acked}, { 430102 => 4 }, 'acknowledged as compared');
is(held(), 4, 'nothing of it kept');
is($c->psql("SELECT case_no FROM sync_inbox WHERE seq = 3"),
   '43010220261129000003', 'the held event stays');

$r = batch('430102', event('430102', 5), event('430102', 7));
$c->refused($r, 409, 'sequence_gap', 'a gap');
is_deeply($r->{json}{error}{expected}, { 430102 => 6 },
          'with the sequence to resend from');
is(held(), 4, 'and nothing of the batch kept, 5 included');
$c->refused(batch('430102', event('430103', 1)), 403, 'forbidden',
            'a county pushing another county\'s events');
$c->refused(batch('430102', event('430102', 5, hash => '0' x 64)), 422,
            'validation_failed', 'an event whose hash is not its own');
$c->refused(batch('430000', event('430000', 1)), 403, 'forbidden',
            'the parent pushes no batch to its child');
$c->refused(batch('430102'), 422, 'validation_failed', 'an empty batch');
{
    # the connection closes after half of the body
    my ($sock) = $c->_connect(tls => 1, cert => 'nodes/430102');
    my $body = '{"events":[{"origin":"430102","seq":5';
    print $sock "POST /sync/v1/batches HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . (length($body) * 2) . "\r\n\r\n$body";
    close $sock;
    select(undef, undef, undef, 0.2);
}
is(held(), 4, 'a batch cut off mid-transfer: nothing applied');
is(status($c, '430000')->{json}{children}[0]{acknowledged}, 4,
   'the status shows what the child has acknowledged');

$c->check_log;
$c->stop;

done_testing();
