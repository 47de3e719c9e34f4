package GovSvc::Test;

# End-to-end test harness for GovSvc: a real PostgreSQL, Redis and nginx
# (stock /usr/sbin/nginx with the built module) on free loopback ports in a
# temporary folder, plus a small HTTP/1.1 client (plain and TLS with the
# development CA).  Used by t/*.t (Test::More) and bench/run.pl.
#
#   my $t = GovSvc::Test->new(redis => 1, workers => 2);
#   $t->start;
#   my $r = $t->req(GET => '/healthz', tls => 1, cert => 'admin');
#   is($r->{status}, 200);
#   $t->stop;
#
# Options of new() besides the ports and folders: redis, workers,
# http_extra, server_extra, pg_conf, node, public_write_limit, template,
# module, html_root (the built web pages; default a copy of build/html in
# the test's folder); demo => 1 loads sql/demo.sql after the migrations; instances => 2
# starts a second nginx (start_second); session_idle => '30m',
# session_lifetime => '12h', login_limit => '5 15m' add the module's
# govsvc_session_idle / govsvc_session_lifetime / govsvc_login_limit to
# http{} (of both instances).
#
# A shifted clock (Debian's libfaketime, package faketime): faketime =>
# '+15d' runs nginx (both instances) with LD_PRELOAD of libfaketime and
# FAKETIME='+15d', the monotonic clock left alone (nginx's timers);
# PostgreSQL keeps the real time.  $t->faketime('+20d') (undef: the real
# clock) changes it for the next start_nginx of either instance:
#   $t->stop_nginx; $t->faketime('+20d'); $t->start_nginx;
#
# app_role => 1: nginx connects as govsvc_app with only the privileges of
# sql/grants.sql (the owner, govsvc, migrates and runs psql()).
#
# Nodes of three levels (三级联动), each its own PostgreSQL, Redis and
# nginx, all under one development CA:
#   my $city = GovSvc::Test->new(node => '430100', demo => 1); $city->start;
#   my $county = GovSvc::Test->new(node => '430102', demo => 1,
#                                  ca => $city->ca_dir, parent => $city);
# parent => $t adds govsvc_sync_parent (its https port, read when the
# config is rendered) with the node certificate of this node and
# govsvc_sync_interval (sync_interval => '200ms' by default).
# $t->stop_nginx; $t->start_nginx(keep_ports => 1) restarts nginx on the
# same ports, so that its children still find it.
#
# Two instances on one PostgreSQL and Redis:
#   my $t = GovSvc::Test->new(instances => 2);   # or $t->start_second
#   $t->req(GET => '/api/v1/me', tls => 1, instance => 2, headers => ..);
#   $t->instance(2)->error_log / ->http_port / ->expect_log / ->reload
# Each instance has its own state folder (the second: DIR/n2, sharing
# DIR/ca), ports and error.log; stop() stops both and checks both logs.
#
# Users and sessions:
#   my $id = $t->create_user(username => 'zhang', name => '张窗口',
#       roles => ['clerk'], password => 'pw', department => $dept,
#       active => 1);                   # hash by the govsvc-passwd tool
#   $t->bind_cert($id, 'clerk');        # ca_dir/users/clerk.crt
#   my $s = $t->login('zhang', 'pw');   # {token, csrf_token, cookie, ..}
#   $t->req(GET => '/api/v1/me', tls => 1, headers => $t->auth($s));
#   $t->login_cert('clerk'); $t->cookie_auth($s); $t->default_department;
#   $t->psql("SELECT id FROM users WHERE username = :'u'", u => 'zhang');
#
# PostgreSQL replication and failover:
#   my $sb = $t->start_standby(name => 'standby1', sync => 1);
#   $t->nginx_conninfo("hostaddr=127.0.0.1,127.0.0.1 port=" . $t->pg_port
#       . ',' . $sb->port . ' dbname=govsvc user=govsvc'
#       . ' target_session_attrs=read-write');
#   $t->stop_nginx; $t->start_nginx;      # govsvc_postgres names both
#   $t->stop_pg(mode => 'immediate');     # the primary crashes
#   $sb->promote; $sb->psql('SELECT ...'); $sb->stop; $sb->start;
#
# Load: my $done = $t->load('name', 4, sub { $t->timed_req(...) });
#   ...; my $lines = $done->();   # [status, code, key, case_no, sent, took]
#   diag $t->statuses($lines);
#
# Strings: request bodies and JSON values go out as given (byte strings, as
# literals in a test without `use utf8`; wide characters are UTF-8 encoded),
# and come back as UTF-8 byte strings ($r->{json} too), as does psql().

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno ();
use Fcntl qw(:mode);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Storable ();
use Test::More ();
use Time::HiRes qw(time sleep);

our $VERSION = '0.1';

# The repository root and the module, also for tests run without make.
BEGIN {
    $ENV{GOVSVC_ROOT} //= abs_path(dirname(__FILE__) . '/../../..');
    $ENV{GOVSVC_MODULE} //=
        "$ENV{GOVSVC_ROOT}/build/nginx/objs/ngx_govsvc_module.so";
}

my $NGINX = $ENV{GOVSVC_NGINX} // '/usr/sbin/nginx';
my $PG_BIN = $ENV{GOVSVC_PG_BIN} // do {
    my @b = sort { ($a =~ /(\d+)/)[0] <=> ($b =~ /(\d+)/)[0] }
            glob '/usr/lib/postgresql/*/bin';
    @b ? $b[-1] : '/usr/lib/postgresql/15/bin';
};
my $IS_ROOT = $> == 0;
my $FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
my $RUN_USER = 'govsvc';

$SIG{PIPE} = 'IGNORE';

my @LIVE;    # weak references to every started harness, for END

# ---------------------------------------------------------------- helpers

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or croak "slurp $file: $!";
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub _spew {
    my ($file, $text, $mode) = @_;
    open my $fh, $mode // '>:raw', $file or croak "write $file: $!";
    print $fh $text;
    close $fh or croak "write $file: $!";
}

sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => 0, Proto => 'tcp', Listen => 1) or next;
        my $p = $s->sockport;
        close $s;
        return $p;
    }
    croak "no free port: $!";
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub _uid_gid {
    my @pw = getpwnam($RUN_USER)
        or croak "user $RUN_USER missing: run scripts/deps.sh as root";
    return @pw[2, 3];
}

sub _chown_run_user {
    return unless $IS_ROOT;
    my ($uid, $gid) = _uid_gid();
    chown $uid, $gid, @_ or croak "chown @_: $!";
}

# run a command (as the postgres user when root) with stdout and stderr
# into $log; returns the exit status, or dies with the log when $die
sub _run {
    my ($self, %o) = @_;
    my @cmd = @{ $o{cmd} };
    my $log = $o{log} // "$self->{dir}/cmd.log";
    if ($o{as_pg} && $IS_ROOT) {
        @cmd = ('setpriv', '--reuid', $RUN_USER, '--regid', $RUN_USER,
                '--init-groups', '--', @cmd);
    }
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        chdir $self->{dir};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $?;
    if ($rc && $o{die}) {
        my $out = -e $log ? slurp($log) : '';
        croak "failed ($rc): @cmd\n$out";
    }
    return $rc;
}

# ---------------------------------------------------------------- object

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        redis        => $o{redis} // 1,
        workers      => $o{workers} // 2,
        http_extra   => $o{http_extra} // '',
        server_extra => $o{server_extra} // '',
        pg_conf      => $o{pg_conf} // '',
        node         => $o{node} // '430102',
        public_write_limit => $o{public_write_limit} // '30 1m',
        tap          => $o{tap} // 1,
        template     => $o{template}
                        // "$ENV{GOVSVC_ROOT}/conf/development.conf",
        module       => $o{module} // $ENV{GOVSVC_MODULE},
        demo         => $o{demo} // 0,
        html_root    => $o{html_root},
        instances    => $o{instances} // 1,
        faketime     => $o{faketime},
        app_role     => $o{app_role},
        ca           => $o{ca},
        sync_parent  => $o{parent},
        sync_interval => $o{sync_interval} // '200ms',
        owner        => $$,
        expect       => [],
        log_seen     => {},
        started      => {},
    }, $class;
    croak 'instances: 1 or 2' unless $self->{instances} =~ /\A[12]\z/;
    # session directives of the module, added to http{} (both instances)
    for my $d (qw(session_idle session_lifetime login_limit)) {
        next unless defined $o{$d};
        $self->{http_extra} .= "\n    govsvc_$d $o{$d};";
    }

    my $base = $ENV{TMPDIR} || '/tmp';
    $self->{dir} = tempdir('govsvc-t-XXXX', DIR => $base, CLEANUP => 0);
    chmod 0755, $self->{dir};
    make_path("$self->{dir}/tmp", "$self->{dir}/redis");
    _chown_run_user("$self->{dir}/tmp");

    push @LIVE, $self;
    weaken($LIVE[-1]);
    return $self;
}

