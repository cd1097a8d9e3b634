#!/usr/bin/env bash
# Installable beside OpenStack: install netnode with OpenStack's upper constraints
# (tools/openstack-upper-constraints.txt: what devstack and the distributions
# install together, e.g. pyroute2 0.8.1, ovsdbapp 2.19.0) into a virtualenv of its
# own, check that the pins were honoured, and run the unit tests, the driver
# functional tests and the bus tests (oslo.messaging against RabbitMQ) there.  CI runs it after tools/run-tests.sh (the newest versions
# in .venv).  As root, after tools/setup-host.sh (OVS running).
#
#   tools/check-upper-constraints.sh [--fresh] [-c CONSTRAINTS] [pytest args...]
#
# The virtualenv ($NETNODE_UC_VENV, default .venv-upper-constraints, gitignored) is
# rebuilt when the constraints, setup.cfg or test-requirements.txt change, or with
# --fresh; pip's cache makes a rebuild cheap.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
constraints=$top/tools/openstack-upper-constraints.txt
venv=${NETNODE_UC_VENV:-$top/.venv-upper-constraints}
fresh=0
while [ $# -gt 0 ]; do
    case "$1" in
        --fresh) fresh=1; shift;;
        -c) constraints=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2;;
        *) break;;
    esac
done
log() { printf '[upper-constraints] %s\n' "$*"; }
start=$(date +%s)

stamp=$venv/.netnode-constraints
want=$(cat "$constraints" "$top/setup.cfg" "$top/test-requirements.txt" | sha256sum | cut -d' ' -f1)
if [ "$fresh" = 1 ] || [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating $venv with $(basename "$constraints")"
    rm -rf "$venv"
    python3 -m venv "$venv"
    piplog=$(mktemp)
    if ! { "$venv/bin/pip" install -q -U pip && \
           "$venv/bin/pip" install -q -c "$constraints" -r "$top/test-requirements.txt" -e "$top[server]"; } \
           >"$piplog" 2>&1; then
        cat "$piplog" >&2; rm -f "$piplog"
        echo "check-upper-constraints: netnode does not install with $constraints" >&2
        exit 1
    fi
    rm -f "$piplog"
    echo "$want" >"$stamp"
fi

# Every constrained package we install must be at its pinned version.
"$venv/bin/pip" check
"$venv/bin/python" - "$constraints" <<'PY'
import importlib.metadata, re, sys
pins = {}
for line in open(sys.argv[1]):
    m = re.match(r'^([A-Za-z0-9_.\-]+)===([^;\s]+)(?:;(.*))?$', line.strip())
    if m and not m.group(3):
        pins[re.sub(r'[-_.]+', '-', m.group(1)).lower()] = m.group(2)
wrong, shown = [], []
for dist in importlib.metadata.distributions():
    name = re.sub(r'[-_.]+', '-', dist.metadata['Name']).lower()
    if name in pins:
        if dist.version != pins[name]:
            wrong.append(f'{name} {dist.version} (pinned {pins[name]})')
        elif name in ('pyroute2', 'ovsdbapp', 'oslo-messaging', 'oslo-config', 'oslo-log',
                      'oslo-service', 'oslo-reports', 'sqlalchemy', 'alembic', 'flask',
                      'cheroot', 'pymysql'):
            shown.append(f'{name}=={dist.version}')
if wrong:
    sys.exit('not at the constrained version: ' + ', '.join(wrong))
print('[upper-constraints] installed:', ' '.join(sorted(shown)))
PY

cd "$top"
log "unit tests, driver and bus functional tests"
"$venv/bin/python" -m pytest -p no:cacheprovider -q -ra "$@" tests/unit tests/functional/drivers \
    tests/functional/rpc
log "passed in $(( $(date +%s) - start )) s"
