# The web pages in real browsers (issue 8): Debian's chromium and Debian's
# Firefox ESR, each driven by playwright-core (t/browser/, locked in its
# package-lock.json; `make test` installs it with npm ci; chromium over
# CDP, Firefox over WebDriver BiDi) through the same walk, each against a
# stack of its own with the demo data (the walk changes what it finds: the
# stale draft voided, cases passed and rated).  One subtest per browser;
# a browser that is not installed skips its subtest.  GOVSVC_BROWSERS
# (default "chromium firefox") picks them; GOVSVC_CHROMIUM and
# GOVSVC_FIREFOX name the executables.  The
# walk (t/browser/walk.mjs): a clerk registers and accepts a case (the
# notice printed first), the handler, reviewer and approver pass it, the
# clerk prints the decision and completes it; a correction round; the
# public query and rating; a consultation asked and answered; and the rest
# of the manual's chapter 3 (see README "Web pages").
# Each step of the walk is one test here; a failure keeps a screenshot in
# the folder of that browser's stack (the harness keeps the folder of a
# failed test) and prints its path.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $root = $ENV{GOVSVC_ROOT} // '.';
my $pw_dir = "$root/t/browser/node_modules/playwright-core";
plan skip_all => 'no node (scripts/deps.sh installs it)'
    unless system('sh', '-c', 'command -v node >/dev/null') == 0;
plan skip_all => "no $pw_dir (make browser-deps)" unless -d $pw_dir;
-e "$root/build/html/index.html"
    or BAIL_OUT('build/html missing: run make html');

my %exe = (chromium => $ENV{GOVSVC_CHROMIUM} // '/usr/bin/chromium',
           firefox  => $ENV{GOVSVC_FIREFOX}  // '/usr/bin/firefox-esr');
my @browsers = split ' ', $ENV{GOVSVC_BROWSERS} // 'chromium firefox';
for my $b (@browsers) {
    BAIL_OUT("GOVSVC_BROWSERS: chromium and/or firefox, not $b")
        unless $exe{$b};
    subtest $b => sub {
        plan skip_all => "no $exe{$b} (scripts/deps.sh installs it)"
            unless -x $exe{$b};
        walk($b, $exe{$b});
    };
}
done_testing;

# one stack, its data, and the walk in one browser
sub walk {
    my ($browser, $exe) = @_;
    my $t = GovSvc::Test->new(demo => 1, http_extra =>
        'govsvc_login_limit 100 1m; govsvc_abnormal_draft_days 10;');
    $t->start;

    my $dept = $t->psql("SELECT id FROM departments WHERE region = '430102'"
                        . " AND name = '芙蓉区行政审批服务局'");
    ok($dept, 'demo department');
    my $pw = 'govsvc-demo-dev';
    my %name = (clerk => '张窗口', handler => '王承办', reviewer => '赵审核',
                approver => '刘审批', supervisor => '陈监督');
    for my $u (sort keys %name) {
        my $id = $t->create_user(username => $u, name => $name{$u},
                                 roles => [$u], password => $pw,
                                 department => $dept);
        # 证书登录: the clerk's certificate of the development CA
        $t->bind_cert($id, 'clerk') if $u eq 'clerk';
    }

    # an abnormal case for 异常办结: a draft received 11 days ago
    my $clerk = $t->auth($t->login('clerk', $pw));
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, headers => $clerk,
        json => { item_code => '430102-XK-0002', project_name => '逾期不来的项目',
                  applicant => { type => 'person', name => '王五',
                                 id_type => 'id_card',
                                 id_no => '11010519491231002X',
                                 phone => '13800000001' },
                  form => { address => '芙蓉区某路2号' },
                  materials => [{ code => 'M1', received => JSON::PP::true }] });
    is($r->{status}, 201, 'a draft for 异常办结') or diag $r->{body};
    my $stale = $r->{json}{case_no} // '';
    $t->psql("UPDATE cases SET received_at = now() - interval '11 days'"
             . " WHERE case_no = :'c'", c => $stale);

    # a 待办 of more than a page for the handler (21 cases), one red (past its
    # due date) and one yellow (due today)
    my @open;
    for my $i (1 .. 21) {
        my $c = $t->req(POST => '/api/v1/cases', tls => 1, headers => $clerk,
            json => { item_code => '430102-XK-0002', project_name => "排队项目$i",
                      applicant => { type => 'person', name => '赵六',
                                     id_type => 'id_card',
                                     id_no => '11010519491231002X',
                                     phone => '13800000002' },
                      form => { address => "芙蓉区某路$i号" },
                      materials => [map { { code => $_,
                                              received => JSON::PP::true } }
                                    qw(M1 M2)] })->{json};
        my $n = $t->req(POST => "/api/v1/cases/$c->{case_no}/notices", tls => 1,
                        headers => $clerk, json => { kind => 'acceptance' });
        my $a = $t->req(POST => "/api/v1/cases/$c->{case_no}/actions", tls => 1,
                        headers => $clerk,
                        json => { action => 'accept', version => $c->{version} });
        $a->{status} == 200 or diag("accept: $a->{status} $a->{body}");
        push @open, $c->{case_no};
    }
    is(scalar @open, 21, 'a long 待办');
    $t->psql("UPDATE cases SET due_date = current_date - 7 WHERE case_no = :'c'",
             c => $open[0]);
    $t->psql("UPDATE cases SET due_date = current_date WHERE case_no = :'c'",
             c => $open[1]);

    my $shots = $t->dir . '/screenshots';
    local $ENV{GOVSVC_BASE} = 'https://127.0.0.1:' . $t->https_port;
    local $ENV{GOVSVC_PASSWORD} = $pw;
    local $ENV{GOVSVC_SHOTS} = $shots;
    local $ENV{GOVSVC_BROWSER} = $browser;
    local $ENV{$browser eq 'firefox' ? 'GOVSVC_FIREFOX' : 'GOVSVC_CHROMIUM'}
        = $exe;
    local $ENV{GOVSVC_CA_DIR} = $t->ca_dir;
    local $ENV{GOVSVC_STALE_CASE} = $stale;
    local $ENV{GOVSVC_RED_CASE} = $open[0];
    local $ENV{GOVSVC_YELLOW_CASE} = $open[1];

    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        chdir "$root/t/browser" or die "chdir: $!";
        open STDERR, '>&', \*STDOUT;
        exec 'node', 'walk.mjs' or die "node: $!";
    }
    my ($steps, $failed, $seen) = (0, 0, 0);
    while (my $line = <$out>) {
        chomp $line;
        if ($line =~ /^(not )?ok \d+ - (.*?)(?: # SKIP (.*))?$/) {
            my ($bad, $name, $skip) = ($1, $2, $3);
            $seen++;
            if (defined $skip) {
                SKIP: { skip "$name: $skip", 1 }
            } else {
                ok(!$bad, "$browser: $name");
                $failed++ if $bad;
            }
        } elsif ($line =~ /^1\.\.(\d+)$/) {
            $steps = $1;
        } elsif ($line =~ /^# ?(.*)$/) {
            diag("$browser: $1");
        } else {
            diag("$browser walk: $line");
        }
    }
    close $out;
    my $rc = $? >> 8;
    ok($steps && $seen == $steps, "$browser: the walk ran all its $steps steps")
        or diag("saw $seen");
    is($rc, 0, "$browser: the walk exited 0");
    diag("$browser: screenshots kept in $shots") if $failed || $rc;

    $t->stop;
}