sub dir        { $_[0]{dir} }
# instance(N): the harness object of nginx instance N (1: this one, 2: the
# second nginx of start_second, on the same PostgreSQL and Redis)
sub instance {
    my ($self, $n) = @_;
    my $top = $self->{parent} // $self;
    return $top if !defined $n || $n == 1;
    croak "no instance $n" unless $n == 2;
    return $top->{second} // croak 'instance 2 not started (start_second)';
}
sub http_port  { $_[0]{http_port} }
sub https_port { $_[0]{https_port} }
sub pg_port    { $_[0]{pg_port} }
sub redis_port { $_[0]{redis_port} }
sub ca_dir     { $_[0]{ca_dir} // "$_[0]{dir}/ca" }
sub error_log  { "$_[0]{dir}/error.log" }
sub nginx_pid  { $_[0]{nginx_pid} }
sub conninfo {
    my ($self) = @_;
    return "hostaddr=127.0.0.1 port=$self->{pg_port} dbname=govsvc"
        . " user=govsvc";
}

# nginx_conninfo(CONNINFO or undef): what govsvc_postgres gets at the next
# start_nginx (undef: conninfo() again), e.g. a primary and its standbys:
#   $t->nginx_conninfo("hostaddr=127.0.0.1,127.0.0.1 port=$p,$s"
#                      . ' dbname=govsvc user=govsvc'
#                      . ' target_session_attrs=read-write');
#   $t->stop_nginx; $t->start_nginx;
sub nginx_conninfo {
    my ($self, $conninfo) = @_;
    $self->{nginx_conninfo} = $conninfo;
    return $conninfo;
}

# http_extra(TEXT): the extra directives of http{} at the next start_nginx
# (without an argument: what they are now), e.g. ones that name a server
# started after the first nginx
sub http_extra {
    my ($self, @v) = @_;
    $self->{http_extra} = $v[0] if @v;
    return $self->{http_extra};
}

sub start {
    my ($self) = @_;
    croak 'start: on the first instance' if $self->{parent};
    croak 'already started' if $self->{started}{nginx};
    -e $self->{module}
        or croak "module $self->{module} missing: run `make module`";
    $self->_init_pg;
    $self->start_pg;
    $self->psql_db('postgres', 'CREATE DATABASE govsvc');
    {
        local $ENV{PGCLIENTENCODING} = 'UTF8';
        $self->_run(cmd => ["$ENV{GOVSVC_ROOT}/sql/migrate", $self->conninfo],
                    log => "$self->{dir}/migrate.log", die => 1);
    }
    $self->load_demo if $self->{demo};
    if ($self->{app_role}) {
        $self->psql('CREATE ROLE govsvc_app LOGIN');
        $self->psql(slurp("$ENV{GOVSVC_ROOT}/sql/grants.sql"),
                    app => 'govsvc_app');
    }
    if ($self->{redis}) {
        $self->{redis_port} = free_port();
        $self->start_redis;
    }
    # the template names @STATE@/ca/...: a shared CA is a link
    if (defined $self->{ca} && !-e "$self->{dir}/ca") {
        symlink $self->{ca}, "$self->{dir}/ca"
            or croak "symlink $self->{dir}/ca: $!";
    }
    $self->_run(cmd => ["$ENV{GOVSVC_ROOT}/scripts/dev-ca.sh", $self->ca_dir],
                log => "$self->{dir}/dev-ca.log", die => 1);
    $self->start_nginx;
    $self->start_second if $self->{instances} == 2;
    return $self;
}

# load_demo: sql/demo.sql (regions, departments, calendar; idempotent)
sub load_demo {
    my ($self) = @_;
    $self->psql(slurp("$ENV{GOVSVC_ROOT}/sql/demo.sql"));
}

# start_second: a second nginx (same module, same template, same options)
# on the same PostgreSQL and Redis, with its own ports and state folder
# DIR/n2 (its own error.log, checked by stop like the first).  Reach it with
# req(..., instance => 2) or $t->instance(2)->...
sub start_second {
    my ($self) = @_;
    croak 'start_second: only on the first instance' if $self->{parent};
    croak 'start_second: start first' unless $self->{started}{nginx}
                                           || $self->{started}{pg};
    croak 'instance 2 already started' if $self->{second};
    my $dir = "$self->{dir}/n2";
    make_path("$dir/tmp");
    _chown_run_user("$dir/tmp");
    chmod 0755, $dir;
    # the template names @STATE@/ca/...: the same CA
    symlink '../ca', "$dir/ca" or croak "symlink $dir/ca: $!"
        unless -e "$dir/ca";
    my $second = bless {
        map({ $_ => $self->{$_} } qw(redis workers http_extra server_extra
            pg_conf node public_write_limit tap template module pg_port
            redis_port faketime sync_parent sync_interval html_root
            app_role)),
        dir      => $dir,
        ca_dir   => $self->ca_dir,
        parent   => $self,
        owner    => $$,
        expect   => [],
        log_seen => {},
        started  => {},
    }, ref $self;
    weaken($second->{parent});
    $self->{second} = $second;
    $second->start_nginx;
    return $second;
}

# ---------------------------------------------------------------- postgres

sub _pg_data { "$_[0]{dir}/pg" }

sub _init_pg {
    my ($self) = @_;
    my $data = $self->_pg_data;
    my $sock = "$self->{dir}/pgsock";
    make_path($data, $sock);
    chmod 0700, $data;
    _spew("$self->{dir}/postgres.log", '');
    _chown_run_user($data, $sock, "$self->{dir}/postgres.log");
    my @initdb = ("$PG_BIN/initdb", '-D', $data, '-U', 'govsvc',
                  '--auth=trust', '-E', 'UTF8', '--no-sync',
                  '--no-instructions');
    if ($self->_run(cmd => [@initdb, '--locale=C.UTF-8'], as_pg => 1,
                    log => "$self->{dir}/initdb.log"))
    {
        remove_tree($data, { keep_root => 1 });
        $self->_run(cmd => [@initdb, '--locale=C'], as_pg => 1,
                    log => "$self->{dir}/initdb.log", die => 1);
    }
    $self->{pg_port} = free_port();
    $self->_write_pg_conf;
}

sub _write_pg_conf {
    my ($self) = @_;
    my $conf = $self->_pg_data . '/postgresql.auto.conf';
    # postgresql.auto.conf is read last; ALTER SYSTEM is not used here
    _spew($conf, <<"EOF" . $self->{pg_conf} . "\n");
# written by GovSvc::Test
listen_addresses = '127.0.0.1'
port = $self->{pg_port}
unix_socket_directories = '$self->{dir}/pgsock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 32MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    _chown_run_user($conf);
}

sub start_pg {
    my ($self) = @_;
    return $self->{parent}->start_pg if $self->{parent};
    for my $try (1, 2) {
        my $rc = $self->_run(cmd => ["$PG_BIN/pg_ctl", '-D', $self->_pg_data,
            '-l', "$self->{dir}/postgres.log", '-w', '-t', '30', 'start'],
            as_pg => 1, log => "$self->{dir}/pg_ctl.log");
        if ($rc == 0) {
            $self->{started}{pg} = 1;
            return;
        }
        my $log = slurp("$self->{dir}/postgres.log");
        if ($try == 1 && !$self->{started}{nginx}
            && $log =~ /Address already in use/)
        {
            $self->{pg_port} = free_port();
            $self->_write_pg_conf;
            next;
        }
        croak "PostgreSQL did not start:\n"
            . slurp("$self->{dir}/pg_ctl.log") . $log;
    }
}

# stop_pg(mode => 'immediate'): pg_ctl's shutdown mode, fast by default;
# immediate is a crash as far as clients can tell (no checkpoint, backends
# killed), what a failover test does to the primary
sub stop_pg {
    my ($self, %o) = @_;
    return $self->{parent}->stop_pg(%o) if $self->{parent};
    return unless $self->{started}{pg};
    $self->_run(cmd => ["$PG_BIN/pg_ctl", '-D', $self->_pg_data, '-m',
        $o{mode} // 'fast', '-w', '-t', '30', 'stop'], as_pg => 1,
        log => "$self->{dir}/pg_ctl.log");
    delete $self->{started}{pg};
}

# start_standby(name => 'standby1', sync => 1): a streaming standby of this
# PostgreSQL (pg_basebackup -R into DIR/pg-NAME, its own free port, the
# same socket folder), started and streaming; returns its handle
# (GovSvc::Test::Standby: port, conninfo, psql, stop, start, promote).
# sync => 1 makes it the primary's synchronous standby
# (synchronous_standby_names, synchronous_commit = on): a commit returns
# only once the standby holds it.  stop() stops it with the rest.
sub start_standby {
    my ($self, %o) = @_;
    return $self->{parent}->start_standby(%o) if $self->{parent};
    croak 'start_standby: start PostgreSQL first' unless $self->{started}{pg};
    my $name = $o{name} // 'standby' . (1 + @{ $self->{standbys} // [] });
    croak "start_standby: bad name $name" unless $name =~ /\A\w+\z/;
    my $data = "$self->{dir}/pg-$name";
    my $log = "$self->{dir}/postgres-$name.log";
    croak "start_standby: $data exists" if -e $data;
    make_path($data);
    chmod 0700, $data;
    _spew($log, '');
    _chown_run_user($data, $log);
    my $primary = "hostaddr=127.0.0.1 port=$self->{pg_port} user=govsvc"
        . " application_name=$name";
    $self->_run(cmd => ["$PG_BIN/pg_basebackup", '-D', $data, '-R',
                        '-X', 'stream', '-c', 'fast', '--no-sync',
                        '-d', $primary],
                as_pg => 1, log => "$self->{dir}/basebackup-$name.log",
                die => 1);
    my $sb = bless { t => $self, name => $name, data => $data, log => $log,
                     sync => $o{sync} }, 'GovSvc::Test::Standby';
    weaken($sb->{t});
    # read last: the primary's own settings copied by pg_basebackup, then
    # this standby's port and its primary
    $sb->{port} = free_port();
    _spew("$data/postgresql.auto.conf", <<"EOF", '>>:raw');
# the standby $name, written by GovSvc::Test
port = $sb->{port}
primary_conninfo = '$primary'
hot_standby = on
EOF
    push @{ $self->{standbys} }, $sb;
    $sb->start;
    if ($o{sync}) {
        $self->psql("ALTER SYSTEM SET synchronous_commit = 'on'");
        $self->psql("ALTER SYSTEM SET synchronous_standby_names = :'n'",
                    n => $name);
        $self->psql('SELECT pg_reload_conf()');
    }
    my $want = $o{sync} ? 'sync' : 'async';
    my $state = '';
    for (1 .. 500) {
        $state = $self->psql("SELECT sync_state FROM pg_stat_replication"
                             . " WHERE application_name = :'n'"
                             . " AND state = 'streaming'", n => $name);
        last if $state eq $want;
        sleep 0.02;
    }
    croak "standby $name: not streaming ($want): '$state'\n" . slurp($log)
        unless $state eq $want;
    return $sb;
}

# the standbys of start_standby, in the order they were started
sub standbys { @{ $_[0]{standbys} // [] } }

# psql($sql, NAME => VALUE, ...): runs psql -X -At -q with ON_ERROR_STOP
# against the test database, each NAME => VALUE given as `-v NAME=VALUE`
# (use :'NAME' in the SQL for a quoted literal, :"NAME" for an identifier:
# never interpolate values into SQL text); returns its output without the
# final newline; dies on error.
sub psql {
    my ($self, $sql, %vars) = @_;
    return $self->psql_db('govsvc', $sql, %vars);
}

sub psql_db {
    my ($self, $db, $sql, %vars) = @_;
    my @v;
    for my $k (sort keys %vars) {
        croak "psql: bad variable name $k" unless $k =~ /\A[A-Za-z_]\w*\z/;
        my $val = $vars{$k} // croak "psql: variable $k undefined";
        utf8::encode($val) if utf8::is_utf8($val);
        croak "psql: variable $k holds a NUL" if $val =~ /\0/;
        push @v, '-v', "$k=$val";
    }
    my $n = ++$self->{psql_n};
    my $in = "$self->{dir}/psql.$$.$n.sql";
    my $err = "$self->{dir}/psql.$$.$n.err";
    _spew($in, $sql);
    my $conninfo = "hostaddr=127.0.0.1 port=$self->{pg_port} dbname=$db"
        . " user=govsvc";
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if ($pid == 0) {
        $ENV{PGCLIENTENCODING} = 'UTF8';
        open STDIN, '<', $in or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        exec 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', @v,
            '-d', $conninfo, '-f', '-'
            or POSIX::_exit(127);
    }
    binmode $fh;
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my $rc = $?;
    my $errtext = slurp($err);
    unlink $in, $err;
    croak "psql failed ($rc): $errtext\nSQL: $sql" if $rc;
    $out =~ s/\n\z//;
    return $out;
}

# ---------------------------------------------------------------- redis

sub start_redis {
    my ($self) = @_;
    return $self->{parent}->start_redis if $self->{parent};
    croak 'redis => 0' unless $self->{redis};
    for my $try (1, 2) {
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            chdir "$self->{dir}/redis";
            open STDIN, '<', '/dev/null';
            open STDOUT, '>>', "$self->{dir}/redis.log";
            open STDERR, '>&', \*STDOUT;
            exec 'redis-server', '--port', $self->{redis_port},
                '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                '--dir', "$self->{dir}/redis", '--daemonize', 'no',
                '--protected-mode', 'yes', '--loglevel', 'warning'
                or POSIX::_exit(127);
        }
        my $deadline = time + 10;
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                $pid = 0;
                last;
            }
            my $pong = eval { $self->redis_cli('PING') } // '';
            if ($pong eq 'PONG') {
                $self->{redis_pid} = $pid;
                $self->{started}{redis} = 1;
                return;
            }
            sleep 0.02;
        }
        kill 'KILL', $pid if $pid;
        waitpid $pid, 0 if $pid;
        my $log = slurp("$self->{dir}/redis.log");
        if ($try == 1 && !$self->{started}{nginx}
            && $log =~ /Address already in use/)
        {
            $self->{redis_port} = free_port();
            next;
        }
        croak "redis-server did not start:\n$log";
    }
}

sub stop_redis {
    my ($self) = @_;
    return $self->{parent}->stop_redis if $self->{parent};
    my $pid = delete $self->{redis_pid} or return;
    delete $self->{started}{redis};
    _stop_pid($pid, [TERM => 5], [KILL => 5]);
}

# redis_cli(ARGS...): one command over RESP; returns the reply as text
# (arrays joined with "\n", nil as undef, errors as "ERR ..." text)
sub redis_cli {
    my ($self, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $self->{redis_port}, Proto => 'tcp', Timeout => 2)
        or croak "redis connect: $!";
    binmode $s;
    my $cmd = '*' . @args . "\r\n";
    $cmd .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $s $cmd;
    my $line = sub {
        my $l = <$s>;
        croak 'redis: connection closed' unless defined $l;
        $l =~ s/\r\n\z//;
        return $l;
    };
    my $read;
    $read = sub {
        my $l = $line->();
        my ($t, $v) = (substr($l, 0, 1), substr($l, 1));
        return $v if $t eq '+' || $t eq ':' || $t eq '-';
        if ($t eq '$') {
            return undef if $v < 0;
            my $buf = '';
            while (length $buf < $v + 2) {
                read($s, $buf, $v + 2 - length $buf, length $buf)
                    or croak 'redis: short read';
            }
            return substr($buf, 0, $v);
        }
        if ($t eq '*') {
            return undef if $v < 0;
            return join "\n", map { $read->() // '' } 1 .. $v;
        }
        croak "redis: bad reply $l";
    };
    my $r = $read->();
    close $s;
    return $r;
}

# ---------------------------------------------------------------- nginx

sub _render {
    my ($self) = @_;
    my $user = $IS_ROOT ? "user $RUN_USER $RUN_USER;" : '';
    my @kv = (
        MODULE       => $self->{module},
        STATE        => $self->{dir},
        CONF_DIR     => "$ENV{GOVSVC_ROOT}/conf",
        USER_LINE    => $user,
        WORKERS      => $self->{workers},
        HTTPS_PORT   => $self->{https_port},
        HTTP_PORT    => $self->{http_port},
        PG_CONNINFO  => $self->{nginx_conninfo}
                        // ($self->{app_role}
                            ? $self->conninfo =~ s/user=govsvc$/user=govsvc_app/r
                            : $self->conninfo),
        REDIS_ADDR   => '127.0.0.1:' . ($self->{redis_port} // 6379),
        REDIS_OFF    => $self->{redis} ? '' : '# (redis => 0) ',
        NODE         => $self->{node},
        PUBLIC_WRITE_LIMIT => $self->{public_write_limit},
        HTTP_EXTRA   => $self->{http_extra} . $self->_sync_extra,
        SERVER_EXTRA => $self->{server_extra},
    );
    # the web pages' root, for a template that names it (a test's own
    # template may not: render-conf refuses a value it does not use)
    push @kv, HTML_ROOT => $self->_html_root
        if slurp($self->{template}) =~ /\@HTML_ROOT\@/;
    my @args;
    while (my ($k, $v) = splice @kv, 0, 2) {
        push @args, "$k=$v";
    }
    $self->_run(cmd => ["$ENV{GOVSVC_ROOT}/scripts/render-conf.sh",
        $self->{template}, "$self->{dir}/nginx.conf", @args],
        log => "$self->{dir}/render.log", die => 1);
}

# the web pages' folder: html_root => DIR as given; by default a copy of
# build/html in the test's folder, which the nginx workers (the govsvc
# user when started as root) can read wherever the work tree is
sub _html_root {
    my ($self) = @_;
    return $self->{html_root} if defined $self->{html_root};
    my $src = "$ENV{GOVSVC_ROOT}/build/html";
    my $dst = "$self->{dir}/html";
    if (!-d $dst && -d $src) {
        system('cp', '-R', $src, $dst) == 0 or croak "cp -R $src $dst failed";
        system('chmod', '-R', 'a+rX', $dst) == 0 or croak "chmod $dst failed";
    }
    return -d $dst ? $dst : $src;
}

# the directives of the link to the parent node (parent => $t)
sub _sync_extra {
    my ($self) = @_;
    my $p = $self->{sync_parent} or return '';
    my $ca = $self->ca_dir;
    croak 'parent => $t: start the parent first' unless $p->https_port;
    return " govsvc_sync_parent https://127.0.0.1:" . $p->https_port . ';'
        . " govsvc_sync_certificate $ca/nodes/$self->{node}.crt;"
        . " govsvc_sync_certificate_key $ca/nodes/$self->{node}.key;"
        . " govsvc_sync_trusted_certificate $ca/ca.crt;"
        . " govsvc_sync_interval $self->{sync_interval};";
}

sub _nginx_cmd {
    my ($self, @extra) = @_;
    return ($NGINX, '-p', "$self->{dir}/", '-c', "$self->{dir}/nginx.conf",
            '-e', "$self->{dir}/error.log", @extra);
}

# nginx_t: `nginx -t` on the rendered config; returns (ok, output)
sub nginx_t {
    my ($self) = @_;
    my $log = "$self->{dir}/nginx-t.log";
    unlink $log;
    my $rc = $self->_run(cmd => [$self->_nginx_cmd('-t')], log => $log);
    return ($rc == 0, slurp($log));
}

sub start_nginx {
    my ($self, %o) = @_;
    for my $try (1, 2) {
        unless ($o{keep_ports} && $try == 1 && $self->{https_port}) {
            $self->{http_port} = free_port();
            $self->{https_port} = free_port();
            $self->{https_port} = free_port()
                while $self->{https_port} == $self->{http_port};
        }
        $self->_render;
        my ($ok, $out) = $self->nginx_t;
        croak "nginx -t failed:\n$out" unless $ok;

        my $elog_size = -s $self->error_log // 0;
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            chdir $self->{dir};
            open STDIN, '<', '/dev/null';
            open STDOUT, '>>', "$self->{dir}/nginx.stderr";
            open STDERR, '>&', \*STDOUT;
            my @valgrind = $ENV{GOVSVC_VALGRIND}
                ? ('valgrind', '-q', '--leak-check=full',
                   '--show-leak-kinds=definite',
                   '--errors-for-leak-kinds=definite',
                   "--suppressions=$ENV{GOVSVC_ROOT}/t/valgrind.supp",
                   "--log-file=$self->{dir}/valgrind.%p.log")
                : ();
            if (defined $self->{faketime}) {
                $ENV{LD_PRELOAD} = $FAKETIME_LIB;
                $ENV{FAKETIME} = $self->{faketime};
                $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
            }
            exec(@valgrind, $self->_nginx_cmd('-g', 'daemon off;'))
                or POSIX::_exit(127);
        }
        $self->{nginx_pid} = $pid;
        $self->{started}{nginx} = 1;

        my $deadline = time + ($ENV{GOVSVC_VALGRIND} ? 90 : 15);
        my $exited;
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                $exited = $?;
                last;
            }
            if (_port_open($self->{http_port})
                && _port_open($self->{https_port})
                && $self->worker_pids == $self->{workers})
            {
                return;
            }
            sleep 0.02;
        }
        delete $self->{started}{nginx};
        delete $self->{nginx_pid};
        _stop_pid($pid, [TERM => 5], [KILL => 5]) unless defined $exited;
        my $elog = -e $self->error_log ? slurp($self->error_log) : '';
        $elog = substr($elog, $elog_size);
        if ($try == 1 && $elog =~ /Address already in use/) {
            next;
        }
        croak "nginx did not start"
            . (defined $exited ? " (exit $exited)" : ' (timeout)')
            . ":\n$elog" . slurp("$self->{dir}/nginx.stderr");
    }
}

