# The Debian package (make deb): installed on the machine's stock nginx,
# the module is enabled the way Debian enables its own libnginx-mod-*,
# the stock configuration still passes nginx -t, a stack runs from the
# installed module and configuration, the migration runner and the audit
# verifier work from their installed place; removed and purged, nothing
# of it is left.

use strict;
use warnings;
use Test::More;
use File::Temp ();
use GovSvc::Test;

my ($deb) = grep { !/dbgsym/ }
    glob "$ENV{GOVSVC_ROOT}/build/deb/libnginx-mod-http-govsvc_*.deb";
plan skip_all => 'installs a package: needs root' if $> != 0;
plan skip_all => 'no package: make deb' unless $deb;
plan skip_all => 'libnginx-mod-http-govsvc is installed already: not ours'
    . ' to remove'
    if `dpkg-query -W -f='\${Status}' libnginx-mod-http-govsvc 2>/dev/null`
       =~ /install ok installed/;

my $so = '/usr/lib/nginx/modules/ngx_govsvc_module.so';
my $link = '/etc/nginx/modules-enabled/50-mod-http-govsvc.conf';

sub run {
    my $cmd = join ' ', map { quotemeta } @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run('dpkg', '-i', $deb);
is($rc, 0, 'dpkg -i') or diag $out;
ok(-f $so, 'the module in nginx\'s module folder');
is(readlink($link), '/usr/share/nginx/modules-available/mod-http-govsvc.conf',
   'enabled through modules-enabled');
like(GovSvc::Test::slurp($link), qr{^load_module modules/ngx_govsvc_module\.so;}m,
     'which loads it');
like(`dpkg-query -W -f='\${Depends}' libnginx-mod-http-govsvc`,
     qr/nginx-abi-[\d.]+-\d+/, 'it depends on this nginx\'s exact ABI');
($rc, $out) = run('/usr/sbin/nginx', '-t', '-q');
is($rc, 0, 'the stock nginx.conf, with the module loaded: nginx -t')
    or diag $out;
($rc, $out) = run('/usr/sbin/nginx', '-t');
unlike($out, qr/govsvc/,
       'and the module, without a govsvc_* directive there, says nothing');
{
    # the stock nginx with the module loaded and nothing of it configured:
    # its worker starts no thread (the password pool is a node's)
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $port = GovSvc::Test::free_port();
    open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
    print $fh "load_module $so;\npid $dir/nginx.pid;\n"
        . "error_log $dir/error.log;\nworker_processes 1;\n"
        . "events {}\nhttp { access_log off;"
        . " server { listen 127.0.0.1:$port; } }\n";
    close $fh;
    ($rc, $out) = run('/usr/sbin/nginx', '-p', $dir, '-c', "$dir/nginx.conf");
    is($rc, 0, 'the stock nginx runs with the module loaded') or diag $out;
    my $master = GovSvc::Test::slurp("$dir/nginx.pid") =~ s/\s+//gr;
    my ($worker) = `pgrep -P $master` =~ /(\d+)/;
    my ($threads) = GovSvc::Test::slurp("/proc/$worker/status")
        =~ /^Threads:\s+(\d+)/m;
    is($threads, 1, 'and its worker starts no thread of the module\'s');
    kill 'QUIT', $master;
    for (1 .. 50) {
        last unless kill 0, $master;
        select(undef, undef, undef, 0.1);
    }
}
ok(-f '/usr/share/govsvc/sql/0001_regions_departments_calendar.sql'
   && -f '/usr/share/govsvc/conf/county.conf', 'migrations and examples');
ok(-f '/usr/share/govsvc/html/staff/index.html'
   && glob('/usr/share/govsvc/html/assets/staff.*.js'),
   'the built web pages, assets fingerprinted');
($rc) = run('/usr/sbin/govsvc-migrate');
is($rc, 2, 'govsvc-migrate without a database: its usage');

# a stack from the installed module and example configuration
my $t = GovSvc::Test->new(module => $so, redis => 0,
                          html_root => '/usr/share/govsvc/html',
                          template => '/usr/share/govsvc/conf/'
                                      . 'development.conf');
$t->start;
my $r = $t->req(GET => '/healthz', tls => 1);
is($r->{status}, 200, 'the installed module serves /healthz')
    or diag $r->{body};
like($t->req(GET => '/staff/', tls => 1)->{body}, qr/<html/i,
     'and the installed web pages');
($rc, $out) = run('/usr/sbin/govsvc-audit-verify', $t->conninfo);
is($rc, 0, 'govsvc-audit-verify checks the chain') or diag $out;
like($out, qr/audit log intact/, $out =~ s/\n//r);
$t->stop;

($rc, $out) = run('dpkg', '-r', 'libnginx-mod-http-govsvc');
is($rc, 0, 'dpkg -r') or diag $out;
ok(!-e $so, 'the module is gone');
ok(!-e $link, 'and no longer enabled');
($rc, $out) = run('/usr/sbin/nginx', '-t', '-q');
is($rc, 0, 'the stock nginx.conf still passes nginx -t') or diag $out;
($rc, $out) = run('dpkg', '-P', 'libnginx-mod-http-govsvc');
is($rc, 0, 'dpkg -P') or diag $out;
ok(!-e "$link.removed" && !-e '/usr/share/govsvc', 'nothing of it is left');

done_testing();
