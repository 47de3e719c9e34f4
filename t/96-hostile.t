# Hostile input against every endpoint (R6): the route tables are read
# from ngx_govsvc_api.c, so a new route is covered the day it is added.
# Malformed, deeply nested, non-UTF-8, wrong-typed, oversized and cut-off
# bodies, hostile path segments and query strings each answer a 4xx JSON
# error and write nothing; SQL and HTML in every string field never get a
# 5xx and leave the database whole; a replayed token after logout is
# refused everywhere; slow clients hold no worker; no 5xx in the access
# log, no alert in the error log.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use GovSvc::Test;

$SIG{PIPE} = 'IGNORE';

my $t = GovSvc::Test->new(demo => 1, redis => 1,
                          public_write_limit => '100000 1m',
                          http_extra => 'govsvc_login_limit 1000 1m;'
                                        . ' govsvc_public_query_limit'
                                        . ' 100000 1m;');
$t->start;

# ---- the routes -----------------------------------------------------------

my $src = GovSvc::Test::slurp("$ENV{GOVSVC_ROOT}/ngx_govsvc_module/"
                              . 'ngx_govsvc_api.c');
my @routes;
while ($src =~ /\{\s*([A-Z_|]+),\s*"(\/[^"]+)",\s*\w+,\s*([\w|]+),\s*
                ([\w|()~&\s]+?),\s*"/gx)
{
    my ($m, $path, $flags, $roles) = ($1, $2, $3, $4);
    my @methods = $m eq 'GET' ? ('GET')
                : map { s/^NGX_HTTP_//r } split /\|/, $m;
    push @routes, { method => $_, path => $path,
                    json => scalar($flags =~ /JSON/),
                    public => scalar($roles eq '0') } for @methods;
}
cmp_ok(scalar @routes, '>=', 50, scalar(@routes) . ' routes read from the'
       . ' route tables');

# ---- a user with every role, a case, an item ------------------------------

my $dept = $t->default_department;
my $pw = 'a good password';
$t->create_user(username => 'all', name => '全能',
                roles => [qw(admin clerk handler reviewer approver
                             supervisor)],
                password => $pw, department => $dept);
my $auth = $t->auth($t->login('all', $pw));
# the user the /users/{id} routes aim at, so that 'all' stays signed in
my $target = $t->create_user(username => 'target', name => 'target',
                             roles => ['clerk'], password => $pw,
                             department => $dept);
$t->add_item('H-001', materials => [[M1 => '申请书']],
             steps => [[handle => '初审', handler => 4]]);
my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $auth,
                json => { item_code => 'H-001', project_name => '项目',
                          applicant => GovSvc::Test::person(),
                          form => {}, materials => [] });
is($r->{status}, 201, 'a case to aim at') or diag $r->{body};
my $case_no = $r->{json}{case_no};

sub fill {
    my ($path, $seg) = @_;
    my $n = 0;
    return $path =~ s/\{\}/$n++ ? '1' : $seg/ger;
}
sub plausible {
    my ($path) = @_;
    return fill($path, $path =~ m{/cases/\{\}} ? $case_no
                     : $path =~ m{/items/\{\}} ? 'H-001'
                     : $path =~ m{/regions/\{\}} ? '430102'
                     : $path =~ m{/calendar/\{\}} ? '2026-12-31'
                     : $path =~ m{/users/\{\}} ? $target
                     : '1');
}
sub send_as {
    my ($route, $path, %o) = @_;
    my $sync = $path =~ m{^/sync/};
    return $t->req($route->{method} => $path, tls => 1,
                   $sync ? (cert => 'nodes/430100') : (headers => $auth),
                   %o,
                   $sync || !$o{headers} ? ()
                       : (headers => { %$auth, %{ $o{headers} } }));
}