# faketime(OFFSET or undef): the clock of the next start_nginx, of both
# instances (see the header)
sub faketime {
    my ($self, $offset) = @_;
    my $top = $self->{parent} // $self;
    -e $FAKETIME_LIB or croak "$FAKETIME_LIB missing: run scripts/deps.sh"
        if defined $offset;
    $_->{faketime} = $offset for grep { defined } $top, $top->{second};
    return $offset;
}

# the worker pids of the running master (children of it, from /proc)
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{nginx_pid} or return ();
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $l = <$fh> // next;
        # pid (comm) state ppid ...
        my ($pid, $state, $ppid) = $l =~ /^(\d+) \(.*\) (\S) (\d+)/ or next;
        next unless $ppid == $master && $state ne 'Z';
        open my $cf, '<', "/proc/$pid/cmdline" or next;
        my $cmd = <$cf> // '';
        # under valgrind the title nginx sets is not seen: any live child
        # is a worker (the cache manager is not configured)
        push @w, $pid + 0 if $cmd =~ /worker process/
                             || $ENV{GOVSVC_VALGRIND};
    }
    @w = sort { $a <=> $b } @w;
    return wantarray ? @w : scalar @w;
}

sub _alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $l = <$fh> // return 0;
    return $l !~ /^\d+ \(.*\) Z /;
}

