# The directive reference of README.md against the directive table of
# ngx_govsvc_module.c: every directive the module declares is documented,
# with its default and what it does, and nothing documented is missing
# from the module.  The example configurations of conf/ name only
# directives the module has.

use strict;
use warnings;
use Test::More;
use File::Path ();
use File::Temp ();
use GovSvc::Test;

my $root = $ENV{GOVSVC_ROOT};
my $src = GovSvc::Test::slurp("$root/ngx_govsvc_module/ngx_govsvc_module.c");
my %declared = map { $_ => 1 } $src =~ /^\s+\{\s*ngx_string\("(govsvc_\w+)"\)/mg;
cmp_ok(scalar keys %declared, '>=', 30,
       scalar(keys %declared) . ' directives in the module\'s table');

my $readme = GovSvc::Test::slurp("$root/README.md");
my ($ref) = $readme =~ /^## Directive reference\n(.*?)^## /ms;
ok($ref, 'README has a directive reference');
my %documented;
for my $row (grep { /^\| `govsvc_/ } split /\n/, $ref // '') {
    my ($syntax, $default, $meaning) = (split /\s*\|\s*/, $row)[1 .. 3];
    my ($name) = $syntax =~ /^`(govsvc_\w+)/;
    $documented{$name} = 1;
    ok(defined $default && length $default
       && defined $meaning && length($meaning) > 10,
       "$name: a default (or its context) and what it does");
}
is_deeply([ sort grep { !$documented{$_} } keys %declared ], [],
          'every directive of the module is documented');
is_deeply([ sort grep { !$declared{$_} } keys %documented ], [],
          'every documented directive exists');

for my $conf (glob "$root/conf/*.conf") {
    my $text = GovSvc::Test::slurp($conf);
    $text =~ s/#.*$//mg;
    my @unknown = grep { !$declared{$_} } $text =~ /^\s*(govsvc_\w+)/mg;
    is_deeply(\@unknown, [], "$conf: only the module's directives");
}

# the production examples pass nginx -t, with this machine's paths for
# their files (a development CA, a temporary state folder)
my $tmp = File::Temp::tempdir('govsvc-conf-XXXX', TMPDIR => 1, CLEANUP => 1);
system("$root/scripts/dev-ca.sh", "$tmp/ca") == 0 or die 'dev-ca.sh failed';
for my $level (qw(province city county)) {
    my $node = { province => '430000', city => '430100',
                 county => '430102' }->{$level};
    my $text = GovSvc::Test::slurp("$root/conf/$level.conf");
    my %file = ('server.crt' => 'server.crt', 'server.key' => 'server.key',
                'ca.crt' => 'ca.crt', 'ca.crl' => 'ca.crl',
                'signing.crt' => 'signing.crt',
                'signing.key' => 'signing.key',
                'node.crt' => "nodes/$node.crt",
                'node.key' => "nodes/$node.key");
    $text =~ s{/etc/govsvc/tls/([\w.]+)}{"$tmp/ca/" . ($file{$1} // $1)}ge;
    $text =~ s{/etc/govsvc/govsvc-server\.conf}{$root/conf/govsvc-server.conf}g;
    $text =~ s{/usr/lib/nginx/modules/ngx_govsvc_module\.so}{$ENV{GOVSVC_MODULE}}g;
    $text =~ s{(/var/lib/govsvc|/run/govsvc)}{$tmp/$level$1}g;
    $text =~ s{/usr/share/govsvc/html}{$root/build/html}g;
    $text =~ s{https://[\w.-]+\.example\.gov\.cn}{https://127.0.0.1:9}g;
    $text =~ s{^user www-data;}{}m if $> != 0;
    File::Path::make_path("$tmp/$level$_")
        for qw(/var/lib/govsvc/log /var/lib/govsvc/tmp /run/govsvc);
    GovSvc::Test::_spew("$tmp/$level.conf", $text);
    my $out = `/usr/sbin/nginx -t -q -p $tmp/$level/ -c $tmp/$level.conf -e $tmp/$level.err 2>&1`;
    is($?, 0, "conf/$level.conf passes nginx -t (with this machine's paths)")
        or diag $out . GovSvc::Test::slurp("$tmp/$level.err");
}

done_testing();
