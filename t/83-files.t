# Material files (材料附件): uploads streamed to a content-addressed store
# with their SHA-256 computed on the way, the type checked against the
# leading bytes, the client's name kept as data only; downloads to those
# who may see the case; every refusal writing nothing, and the body of a
# refused upload discarded so that keep-alive stays right.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Digest::SHA qw(sha256_hex);
use File::Find ();
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);
use GovSvc::Test;

# The store: conf/development.conf's "govsvc_files files;", relative to
# nginx's prefix, the state folder, where client_body_temp_path is too
# (one file system: uploads are renamed).
# conf/govsvc-server.conf gives uploads a location of their own, where
# govsvc_upload_max_size alone limits the body (client_max_body_size 0).
my $t = GovSvc::Test->new(demo => 1, redis => 0,
                          http_extra => 'govsvc_login_limit 100 1m;');
$t->start;

my $dir = $t->dir;
my $store = "$dir/files";
my $tmp = "$dir/tmp/client_body";
ok(-d $store, 'nginx made the store at start');

my $dept = $t->psql("SELECT department FROM items WHERE code = '430102-XK-0001'");
my $other = $t->psql("SELECT id FROM departments WHERE region = '430102'"
                     . " AND name = '芙蓉区市场监督管理局'");
my %h = $t->case_staff($dept, $other);

sub new_case {
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $h{clerk},
        json => { item_code => '430102-XK-0001',
                  project_name => '芙蓉区某某餐馆食品经营许可',
                  applicant => { type => 'org', name => '长沙市某某餐饮有限公司',
                                 id_no => '91350100M000100Y43',
                                 phone => '0731-84561234' },
                  form => { address => '五一大道1号',
                            uscc => '91350100M000100Y43',
                            contact => '13800000000' },
                  materials => [{ code => 'M1',
                                  received => JSON::PP::true }] });
    is($r->{status}, 201, 'case registered') or diag $r->{body};
    return $r->{json}{case_no};
}

