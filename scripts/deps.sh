#!/usr/bin/env bash
# Installs what GovSvc needs on Debian 12, with apt-get, only when something
# is missing (fast and silent when everything is there).  Creates the system
# user `govsvc` that runs PostgreSQL (which refuses to run as root) when we
# are root.  Starts no service; stops what a package's postinst started.
set -euo pipefail

PKGS=(
    nginx nginx-dev
    libpq-dev libhiredis-dev libcjson-dev
    postgresql postgresql-contrib
    redis-server
    openssl libio-socket-ssl-perl
    wrk gcc make valgrind libc6-dev
    perl ca-certificates util-linux procps curl
    faketime        # t/88-supervision.t runs nginx on a shifted clock
    clang libclang-rt-14-dev    # libFuzzer (make fuzz, part of make test)
    debhelper dpkg-dev          # make deb, part of make test
    chromium        # the browser tests (t/95-browser.t, playwright-core)
    firefox-esr     # the same walk in Firefox (WebDriver BiDi)
    fonts-wqy-microhei  # Chinese glyphs in their failure screenshots
)
# node and npm for playwright-core: Debian's, unless a node is there already
# (a NodeSource nodejs bundles npm and conflicts with Debian's npm)
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    SUDO=
    if ((EUID != 0)); then
        command -v sudo >/dev/null || {
            echo "deps.sh: missing packages (${missing[*]}) and not root" >&2
            exit 1
        }
        SUDO=sudo
    fi
    echo "deps.sh: installing ${missing[*]}" >&2

    # Keep postinst scripts from starting the Debian services: we run our
    # own PostgreSQL, Redis and nginx on loopback ports.  policy-rc.d is the
    # Debian way; we remove ours afterwards (not one that was already there).
    own_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d &&
                     chmod 755 /usr/sbin/policy-rc.d'
        own_policy=1
    fi
    cleanup() { [[ -n $own_policy ]] && $SUDO rm -f /usr/sbin/policy-rc.d; }
    trap cleanup EXIT

    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"

    # Without systemd and policy-rc.d a postinst may still have started
    # something; stop the packaged services (they use the default ports).
    for svc in nginx redis-server postgresql; do
        if [[ -x /etc/init.d/$svc ]]; then
            $SUDO /etc/init.d/$svc stop >/dev/null 2>&1 || true
        fi
    done
fi

# The govsvc system user (runs PostgreSQL and the nginx workers when root).
if ((EUID == 0)); then
    getent group govsvc >/dev/null || groupadd --system govsvc
    if ! getent passwd govsvc >/dev/null; then
        useradd --system --gid govsvc --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment 'GovSvc services' govsvc
    fi
fi

exit 0
