#!/usr/bin/env bash
# The test command: prepare the host (packages, OVS, RabbitMQ, virtualenv), then run
# the whole suite with pytest.  Extra arguments go to pytest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup-host.sh"
venv=${NETNODE_VENV:-$top/.venv}
# cloud-init's own readers check the metadata documents; it is not on PyPI (best effort)
PYTHON="$venv/bin/python" bash "$top/tools/fetch-cloud-init.sh" >/dev/null 2>&1 ||
    echo "cloud-init not fetched: its metadata reader tests will skip" >&2
cd "$top"
# No arguments: the whole suite (pyproject's testpaths); paths given: only those.
exec "$venv/bin/python" -m pytest -p no:cacheprovider -ra "$@"
