#!/bin/bash
# A multi-node test bed on one machine: tools/testbed.sh up|down|status [--dir DIR].
# See tests/functional/helpers/testbed/ (README.rst, "Multi-node test bed").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
exec "$here/.venv/bin/python" -m tests.functional.helpers.testbed.cli "$@"
