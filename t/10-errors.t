# The error format and codes of api.md, from the module and from nginx.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

my $t = GovSvc::Test->new(redis => 0);
$t->start;

sub is_error {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: status $status");
    like($res->{headers}{'content-type'} // '', qr{^application/json},
         "$name: JSON");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: code $code");
    ok(length($res->{json}{error}{message} // ''), "$name: a message")
        if $res->{json};
}

my $consult = '/api/v1/public/consultations';

is_error($t->req(GET => '/api/v1/nothing-here'), 404, 'not_found',
         'unknown path');
is_error($t->req(GET => '/sync/v1/nothing'), 404, 'not_found',
         'an unknown sync path');
is_error($t->req(GET => '/sync/v1/batches'), 405, 'method_not_allowed',
         'a sync path with another method');

my $r = $t->req(DELETE => '/api/v1/regions');
is_error($r, 405, 'method_not_allowed', 'wrong method');
like($r->{headers}{allow} // '', qr/GET/, '405 names the allowed methods');

is_error($t->req(POST => $consult, body => '{"title":"a","content":"b"}',
                 headers => { 'Content-Type' => 'text/plain' }),
         415, 'unsupported_media_type', 'text/plain body');
is_error($t->req(POST => $consult, body => '{}'),
         415, 'unsupported_media_type', 'no content type');

is_error($t->req(POST => $consult, body => '{"title": ',
                 headers => { 'Content-Type' => 'application/json' }),
         400, 'invalid_json', 'truncated JSON');
is_error($t->req(POST => $consult, body => "{\"title\":\"\xff\xfe\"}",
                 headers => { 'Content-Type' => 'application/json' }),
         400, 'invalid_json', 'invalid UTF-8');
is_error($t->req(POST => $consult, body => ('[' x 100) . (']' x 100),
                 headers => { 'Content-Type' => 'application/json' }),
         400, 'invalid_json', 'nested 100 deep');
is_error($t->req(POST => $consult, body => '[1,2]',
                 headers => { 'Content-Type' => 'application/json' }),
         400, 'invalid_request', 'an array, not an object');
is_error($t->req(POST => $consult, body => '',
                 headers => { 'Content-Type' => 'application/json' }),
         400, 'invalid_json', 'empty body');

$r = $t->req(POST => $consult, json => { title => 'x', content => 5 });
is_error($r, 422, 'validation_failed', 'content not a string');
is($r->{json}{error}{field}, 'content', '422 names the field');

$r = $t->req(POST => $consult, json => { content => 'x' });
is($r->{json}{error}{field}, 'title', 'missing title named');

$r = $t->req(POST => $consult,
             json => { title => 'x', content => 'y',
                       asker => { phone => "1380000'; DROP TABLE x;--" } });
is($r->{json}{error}{field}, 'asker.phone', 'phone checked');

# nginx's own 413: a declared length over client_max_body_size (1m)
my $big = '{"title":"' . ('x' x (1024 * 1024 + 10)) . '"}';
is_error($t->req(POST => $consult, body => $big,
                 headers => { 'Content-Type' => 'application/json' }),
         413, 'too_large', 'body over client_max_body_size');

# the same over chunked transfer encoding, where nginx finds out late
my $raw = $t->raw("POST $consult HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\n\r\n"
    . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big));
like($raw, qr{^HTTP/1\.1 413}, 'chunked body over the limit: 413');
like($raw, qr{"code":"too_large"}, 'chunked 413 in JSON');

# a malformed request line, refused by nginx before any module runs
$raw = $t->raw("GET /api/v1/regions HTTP/1.1 junk\r\n\r\n");
like($raw, qr{^HTTP/1\.1 400}, 'malformed request: 400');
like($raw, qr{"code":"invalid_request"}, 'malformed request in JSON');

# the same answers over TLS
is_error($t->req(GET => '/api/v1/nothing-here', tls => 1), 404,
         'not_found', 'TLS 404');

# a client certificate refused at the TLS layer (revoked): JSON 401
$t->revoke('clerk');
is_error($t->req(GET => '/healthz', tls => 1, cert => 'clerk'), 401,
         'certificate_unknown', 'revoked client certificate');
is($t->req(GET => '/healthz', tls => 1, cert => 'admin')->{status}, 200,
   'a valid client certificate passes');

# nothing above wrote anything
is($t->psql('SELECT count(*) FROM consultations'), '0',
   'no refused request wrote a row');

$t->stop;
done_testing;
