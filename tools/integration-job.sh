#!/usr/bin/env bash
# The devstack-style integration job: the all-in-one (services up, the reference
# scenario built and checked), --clean, a check that nothing is left, and the whole
# again.  Names are unique to this run so it can share a machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
suffix=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
export NETNODE_AIO_DIR=${NETNODE_AIO_DIR:-/var/lib/netnode-aio-ci$suffix}
export NETNODE_AIO_LOG_DIR=${NETNODE_AIO_LOG_DIR:-/var/log/netnode-aio-ci$suffix}
export NETNODE_AIO_INT_BRIDGE=${NETNODE_AIO_INT_BRIDGE:-br-ci$suffix-i}
export NETNODE_AIO_EX_BRIDGE=${NETNODE_AIO_EX_BRIDGE:-br-ci$suffix-e}
export NETNODE_AIO_VHOST=${NETNODE_AIO_VHOST:-netnode-aio-ci$suffix}
export NETNODE_AIO_EXCHANGE=${NETNODE_AIO_EXCHANGE:-netnode-aio-ci$suffix}
export NETNODE_AIO_PORT=${NETNODE_AIO_PORT:-$("$top/.venv/bin/python" -c \
    'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
bound=${NETNODE_AIO_TIMEOUT:-600}

leftovers() {
    local found=0
    for ns in $(ip netns list | awk '{print $1}'); do
        case "$ns" in aio-*|qdhcp-*|qrouter-*|nnprobe-*|qprobe-*)
            if [ -d "$NETNODE_AIO_DIR" ] || grep -qs "$ns" "$NETNODE_AIO_LOG_DIR"/*.log; then
                echo "left behind: namespace $ns"; found=1
            fi;;
        esac
    done
    for br in "$NETNODE_AIO_INT_BRIDGE" "$NETNODE_AIO_EX_BRIDGE"; do
        if ovs-vsctl --timeout=10 br-exists "$br"; then echo "left behind: bridge $br"; found=1; fi
    done
    if pgrep -f "$NETNODE_AIO_DIR" >/dev/null; then
        echo "left behind: processes"; pgrep -af "$NETNODE_AIO_DIR"; found=1
    fi
    [ -e "$NETNODE_AIO_DIR" ] && { echo "left behind: $NETNODE_AIO_DIR"; found=1; }
    return $found
}

run_once() {
    echo "== integration job: all-in-one (run $1)"
    local start=$SECONDS
    if ! timeout "$bound" bash "$top/tools/all-in-one.sh"; then
        echo "== all-in-one failed; service logs:" >&2
        tail -n 40 "$NETNODE_AIO_LOG_DIR"/*.log >&2 || true
        bash "$top/tools/all-in-one.sh" --clean || true
        return 1
    fi
    echo "== all-in-one run $1 passed in $((SECONDS - start)) s; cleaning"
    bash "$top/tools/all-in-one.sh" --clean
    leftovers || { echo "== --clean left things behind" >&2; return 1; }
}

run_once 1
run_once 2
echo "== integration job passed"
