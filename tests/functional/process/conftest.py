"""Namespaces, a state dir and cleanup for the child-process functional tests."""

import os
import shutil
import signal
import subprocess
import tempfile
import uuid

import pytest

from agent.process.manager import ProcessManager


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check)


def pids_with(marker):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if marker in cmd:
            found.append(int(entry))
    return found


def zombie_children():
    """Zombies whose parent is this test process (unreaped spawns)."""
    zombies = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat.rsplit(')', 1)[1].split()[:2]
        if state == 'Z' and int(ppid) == os.getpid():
            zombies.append(int(entry))
    return zombies


@pytest.fixture
def state_path(leaks):
    # 0755 like /var/lib/netnode: dnsmasq re-reads its files as 'nobody' on SIGHUP
    path = tempfile.mkdtemp(prefix='netnode-process-')
    os.chmod(path, 0o755)
    leaks.process_marker(path)
    yield path
    for pid in pids_with(path):     # only processes of ours carry this path
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_namespace(leaks):
    created = []

    def make(prefix):
        name = leaks.namespace(f'{prefix}{uuid.uuid4()}')
        sh('ip', 'netns', 'add', name)
        created.append(name)
        sh('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up')
        return name

    yield make
    for name in created:
        sh('ip', 'netns', 'delete', name, check=False)


@pytest.fixture
def manager():
    return ProcessManager()
