#!/usr/bin/env bash
# The test command: prepare the host (packages, OVS, RabbitMQ, virtualenv), then run
# the whole suite with pytest.  Extra arguments go to pytest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup-host.sh"
venv=${NETNODE_VENV:-$top/.venv}
cd "$top"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -ra "$@" tests
