#!/usr/bin/env bash
# netnode all-in-one: every service on this machine, the reference scenario built
# with the CLI, checked end to end (DHCP, gateway ping, SNAT, metadata, floating IP),
# and a report of what exists on the node.  Run as root from a checkout:
#
#   tools/all-in-one.sh            prepare the host, start (or reuse) the services,
#                                  build and check the scenario; exit 1 if a check fails
#   tools/all-in-one.sh --stop     stop the services (children and data plane stay)
#   tools/all-in-one.sh --clean    stop everything and remove all this instance made
#   tools/all-in-one.sh --report   print what exists on the node
#
# State in /var/lib/netnode-aio, configs in /var/lib/netnode-aio/etc, logs in
# /var/log/netnode-aio; NETNODE_AIO_* variables override every name (--help lists
# them).  Running it again is safe.  NETNODE_AIO_SKIP_SETUP=1 skips tools/setup-host.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
venv=${NETNODE_VENV:-$top/.venv}

[ "$(id -u)" = 0 ] || { echo "all-in-one: run as root (namespaces, OVS, iptables)" >&2; exit 1; }

case "${1:-}" in
    ''|--run)
        if [ "${NETNODE_AIO_SKIP_SETUP:-0}" != 1 ]; then
            t0=$(date +%s.%N)
            echo "[aio] host set-up: tools/setup-host.sh (packages, OVS, RabbitMQ, virtualenv)"
            bash "$top/tools/setup-host.sh" 2>&1 | sed -u 's/^/      /' \
                || { echo "[aio] host set-up FAILED" >&2; exit 1; }
            awk -v a="$t0" -v b="$(date +%s.%N)" \
                'BEGIN { printf "[aio] %-58s ok   %6.2f s\n", "host set-up", b - a }'
        fi
        [ "${1:-}" != --run ] || shift ;;
esac

# The services, the CLI and the cleanup tools come from the virtualenv.
[ -x "$venv/bin/python" ] || { echo "all-in-one: no virtualenv in $venv: run tools/setup-host.sh" >&2; exit 1; }
export PATH="$venv/bin:$PATH"
cd "$top"
exec "$venv/bin/python" -m agent.tools.aio "$@"