# X-File-Name: every byte but the unreserved ones percent-encoded
sub pct {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}
# what Content-Disposition must carry (RFC 8187, '~' encoded too)
sub disposition {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._-])/sprintf('%%%02X', ord $1)/ge;
    return "attachment; filename*=UTF-8''$s";
}
sub put {
    my ($no, $code, $bytes, %o) = @_;
    my %hd = (%{ $o{auth} // $h{clerk} },
              'Content-Type' => $o{type} // 'application/pdf',
              'X-File-Name' => $o{raw_name} // pct($o{name} // 'a.pdf'));
    delete $hd{'Content-Type'} if $o{no_type};
    delete $hd{'X-File-Name'} if $o{no_name};
    return $t->req(PUT => "/api/v1/cases/$no/materials/$code/files",
                   tls => 1, body => $bytes, headers => \%hd,
                   timeout => 60);
}
sub get_case {
    my ($no) = @_;
    return $t->req(GET => "/api/v1/cases/$no", tls => 1,
                   headers => $h{clerk})->{json};
}
sub get_file {
    my ($id, $who) = @_;
    return $t->req(GET => "/api/v1/files/$id", tls => 1,
                   headers => $h{$who // 'clerk'}, timeout => 60);
}
sub refused {
    my ($r, $status, $code, $what) = @_;
    is("$r->{status} " . ($r->{json}{error}{code} // '-'), "$status $code",
       "$what: $status $code") or diag $r->{body};
}
sub stored_path { "$store/" . substr($_[0], 0, 2) . "/$_[0]" }
sub slurp_file { GovSvc::Test::slurp($_[0]) }
sub files_in {
    my ($d) = @_;
    my @f;
    File::Find::find({ no_chdir => 1,
                       wanted => sub { push @f, $_ if -f $_ } }, $d)
        if -d $d;
    return sort @f;
}
sub rows { $t->psql('SELECT count(*) FROM case_files') }

# minimal files of each type
my $pdf = "%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n"
        . "<< /Root 1 0 R >>\n%%EOF\n";
my $jpeg = "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
         . "\x00\x00" . join('', map { chr(($_ * 7) % 256) } 0 .. 300)
         . "\xFF\xD9";
my $png = "\x89PNG\r\n\x1a\n\x00\x00\x00\x0DIHDR\x00\x00\x00\x01\x00\x00"
        . "\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
        . "\x00\x00\x00\x00IEND\xaeB`\x82";
# a ZIP whose first local entry is OFD.xml (GB/T 33190)
my $ofd_xml = '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD/>';
my $ofd = pack('a4 v v v v v V V V v v', "PK\x03\x04", 20, 0, 0, 0, 0, 0,
               length $ofd_xml, length $ofd_xml, 7, 0)
        . 'OFD.xml' . $ofd_xml;

my $no = new_case();
my $version = get_case($no)->{version};

# ---- uploads ------------------------------------------------------------

my %up;
for my $f (['pdf', 'M1', $pdf, 'application/pdf', '营业执照.pdf'],
           ['jpeg', 'M2', $jpeg, 'image/jpeg', '身份证 正面.jpg'],
           ['png', 'M3', $png, 'image/png', 'plan.png'],
           ['ofd', 'M4', $ofd, 'application/ofd', '平面图.ofd'])
{
    my ($kind, $code, $bytes, $type, $name) = @$f;
    my $r = put($no, $code, $bytes, type => $type, name => $name);
    is($r->{status}, 201, "$kind uploaded") or diag $r->{body};
    my $j = $r->{json};
    is($j->{sha256}, sha256_hex($bytes), "$kind: its SHA-256");
    is($j->{size}, length $bytes, "$kind: its size");
    is($j->{name}, $name, "$kind: its name, decoded");
    is($j->{content_type}, $type, "$kind: its type");
    like($j->{id}, qr/^\d+$/, "$kind: an id");
    my $p = stored_path($j->{sha256});
    ok(-f $p, "$kind: stored under its SHA-256");
    is(-f $p ? sha256_hex(slurp_file($p)) : '', $j->{sha256},
       "$kind: the stored bytes are the ones sent");
    $up{$kind} = { %$j, bytes => $bytes, code => $code };
}

my $c = get_case($no);
is($c->{version}, $version + 4, 'each file raised the case\'s version');
my %listed = map { my $m = $_; map { ($_->{id} => [$m->{code}, $_]) }
                                    @{ $m->{files} } } @{ $c->{materials} };
for my $kind (sort keys %up) {
    my $u = $up{$kind};
    is_deeply([$listed{$u->{id}}[0], @{ $listed{$u->{id}}[1] // {} }
                                       {qw(name size sha256 content_type)}],
              [$u->{code}, @$u{qw(name size sha256 content_type)}],
              "$kind: listed in materials[].files");
}
is($t->psql("SELECT count(*) FROM audit_log WHERE action = 'case.file_add'"),
   4, 'each upload audited');
is($t->psql("SELECT count(*) FROM outbox WHERE type = 'case.file_added'"),
   4, 'and in the outbox');

# ---- downloads ----------------------------------------------------------

for my $kind (sort keys %up) {
    my $u = $up{$kind};
    my $r = get_file($u->{id});
    is($r->{status}, 200, "$kind: downloaded");
    ok($r->{body} eq $u->{bytes}, "$kind: the same bytes");
    is($r->{headers}{'content-type'}, $u->{content_type},
       "$kind: the stored type");
    is($r->{headers}{'content-disposition'}, disposition($u->{name}),
       "$kind: an attachment with its UTF-8 name");
    like($r->{headers}{'x-content-type-options'}, qr/^nosniff\b/,
         "$kind: nosniff");
}
is(get_file($up{pdf}{id})->{headers}{'content-disposition'},
   "attachment; filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7.pdf",
   '营业执照.pdf as RFC 8187 says');
is(get_file($up{pdf}{id}, 'handler')->{status}, 200,
   'a handler of the department downloads');
is(get_file($up{pdf}{id}, 'sup')->{status}, 200,
   'a supervisor of the region downloads');
refused(get_file($up{pdf}{id}, 'clerk2'), 403, 'forbidden',
        'another department');
refused(get_file(999999999), 404, 'not_found', 'an unknown file');
refused(get_file('abc'), 404, 'not_found', 'a file id that is no number');
refused($t->req(GET => "/api/v1/files/$up{pdf}{id}", tls => 1), 401,
        'unauthenticated', 'nobody downloads');
my $r = $t->req(HEAD => "/api/v1/files/$up{png}{id}", tls => 1,
                headers => $h{clerk});
is("$r->{status} $r->{headers}{'content-length'} $r->{body}",
   "200 " . length($png) . ' ', 'HEAD: the length, no body');

# a name is data: "../../etc/passwd" is stored as it is, never as a path
my $evil = '../../etc/passwd';
$r = put($no, 'M2', $pdf . "evil\n", name => $evil);
is($r->{status}, 201, 'a name with "../" is accepted') or diag $r->{body};
is($r->{json}{name}, $evil, 'and kept as it was given');
ok(-f stored_path(sha256_hex($pdf . "evil\n")),
   'the file is stored under its SHA-256 all the same');
ok(!-e "$dir/etc/passwd" && !-e "$store/../etc/passwd",
   'nothing was written where the name points');
is(get_file($r->{json}{id})->{headers}{'content-disposition'},
   "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
   'its download names it, encoded');

# the same content twice: two rows, one stored file
my $before_files = () = files_in($store);
$r = put($no, 'M1', $pdf, name => '营业执照（副本）.pdf');
is($r->{status}, 201, 'the same content again');
is($r->{json}{sha256}, $up{pdf}{sha256}, 'the same SHA-256');
isnt($r->{json}{id}, $up{pdf}{id}, 'another row');
is(scalar(() = files_in($store)), $before_files, 'no second copy stored');
is(get_file($r->{json}{id})->{body}, $pdf, 'and it downloads');

# a name of 255 bytes is the most
my $long = '文' x 83 . 'a.pdf';    # 83 * 3 + 5 = 254 bytes
$r = put($no, 'M1', $pdf, name => $long . 'x');
is("$r->{status} " . length($r->{json}{name} // ''), '201 255',
   'a name of 255 bytes');

# ---- refusals: each writes nothing --------------------------------------

my $rejected = new_case();
$t->psql("UPDATE cases SET state = 'rejected' WHERE case_no = '$rejected'");

my $rows = rows();
my @stored = files_in($store);
my $v = get_case($no)->{version};
my $png_as_pdf = $png . 'not the same';

refused(put($no, 'M1', $pdf, type => 'image/png'), 415,
        'unsupported_media_type', 'a PDF declared image/png');
refused(put($no, 'M1', $png_as_pdf, type => 'application/pdf'), 415,
        'unsupported_media_type', 'a PNG declared a PDF');
refused(put($no, 'M1', "PK\x03\x04" . ("\0" x 22) . "\x0b\x00\x00\x00"
                       . 'content.xml', type => 'application/ofd'), 415,
        'unsupported_media_type', 'another ZIP declared OFD');
refused(put($no, 'M1', "just text\n", type => 'text/plain'), 415,
        'unsupported_media_type', 'text/plain');
refused(put($no, 'M1', $pdf, no_type => 1), 415, 'unsupported_media_type',
        'no Content-Type');
refused(put($no, 'M1', '', type => 'application/pdf'), 415,
        'unsupported_media_type', 'an empty body');
is(join(',', files_in($store)), join(',', @stored),
   'no refused type left a file in the store');

for my $bad (['missing', no_name => 1],
             ['empty', raw_name => ''],
             ['not UTF-8', raw_name => '%FF%FEa.pdf'],
             ['a line feed', raw_name => 'a%0Ab.pdf'],
             ['a C1 control', raw_name => 'a%C2%85b.pdf'],
             ['NUL', raw_name => 'a%00b.pdf'],
             ['malformed %', raw_name => 'a%zzb.pdf'],
             ['cut %', raw_name => 'ab.pdf%4'],
             ['256 bytes', name => $long . 'xy'])
{
    my ($what, @o) = @$bad;
    my $r = put($no, 'M1', $pdf, @o);
    is(join(' ', $r->{status}, $r->{json}{error}{code} // '-',
            $r->{json}{error}{field} // '-'),
       '422 validation_failed X-File-Name', "X-File-Name $what: 422");
}

refused(put($no, 'M9', $pdf), 404, 'not_found', 'no such material');
refused(put('43010220260101999999', 'M1', $pdf), 404, 'not_found',
        'no such case');
refused(put('x', 'M1', $pdf), 404, 'not_found', 'a case number that is none');
refused(put($no, 'M1', $pdf, auth => $h{clerk2}), 403, 'forbidden',
        'a clerk of another department');
refused(put($no, 'M1', $pdf, auth => $h{handler}), 403, 'forbidden',
        'a handler uploads nothing');
refused(put($no, 'M1', $pdf, auth => {}), 401, 'unauthenticated',
        'nobody uploads');
refused(put($rejected, 'M1', $pdf), 409, 'invalid_state',
        'a case that is no draft');
refused($t->req(POST => "/api/v1/cases/$no/materials/M1/files", tls => 1,
                headers => $h{clerk}, body => $pdf), 405,
        'method_not_allowed', 'POST');

is(rows(), $rows, 'no refusal added a row');
is(get_case($no)->{version}, $v, 'nor changed the case');
ok($t->eventually(sub { !files_in($tmp) }), 'no temporary file is left');

# ---- keep-alive after a refusal: the refused body is not a request -----

# two requests on one connection; the answers' status lines
sub pipelined {
    my (@req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->http_port, Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    syswrite($s, join '', @req);
    my ($buf, $deadline) = ('', time + 10);
    my $sel = IO::Select->new($s);
    while (time < $deadline) {
        next unless $sel->can_read(0.5);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    # a JSON body ends without a newline: the next status line follows it
    return join ' ', $buf =~ m{HTTP/1\.1 (\d{3}) }g;
}
my $host = 'Host: 127.0.0.1:' . $t->http_port . "\r\n";
my $body = '%PDF-' . ('x' x 20000);
my $auth = "Authorization: $h{clerk}{Authorization}\r\n";
my $next = "GET /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n";
my $put = "PUT /api/v1/cases/$no/materials/M1/files HTTP/1.1\r\n$host"
        . 'Content-Length: ' . length($body) . "\r\n";
is(pipelined("${put}Content-Type: application/pdf\r\n"
             . "X-File-Name: a.pdf\r\n\r\n$body", $next),
   '401 200', 'anonymous, with a body: 401, and the next request is served');
is(pipelined("$put${auth}Content-Type: text/plain\r\n"
             . "X-File-Name: a.pdf\r\n\r\n$body", $next),
   '415 200', 'a clerk, text/plain: 415, and the next request is served');
is(pipelined("$put${auth}Content-Type: application/pdf\r\n\r\n$body", $next),
   '422 200', 'no X-File-Name: 422, and the next request is served');
is(rows(), $rows, 'still no row');

# ---- a large upload streams ---------------------------------------------

my $big = '%PDF-1.7' . join('', map { pack('N', $_ * 2654435761 % 4294967296) }
                                   1 .. 5 * 1024 * 1024 / 4);
$r = put($no, 'M1', $big, name => 'big.pdf');
is($r->{status}, 201, 'a file of 5 MB') or diag $r->{body};
is($r->{json}{sha256}, sha256_hex($big), 'its SHA-256');
is($r->{json}{size}, length $big, 'its size');
my $g = get_file($r->{json}{id});
is("$g->{status} " . sha256_hex($g->{body}), '200 ' . sha256_hex($big),
   'downloads whole');

# ---- govsvc_upload_max_size ---------------------------------------------

{
    my $conf = "$dir/nginx.conf";
    my $text = slurp_file($conf);
    $text =~ s/govsvc_files files;/govsvc_files files; govsvc_upload_max_size 64k;/g
        or die 'no govsvc_files in nginx.conf';
    open my $fh, '>:raw', $conf or die "$conf: $!";
    print $fh $text;
    close $fh or die "$conf: $!";
    $t->reload;
}
$rows = rows();
@stored = files_in($store);
my $over = '%PDF-' . ('y' x (100 * 1024 - 5));
refused(put($no, 'M1', $over), 413, 'too_large',
        '100k over a limit of 64k (Content-Length)');
my $chunked = join('', map { sprintf("%x\r\n%s\r\n", 10240, $_) }
                           unpack('(a10240)*', $over)) . "0\r\n\r\n";
my $raw = $t->raw("PUT /api/v1/cases/$no/materials/M1/files HTTP/1.1\r\n"
                  . "${host}${auth}Content-Type: application/pdf\r\n"
                  . "X-File-Name: chunked.pdf\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\n$chunked",
                  timeout => 10);
my ($status) = $raw =~ m{^HTTP/1\.1 (\d{3})};
my ($code) = $raw =~ /"code":"(\w+)"/;
is("$status " . ($code // '-'), '413 too_large',
   '100k over a limit of 64k (chunked)');

# the same, the body arriving slowly: refused while it streams
sub slowly {
    my ($head, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->http_port, Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    syswrite($s, $head . substr($body, 0, 1000));
    Time::HiRes::sleep(0.3);
    for (my $o = 1000; $o < length $body; $o += 8192) {
        syswrite($s, substr($body, $o, 8192)) or last;
        Time::HiRes::sleep(0.01);
    }
    my ($buf, $deadline) = ('', time + 10);
    my $sel = IO::Select->new($s);
    while (time < $deadline) {
        next unless $sel->can_read(0.5);
        last unless sysread($s, $buf, 65536, length $buf);
    }
    close $s;
    return $buf;
}
$raw = slowly("PUT /api/v1/cases/$no/materials/M1/files HTTP/1.1\r\n"
              . "${host}${auth}Content-Type: application/pdf\r\n"
              . "X-File-Name: slow.pdf\r\nConnection: close\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n", $chunked);
($status) = $raw =~ m{^HTTP/1\.1 (\d{3})};
($code) = $raw =~ /"code":"(\w+)"/;
is(($status // '-') . ' ' . ($code // '-'), '413 too_large',
   '100k over a limit of 64k (chunked, arriving slowly)');
is(rows(), $rows, 'no row for them');
is(join(',', files_in($store)), join(',', @stored), 'and no file stored');
ok($t->eventually(sub { !files_in($tmp) }), 'nor a temporary one left');

my $slow = '%PDF-' . ('s' x 40000);
$raw = slowly("PUT /api/v1/cases/$no/materials/M1/files HTTP/1.1\r\n"
              . "${host}${auth}Content-Type: application/pdf\r\n"
              . "X-File-Name: slow.pdf\r\nConnection: close\r\n"
              . 'Content-Length: ' . length($slow) . "\r\n\r\n", $slow);
like($raw, qr{^HTTP/1\.1 201}, 'an upload arriving slowly');
like($raw, qr/"sha256":"${\ sha256_hex($slow)}"/, 'hashed as it came');

my $exact = '%PDF-' . ('z' x (64 * 1024 - 5));
$r = put($no, 'M1', $exact, name => 'exact.pdf');
is("$r->{status} " . ($r->{json}{size} // '-'), '201 65536',
   'exactly 64k is allowed');
$chunked = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                        unpack('(a5000)*', $pdf . 'chunked')) . "0\r\n\r\n";
$raw = $t->raw("PUT /api/v1/cases/$no/materials/M1/files HTTP/1.1\r\n"
               . "${host}${auth}Content-Type: application/pdf\r\n"
               . "X-File-Name: chunked.pdf\r\nConnection: close\r\n"
               . "Transfer-Encoding: chunked\r\n\r\n$chunked", timeout => 10);
like($raw, qr{^HTTP/1\.1 201}, 'a chunked upload under the limit');
like($raw, qr/"sha256":"${\ sha256_hex($pdf . 'chunked')}"/,
     'with its SHA-256');

$r = $t->req(GET => "/api/v1/files/$up{pdf}{id}", tls => 1,
             headers => { %{ $h{clerk} }, Range => 'bytes=0-4' });
is("$r->{status} $r->{body}", '206 %PDF-', 'a range of a file');

# ---- a stored file gone missing is the store's fault --------------------

$t->expect_log(qr/the store lost data/);
unlink stored_path($up{ofd}{sha256}) or die "unlink: $!";
refused(get_file($up{ofd}{id}), 500, 'internal', 'a file lost from the store');

# ---- without govsvc_files -----------------------------------------------

{
    my $conf = "$dir/nginx.conf";
    my $text = slurp_file($conf);
    $text =~ s/govsvc_files files;//g or die 'no govsvc_files in nginx.conf';
    open my $fh, '>:raw', $conf or die "$conf: $!";
    print $fh $text;
    close $fh or die "$conf: $!";
    $t->reload;
}
$rows = rows();
refused(put($no, 'M1', $pdf), 503, 'unavailable',
        'an upload where no store is configured');
refused(get_file($up{pdf}{id}), 503, 'unavailable',
        'a download where no store is configured');
is(pipelined("$put${auth}Content-Type: application/pdf\r\n"
             . "X-File-Name: a.pdf\r\n\r\n$body", $next),
   '503 200', 'its body discarded, the next request is served');
is(rows(), $rows, 'nothing written');
like(slurp_file($t->error_log), qr/\[error\].*govsvc_files is not configured/,
     'and the log says why');

$t->stop;
done_testing();
