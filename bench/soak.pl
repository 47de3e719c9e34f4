#!/usr/bin/perl
# P6 (targets: ../shared/spec/targets.md): a soak.  SOAK_SECONDS (600) of
# mixed load on one nginx with two workers, PostgreSQL and Redis:
#
#   8 connections  GET  /api/v1/worklist?box=todo  (a clerk's, Bearer)
#   4 connections  POST /api/v1/cases              (registrations)
#   4 connections  GET  /api/v1/items?q=           (the public catalog)
#   2 connections  POST /api/v1/public/consultations
#
# Every 10 s it samples each worker's resident memory (VmRSS) and open
# file descriptors from /proc, and the master's; at the end it prints the
# samples and the growth from the first sample after a minute's warm-up
# to the last.  Flat means: within a few percent, no steady climb.  It
# prints; it never fails on the figures.

use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time sleep);
use GovSvc::Test;

my $secs = $ENV{SOAK_SECONDS} || 600;
my $warm = $secs >= 180 ? 60 : int($secs / 3);

my $t = GovSvc::Test->new(redis => 1, workers => 2, tap => 0, demo => 1,
                          public_write_limit => '100000000 1m',
                          http_extra => 'govsvc_login_limit 1000 1m;');
$t->start;
my $dept = $t->default_department;
$t->add_item('S-001', steps => [[handle => '初审', handler => 4]]);
my %h = $t->case_staff($dept, $dept);
my $base = 'http://127.0.0.1:' . $t->http_port;

sub script {
    my ($name, $method, $body, $headers) = @_;
    my $f = $t->dir . "/$name.lua";
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh "wrk.method = \"$method\"\n";
    print $fh "wrk.body = [==[$body]==]\n" if defined $body;
    for my $k (sort keys %$headers) {
        print $fh "wrk.headers[\"$k\"] = \"$headers->{$k}\"\n";
    }
    close $fh;
    return $f;
}
my $json = { 'Content-Type' => 'application/json' };
my @runs = (
    [ worklist => 8, '/api/v1/worklist?box=todo',
      script('worklist', 'GET', undef, $h{clerk}) ],
    [ register => 4, '/api/v1/cases',
      script('register', 'POST', '{"item_code":"S-001","project_name":'
             . '"浸泡","applicant":{"type":"person","name":"张三",'
             . '"id_type":"id_card","id_no":"11010519491231002X",'
             . '"phone":"13800000000"},"form":{},"materials":[]}',
             { %{ $h{clerk} }, %$json }) ],
    [ items => 4, '/api/v1/items?q=%E8%AE%B8%E5%8F%AF',
      script('items', 'GET', undef, {}) ],
    [ consult => 2, '/api/v1/public/consultations',
      script('consult', 'POST', '{"title":"浸泡","content":"内容"}', $json) ],
);
my @wrk;
for my $r (@runs) {
    my ($name, $c, $path, $lua) = @$r;
    my $out = $t->dir . "/wrk.$name.out";
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(1);
        open STDERR, '>&', \*STDOUT;
        exec('wrk', '-t1', "-c$c", "-d${secs}s", '--timeout', '5s',
             '-s', $lua, "$base$path")
            or POSIX::_exit(127);
    }
    push @wrk, [$name, $pid, $out];
}

sub proc {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return (undef, undef);
    my ($rss) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
    opendir my $d, "/proc/$pid/fd" or return ($rss, undef);
    my $fds = grep { /^\d+$/ } readdir $d;
    return ($rss, $fds);
}

my $master = $t->nginx_pid;
my @samples;
my $t0 = time;
while (time - $t0 < $secs) {
    my @w = sort { $a <=> $b } $t->worker_pids;
    push @samples, [ int(time - $t0), map { [ $_, proc($_) ] } $master, @w ];
    sleep 10;
}
waitpid $_->[1], 0 for @wrk;

print "P6 soak: ${secs} s of mixed load, two workers (RSS in kB, open fds)\n";
for my $s (@samples) {
    printf "  %4d s  %s\n", $s->[0], join '  ', map {
        sprintf '%s %6s kB %3s fd', $_->[0], $_->[1] // '?', $_->[2] // '?'
    } @$s[1 .. $#$s];
}
my ($first) = grep { $_->[0] >= $warm } @samples;
my $last = $samples[-1];
my %at_first = map { $_->[0] => $_ } @$first[1 .. $#$first];
for my $p (@$last[1 .. $#$last]) {
    my $f = $at_first{$p->[0]};
    if (!$f) {
        printf "  pid %s: not there at %d s (a respawned worker?)\n",
            $p->[0], $first->[0];
        next;
    }
    printf "  pid %s: RSS %+d kB (%+.1f%%), fds %+d, from %d s to %d s\n",
        $p->[0], $p->[1] - $f->[1], 100 * ($p->[1] - $f->[1]) / $f->[1],
        $p->[2] - $f->[2], $first->[0], $last->[0];
}
for my $w (@wrk) {
    my $out = GovSvc::Test::slurp($w->[2]);
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    printf "  %-9s %8.0f req/s  non-2xx %d\n", $w->[0], $rps // 0,
        $non2xx // 0;
}
printf "  cases registered: %s\n",
    $t->psql("SELECT count(*) FROM cases WHERE project_name = '浸泡'");
$t->stop;
