"""Suite-wide fixtures: a unique run id, and the leak check.

Every test that creates something on the host (namespace, OVS bridge or port, child
process, broker exchange) names it from ``run_id`` and registers it with
``leaks``; fixtures remove what they made, and at the end of the session anything
registered that still exists fails the run.
"""

import os
import subprocess
import uuid

import pytest

RUN_ID = 'nn' + uuid.uuid4().hex[:6]


def _netns_names():
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _ovs(*args):
    res = subprocess.run(['ovs-vsctl', '--timeout=10', *args], capture_output=True,
                         text=True)
    return res.stdout.split() if res.returncode == 0 else []


def _pids_with(marker):
    pids = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if marker in cmd:
            pids.append((int(pid), cmd.strip()))
    return pids


def _pids_in_namespaces(pairs):
    found = []
    for pid in os.listdir('/proc') if pairs else ():
        try:
            key = (os.stat(f'/proc/{pid}/ns/net').st_ino, os.stat(f'/proc/{pid}/ns/mnt').st_ino)
        except (OSError, ValueError):
            continue
        if pid.isdigit() and key in pairs:
            found.append(int(pid))
    return found


class LeakRegistry:
    """What this run created on the host; checked when the session ends."""

    def __init__(self):
        self.namespaces = set()
        self.bridges = set()
        self.markers = set()   # strings found in the cmdline of our processes
        self.node_namespaces = set()   # (net, mnt) inodes of the test bed's nodes

    def namespace(self, name):
        self.namespaces.add(name)
        return name

    def bridge(self, name):
        self.bridges.add(name)
        return name

    def process_marker(self, marker):
        self.markers.add(marker)
        return marker

    def node(self, net_inode, mnt_inode):
        """A test bed node's namespaces: any process left in both is a leak."""
        self.node_namespaces.add((net_inode, mnt_inode))

    def leftovers(self):
        # Namespaces are listed every time: one named from the run id is a leak
        # even when no test registered it (a helper that forgot to), and each is
        # reported once, registered or not.
        found = [f'namespace {n}' for n in sorted(_netns_names())
                 if n in self.namespaces or RUN_ID in n]
        if self.bridges:
            present = set(_ovs('list-br'))
            found += [f'bridge {b}' for b in sorted(self.bridges & present)]
        for marker in sorted(self.markers):
            found += [f'process {pid}: {cmd[:120]}' for pid, cmd in _pids_with(marker)]
        found += [f'process {pid} in a test bed node' for pid in
                  _pids_in_namespaces(self.node_namespaces)]
        return found


LEAKS = LeakRegistry()
# DHCP clients that tests run in probe namespaces (their files live in these dirs).
LEAKS.process_marker('/tmp/netnode-dhclient-')
LEAKS.process_marker('/tmp/netnode-udhcpc-')


@pytest.fixture(scope='session')
def run_id():
    return RUN_ID


@pytest.fixture(scope='session')
def leaks():
    return LEAKS


def pytest_sessionfinish(session, exitstatus):
    left = LEAKS.leftovers()
    if left:
        reporter = session.config.pluginmanager.get_plugin('terminalreporter')
        msg = 'LEAK CHECK FAILED: tests left these on the host:\n  ' + '\n  '.join(left)
        if reporter:
            reporter.write_line(msg, red=True)
        session.exitstatus = 1


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason='functional tests need root')
    for item in items:
        if 'functional' in item.keywords:
            item.add_marker(skip)
