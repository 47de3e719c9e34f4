# The build: the module loads into the stock /usr/sbin/nginx with the
# shipped development configuration, and the stack answers /healthz over
# https (verified against the development CA) and plain http.

use strict;
use warnings;
use Test::More;
use GovSvc::Test;

ok(-e $ENV{GOVSVC_MODULE}, "module built: $ENV{GOVSVC_MODULE}")
    or BAIL_OUT('run `make module` first');

my $t = GovSvc::Test->new(redis => 1);
$t->start;    # renders conf/development.conf and runs `nginx -t` itself

my ($ok, $out) = $t->nginx_t;
ok($ok, 'nginx -t on the rendered development.conf') or diag $out;
like(GovSvc::Test::slurp($t->dir . '/nginx.conf'),
     qr/^load_module \Q$ENV{GOVSVC_MODULE}\E;$/m, 'the built module is loaded');
is(scalar(my @w = $t->worker_pids), 2, 'two workers running');

# a certificate of the dev CA that nginx itself would accept
for my $f (qw(ca.crt ca.crl server.crt server.key users/admin.crt
              nodes/430102.crt)) {
    ok(-s $t->ca_dir . "/$f", "dev CA: $f");
}
is(sprintf('%o', (stat $t->ca_dir . '/ca.key')[2] & 0777), '600',
   'CA key is 0600');

my $want = { status => 'ok', postgres => 'ok', redis => 'ok' };

my $r = $t->req(GET => '/healthz', tls => 1);
is($r->{status}, 200, 'https /healthz: 200') or diag explain $r;
like($r->{headers}{'content-type'} // '', qr{^application/json},
     'https /healthz: JSON');
is_deeply($r->{json}, $want, 'https /healthz: all ok');
is($r->{headers}{'x-content-type-options'}, 'nosniff',
   'security headers present');
like($r->{headers}{'strict-transport-security'} // '', qr/max-age=/,
     'HSTS on https');

$r = $t->req(GET => '/healthz', tls => 1, cert => 'admin');
is($r->{status}, 200, 'https /healthz with a client certificate: 200');

$r = $t->req(GET => '/healthz');
is($r->{status}, 200, 'http /healthz: 200') or diag explain $r;
is_deeply($r->{json}, $want, 'http /healthz: all ok');

# TLS verification really happens: a wrong expected name fails
$r = $t->req(GET => '/healthz', tls => 1,
             ssl => { SSL_verifycn_name => 'not-localhost' });
is($r->{status}, 599, 'TLS: wrong host name refused by the client');

$t->stop;
done_testing;
