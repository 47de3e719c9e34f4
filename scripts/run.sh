#!/usr/bin/env bash
# scripts/run.sh: what `make run` calls after `deps` and `module`.
#
# Starts PostgreSQL, Redis and nginx (with the module) on loopback, with all
# state in ${GOVSVC_STATE:-var/}, and stays in the foreground until Ctrl-C or
# SIGTERM, then stops all three cleanly.  Running it again reuses the state
# (cluster, CA, data).  Only one copy per state folder.
set -euo pipefail

ROOT=${GOVSVC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
STATE=${GOVSVC_STATE:-$ROOT/var}
HTTPS_PORT=${GOVSVC_HTTPS_PORT:-8443}
HTTP_PORT=${GOVSVC_HTTP_PORT:-8080}
PG_PORT=${GOVSVC_PG_PORT:-55432}
REDIS_PORT=${GOVSVC_REDIS_PORT:-56379}
NODE=${GOVSVC_NODE:-430102}
MODULE=${GOVSVC_MODULE:-$ROOT/build/nginx/objs/ngx_govsvc_module.so}
# the web pages, built by scripts/build-html.sh (make html)
HTML_ROOT=${GOVSVC_HTML_ROOT:-$ROOT/build/html}
NGINX=${GOVSVC_NGINX:-/usr/sbin/nginx}
# the one password hasher (reads the password on stdin, prints the stored
# form); the Makefile exports GOVSVC_PASSWD
PASSWD_TOOL=${GOVSVC_PASSWD:-$ROOT/build/govsvc-passwd}
# demo staff passwords (development only): admin's, and everyone else's
ADMIN_PASSWORD=${GOVSVC_ADMIN_PASSWORD:-govsvc-admin-dev}
DEMO_PASSWORD=govsvc-demo-dev
DEMO_STAFF=(admin clerk handler reviewer approver supervisor)
PG_BIN=${GOVSVC_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
RUN_USER=govsvc

say() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: ERROR: %s\n' "$*" >&2; exit 1; }

[[ -x $PG_BIN/initdb ]] || die "PostgreSQL not found (run scripts/deps.sh)"
[[ -e $MODULE ]] || die "module $MODULE missing (run: make module)"
[[ -e $HTML_ROOT/index.html ]] || die "web pages $HTML_ROOT missing (run: make html)"
command -v redis-server >/dev/null || die "redis-server missing (run scripts/deps.sh)"

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)

# ---- one copy per state folder: a lock held for the script's lifetime
exec 9>>"$STATE/run.lock"
if ! flock -n 9; then
    other=$(cat "$STATE/run.pid" 2>/dev/null || echo '?')
    die "another copy of run.sh (pid $other) is already running with the" \
        "state folder $STATE; stop it (Ctrl-C there, or kill $other)" \
        "or use another GOVSVC_STATE"
fi
echo $$ > "$STATE/run.pid"

# ---- as root, PostgreSQL and the nginx workers run as $RUN_USER
if ((EUID == 0)); then
    getent passwd "$RUN_USER" >/dev/null \
        || die "user $RUN_USER missing (run scripts/deps.sh as root)"
    PG_WRAP=(setpriv --reuid "$RUN_USER" --regid "$RUN_USER" --init-groups --)
    USER_LINE="user $RUN_USER $RUN_USER;"
    chmod 755 "$STATE"
    "${PG_WRAP[@]}" test -x "$STATE" \
        || die "$RUN_USER cannot reach $STATE (a parent folder is not" \
               "traversable); choose another GOVSVC_STATE"
else
    PG_WRAP=()
    USER_LINE=
fi
as_pg() { "${PG_WRAP[@]}" "$@"; }
own() { if ((EUID == 0)); then chown -R "$RUN_USER:$RUN_USER" "$@"; fi; }

mkdir -p "$STATE/pgsock" "$STATE/redis" "$STATE/tmp"
touch "$STATE/postgres.log"
own "$STATE/pgsock" "$STATE/tmp" "$STATE/postgres.log"
if [[ -d $STATE/pg ]]; then own "$STATE/pg"; fi

PGDATA=$STATE/pg
CONNINFO="hostaddr=127.0.0.1 port=$PG_PORT dbname=govsvc user=govsvc"
export PGCLIENTENCODING=UTF8
PG_OPTS="-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$STATE/pgsock"

NGINX_PID= REDIS_PID= PG_STARTED=

pg_ctl() { (cd "$STATE" && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" "$@"); }

stop_all() {
    local rc=$?
    trap - EXIT INT TERM HUP
    say "stopping"
    if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$NGINX_PID" 2>/dev/null && sleep 1 || true
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        say "nginx stopped"
    fi
    if [[ -n $REDIS_PID ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        say "redis stopped"
    fi
    if [[ -n $PG_STARTED ]]; then
        pg_ctl -m fast -w -t 60 stop >/dev/null 2>&1 \
            && say "postgresql stopped" || say "postgresql: stop failed"
    fi
    rm -f "$STATE/run.pid"
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 0' INT TERM HUP

# ---- leftovers of a copy that was killed without cleaning up (we hold the
# lock, so nothing else uses this state)
if [[ -s $STATE/nginx.pid ]]; then
    p=$(cat "$STATE/nginx.pid")
    if grep -qa -- "$STATE/nginx.conf" /proc/"$p"/cmdline 2>/dev/null; then
        say "stopping a leftover nginx ($p)"
        kill -QUIT "$p" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$STATE/nginx.pid"
fi
if [[ -s $STATE/redis.pid ]]; then
    p=$(cat "$STATE/redis.pid")
    if grep -qa "redis-server" /proc/"$p"/cmdline 2>/dev/null; then
        say "stopping a leftover redis-server ($p)"
        kill -TERM "$p" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$STATE/redis.pid"
fi
if [[ -s $PGDATA/PG_VERSION ]] && pg_ctl status >/dev/null 2>&1; then
    say "stopping a leftover PostgreSQL"
    pg_ctl -m fast -w stop >/dev/null
fi

# ---- PostgreSQL
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    say "creating the PostgreSQL cluster in $PGDATA"
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    own "$PGDATA"
    (cd "$STATE" && as_pg "$PG_BIN/initdb" -D "$PGDATA" -U govsvc --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-instructions) > "$STATE/initdb.log" 2>&1 \
        || die "initdb failed, see $STATE/initdb.log"
fi
say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
# setsid: Ctrl-C reaches this script only, which then stops things in order
setsid bash -c 'cd "$1"; shift; exec "$@"' _ "$STATE" \
    "${PG_WRAP[@]}" \
    "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$STATE/postgres.log" -o "$PG_OPTS" \
    -w -t 60 start >/dev/null 2>"$STATE/pg_ctl.log" || {
    cat "$STATE/pg_ctl.log" >&2
    tail -n 20 "$STATE/postgres.log" >&2
    die "PostgreSQL did not start (port $PG_PORT busy? set GOVSVC_PG_PORT)"
}
PG_STARTED=1

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
if [[ -z $(psql_q -At -d "hostaddr=127.0.0.1 port=$PG_PORT dbname=postgres user=govsvc" \
             -c "SELECT 1 FROM pg_database WHERE datname = 'govsvc'") ]]; then
    psql_q -d "hostaddr=127.0.0.1 port=$PG_PORT dbname=postgres user=govsvc" \
        -c 'CREATE DATABASE govsvc'
    say "created database govsvc"
fi
"$ROOT/sql/migrate" "$CONNINFO" | sed 's/^/run: migrate: /' >&2

# ---- development CA (the demo staff's certificates are bound below)
"$ROOT/scripts/dev-ca.sh" "$STATE/ca"

# ---- demo data, and demo staff with passwords and certificates
json_str() {    # a JSON string literal of $1
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}
demo_certs() {  # JSON array of the demo staff's certificates
    local sep= u crt sha subject end
    printf '['
    for u in "${DEMO_STAFF[@]}"; do
        crt=$STATE/ca/users/$u.crt
        [[ -f $crt ]] || continue
        sha=$(openssl x509 -in "$crt" -outform DER | sha256sum | cut -d' ' -f1)
        subject=$(openssl x509 -in "$crt" -noout -subject -nameopt RFC2253)
        subject=${subject#subject=}
        end=$(openssl x509 -in "$crt" -noout -enddate -dateopt iso_8601)
        end=${end#notAfter=}
        printf '%s{"username":%s,"sha256":%s,"subject":%s,"not_after":%s}' \
            "$sep" "$(json_str "$u")" "$(json_str "$sha")" \
            "$(json_str "$subject")" "$(json_str "$end")"
        sep=,
    done
    printf ']'
}
hash_password() {
    local h
    h=$(printf '%s' "$1" | "$PASSWD_TOOL") || die "$PASSWD_TOOL failed"
    [[ $h == pbkdf2-sha256\$* ]] || die "$PASSWD_TOOL printed no hash"
    printf '%s' "$h"
}
STAFF_NOTE=
if [[ -f $ROOT/sql/demo.sql ]]; then
    demo_vars=(-v demo_certs="$(demo_certs)")
    missing=$(psql_q -At -d "$CONNINFO" -f - <<'SQL'
SELECT count(*) FROM unnest(ARRAY['admin', 'clerk', 'handler', 'reviewer',
                                  'approver', 'supervisor']) AS s (u)
WHERE NOT EXISTS (SELECT 1 FROM users WHERE username = s.u);
SQL
    )
    if ((missing > 0)); then
        if [[ -x $PASSWD_TOOL ]]; then
            # one hash per user: each its own salt
            hashes= sep=
            for u in "${DEMO_STAFF[@]}"; do
                if [[ $u == admin ]]; then pw=$ADMIN_PASSWORD; else pw=$DEMO_PASSWORD; fi
                hashes+="$sep$(json_str "$u"):$(json_str "$(hash_password "$pw")")"
                sep=,
            done
            demo_vars+=(-v demo_hashes="{$hashes}")
        else
            STAFF_NOTE="  (demo staff NOT created: $PASSWD_TOOL is missing; build it and run again)"
            say "WARNING: $PASSWD_TOOL missing: demo staff not created"
        fi
    fi
    psql_q -d "$CONNINFO" "${demo_vars[@]}" -f "$ROOT/sql/demo.sql" >/dev/null
    say "demo data loaded (sql/demo.sql)"
fi

# ---- Redis (a cache: nothing persisted)
say "starting Redis on 127.0.0.1:$REDIS_PORT"
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$STATE/redis" --daemonize no \
    --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" \
    --loglevel notice </dev/null &
REDIS_PID=$!
for i in $(seq 100); do
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break
    kill -0 "$REDIS_PID" 2>/dev/null || { tail -n 5 "$STATE/redis.log" >&2; REDIS_PID=; die "Redis did not start (port $REDIS_PORT busy? set GOVSVC_REDIS_PORT)"; }
    ((i < 100)) || die "Redis did not answer"
    sleep 0.1
done

# ---- the web pages: the nginx workers ($RUN_USER when root) must read
# them; a work tree they cannot reach is served from a copy in the state
if ((EUID == 0)) && ! "${PG_WRAP[@]}" test -r "$HTML_ROOT/index.html"; then
    rm -rf "$STATE/html"
    cp -R "$HTML_ROOT" "$STATE/html"
    chmod -R a+rX "$STATE/html"
    say "$RUN_USER cannot read $HTML_ROOT: serving a copy, $STATE/html" \
        "(run make html and restart to update it)"
    HTML_ROOT=$STATE/html
fi

# ---- configuration, nginx
"$ROOT/scripts/render-conf.sh" "$ROOT/conf/development.conf" "$STATE/nginx.conf" \
    MODULE="$MODULE" STATE="$STATE" CONF_DIR="$ROOT/conf" \
    USER_LINE="$USER_LINE" WORKERS=2 \
    HTTPS_PORT="$HTTPS_PORT" HTTP_PORT="$HTTP_PORT" \
    PG_CONNINFO="$CONNINFO" REDIS_ADDR="127.0.0.1:$REDIS_PORT" REDIS_OFF= \
    NODE="$NODE" PUBLIC_WRITE_LIMIT="30 1m" HTTP_EXTRA= SERVER_EXTRA= \
    HTML_ROOT="$HTML_ROOT"
NGX=("$NGINX" -p "$STATE/" -c "$STATE/nginx.conf" -e "$STATE/error.log")
"${NGX[@]}" -t -q || die "nginx -t failed on $STATE/nginx.conf"
setsid "${NGX[@]}" -g 'daemon off;' </dev/null &
NGINX_PID=$!
for i in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$HTTPS_PORT") 2>/dev/null \
       && (exec 3<>/dev/tcp/127.0.0.1/"$HTTP_PORT") 2>/dev/null; then
        break
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || { NGINX_PID=; tail -n 5 "$STATE/error.log" >&2; die "nginx did not start (ports $HTTPS_PORT/$HTTP_PORT busy? set GOVSVC_HTTPS_PORT/GOVSVC_HTTP_PORT)"; }
    ((i < 100)) || die "nginx did not open its ports"
    sleep 0.1
done

if [[ -n ${GOVSVC_ADMIN_PASSWORD:-} ]]; then
    ADMIN_PW_SHOWN='(your GOVSVC_ADMIN_PASSWORD)'
else
    ADMIN_PW_SHOWN=$ADMIN_PASSWORD
fi
cat <<EOF

GovSvc is running (node $NODE), state in $STATE
  Web pages:  https://localhost:$HTTPS_PORT/   (staff: /staff/, public: /public/;
              the browser will ask to trust $STATE/ca/ca.crt or to go on)
  https://127.0.0.1:$HTTPS_PORT/healthz   (https://localhost:$HTTPS_PORT/ ...)
  http://127.0.0.1:$HTTP_PORT/healthz    (plain HTTP, development only)
  https://127.0.0.1:$HTTPS_PORT/metrics
  PostgreSQL: psql "$CONNINFO"
  Redis:      redis-cli -h 127.0.0.1 -p $REDIS_PORT
  CA certificate (for curl --cacert): $STATE/ca/ca.crt
  client certificates: $STATE/ca/users/{admin,clerk,handler,reviewer,approver,supervisor}.crt/.key
  audit log check: scripts/audit-verify "$CONNINFO"
  logs: $STATE/error.log $STATE/access.log $STATE/postgres.log $STATE/redis.log

Demo staff (芙蓉区行政审批服务局), one role each, usernames = roles:
  admin clerk handler reviewer approver supervisor
  password of admin: \$GOVSVC_ADMIN_PASSWORD, by default "govsvc-admin-dev"
  password of the others: "govsvc-demo-dev"
  (set when a user is first created; a password changed since is kept)
  each is bound to its certificate $STATE/ca/users/NAME.crt
$STAFF_NOTE
Sign in with a password, then use the token:
  curl --cacert $STATE/ca/ca.crt -H 'Content-Type: application/json' \\
    -d '{"username":"admin","password":"$ADMIN_PW_SHOWN"}' \\
    https://localhost:$HTTPS_PORT/api/v1/sessions
  curl --cacert $STATE/ca/ca.crt -H "Authorization: Bearer TOKEN" \\
    https://localhost:$HTTPS_PORT/api/v1/me
Sign in with a certificate:
  curl --cacert $STATE/ca/ca.crt --cert $STATE/ca/users/admin.crt \\
    --key $STATE/ca/users/admin.key -X POST \\
    https://localhost:$HTTPS_PORT/api/v1/sessions/cert

Try:
  curl --cacert $STATE/ca/ca.crt https://localhost:$HTTPS_PORT/healthz
  curl --cacert $STATE/ca/ca.crt https://localhost:$HTTPS_PORT/api/v1/regions
  curl --cacert $STATE/ca/ca.crt --cert $STATE/ca/users/admin.crt --key $STATE/ca/users/admin.key https://localhost:$HTTPS_PORT/healthz

Ctrl-C stops everything.
EOF

# ---- foreground until a signal, or until nginx or Redis dies
set +e
wait -n "$NGINX_PID" "$REDIS_PID"
rc=$?
set -e
if ! kill -0 "$NGINX_PID" 2>/dev/null; then
    NGINX_PID=
    say "nginx exited unexpectedly (status $rc); see $STATE/error.log"
    exit 1
fi
if ! kill -0 "$REDIS_PID" 2>/dev/null; then
    REDIS_PID=
    say "redis-server exited unexpectedly (status $rc); see $STATE/redis.log"
    exit 1
fi
