# Two nginx instances of one county (one database, behind a load
# balancer) push to their city one at a time: the instance holding the
# lease row (sql/0021) runs the rounds, the other waits; when the holder
# stops, the other takes over once the lease runs out, and nothing is
# lost.

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use GovSvc::Test;

my $city = GovSvc::Test->new(node => '430100', demo => 1, redis => 0);
$city->start;
my $t = GovSvc::Test->new(node => '430102', demo => 1, redis => 1,
                          instances => 2, ca => $city->ca_dir,
                          parent => $city,
                          http_extra => 'govsvc_login_limit 100 1m;'
                                        . ' govsvc_sync_timeout 1s;');
$t->start;

my $dept = $t->default_department;
$t->add_item('K-001');
my %h = $t->case_staff($dept, $dept);
sub register {
    my ($n, $name) = @_;
    my $r = $t->req(POST => '/api/v1/cases', tls => 1, instance => $n,
                    headers => $h{clerk},
                    json => { item_code => 'K-001', project_name => $name,
                              applicant => GovSvc::Test::person(),
                              form => {}, materials => [] });
    is($r->{status}, 201, "$name registered at instance $n")
        or diag $r->{body};
}
sub all_up {
    my $last = $t->psql("SELECT max(seq) FROM outbox WHERE origin = '430102'");
    return $city->eventually(sub {
        $city->psql("SELECT count(*) || ':' || max(seq) FROM sync_inbox"
                    . " WHERE origin = '430102'") eq "$last:$last"
    }, 15);
}
sub rounds {
    my ($n) = @_;
    my $m = $t->req(GET => '/metrics', instance => $n)->{body};
    my ($ok) = $m =~ /^govsvc_sync_rounds_total\{result="ok"\} (\d+)$/m;
    return $ok // 0;
}

register(1, '一号');
register(2, '二号');
ok(all_up(), 'both instances\' cases reach the city');
sleep 1;
my @r = (rounds(1), rounds(2));
ok(($r[0] > 0) != ($r[1] > 0), "one instance runs the rounds (@r)");
my $holder = $r[0] > 0 ? 1 : 2;
my $other = 3 - $holder;
like($t->psql('SELECT holder FROM sync_lease'),
     qr/:\Q${\ $t->instance($holder)->dir }\E\/nginx\.conf$/,
     'the lease names its instance (host and configuration file)');

$t->instance($holder)->stop_nginx;
register($other, '三号');
ok(all_up(), 'the holder stopped: the other instance takes over, nothing'
   . ' lost');
like($t->psql('SELECT holder FROM sync_lease'),
     qr/:\Q${\ $t->instance($other)->dir }\E\/nginx\.conf$/,
     'and holds the lease now');
cmp_ok(rounds($other), '>', 0, 'its rounds count');

$t->instance($holder)->start_nginx;
$t->stop;
$city->stop;
done_testing();
