"""What the benchmark scripts in tools/ share.

Importing it puts the repository on ``sys.path``, so that a script run as
``python tools/bench-<x>.py`` can import ``agent`` and ``tests`` (the stacks of
the functional tests), and byte-compiles ``agent`` (:func:`compile_sources`);
:func:`machine` is the one line describing the machine
every benchmark prints before its figures.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def compile_sources() -> None:
    """Byte-compile the repository's ``agent`` package, as an installed wheel is:
    with ``PYTHONDONTWRITEBYTECODE`` set (as in this project's shells) a checkout
    has no ``__pycache__``, and every agent start compiled its ~150 modules from
    source (0.2-0.3 s of CPU, a fifth of a restart's budget).  Up-to-date files
    are skipped."""
    import compileall
    compileall.compile_dir(os.path.join(REPO, 'agent'), quiet=2)


compile_sources()      # every benchmark imports this module first


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def machine() -> str:
    """``machine: <host> <arch>, <n> CPUs, <cpu model>, Linux <release>, Python <version>``."""
    return (f'machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, '
            f'{cpu_model()}, Linux {platform.release()}, '
            f'Python {platform.python_version()}')


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of all CPUs so far (/proc/stat)."""
    with open('/proc/stat') as f:
        values = [int(x) for x in f.readline().split()[1:8]]
    tick = os.sysconf('SC_CLK_TCK')
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, idle / tick


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def wait_quiet(busy_below: float = 0.25, window: float = 2.0,
               longest: float = 120.0) -> str:
    """Wait until the CPUs were less than ``busy_below`` busy over ``window``
    seconds (at most ``longest`` seconds), and say how long that took.

    Before a cold start, so that it does not measure the tail of what came
    before it (building a thousand objects over REST, a previous stack's
    teardown).  The load average right after such a build says 3-4 for a minute
    with the CPUs idle: it decays, it does not tell; the line printed does."""
    start = time.monotonic()
    busy = 1.0
    while time.monotonic() - start < longest:
        before = machine_cpu()
        time.sleep(window)
        busy, idle = (b - a for a, b in zip(before, machine_cpu()))
        busy = busy / max(busy + idle, 1e-9)
        if busy < busy_below:
            break
    return (f'machine quiet after {time.monotonic() - start:.1f} s (CPUs {busy:.0%} busy '
            f'over the last {window:g} s; load average {load()})')


# Children an agent runs that DESIGN.md counts apart from the agent's memory.
SERVED_CHILDREN = ('dnsmasq', 'haproxy')


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{task}/children') as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def _rollup_kib(pid: int) -> dict[str, int]:
    fields = {}
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == 'kB':
                fields[parts[0].rstrip(':')] = int(parts[1])
    return fields


def _mib(fields: dict[str, int]) -> str:
    uss = fields.get('Private_Clean', 0) + fields.get('Private_Dirty', 0)
    return (f'RSS {fields.get("Rss", 0) / 1024:.1f} MiB, PSS {fields.get("Pss", 0) / 1024:.1f} '
            f'MiB, USS {uss / 1024:.1f} MiB')


def rss_mib(pid: int) -> float:
    """The resident set of process ``pid`` in MiB (0 if it is gone)."""
    try:
        return _rollup_kib(pid).get('Rss', 0) / 1024
    except OSError:
        return 0.0


def memory(pid: int) -> str:
    """``RSS x MiB, PSS y MiB, USS z MiB`` of the process ``pid``, then the same summed
    over the other processes it runs at that moment (its descendants except dnsmasq
    and haproxy, which are counted apart), with their names."""
    try:
        agent = _rollup_kib(pid)
    except OSError:
        return 'process gone'
    helpers: dict[str, int] = {}
    names: Counter = Counter()
    pending = _children(pid)
    while pending:
        current = pending.pop()
        try:
            with open(f'/proc/{current}/comm') as f:
                comm = f.read().strip()
            if comm in SERVED_CHILDREN:
                continue
            for key, value in _rollup_kib(current).items():
                helpers[key] = helpers.get(key, 0) + value
        except OSError:
            continue
        names[comm] += 1
        pending += _children(current)
    text = f'{_mib(agent)} (the agent process)'
    if names:
        listed = ', '.join(f'{n} {comm}' for comm, n in names.most_common())
        text += f'; its other children at that moment ({listed}): {_mib(helpers)}'
    return text


def start_py_spy(path: str | None, pid: int, gil: bool = False, rate: int | None = None):
    """py-spy (``pip install py-spy``, the venv's first) sampling ``pid`` into ``path``
    in its raw format: the threads not idle, or with ``gil`` only the one holding the
    GIL (where the CPU goes).  None without a path."""
    if not path:
        return None
    binary = os.path.join(os.path.dirname(sys.executable), 'py-spy')
    if not os.path.exists(binary):
        binary = shutil.which('py-spy') or 'py-spy'
    return subprocess.Popen(
        [binary, 'record', '--pid', str(pid), '--format', 'raw', '--nonblocking',
         '--output', path] + (['--rate', str(rate)] if rate else []) + (['--gil'] if gil else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spy, path: str, what: str, top: int = 20) -> None:
    """Stop ``spy`` (it writes its file on SIGINT) and print the profile's top entries."""
    if spy is None:
        return
    import pyspy_summary
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    print(f'  py-spy profile of {what} in {path}; its top entries:')
    print(pyspy_summary.summarise(pyspy_summary.load(path), top), flush=True)
