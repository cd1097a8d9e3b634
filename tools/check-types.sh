#!/usr/bin/env bash
# The type check CI runs: mypy over agent/ (settings in pyproject.toml), failing on
# any error that tools/mypy-baseline.txt does not list.  The baseline holds the
# errors the code had when the check came in, without line numbers (an edit above
# an old error does not make it new); an error of a kind the baseline has N times
# is new at its N+1th occurrence.  Fixing one passes, and the script says so:
# shrink the baseline with --update then.
#
#   tools/check-types.sh            # check (after tools/setup-host.sh: mypy is in .venv)
#   tools/check-types.sh --update   # rewrite the baseline from the current errors
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${NETNODE_VENV:-$top/.venv}
baseline=$top/tools/mypy-baseline.txt
update=0
[ "${1:-}" = --update ] && update=1

cd "$top"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# mypy exits 1 when it finds errors, 2 when it could not run at all.
rc=0
"$venv/bin/mypy" --no-error-summary --no-pretty --show-error-codes >"$out" 2>&1 || rc=$?
if [ "$rc" -gt 1 ]; then
    cat "$out" >&2
    echo "check-types: mypy failed to run (exit $rc)" >&2
    exit 2
fi
exec "$venv/bin/python" - "$out" "$baseline" "$update" <<'PY'
import collections, re, sys

out, baseline, update = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
LINE = re.compile(r'^([^:\s]+\.py):\d+(?::\d+)?: error: (.*)$')


def errors(lines):
    """``path: error: message [code]`` per error, line numbers stripped."""
    found = []
    for line in lines:
        m = LINE.match(line.rstrip('\n'))
        if m:
            found.append(f'{m.group(1)}: error: {m.group(2)}')
    return found


with open(out) as f:
    raw = f.readlines()
now = errors(raw)
if update:
    with open(baseline, 'w') as f:
        f.write(''.join(e + '\n' for e in sorted(now)))
    print(f'check-types: baseline rewritten: {len(now)} errors')
    sys.exit(0)
with open(baseline) as f:
    known = collections.Counter(line.rstrip('\n') for line in f if line.strip())
seen = collections.Counter(now)
new = seen - known
fixed = known - seen
if fixed:
    print(f'check-types: {sum(fixed.values())} baselined errors are gone; '
          'run tools/check-types.sh --update to drop them from the baseline')
if new:
    keys = set(new)
    print(f'check-types: {sum(new.values())} new type errors (not in '
          'tools/mypy-baseline.txt):', file=sys.stderr)
    for line in raw:
        m = LINE.match(line.rstrip('\n'))
        if m and f'{m.group(1)}: error: {m.group(2)}' in keys:
            print('  ' + line.rstrip('\n'), file=sys.stderr)
    sys.exit(1)
print(f'check-types: no new errors ({len(now)} known, baseline {sum(known.values())})')
PY
