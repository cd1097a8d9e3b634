"""One walk of ``/proc`` per sync: every process's command line and network
namespace, and the named namespaces' inodes.

A process is in the named namespace ``N`` when the inode of ``/proc/<pid>/ns/net``
is the inode of ``/run/netns/N``.  Each pid's cmdline and netns inode are read
once per :func:`take`; the agents' pruners then decide from the snapshot alone
(which children are ours, in which namespace, which namespaces hold them) and
re-check a process just before they signal it (:func:`still`).

:func:`owner_uuid` is the positive ownership test: a dnsmasq, haproxy or radvd
is ours only when its command line names a path under OUR state_path carrying
the resource's uuid (dnsmasq ``--pid-file=<state>/dhcp/<uuid>/pid``, haproxy
``-f <state>/ns-metadata-proxy/<uuid>.conf``, radvd ``-p
<state>/external/pids/<uuid>.pid.radvd``).  A process of another agent or test
run using the same namespace names never is.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping

from agent.common import procfs

SERVICES = ('dnsmasq', 'haproxy', 'radvd')
NETNS_DIR = '/run/netns'
# "The host's namespace" for a child is the one the agent runs in: children the
# agent starts without a namespace inherit it.  Not /proc/1/ns/net: in a container
# (this CI's firecracker init, a test bed node) pid 1's namespace is another one or
# cannot be read at all, and a host child compared with it looked like one whose
# namespace was gone, so it was stopped.
OWN_NETNS = '/proc/self/ns/net'
_UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


@dataclasses.dataclass(frozen=True, slots=True)
class Proc:
    """A live process as the walk saw it."""
    pid: int
    argv: tuple[str, ...]
    netns: int | None         # inode of its network namespace; None: unreadable

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ''


@dataclasses.dataclass(frozen=True, slots=True)
class HostScan:
    """Processes and named namespaces at one moment."""
    procs: tuple[Proc, ...] = ()
    namespaces: Mapping[str, int] = dataclasses.field(default_factory=dict)
    root_netns: int | None = None
    _names: dict = dataclasses.field(init=False, repr=False, compare=False)
    _procs_in: dict = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        procs_in: dict[int | None, list[Proc]] = {}
        for proc in self.procs:
            procs_in.setdefault(proc.netns, []).append(proc)
        object.__setattr__(self, '_names', {i: n for n, i in self.namespaces.items()})
        object.__setattr__(self, '_procs_in', {i: tuple(p) for i, p in procs_in.items()})

    def namespace_of(self, proc: Proc) -> str | None:
        """The name of ``proc``'s namespace; '' for the host's, None for an
        anonymous one (deleted while it ran) or an unreadable one."""
        if proc.netns is not None and proc.netns == self.root_netns:
            return ''
        return self._names.get(proc.netns)

    def in_namespace(self, name: str) -> tuple[Proc, ...]:
        inode = self.namespaces.get(name)
        return () if inode is None else self._procs_in.get(inode, ())


def _argv(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:        # zombies and kernel threads
        return None
    return tuple(p.decode('utf-8', errors='surrogateescape')
                 for p in raw.rstrip(b'\0').split(b'\0'))


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _pids() -> Iterable[int]:
    """Every pid but this process's and its ancestors'."""
    mine = procfs.ancestors()
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) not in mine:
            yield int(entry)


def namespace_inodes(netns_dir: str = NETNS_DIR) -> dict[str, int]:
    try:
        entries = sorted(os.listdir(netns_dir))
    except FileNotFoundError:
        return {}
    found = {}
    for name in entries:
        inode = _inode(os.path.join(netns_dir, name))
        if inode is not None:
            found[name] = inode
    return found


def take(netns_dir: str = NETNS_DIR) -> HostScan:
    """Walk /proc once (never this process or its ancestors)."""
    namespaces = namespace_inodes(netns_dir)
    procs = []
    for pid in _pids():
        argv = _argv(pid)
        if argv is None:
            continue
        procs.append(Proc(pid, argv, _inode(f'/proc/{pid}/ns/net')))
    procs.sort(key=lambda p: p.pid)
    return HostScan(tuple(procs), namespaces, _inode(OWN_NETNS))


def pids_in_namespace(name: str, netns_dir: str = NETNS_DIR) -> tuple[Proc, ...]:
    """The processes inside the named namespace now (before deleting it)."""
    inode = _inode(os.path.join(netns_dir, name))
    if inode is None:
        return ()
    found = []
    for pid in _pids():
        if _inode(f'/proc/{pid}/ns/net') == inode:
            argv = _argv(pid)
            if argv is not None:
                found.append(Proc(pid, argv, inode))
    return tuple(sorted(found, key=lambda p: p.pid))


def in_namespace(pid: int, namespace: str | None, netns_dir: str = NETNS_DIR) -> bool:
    """Whether ``pid`` runs in the named namespace (None: the host's) now."""
    have = _inode(f'/proc/{pid}/ns/net')
    want = _inode(os.path.join(netns_dir, namespace) if namespace else OWN_NETNS)
    return have is not None and have == want


def still(proc: Proc) -> bool:
    """``proc`` is still the same process: alive, same command line and namespace
    (checked just before it is signalled)."""
    return (procfs.alive(proc.pid) and _argv(proc.pid) == proc.argv
            and _inode(f'/proc/{proc.pid}/ns/net') == proc.netns)


def path_values(argv: Iterable[str]) -> Iterable[str]:
    for arg in argv:
        if arg.startswith('-'):
            if '=' not in arg:
                continue
            arg = arg.split('=', 1)[1]
        if arg.startswith('/'):
            yield os.path.normpath(arg)


def owner_uuid(proc: Proc, state_path: str,
               services: Iterable[str] = SERVICES) -> str | None:
    """The resource uuid of a child of ours (see the module docstring), else None."""
    if proc.program not in tuple(services):
        return None
    root = os.path.normpath(state_path) + os.sep
    for path in path_values(proc.argv[1:]):
        if path.startswith(root):
            found = _UUID.search(path[len(root):])
            if found:
                return found.group(0)
    return None


def names_path(proc: Proc, paths: Iterable[str]) -> bool:
    """Whether the command line names one of ``paths`` (a spec's pid file or
    config file) as an argument or an option's value."""
    wanted = {os.path.normpath(p) for p in paths}
    return any(v in wanted for v in path_values(proc.argv[1:]))


def without_helpers(procs: Iterable[Proc], parent: Callable[[int], int | None] = procfs.parent
                    ) -> tuple[Proc, ...]:
    """``procs`` less those forked by another of them (radvd's privilege-separation
    helper runs with its parent's command line: it is part of the child, never a
    duplicate of it)."""
    procs = tuple(procs)
    if len(procs) < 2:
        return procs
    pids = {p.pid for p in procs}
    return tuple(p for p in procs if parent(p.pid) not in pids)


def children_of(scan: HostScan, state_path: str, services: Iterable[str] = SERVICES,
                parent: Callable[[int], int | None] = procfs.parent
                ) -> dict[tuple[str, str], tuple[Proc, ...]]:
    """Our children in the snapshot by (service, uuid), helpers left out."""
    found: dict[tuple[str, str], list[Proc]] = {}
    services = tuple(services)
    for proc in scan.procs:
        uuid = owner_uuid(proc, state_path, services)
        if uuid is not None:
            found.setdefault((proc.program, uuid), []).append(proc)
    return {key: without_helpers(procs, parent) for key, procs in found.items()}
