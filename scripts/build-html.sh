#!/usr/bin/env bash
# scripts/build-html.sh [SRC] [OUT]: the web pages (html/) into build/html/
# with fingerprinted assets.
#
# Every file of SRC/assets/ is renamed NAME.HASH.EXT (HASH: the first 10
# hex digits of the SHA-256 of its content after rewriting), and every
# reference to /assets/NAME.EXT in the HTML pages and in the other assets
# (ES module imports) is rewritten to the new name; an asset is hashed only
# after the assets it names, so a change anywhere changes the names of
# everything that leads to it.  nginx serves /assets/ with a year of cache
# (immutable) and the pages with no-store.  The output is replaced
# atomically; nothing is fetched.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${1:-$ROOT/html}
OUT=${2:-$ROOT/build/html}

mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d "$OUT.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

perl -MDigest::SHA=sha256_hex -MFile::Find -MFile::Path=make_path -e '
    use strict; use warnings;
    my ($src, $out) = @ARGV;
    my (%asset, @pages);
    find({ no_chdir => 1, wanted => sub {
        return unless -f $_;
        (my $rel = $_) =~ s{\A\Q$src\E/}{};
        if ($rel =~ m{\Aassets/}) { $asset{$rel} = 1 } else { push @pages, $rel }
    } }, $src);
    my %text;
    for my $f (keys %asset, @pages) {
        open my $fh, "<:raw", "$src/$f" or die "$src/$f: $!\n";
        local $/; $text{$f} = <$fh>;
    }
    my $ref = qr{/(assets/[A-Za-z0-9_./-]+?\.(?:js|css|svg|png|woff2))\b};
    my %name;        # assets/x.js -> assets/x.HASH.js
    my $left = keys %asset;
    while ($left) {
        my $done = 0;
        for my $a (sort keys %asset) {
            next if $name{$a};
            my @deps = grep { $_ ne $a } ($text{$a} =~ /$ref/g);
            for (@deps) { die "build-html: $a names missing /$_\n" unless $asset{$_} }
            next if grep { !$name{$_} } @deps;
            $text{$a} =~ s{$ref}{ $name{$1} ? "/$name{$1}" : "/$1" }ge;
            my $h = substr(sha256_hex($text{$a}), 0, 10);
            ($name{$a} = $a) =~ s{\.([a-z0-9]+)\z}{.$h.$1};
            $done++; $left--;
        }
        die "build-html: circular references between assets\n" unless $done;
    }
    for my $p (@pages) {
        $text{$p} =~ s{$ref}{
            $name{$1} // die "build-html: $p names missing /$1\n";
            "/$name{$1}" }ge;
    }
    for my $f (@pages, keys %asset) {
        my $to = "$out/" . ($name{$f} // $f);
        (my $dir = $to) =~ s{/[^/]*\z}{};
        make_path($dir);
        open my $fh, ">:raw", $to or die "$to: $!\n";
        print $fh $text{$f}; close $fh or die "$to: $!\n";
    }
' "$SRC" "$tmp"

chmod -R a+rX "$tmp"
if [[ -d $OUT ]]; then
    old=$(mktemp -d "$OUT.old.XXXXXX")
    mv "$OUT" "$old/html"
    mv "$tmp" "$OUT"
    rm -rf "$old"
else
    mv "$tmp" "$OUT"
fi
trap - EXIT
