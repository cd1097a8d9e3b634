#!/usr/bin/env bash
# netnode's DHCP, L3 and metadata agents as drop-ins under a real neutron-server
# (29.0.0 from PyPI, pinned by tools/neutron-interop/constraints.txt), on this
# machine, next to anything else running on it.  Run as root from a checkout:
#
#   tools/neutron-interop.sh             the CI job: the reference scenario built with
#                                        the openstack CLI and checked (lease, gateway,
#                                        SNAT, floating IP, metadata through the router
#                                        and an isolated network), then agent restarts,
#                                        periodic resyncs and churn under pingers
#   tools/neutron-interop.sh --compare   the scenario's timings and the agents' memory
#                                        with Neutron's own agents, then with netnode's
#
# Neutron's virtualenv is kept in /var/cache/netnode-interop between runs; everything
# else (processes, namespaces, bridges, the OVS manager row, the vhost, MariaDB's
# datadir, /var/lib/netnode-interop-<id>) is removed at the end, also on failure or ^C.
# NETNODE_INTEROP_KEEP_LOGS=<dir> keeps the run's logs there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${NETNODE_VENV:-$top/.venv}

[ "$(id -u)" = 0 ] || { echo "neutron-interop: run as root" >&2; exit 1; }
[ -x "$venv/bin/python" ] || { echo "neutron-interop: no $venv: run tools/setup-host.sh" >&2; exit 1; }
for program in mariadbd mariadb-install-db rabbitmqctl ovs-vsctl dnsmasq haproxy dhclient; do
    command -v "$program" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$program" >/dev/null \
        || { echo "neutron-interop: $program is missing (apt-get install mariadb-server ...)" >&2; exit 1; }
done

run_id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
run_dir=/var/lib/netnode-interop-$run_id
export PATH="$venv/bin:/usr/sbin:/sbin:$PATH"
cd "$top"
# The Python part cleans up after itself, also on SIGTERM (passed on from ^C or a CI
# timeout); the EXIT trap is the safety net when it is killed outright.
trap '"$venv/bin/python" -m agent.tools.interop --clean "$run_dir" >/dev/null 2>&1 || true' EXIT
"$venv/bin/python" -m agent.tools.interop --run-id "$run_id" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
wait "$child"
