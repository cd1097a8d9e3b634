#!/bin/sh
# Fetch cloud-init's Python package (Debian's cloud-init .deb, not installed: only
# unpacked) and configobj (a wheel from PyPI) into DEST, for the metadata tests that
# run cloud-init's own OpenStack/EC2 readers against our documents
# (tests/unit/metadata/test_cloudinit_readers.py).  cloud-init is not on PyPI.
#
#   tools/fetch-cloud-init.sh [DEST]      default: ~/.cache/netnode/cloud-init
#   NETNODE_CLOUDINIT_PATH=$(tools/fetch-cloud-init.sh) pytest tests/unit/metadata
set -eu
DEST=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/netnode/cloud-init}
PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
PATHS="$DEST/unpacked/usr/lib/python3/dist-packages:$DEST/site"
if [ -d "$DEST/unpacked/usr/lib/python3/dist-packages/cloudinit" ] && [ -d "$DEST/site/configobj" ]; then
    echo "$PATHS"
    exit 0
fi
mkdir -p "$DEST/download" "$DEST/site"
cd "$DEST/download"
apt-get download cloud-init >/dev/null 2>&1 || { echo "apt-get download cloud-init failed" >&2; exit 1; }
"$PY" -m pip download --quiet --no-deps -d . configobj
for deb in cloud-init_*.deb; do dpkg-deb -x "$deb" "$DEST/unpacked"; done
for whl in *.whl; do "$PY" -m zipfile -e "$whl" "$DEST/site"; done
echo "$PATHS"