# stop a process: [SIGNAL => seconds] steps; reaps it if it is our child
sub _stop_pid {
    my ($pid, @steps) = @_;
    for my $step (@steps) {
        my ($sig, $secs) = @$step;
        kill $sig, $pid;
        my $deadline = time + $secs;
        while (time < $deadline) {
            my $w = waitpid($pid, WNOHANG);
            return 1 if $w == $pid || ($w == -1 && !_alive($pid));
            sleep 0.02;
        }
    }
    return 0;
}

sub stop_nginx {
    my ($self) = @_;
    my $pid = $self->{nginx_pid} or return;
    my @workers = $self->worker_pids;
    _stop_pid($pid, [QUIT => 10], [TERM => 5], [KILL => 5])
        or Test::More::diag("nginx master $pid would not stop");
    for my $w (@workers) {
        _stop_pid($w, [KILL => 2]) if _alive($w);
    }
    delete $self->{nginx_pid};
    delete $self->{started}{nginx};
}

# reload: HUP, then wait until the new generation of workers runs alone
sub reload {
    my ($self) = @_;
    my $pid = $self->{nginx_pid} or croak 'nginx not running';
    my %old = map { $_ => 1 } $self->worker_pids;
    my $size = -s $self->error_log // 0;
    kill 'HUP', $pid;
    # an old worker finishes what it was doing first: under valgrind a
    # password hash alone takes seconds
    my $deadline = time + ($ENV{GOVSVC_VALGRIND} ? 60 : 10);
    while (time < $deadline) {
        my @w = $self->worker_pids;
        my @new = grep { !$old{$_} } @w;
        return 1 if @new == $self->{workers} && @w == @new;
        sleep 0.02;
    }
    my $elog = substr(slurp($self->error_log), $size);
    croak "reload did not complete:\n$elog";
}

