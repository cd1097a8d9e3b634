#!/usr/bin/env bash
# Prepare this machine (Debian 12 / Ubuntu, as root) to run netnode and its tests:
# system packages, Open vSwitch and RabbitMQ running, a virtualenv with the project.
# Idempotent: every step checks first and does nothing when already done.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv=${NETNODE_VENV:-$top/.venv}
log() { printf '[setup-host] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "setup-host: run as root (namespaces, OVS and iptables need it)" >&2; exit 1; }

packages=(openvswitch-switch dnsmasq-base haproxy iptables isc-dhcp-client udhcpc
          dnsmasq-utils radvd keepalived iproute2 iputils-ping iputils-arping curl conntrack procps psmisc
          rabbitmq-server postgresql python3-venv python3-dev gcc nftables)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A python3 from elsewhere (pyenv) already brings venv; do not insist on Debian's.
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-dev}")
fi
read -r -a missing <<<"${missing[*]:-}"
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Open vSwitch: ovsdb-server and ovs-vswitchd.  Without systemd (containers) ovs-ctl
# starts them; where the kernel has no openvswitch module we run only the userspace
# datapath, so the kernel module load is skipped.
if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
    log "starting Open vSwitch"
    /usr/share/openvswitch/scripts/ovs-ctl --no-ovs-vswitchd --system-id=random start >/dev/null
fi
if ! pidof ovs-vswitchd >/dev/null; then
    /usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server --no-monitoring start >/dev/null 2>&1 \
        || /usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server --no-monitoring --no-mlockall start >/dev/null 2>&1 \
        || true
    # ovs-ctl insists on the kernel module; fall back to starting the daemon ourselves.
    if ! pidof ovs-vswitchd >/dev/null; then
        ovs-vswitchd --pidfile --detach --log-file --no-chdir unix:/var/run/openvswitch/db.sock
    fi
fi
ovs-vsctl --timeout=10 show >/dev/null

# RabbitMQ (guest/guest on 127.0.0.1:5672).
if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@"$(hostname -s)".pid >/dev/null 2>&1 \
        || timeout 60 bash -c 'until rabbitmqctl -q status >/dev/null 2>&1; do sleep 1; done'
fi

# PostgreSQL (the controller's tests run on SQLite and on PostgreSQL).  The tests
# log in over TCP as a dedicated role with CREATEDB, so the machine's own
# authentication set-up (peer, scram or trust) needs no change.
if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
    log "starting PostgreSQL"
    cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
    if [ -z "$cluster" ]; then
        pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main >/dev/null
        cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
    fi
    # shellcheck disable=SC2086
    pg_ctlcluster --skip-systemctl-redirect $cluster start
fi
if ! PGPASSWORD=netnode_test psql -h 127.0.0.1 -U netnode_test -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    log "creating PostgreSQL role netnode_test"
    su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'netnode_test') THEN
    CREATE ROLE netnode_test LOGIN CREATEDB PASSWORD 'netnode_test';
  ELSE
    ALTER ROLE netnode_test LOGIN CREATEDB PASSWORD 'netnode_test';
  END IF;
END $$;
SQL
fi

# The unprivileged user and group the metadata proxies (haproxy) run as
# (metadata_proxy_user; etc/sysusers.d/netnode.conf declares the same).
if ! getent passwd netnode-haproxy >/dev/null; then
    log "creating system user netnode-haproxy"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin netnode-haproxy
fi

# Python virtualenv with the project, the controller's extra ([server]: this host runs
# netnode-server too) and the test requirements.
if [ ! -x "$venv/bin/python" ]; then
    log "creating virtualenv $venv"
    python3 -m venv "$venv"
fi
stamp="$venv/.netnode-installed"
if [ ! -f "$stamp" ] || [ "$top/setup.cfg" -nt "$stamp" ] || [ "$top/test-requirements.txt" -nt "$stamp" ]; then
    log "installing netnode into $venv"
    piplog=$(mktemp)
    if ! { "$venv/bin/pip" install -q -U pip && \
           "$venv/bin/pip" install -q -r "$top/test-requirements.txt" -e "$top[server]"; } >"$piplog" 2>&1; then
        cat "$piplog" >&2; rm -f "$piplog"
        echo "setup-host: pip install failed" >&2; exit 1
    fi
    rm -f "$piplog"
    touch "$stamp"
fi
log "ready: $venv"