# every row count of the database, as one string
my $counts_sql = <<'SQL';
SELECT string_agg(format('%s=%s', c.relname,
       (xpath('/row/n/text()', query_to_xml(
           format('SELECT count(*) AS n FROM %I', c.relname),
           false, true, '')))[1]::text), ',' ORDER BY c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
SQL
sub counts { $t->psql($counts_sql) }

# a 4xx with api.md's error object
my @bad;
sub refused_ok {
    my ($r, $what) = @_;
    my $ok = $r->{status} >= 400 && $r->{status} < 500
        && ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
        && defined $r->{json}{error}{code};
    push @bad, "$what: $r->{status} " . substr($r->{body} // '', 0, 120)
        unless $ok;
}

# ---- malformed bodies: a 4xx each, nothing written ------------------------

my $deep = ('[' x 5000) . (']' x 5000);
my %bodies = (
    'malformed JSON'   => '{"a": ',
    'nested 5000 deep' => $deep,
    'invalid UTF-8'    => qq({"title": "\xff\xfe\xc0\xaf"}),
    'a JSON array'     => '[1, 2, 3]',
    'a NUL byte'       => qq({"title": "a\x00b"}),
);
my $before = counts();
my $n = 0;
for my $route (grep { $_->{json} } @routes) {
    my $path = plausible($route->{path});
    for my $what (sort keys %bodies) {
        my $r = send_as($route, $path, body => $bodies{$what},
                        headers => { 'Content-Type' => 'application/json' });
        refused_ok($r, "$route->{method} $route->{path}: $what");
        $n++;
    }
    refused_ok(send_as($route, $path, body => '{"title":"x"}',
                       headers => { 'Content-Type' => 'text/plain' }),
               "$route->{method} $route->{path}: text/plain");
    refused_ok(send_as($route, $path,
                       body => '{"t":"' . ('x' x (1024 * 1024 + 10)) . '"}',
                       headers => { 'Content-Type' => 'application/json' }),
               "$route->{method} $route->{path}: over 1 MB");
    $n += 2;
}
is(counts(), $before, "$n malformed bodies against every JSON route: nothing"
   . ' written');

# ---- bodies cut off mid-transfer --------------------------------------------

for my $route (grep { $_->{json} } @routes) {
    my $path = plausible($route->{path});
    my ($s) = $t->_connect(tls => 1,
                           $path =~ m{^/sync/} ? (cert => 'nodes/430100')
                                               : ());
    my $body = '{"title": "half of a bo';
    print $s "$route->{method} $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: $auth->{Authorization}\r\n"
        . "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        . $body;
    close $s;
}
sleep 0.3;
is(counts(), $before, 'a body cut off on every JSON route: nothing written');

# ---- hostile path segments and query strings -------------------------------

my @segments = ('..%2F..%2Fetc%2Fpasswd', '%00', '%27%3B%20DROP%20TABLE'
                . '%20cases%3B--', '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
                'x' x 3000, '%E4%B8', '-1', '99999999999999999999999');
my $queries = '?limit=-1&cursor=%00%ff%27&from=2026-02-30&to=x&q='
    . ('%27' x 200) . '&state=%3Cb%3E&level=1%20OR%201%3D1';
for my $route (@routes) {
    my @paths = $route->{path} =~ /\{\}/
        ? map { fill($route->{path}, $_) } @segments
        : ();
    push @paths, plausible($route->{path}) . $queries
        if $route->{method} eq 'GET';
    for my $p (@paths) {
        my $r = send_as($route, $p,
                        $route->{json}
                        ? (json => { version => 1, action => 'x' }) : ());
        push @bad, "$route->{method} $p: $r->{status}"
            if $r->{status} >= 500 || ref $r->{json} ne 'HASH';
    }
}
# a query string whose arguments would not be UTF-8 without NUL
for my $q ('q=a%00b', 'q=%ff', 'q=%E4%B8', 'q=100%', 'cursor=%C0%AF') {
    my $r = $t->req(GET => "/api/v1/items?$q", tls => 1);
    is(join(' ', $r->{status}, $r->{json}{error}{code} // '-'),
       '400 invalid_request', "?$q: 400 invalid_request");
}
is(counts(), $before, 'hostile path segments and query strings: nothing'
   . ' written');

# ---- SQL and HTML in every string field ------------------------------------

my $sql = q{x'); DROP TABLE cases; --};
my $html = q{<script>alert("x")</script><img src=x onerror=alert(1)>};
sub poison {
    my ($v, $s) = @_;
    return ref $v eq 'HASH'  ? { map { $_ => poison($v->{$_}, $s) } keys %$v }
         : ref $v eq 'ARRAY' ? [ map { poison($_, $s) } @$v ]
         : !ref $v && defined $v && $v !~ /^-?\d+$/ ? $s
         : $v;
}
# a body with the fields the routes read, every string replaced
my %template = (
    title => 't', content => 'c', reason => 'r', opinion => 'o',
    name => 'n', username => 'u', password => 'p', phone => '13800000000',
    item_code => 'H-001', project_name => 'p', kind => 'acceptance',
    action => 'pass', version => 1, code => 'c', region => '430102',
    applicant => { type => 'person', name => 'n', id_type => 'id_card',
                   id_no => '11010519491231002X', phone => '13800000000' },
    form => { a => 'b' }, asker => { name => 'n', phone => '13800000000' },
    materials => [{ code => 'M1', name => 'm' }], comment => 'c',
    reply => 'r', visibility => 'public', color => 'yellow',
    response => 'r', day => '2026-12-31', licence_no => 'l',
);
for my $route (grep { $_->{json} } @routes) {
    my $path = plausible($route->{path});
    for my $s ($sql, $html) {
        my $r = send_as($route, $path, json => poison(\%template, $s));
        push @bad, "$route->{method} $route->{path} with "
            . substr($s, 0, 10) . ": $r->{status} "
            . substr($r->{body} // '', 0, 120)
            if $r->{status} >= 500
               || ($r->{status} != 204 && ref $r->{json} ne 'HASH');
    }
}
is($t->psql('SELECT count(*) FROM cases WHERE case_no = :\'c\'',
            c => $case_no), 1, 'SQL in every field: the cases are all there');
$r = $t->req(POST => '/api/v1/public/consultations', tls => 1,
             json => { title => $sql, content => $html });
is($r->{status}, 201, 'a question of SQL and HTML is taken')
    or diag $r->{body};
is($t->psql("SELECT count(*) FROM consultations WHERE title = :'s'"
            . " AND content = :'h'", s => $sql, h => $html),
   1, 'and stored as the text sent, nothing run');

# ---- a token replayed after logout ---------------------------------------------

my $old = $t->login('all', $pw);
my $old_auth = $t->auth($old);
is($t->req(DELETE => '/api/v1/sessions/current', tls => 1,
           headers => $old_auth)->{status}, 204, 'signed out');
for my $route (grep { !$_->{public} && $_->{path} =~ m{^/api/} } @routes) {
    # (a body's media type is checked before the session: send the right
    # one, so that the session is what is refused)
    my $pem = $route->{path} =~ m{/certificates$};
    my $r = $t->req($route->{method} => plausible($route->{path}), tls => 1,
                    headers => { %$old_auth, $pem ? ('Content-Type'
                                 => 'application/x-pem-file') : () },
                    $route->{json} ? (json => {}) : $pem ? (body => 'x')
                                                         : ());
    push @bad, "replayed token: $route->{method} $route->{path}:"
        . " $r->{status}" unless $r->{status} == 401;
}

# ---- slow clients hold no worker --------------------------------------------------

my @slow;
for (1 .. 60) {
    my ($s) = $t->_connect(tls => 0);
    print $s "POST /api/v1/public/consultations HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    push @slow, $s;
}
my $t0 = time;
$r = $t->req(GET => '/api/v1/regions/430102', tls => 1);
my $took = time - $t0;
is($r->{status}, 200, '60 clients trickling bodies: others are served');
cmp_ok($took, '<', 1, sprintf('at once (%.3f s)', $took));
close $_ for @slow;

is_deeply(\@bad, [], 'every hostile request answered a 4xx JSON error'
          . ' (malformed) or no 5xx (the rest)');

# ---- no 5xx anywhere, no alert --------------------------------------------------

sleep 1.2;    # the access log's buffer (flush=1s)
my @five = grep { / (5\d\d) \d+ [\d.]+ / } split /\n/,
    GovSvc::Test::slurp($t->dir . '/access.log');
is(scalar @five, 0, 'no 5xx in the access log') or diag join "\n",
    @five[0 .. ($#five < 9 ? $#five : 9)];
$t->check_log;
$t->stop;

done_testing();