# kill_worker: SIGKILL one worker, wait for the master to replace it;
# returns the killed pid.  Expects the master's [alert] about it.
sub kill_worker {
    my ($self) = @_;
    my @w = $self->worker_pids or croak 'no worker';
    my $victim = $w[0];
    $self->expect_log(qr/worker process $victim exited on signal 9/);
    kill 'KILL', $victim;
    my $deadline = time + 10;
    while (time < $deadline) {
        my @now = $self->worker_pids;
        last if @now == $self->{workers} && !grep { $_ == $victim } @now;
        sleep 0.02;
    }
    return $victim;
}

# revoke(NAME or CERTFILE): revoke with the dev CA, new CRL, reload nginx
sub revoke {
    my ($self, $who) = @_;
    my $crt = $who =~ m{/} ? $who : $self->ca_dir . "/users/$who.crt";
    $self->_run(cmd => ["$ENV{GOVSVC_ROOT}/scripts/dev-ca.sh", $self->ca_dir,
        'revoke', $crt], log => "$self->{dir}/dev-ca.log", die => 1);
    my $top = $self->{parent} // $self;
    for my $i (grep { defined } $top, $top->{second}) {
        $i->reload if $i->{started}{nginx};
    }
}

# ---------------------------------------------------------------- logs

sub expect_log {
    my ($self, $re) = @_;
    push @{ $self->{expect} }, $re;
}

# check_log: every [alert]/[crit]/[emerg] line or sanitizer report not
# expected (expect_log) is a failing test; reported once each.  Passes one
# test when nothing new is found.
sub check_log {
    my ($self) = @_;
    my @bad;
    # GOVSVC_VALGRIND=1: memcheck's reports of nginx and its workers too
    for my $f ($self->error_log, "$self->{dir}/nginx.stderr",
               glob("$self->{dir}/valgrind.*.log"))
    {
        next unless -e $f;
        open my $fh, '<:raw', $f or next;
        my $n = 0;
        while (my $l = <$fh>) {
            $n++;
            next unless $l =~ /\[(?:alert|emerg|crit)\]/
                || $l =~ /ERROR: (?:Address|Leak|Memory|Thread)Sanitizer/
                || $l =~ /runtime error:/
                || $l =~ /^==\d+== (?:Invalid|Conditional jump|Use of unin|Syscall param|Mismatched free|.*definitely lost in)/;
            next if $self->{log_seen}{"$f:$n"}++;
            next if grep { $l =~ $_ } @{ $self->{expect} };
            chomp $l;
            push @bad, $l;
        }
    }
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $which = $self->{parent} ? 'instance 2 error.log' : 'error.log';
    if (!$self->{tap}) {
        # benchmarks: say it, do not count it as a test
        print @bad ? map { "$which: $_\n" } @bad
                   : "$which: no alert, crit, emerg or sanitizer report\n";
    } elsif (@bad) {
        Test::More::fail("$which: $_") for @bad;
    } else {
        Test::More::pass("no alert, crit, emerg or sanitizer report in"
                         . " $which");
    }
    return !@bad;
}

# ---------------------------------------------------------------- stop

sub stop {
    my ($self) = @_;
    return unless $$ == $self->{owner};
    return if $self->{stopped}++;
    if ($self->{parent}) {    # instance 2: its nginx only
        $self->stop_nginx;
        $self->check_log if -e $self->error_log;
        return;
    }
    $self->{second}->stop if $self->{second};
    $self->stop_nginx;
    $self->check_log if -e $self->error_log;
    $self->stop_redis;
    $self->stop_pg;
    $_->stop for $self->standbys;
    $self->_cleanup_dir;
}

sub _cleanup_dir {
    my ($self, $failed) = @_;
    return if $self->{cleaned}++;
    my $tb = Test::More->builder;
    if ($failed || !$tb->is_passing || $ENV{GOVSVC_KEEP}) {
        Test::More::diag("GovSvc::Test: kept $self->{dir}");
    } else {
        remove_tree($self->{dir});
    }
}

sub _emergency_stop {
    my ($self, $failed) = @_;
    return unless $$ == $self->{owner};
    return if $self->{stopped}++;
    local ($?, $@, $!);
    if ($self->{parent}) {
        eval {
            $self->stop_nginx;
            $self->check_log if -e $self->error_log;
            1;
        } or warn "GovSvc::Test: stopping instance 2: $@";
        return;
    }
    $self->{second}->_emergency_stop($failed) if $self->{second};
    eval {
        $self->stop_nginx;
        $self->check_log if -e $self->error_log;
        $self->stop_redis;
        $self->stop_pg;
        $_->stop for $self->standbys;
        $self->_cleanup_dir($failed);
        1;
    } or warn "GovSvc::Test: stopping: $@";
}

sub DESTROY {
    my ($self) = @_;
    $self->_emergency_stop(0) if ${^GLOBAL_PHASE} ne 'DESTRUCT';
}

END {
    my $failed = $? != 0;
    for my $t (grep { defined } @LIVE) {
        $t->_emergency_stop($failed);
    }
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { die "GovSvc::Test: caught SIG$sig\n" }
        unless defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
}

# ---------------------------------------------------------------- HTTP

my $JSON = JSON::PP->new->canonical->allow_nonref;

sub _bytes_deep {
    my ($d) = @_;
    if (ref $d eq 'HASH') {
        return { map { my $k = $_; utf8::encode($k); $k => _bytes_deep($d->{$_}) } keys %$d };
    }
    return [ map { _bytes_deep($_) } @$d ] if ref $d eq 'ARRAY';
    if (defined $d && !ref $d && utf8::is_utf8($d)) {
        utf8::encode($d);
    }
    return $d;
}

sub _connect {
    my ($self, %o) = @_;
    my $timeout = $o{timeout} // 10;
    if ($o{tls}) {
        require IO::Socket::SSL;
        my %ssl = (
            PeerAddr            => '127.0.0.1',
            PeerPort            => $o{port} // $self->{https_port},
            Timeout             => $timeout,
            SSL_verify_mode     => IO::Socket::SSL::SSL_VERIFY_PEER(),
            SSL_ca_file         => $self->ca_dir . '/ca.crt',
            SSL_hostname        => 'localhost',
            SSL_verifycn_name   => 'localhost',
            SSL_verifycn_scheme => 'http',
            %{ $o{ssl} // {} },
        );
        if (my $c = $o{cert}) {
            my $base = $c =~ m{^/} ? $c
                     : $c =~ m{/}  ? $self->ca_dir . "/$c"
                     :               $self->ca_dir . "/users/$c";
            $base =~ s/\.(?:crt|key)\z//;
            $ssl{SSL_cert_file} = "$base.crt";
            $ssl{SSL_key_file} = "$base.key";
        }
        my $s = IO::Socket::SSL->new(%ssl)
            or return (undef, "TLS connect: $! "
                       . (IO::Socket::SSL::errstr() // ''));
        return ($s);
    }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port} // $self->{http_port}, Proto => 'tcp',
        Timeout => $timeout) or return (undef, "connect: $!");
    return ($s);
}

sub _write_all {
    my ($s, $data, $deadline) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, 65536, $off);
        if (!defined $n) {
            next if $!{EINTR};
            if ($!{EAGAIN} || $!{EWOULDBLOCK}) {
                return 0 if time > $deadline;
                IO::Select->new($s)->can_write(0.1);
                next;
            }
            return 0;    # EPIPE / reset: the server answered early
        }
        $off += $n;
    }
    return 1;
}

