# The directive reference of README.md against the directive table of
# ngx_govsvc_module.c: every directive the module declares is documented,
# with its default and what it does, and nothing documented is missing
# from the module.  The example configurations of conf/ name only
# directives the module has.

use strict;
use warnings;
use Test::More;
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

done_testing();
