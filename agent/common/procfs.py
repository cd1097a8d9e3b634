"""Processes of this host as /proc shows them: liveness, command lines, and
ending a set of them (SIGTERM, a grace period, then SIGKILL)."""

from __future__ import annotations

import os
import signal
from typing import Iterable

from agent.common import polling


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def parent(pid: int) -> int | None:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def ancestors() -> set[int]:
    """This process and every process above it."""
    pids: set[int] = set()
    pid: int | None = os.getpid()
    while pid is not None and pid > 1:
        pids.add(pid)
        pid = parent(pid)
    return pids


def cmdline(pid: int) -> str:
    """The command line joined by spaces; '' for a gone process or a zombie."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return ''


def pids_with(markers: Iterable[str]) -> dict[int, str]:
    """{pid: cmdline} of the processes whose command line holds one of ``markers``
    (never this process or its ancestors)."""
    markers = tuple(markers)
    mine, found = ancestors(), {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) in mine:
            continue
        cmd = cmdline(int(entry))
        if cmd and any(m in cmd for m in markers):
            found[int(entry)] = cmd
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def terminate(pids: Iterable[int], grace: float) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, SIGKILL the ones left.
    Returns the pids that needed SIGKILL."""
    pids = list(pids)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    polling.poll(lambda: not any(alive(p) for p in pids), grace)
    stubborn = [p for p in pids if alive(p)]
    for pid in stubborn:
        _signal(pid, signal.SIGKILL)
    return stubborn