# is $buf a complete HTTP response? (for a request with method $method)
sub _complete {
    my ($buf, $method) = @_;
    my $he = index($buf, "\r\n\r\n");
    return 0 if $he < 0;
    my $head = substr($buf, 0, $he);
    my $body_len = length($buf) - $he - 4;
    my ($status) = $head =~ m{^HTTP/\d\.\d (\d{3})};
    return 1 unless defined $status;
    return 1 if ($method // '') eq 'HEAD' || $status =~ /^(?:1|204|304)/;
    if ($head =~ /^transfer-encoding:[ \t]*chunked/mi) {
        return substr($buf, $he + 4) =~ /(?:^|\r\n)0\r\n(?:.*\r\n)?\r\n\z/s;
    }
    if ($head =~ /^content-length:[ \t]*(\d+)/mi) {
        return $body_len >= $1;
    }
    return 0;    # until EOF
}

sub _read_response {
    my ($s, $deadline, $method) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    while (1) {
        last if _complete($buf, $method);
        my $left = $deadline - time;
        last if $left <= 0;
        # TLS may hold decrypted bytes that select does not see
        my $pending = $s->can('pending') && $s->pending;
        next unless $pending || $sel->can_read($left > 0.5 ? 0.5 : $left);
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK};
            last;
        }
        last if $n == 0;
    }
    return $buf;
}

sub _parse_response {
    my ($raw) = @_;
    my $he = index($raw, "\r\n\r\n");
    return { status => 599, headers => {}, body => '', json => undef,
             error => 'no complete response head', raw => $raw }
        if $he < 0;
    my ($head, $body) = (substr($raw, 0, $he), substr($raw, $he + 4));
    my @lines = split /\r\n/, $head;
    my ($status) = (shift @lines) =~ m{^HTTP/\d\.\d (\d{3})}
        or return { status => 599, headers => {}, body => $body,
                    json => undef, error => 'bad status line', raw => $raw };
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*\z/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? ($k eq 'set-cookie' || ref $h{$k}
                                  ? [ (ref $h{$k} ? @{ $h{$k} } : $h{$k}), $v ]
                                  : "$h{$k}, $v")
                               : $v;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n);
            substr($body, 0, $n + 2) = '';
        }
        $body = $out;
    } elsif (defined $h{'content-length'} && $h{'content-length'} =~ /^\d+$/) {
        $body = substr($body, 0, $h{'content-length'});
    }
    my $json;
    if (($h{'content-type'} // '') =~ m{^application/(?:[\w.+-]+\+)?json}i) {
        $json = eval { _bytes_deep(JSON::PP->new->utf8->allow_nonref
                                   ->decode($body)) };
    }
    return { status => $status + 0, headers => \%h, body => $body,
             json => $json };
}

# req(METHOD, PATH, body => .., json => .., headers => {..}, tls => 1,
#     cert => 'admin', timeout => 10)
#     instance => 2 (the second nginx of start_second)
sub req {
    my ($self, $method, $path, %o) = @_;
    if (defined(my $n = delete $o{instance})) {
        return $self->instance($n)->req($method, $path, %o);
    }
    my %h = (Host => $o{tls} ? "localhost:$self->{https_port}"
                             : "127.0.0.1:$self->{http_port}",
             Connection => 'close');
    my $body = $o{body};
    if (exists $o{json}) {
        $body = $JSON->encode($o{json});
        $h{'Content-Type'} = 'application/json';
    }
    my $given = $o{headers} // {};
    for my $k (keys %$given) {
        delete $h{$_} for grep { lc $_ eq lc $k } keys %h;
        $h{$k} = $given->{$k};
    }
    if (defined $body) {
        # wide characters are UTF-8 encoded; otherwise the string is bytes
        if (utf8::is_utf8($body)) {
            $body =~ /[^\x00-\xff]/ ? utf8::encode($body)
                                     : utf8::downgrade($body);
        }
        $h{'Content-Length'} = length $body
            unless grep { /^(?:content-length|transfer-encoding)$/i } keys %h;
    }
    my $req = "$method $path HTTP/1.1\r\n";
    for my $k (sort keys %h) {
        next unless defined $h{$k};
        $req .= "$k: $_\r\n" for ref $h{$k} ? @{ $h{$k} } : $h{$k};
    }
    $req .= "\r\n";
    $req .= $body if defined $body;

    my $deadline = time + ($o{timeout} // 10);
    my ($s, $err) = $self->_connect(%o);
    return { status => 599, headers => {}, body => '', json => undef,
             error => $err } unless $s;
    _write_all($s, $req, $deadline);
    my $raw = _read_response($s, $deadline, $method);
    close $s;
    my $r = _parse_response($raw);
    $r->{raw} //= $raw if $o{keep_raw};
    return $r;
}

# raw(BYTES, tls => 0, timeout => 5, cert => ..): sends the bytes on a new
# connection and returns the raw response text (until the response is
# complete, EOF or the timeout)
sub raw {
    my ($self, $bytes, %o) = @_;
    if (defined(my $n = delete $o{instance})) {
        return $self->instance($n)->raw($bytes, %o);
    }
    my $deadline = time + ($o{timeout} // 5);
    my ($s, $err) = $self->_connect(%o);
    croak $err unless $s;
    _write_all($s, $bytes, $deadline);
    my $raw = _read_response($s, $deadline, $o{method});
    close $s;
    return $raw;
}

# async_req(same as req): runs it in a forked child; ->wait returns
# ($response, $elapsed_seconds)
sub async_req {
    my ($self, @args) = @_;
    my $n = ++$self->{async_n};
    my $file = "$self->{dir}/async.$$.$n";
    my $t0 = time;
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        my $r = eval { $self->req(@args) }
            // { status => 599, error => "$@", headers => {}, body => '' };
        Storable::nstore([ $r, time - $t0 ], $file);
        POSIX::_exit(0);    # no END blocks: the stack belongs to the parent
    }
    return bless { pid => $pid, file => $file, t0 => $t0 },
                 'GovSvc::Test::Async';
}

# ---------------------------------------------------------------- users

# password_hash(PASSWORD): the stored form, from the one implementation:
# $GOVSVC_PASSWD (the Makefile exports it) or GOVSVC_ROOT/build/govsvc-passwd,
# which reads the password on stdin and prints the stored string.
sub password_hash {
    my ($self, $password) = @_;
    my $tool = $ENV{GOVSVC_PASSWD} // "$ENV{GOVSVC_ROOT}/build/govsvc-passwd";
    -x $tool or croak "password tool $tool missing: build it (make)";
    utf8::encode($password) if utf8::is_utf8($password);
    my $n = ++$self->{pw_n};
    my $in = "$self->{dir}/pw.$$.$n";
    {
        open my $fh, '>:raw', $in or croak "write $in: $!";
        chmod 0600, $in;
        print $fh $password;    # no newline: the password is all of stdin
        close $fh or croak "write $in: $!";
    }
    my $pid = open(my $out, '-|') // croak "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', $in or POSIX::_exit(126);
        exec $tool or POSIX::_exit(127);
    }
    my $stored = do { local $/; <$out> } // '';
    close $out;
    my $rc = $?;
    unlink $in;
    croak "$tool failed ($rc)" if $rc;
    $stored =~ s/\s+\z//;
    $stored =~ m{\Apbkdf2-sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\z}
        or croak "$tool printed an unexpected hash: '$stored'";
    return $stored;
}

