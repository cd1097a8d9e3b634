"""One "node" of the test bed: a mount, network and UTS namespace kept alive by a
holder process, entered with ``nsenter``.

The node's mount namespace has a private ``/run/netns`` (a tmpfs), so the
``qdhcp-``/``qrouter-`` namespaces its agents make are its own, as on a real
host.  Everything a node runs carries its base directory in its command line;
:meth:`Node.kill` ends every process that lives in one of the node's namespaces
(its own, or a namespace mounted under its ``/run/netns``), whatever it is.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

PAUSE = 'import signal; signal.pause()'


@dataclasses.dataclass(frozen=True)
class NodeNamespaces:
    """Inodes of a node's namespaces: the holder's net and mount namespaces, and the
    network namespaces mounted under the node's /run/netns."""
    net: int
    mnt: int
    inner: frozenset = frozenset()


def ns_inode(pid: int, kind: str) -> int | None:
    try:
        return os.stat(f'/proc/{pid}/ns/{kind}').st_ino
    except OSError:
        return None


def pids_in(namespaces: NodeNamespaces) -> list[int]:
    """Processes (never this one) in one of the node's namespaces."""
    nets = {namespaces.net, *namespaces.inner}
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if ns_inode(pid, 'net') in nets or ns_inode(pid, 'mnt') == namespaces.mnt:
            found.append(pid)
    return found


class Node:
    """A node: ``name`` (<= 8 chars), its host name, its base directory."""

    def __init__(self, name: str, host: str, base: str, holder: int | None = None):
        self.name = name
        self.host = host
        self.base = base
        self.holder = holder
        self.state_path = os.path.join(base, 'state')     # the agents' state_path

    # -- life -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> 'Node':
        os.makedirs(self.base, mode=0o755, exist_ok=True)
        os.makedirs('/run/netns', exist_ok=True)
        mine = ns_inode(os.getpid(), 'net')
        proc = subprocess.Popen(
            ['unshare', '--mount', '--net', '--uts', '--propagation', 'private', '--',
             sys.executable, '-c', PAUSE, 'testbed-node', self.base],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.holder = proc.pid
        deadline = time.monotonic() + timeout
        while ns_inode(self.holder, 'net') in (mine, None):
            if proc.poll() is not None:
                raise RuntimeError(f'node {self.name}: unshare exited with {proc.returncode}')
            if time.monotonic() > deadline:
                raise RuntimeError(f'node {self.name}: no namespaces after {timeout} s')
            time.sleep(0.01)
        self.run('hostname', self.host)
        self.run('ip', 'link', 'set', 'lo', 'up')
        self.run('mount', '-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'testbed-netns',
                 '/run/netns')
        return self

    def alive(self) -> bool:
        return self.holder is not None and ns_inode(self.holder, 'mnt') is not None

    def namespaces(self) -> NodeNamespaces:
        """The node's namespace inodes, read while its holder lives."""
        net, mnt = ns_inode(self.holder, 'net'), ns_inode(self.holder, 'mnt')
        if net is None or mnt is None:
            raise RuntimeError(f'node {self.name}: holder {self.holder} is gone')
        inner = set()
        root = f'/proc/{self.holder}/root/run/netns'
        try:
            for name in os.listdir(root):
                try:
                    inner.add(os.stat(os.path.join(root, name)).st_ino)
                except OSError:
                    pass
        except OSError:
            pass
        return NodeNamespaces(net, mnt, frozenset(inner))

    def kill(self, timeout: float = 10.0) -> int:
        """SIGKILL everything in the node's namespaces, the holder last: the node
        fails as a host that loses power.  Returns how many processes it killed."""
        if not self.alive():
            return 0
        namespaces = self.namespaces()
        killed = set()
        deadline = time.monotonic() + timeout
        while True:
            # A namespace made meanwhile (an agent still running) is found next round.
            if self.alive():
                namespaces = dataclasses.replace(
                    namespaces, inner=namespaces.inner | self.namespaces().inner)
            pids = pids_in(namespaces)
            if not pids:
                return len(killed)
            for pid in pids:
                if pid == self.holder and len(pids) > 1:
                    continue            # keeps /proc/<holder>/root readable until last
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f'node {self.name}: processes {pids} survive SIGKILL')
            time.sleep(0.05)

    # -- commands inside the node ---------------------------------------------------

    def argv(self, *argv) -> list[str]:
        return ['nsenter', '--target', str(self.holder), '--mount', '--net', '--uts',
                '--', *(str(a) for a in argv)]

    def run(self, *argv, check=True, timeout=60, env=None) -> subprocess.CompletedProcess:
        res = subprocess.run(self.argv(*argv), capture_output=True, text=True,
                             timeout=timeout, env=env)
        if check and res.returncode != 0:
            raise RuntimeError(f'node {self.name}: {" ".join(map(str, argv))} exited '
                               f'with {res.returncode}: {res.stderr.strip()[-2000:]}')
        return res

    def spawn(self, *argv, log: str, env=None) -> subprocess.Popen:
        """A long-running process in the node (a new session: it outlives a
        ``tools/testbed.sh up``), its output appended to ``log``."""
        with open(log, 'ab') as out:
            return subprocess.Popen(self.argv(*argv), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)

    def netns_list(self) -> list[str]:
        try:
            return sorted(os.listdir(f'/proc/{self.holder}/root/run/netns'))
        except OSError:
            return []
