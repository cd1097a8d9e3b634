"""What the job prints at the end: the timings (one column per set of agents, and
their ratio with --compare), memory, pings lost, what changed across restarts and
resyncs; on failure, the end of every log."""

from __future__ import annotations

import glob
import os

from agent.tools.interop.phase import TIMING_NAMES
from agent.tools.interop.settings import Settings


def _cell(value, unit='s') -> str:
    return '-' if value is None else f'{value:.2f} {unit}'


def render(phases, console) -> str:
    lines = ['', '== timings (from the REST request, or the agent starting, to the data '
             'plane serving)']
    who = [p.who for p in phases]
    head = f'  {"":<46}' + ''.join(f'{w:>14}' for w in who)
    if len(phases) == 2:
        head += f'{"ratio":>10}'
    lines.append(head)
    rows = [(name, [p.timings.get(name) for p in phases], 's') for name in TIMING_NAMES]
    agents = ('dhcp', 'l3', 'metadata')
    for kind in agents:
        values = []
        for p in phases:
            a, h = p.rss.get(p.agent(kind), (None, None))
            values.append(None if a is None else (a + h) / 1024)
        rows.append((f'RSS {kind} agent + helpers', values, 'MiB'))
    for name, values, unit in rows:
        line = f'  {name:<46}' + ''.join(f'{_cell(v, unit):>14}' for v in values)
        if len(values) == 2 and values[0] and values[1]:
            line += f'{values[0] / values[1]:>9.1f}x'
        lines.append(line)
    for p in phases:
        for name, (a, h) in p.rss.items():
            lines.append(f'  {name}: agent {a / 1024:.0f} MiB, helpers {h / 1024:.0f} MiB')
        endurance = getattr(p, 'endurance', None)
        if endurance is None:
            continue
        lines.append('== pings lost (10 per second from "ready" to the end)')
        for what, sent, lost in getattr(endurance, 'losses', ()):
            lines.append(f'  {what}: {lost} of {sent}')
        lines.append('== what changed across restarts, resyncs and churn (should be nothing)')
        for what, changes in endurance.changes.items():
            lines.append(f'  {what}: ' + ('nothing' if not changes else
                                           f'{len(changes)}:\n    ' + '\n    '.join(changes)))
    lines.append('== CLI commands of the scenario')
    for p in phases:
        lines += [f'  {c}' for c in p.cli.commands]
    del console
    return '\n'.join(lines)


def tail_logs(s: Settings, lines: int = 25) -> None:
    for path in sorted(glob.glob(os.path.join(s.log_dir, '*'))):
        try:
            with open(path, errors='replace') as f:
                text = f.read().splitlines()[-lines:]
        except OSError:
            continue
        print(f'---- {os.path.basename(path)} (last {lines} lines)')
        print('\n'.join(text))
