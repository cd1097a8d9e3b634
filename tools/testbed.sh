#!/bin/bash
# A multi-node test bed on one machine: tools/testbed.sh up|down|status [--dir DIR],
# tools/testbed.sh exec NODE [--dir DIR] -- COMMAND... (nodes: ctl, net1, net2, cmp).
# See tests/functional/helpers/testbed/ and README.rst, "Several network nodes".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
exec "$here/.venv/bin/python" -m tests.functional.helpers.testbed.cli "$@"
