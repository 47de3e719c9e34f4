#!/usr/bin/env bash
# scripts/render-conf.sh TEMPLATE OUT KEY=VALUE...
#
# Replaces every @KEY@ in TEMPLATE by VALUE and writes OUT (atomically).
# Values are taken literally (no shell, sed or regex interpretation); a
# placeholder left without a value is an error, and so is a KEY the template
# does not use (a typo).  Used by scripts/run.sh and t/lib/GovSvc/Test.pm.
set -euo pipefail

if (($# < 2)); then
    echo "usage: $0 TEMPLATE OUT KEY=VALUE..." >&2
    exit 2
fi
tmpl=$1 out=$2
shift 2

exec perl -e '
    use strict; use warnings;
    my ($tmpl, $out, @kv) = @ARGV;
    my %v;
    for (@kv) {
        /\A([A-Z][A-Z0-9_]*)=(.*)\z/s or die "render-conf: bad argument: $_\n";
        $v{$1} = $2;
    }
    open my $in, "<", $tmpl or die "render-conf: $tmpl: $!\n";
    my $text = do { local $/; <$in> };
    close $in;
    my %used;
    my @missing;
    $text =~ s{\@([A-Z][A-Z0-9_]*)\@}{
        $used{$1} = 1;
        exists $v{$1} ? $v{$1} : do { push @missing, $1; "\@$1\@" }
    }ge;
    die "render-conf: $tmpl: no value for \@$_\@\n" for @missing;
    my @unused = grep { !$used{$_} } sort keys %v;
    die "render-conf: $tmpl has no \@$_\@\n" for @unused;
    my $tmp = "$out.tmp.$$";
    open my $fh, ">", $tmp or die "render-conf: $tmp: $!\n";
    print $fh $text or die "render-conf: $tmp: $!\n";
    close $fh or die "render-conf: $tmp: $!\n";
    rename $tmp, $out or die "render-conf: $out: $!\n";
' "$tmpl" "$out" "$@"
