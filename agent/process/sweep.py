"""What both agents do with a sync's /proc walk (:mod:`agent.process.scan`):
settle each resource's children, tell which namespaces hold a child of ours, and
stop every process of a namespace about to be deleted.

The agent says which resources a child belongs to and whether they are wanted
(:class:`Resolved`); :func:`settle_all` hands each to
:meth:`ProcessManager.settle` (adopt, stop duplicates and strays).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable

from agent.common import fileutils, procfs
from agent.process import scan as proc_scan
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

STOP_GRACE = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """The children of one resource found by a sweep, and what is wanted of them."""
    spec: ProcessSpec
    wanted: bool
    procs: tuple[proc_scan.Proc, ...]


def settle_all(processes, scan: proc_scan.HostScan, resolved: Iterable[Resolved]) -> int:
    """Settle every resource; returns how many needed a change (adopt or stop)."""
    changed = 0
    for item in resolved:
        try:
            decision = processes.settle(item.spec, item.procs, scan, item.wanted)
        except Exception as exc:  # noqa: BLE001 - the next sync tries again
            LOG.warning('%s: settling its processes failed: %s', item.spec.describe(), exc)
            continue
        changed += decision.changes
    return changed


def names_state_path(proc: proc_scan.Proc, state_path: str) -> bool:
    """Whether the command line names a path under ``state_path``."""
    root = os.path.normpath(state_path) + os.sep
    return any(v.startswith(root) for v in proc_scan.path_values(proc.argv[1:]))


def namespaces_with_children(scan: proc_scan.HostScan, state_path: str,
                             prefix: str) -> dict[str, tuple[int, ...]]:
    """``prefix``-namespaces holding a process whose command line names our
    state_path (proof that the namespace is ours), with those pids."""
    found: dict[str, list[int]] = {}
    for name in scan.namespaces:
        if not name.startswith(prefix):
            continue
        pids = [p.pid for p in scan.in_namespace(name) if names_state_path(p, state_path)]
        if pids:
            found[name] = pids
    return {name: tuple(pids) for name, pids in found.items()}


def stop_all_in(namespace: str, grace: float = STOP_GRACE) -> list[int]:
    """SIGTERM (then SIGKILL) every process in ``namespace``, which is being
    deleted: none is left running in an anonymous namespace."""
    procs = [p for p in proc_scan.pids_in_namespace(namespace) if proc_scan.still(p)]
    for proc in procs:
        LOG.warning('namespace %s is being deleted: stopping pid %d (%s)', namespace,
                    proc.pid, ' '.join(proc.argv)[:200])
    if procs:
        killed = procfs.terminate([p.pid for p in procs], grace)
        if killed:
            LOG.warning('namespace %s: pids %s needed SIGKILL', namespace,
                        ', '.join(map(str, killed)))
    return [p.pid for p in procs]


def sweep_temp_files(directories: Iterable[str], legacy_under: Iterable[str] = (),
                     legacy_names: tuple[str, ...] = ()) -> list[str]:
    """Remove the temp files killed writes left in ``directories`` and in the
    subdirectories of ``legacy_under`` (one per resource, all ours: their older
    ``.<name>.<random>`` temps of ``legacy_names`` go too)."""
    removed = []
    for directory in directories:
        removed += fileutils.sweep_temp(directory)
    for parent in legacy_under:
        try:
            subdirs = sorted(os.listdir(parent))
        except FileNotFoundError:
            continue
        for sub in subdirs:
            path = os.path.join(parent, sub)
            if os.path.isdir(path) and not os.path.islink(path):
                removed += fileutils.sweep_temp(path, legacy=legacy_names)
    return removed
