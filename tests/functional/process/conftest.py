"""Namespaces, a state dir and cleanup for the child-process functional tests."""

import functools
import os
import uuid

import pytest

from agent.process.manager import ProcessManager
from tests.functional.helpers import host

sh = functools.partial(host.sh, timeout=None)      # as before: no time limit here


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
    with host.marked_dir('netnode-process-', leaks) as path:
        yield path


@pytest.fixture
def make_namespace(leaks):
    created = []

    def make(prefix):
        name = leaks.namespace(f'{prefix}{uuid.uuid4()}')
        created.append(name)
        return host.add_namespace(name, timeout=None)

    yield make
    for name in created:
        sh('ip', 'netns', 'delete', name, check=False)


@pytest.fixture
def manager():
    return ProcessManager()