# default_department: id of the first department of this node (sql/demo.sql
# order when demo => 1), created on demand ("测试部门", with the node's
# region, inserted under a placeholder parent chain when missing)
# add_item(CODE, department => ID, region => CODE (this node), steps =>
# [[code, name, role, days], ...], materials => [[code, name], ...] (each
# required), case_type => 2, promised_days => 10): an item row as the
# administrator makes one (in SQL, as the owner)
sub add_item {
    my ($self, $code, %o) = @_;
    my $steps = [ map { { code => $_->[0], name => $_->[1], role => $_->[2],
                          days => $_->[3] } } @{ $o{steps} // [] } ];
    my $materials = [ map { { code => $_->[0], name => $_->[1],
                              required => JSON::PP::true } }
                      @{ $o{materials} // [] } ];
    $self->psql(<<'SQL',
INSERT INTO items (code, basic_code, name, type, case_type, department,
                   region, legal_days, promised_days, materials, fields,
                   steps)
VALUES (:'code', '000001', :'name', '01', :'case_type'::smallint,
        :'dept'::bigint, :'region', 20, :'days'::int, :'materials'::jsonb,
        '[]', :'steps'::jsonb)
SQL
        code => $code, name => $o{name} // "事项 $code",
        case_type => $o{case_type} // 2,
        dept => $o{department} // $self->default_department,
        region => $o{region} // $self->{node},
        days => $o{promised_days} // 10,
        materials => $JSON->encode($materials),
        steps => $JSON->encode($steps));
}

# person(): the applicant the tests register cases for
sub person {
    return { type => 'person', name => '张三', id_type => 'id_card',
             id_no => '11010519491231002X', phone => '13800000000' };
}

sub default_department {
    my ($self) = @_;
    my $top = $self->{parent} // $self;
    return $top->{default_department} //= $top->psql(<<'SQL', node => $top->{node});
INSERT INTO regions (code, name, parent, level)
    SELECT substr(:'node', 1, 2) || '0000', '测试省', NULL, 1
    WHERE NOT EXISTS (SELECT 1 FROM regions WHERE code = :'node')
      AND :'node' !~ '0000$'
ON CONFLICT (code) DO NOTHING;
INSERT INTO regions (code, name, parent, level)
    SELECT substr(:'node', 1, 4) || '00', '测试市',
           substr(:'node', 1, 2) || '0000', 2
    WHERE NOT EXISTS (SELECT 1 FROM regions WHERE code = :'node')
      AND :'node' !~ '00$'
ON CONFLICT (code) DO NOTHING;
INSERT INTO regions (code, name, parent, level)
    SELECT :'node', '测试区',
           CASE WHEN :'node' ~ '0000$' THEN NULL
                WHEN :'node' ~ '00$' THEN substr(:'node', 1, 2) || '0000'
                ELSE substr(:'node', 1, 4) || '00' END,
           CASE WHEN :'node' ~ '0000$' THEN 1
                WHEN :'node' ~ '00$' THEN 2 ELSE 3 END
ON CONFLICT (code) DO NOTHING;
INSERT INTO departments (region, name)
    SELECT :'node', '测试部门'
    WHERE NOT EXISTS (SELECT 1 FROM departments WHERE region = :'node')
ON CONFLICT (region, name) DO NOTHING;
SELECT id FROM departments WHERE region = :'node' ORDER BY id LIMIT 1;
SQL
}

# create_user(username => 'x', name => '...', roles => ['clerk'],
#             password => '...', department => ID, active => 1) -> user id
# name defaults to the username, roles to [], department to
# default_department; without a password the user has none (certificate
# only).  Values go to psql as variables, never into SQL text.
sub create_user {
    my ($self, %o) = @_;
    my $username = $o{username} // croak 'create_user: username';
    my %v = (
        username => $username,
        name     => $o{name} // $username,
        roles    => $JSON->encode([ @{ $o{roles} // [] } ]),
        dept     => $o{department} // $self->default_department,
        active   => ($o{active} // 1) ? 'true' : 'false',
        hash     => defined $o{password} ? $self->password_hash($o{password})
                                         : '',
    );
    return $self->psql(<<'SQL', %v);
INSERT INTO users (username, name, department, roles, active, password_hash)
VALUES (:'username', :'name', :'dept'::bigint,
        ARRAY(SELECT jsonb_array_elements_text(:'roles'::jsonb)),
        :'active'::boolean, nullif(:'hash', ''))
RETURNING id;
SQL
}

# cert_info(NAME or CERTFILE) -> { sha256, subject, not_after, file }:
# sha256 of the certificate's DER, lower-case hex (as user_certificates)
sub cert_info {
    my ($self, $who) = @_;
    my $crt = $who =~ m{/} ? $who : $self->ca_dir . "/users/$who.crt";
    $crt .= '.crt' unless $crt =~ /\.crt\z/ || -e $crt;
    -e $crt or croak "no certificate $crt";
    my $run = sub {
        my @cmd = @_;
        my $pid = open(my $fh, '-|') // croak "fork: $!";
        if ($pid == 0) {
            open STDIN, '<', '/dev/null';
            exec @cmd or POSIX::_exit(127);
        }
        binmode $fh;
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        croak "failed ($?): @cmd" if $?;
        return $out;
    };
    require Digest::SHA;
    my $der = $run->('openssl', 'x509', '-in', $crt, '-outform', 'DER');
    my $subject = $run->('openssl', 'x509', '-in', $crt, '-noout',
                         '-subject', '-nameopt', 'RFC2253');
    my $end = $run->('openssl', 'x509', '-in', $crt, '-noout', '-enddate',
                     '-dateopt', 'iso_8601');
    $subject =~ s/\Asubject=\s*//;
    $subject =~ s/\s+\z//;
    $end =~ s/\AnotAfter=\s*//;
    $end =~ s/\s+\z//;
    return { sha256 => Digest::SHA::sha256_hex($der), subject => $subject,
             not_after => $end, file => $crt };
}

# bind_cert(USER_ID, NAME or CERTFILE): binds the certificate (NAME: one of
# ca_dir/users/NAME.crt) to the user in user_certificates; returns its
# sha256.  Binding it again is a no-op.
sub bind_cert {
    my ($self, $user_id, $who) = @_;
    my $c = $self->cert_info($who);
    my $sql = <<'SQL';
INSERT INTO user_certificates (sha256, user_id, subject, not_after)
VALUES (:'sha', :'uid'::bigint, :'subject', :'not_after'::timestamptz)
ON CONFLICT (sha256) DO NOTHING;
SQL
    $self->psql($sql, uid => $user_id, sha => $c->{sha256},
                subject => $c->{subject}, not_after => $c->{not_after});
    return $c->{sha256};
}

# login(USERNAME, PASSWORD, instance => 2, tls => 1, headers => {..}):
# POST /api/v1/sessions (over TLS unless tls => 0); returns the decoded
# answer {token, csrf_token, expires_at, user} plus cookie => the
# govsvc_session value from Set-Cookie, or dies with the response.
sub login {
    my ($self, $username, $password, %o) = @_;
    my $r = $self->req(POST => '/api/v1/sessions', tls => $o{tls} // 1,
        json => { username => $username, password => $password },
        map { exists $o{$_} ? ($_ => $o{$_}) : () }
            qw(instance headers cert timeout));
    return _session_answer($r, "login $username");
}

# login_cert(NAME or CERTFILE, instance => 2): POST /api/v1/sessions/cert
# with that client certificate; as login
sub login_cert {
    my ($self, $who, %o) = @_;
    my $r = $self->req(POST => '/api/v1/sessions/cert', tls => 1,
        cert => $who, body => '',
        map { exists $o{$_} ? ($_ => $o{$_}) : () }
            qw(instance headers timeout));
    return _session_answer($r, "certificate login $who");
}

sub _session_answer {
    my ($r, $what) = @_;
    unless ($r->{status} == 201 && ref $r->{json} eq 'HASH'
            && defined $r->{json}{token})
    {
        croak "$what: $r->{status} " . ($r->{error} // '') . " $r->{body}";
    }
    my %a = %{ $r->{json} };
    for my $c (map { ref $_ ? @$_ : $_ }
               $r->{headers}{'set-cookie'} // ())
    {
        $a{cookie} = $1 if $c =~ /^govsvc_session=([^;]*)/;
    }
    return \%a;
}

# auth(TOKEN or login answer): headers for req: {Authorization => Bearer}
sub auth {
    my ($self, $token) = @_;
    $token = $token->{token} if ref $token;
    return { Authorization => "Bearer $token" };
}

# refused(ANSWER, STATUS, CODE, WHAT[, FIELD]): two tests (three with a
# field) that a request was refused as api.md says
sub refused {
    my ($self, $r, $status, $code, $what, $field) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::is($r->{status}, $status, "$what: $status")
        or Test::More::diag($r->{body});
    Test::More::is($r->{json}{error}{code}, $code, "$what: $code");
    Test::More::is($r->{json}{error}{field}, $field, "$what: field $field")
        if defined $field;
}

# case_staff($dept, $other): the cast of the case tests, logged in; their
# Authorization headers by username: clerk and handler of $dept, clerk2
# and the supervisor sup of $other (password "a good password")
sub case_staff {
    my ($self, $dept, $other) = @_;
    my $pw = 'a good password';
    my @cast = ([clerk => '张窗口', 'clerk', $dept],
                [clerk2 => '李窗口', 'clerk', $other],
                [handler => '王承办', 'handler', $dept],
                [sup => '陈监督', 'supervisor', $other]);
    for my $c (@cast) {
        $self->create_user(username => $c->[0], name => $c->[1],
                           roles => [$c->[2]], password => $pw,
                           department => $c->[3]);
    }
    return map { $_->[0] => $self->auth($self->login($_->[0], $pw)) } @cast;
}

# cookie_auth(login answer, csrf => 1): headers with the session cookie
# (and X-CSRF-Token unless csrf => 0)
sub cookie_auth {
    my ($self, $login, %o) = @_;
    my $cookie = $login->{cookie} // croak 'no govsvc_session cookie';
    return { Cookie => "govsvc_session=$cookie",
             (($o{csrf} // 1) ? ('X-CSRF-Token' => $login->{csrf_token})
                              : ()) };
}

# eventually(sub { ... }, seconds): polls until the sub returns true or the
# time is up; for what the module does after it has answered (cache writes)
sub eventually {
    my ($self, $check, $seconds) = @_;
    my $until = Time::HiRes::time() + ($seconds // 2);
    while (1) {
        my $v = $check->();
        return $v if $v || Time::HiRes::time() > $until;
        Time::HiRes::sleep(0.02);
    }
}

# half_written(PREFIX): how many cases whose project name starts with
# PREFIX lack, or have more than, the audit entries, outbox events and
# opinion of what happened to them (created, and accepted if in progress):
# 0 when every registration and acceptance was one whole transaction
sub half_written {
    my ($self, $prefix) = @_;
    return $self->psql(<<'SQL', p => $prefix);
SELECT count(*) FROM cases c
WHERE c.project_name LIKE :'p' || '%'
  AND ((SELECT count(*) FROM audit_log a
        WHERE a.object = 'case:' || c.case_no
          AND a.action IN ('case.create', 'case.accept'))
       <> CASE WHEN c.state = 'draft' THEN 1 ELSE 2 END
    OR (SELECT count(*) FROM outbox o
        WHERE o.case_no = c.case_no
          AND o.type IN ('case.created', 'case.accept'))
       <> CASE WHEN c.state = 'draft' THEN 1 ELSE 2 END
    OR (c.state = 'in_progress') <> EXISTS (
        SELECT 1 FROM case_opinions p
        WHERE p.case_no = c.case_no AND p.action = 'accept'))
SQL
}

# load(NAME, N, STEP): N forked children each calling STEP->(KEY) (KEY:
# "NAME-CHILD-I", a new one each call) until told to stop; STEP returns the
# responses of one round.  Returns a sub that stops them and returns one
# array per response: [status, error code or '-', KEY, case_no or '-',
# when it was sent (epoch seconds), how long it took].  Rounds after a
# non-2xx answer wait pause => 0.05 s.
sub load {
    my ($self, $name, $n, $step, %o) = @_;
    my $pause = $o{pause} // 0.05;
    my $dir = $self->dir;
    my @kids;
    for my $k (1 .. $n) {
        my $file = "$dir/load.$name.$k";
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            open my $fh, '>', $file or POSIX::_exit(1);
            $fh->autoflush(1);
            my $i = 0;
            until (-e "$dir/stop.$name") {
                my $key = "$name-$k-" . $i++;
                my $t0 = time;
                my $failed;
                for my $r ($step->($key)) {
                    my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
                    my $code = ref $j->{error} eq 'HASH'
                             ? $j->{error}{code} // '-' : '-';
                    my $no = !$j->{error} ? $j->{case_no} // '-' : '-';
                    $failed ||= $r->{status} !~ /^2/;
                    printf $fh "%s %s %s %s %.3f %.3f\n", $r->{status}, $code,
                        $key, $no, $r->{sent} // $t0,
                        $r->{elapsed} // time - $t0;
                }
                sleep $pause if $failed && $pause;
            }
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, [$pid, $file];
    }
    return sub {
        open my $s, '>', "$dir/stop.$name" or croak "stop.$name: $!";
        close $s;
        waitpid $_->[0], 0 for @kids;
        my @lines;
        for (@kids) {
            open my $fh, '<', $_->[1] or croak "$_->[1]: $!";
            push @lines, map { [split ' '] } <$fh>;
        }
        return \@lines;
    };
}

# statuses(LINES of load): "STATUS CODE: COUNT, ..." for diagnostics
sub statuses {
    my ($self, $lines) = @_;
    my %c;
    $c{"$_->[0] $_->[1]"}++ for @$lines;
    return join ', ', map { "$_: $c{$_}" } sort keys %c;
}

# timed_req(same as req): req, with sent (epoch seconds) and elapsed
# (seconds) in the answer, for load steps that check how long each took
sub timed_req {
    my ($self, @args) = @_;
    my $t0 = time;
    my $r = $self->req(@args);
    $r->{sent} = $t0;
    $r->{elapsed} = time - $t0;
    return $r;
}

package GovSvc::Test::Standby;

# a standby of start_standby; the harness stops it with everything else

use Carp qw(croak);

sub name     { $_[0]{name} }
sub port     { $_[0]{port} }
sub data_dir { $_[0]{data} }
sub log_file { $_[0]{log} }
sub conninfo {
    return "hostaddr=127.0.0.1 port=$_[0]{port} dbname=govsvc user=govsvc";
}

# psql(SQL, NAME => VALUE, ...): as the harness's psql, on this server
sub psql {
    my ($self, $sql, %vars) = @_;
    my $t = $self->{t} or croak 'standby: harness gone';
    local $t->{pg_port} = $self->{port};
    return $t->psql_db('govsvc', $sql, %vars);
}

# as GovSvc::Test's, on this server
sub half_written { GovSvc::Test::half_written(@_) }

sub _pg_ctl {
    my ($self, $die, @args) = @_;
    my $t = $self->{t} or croak 'standby: harness gone';
    return $t->_run(cmd => ["$PG_BIN/pg_ctl", '-D', $self->{data}, @args],
                    as_pg => 1, log => "$t->{dir}/pg_ctl-$self->{name}.log",
                    die => $die);
}

sub start {
    my ($self) = @_;
    return if $self->{running};
    $self->_pg_ctl(1, '-l', $self->{log}, '-w', '-t', '30', 'start');
    $self->{running} = 1;
}

# stop(mode => 'immediate'): fast by default
sub stop {
    my ($self, %o) = @_;
    return unless $self->{running} && $self->{t};
    $self->_pg_ctl(0, '-m', $o{mode} // 'fast', '-w', '-t', '30', 'stop');
    delete $self->{running};
}

# promote: pg_ctl promote, waiting until it accepts writes
sub promote {
    my ($self) = @_;
    $self->_pg_ctl(1, '-w', '-t', '30', 'promote');
    $self->{promoted} = 1;
}

package GovSvc::Test::Async;

sub pid { $_[0]{pid} }

sub wait {
    my ($self) = @_;
    unless ($self->{result}) {
        waitpid $self->{pid}, 0;
        my $d = eval { Storable::retrieve($self->{file}) };
        unlink $self->{file};
        $self->{result} = $d // [ { status => 599, headers => {}, body => '',
                                    error => 'child died' },
                                  Time::HiRes::time() - $self->{t0} ];
    }
    return wantarray ? @{ $self->{result} } : $self->{result}[0];
}

1;
