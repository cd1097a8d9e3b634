"""Reading and driving the host for the functional tests: commands, polling,
processes by a marker in their command line, namespaces.

Polling and /proc come from ``agent.common`` (``polling``, ``procfs``), shared with
the all-in-one.  Its ``sh`` (``agent/tools/aio/host.py``) logs every command and
returns rather than raises; these raise ``CalledProcessError`` / ``AssertionError``
as a test wants.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile

from agent.common import polling, procfs
from agent.common.procfs import alive  # noqa: F401 - re-exported to the tests
from agent.drivers import netns as netns_mod


def sh(*args, check=True, timeout=60, input=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          check=check, timeout=timeout, input=input)


def in_ns(ns, *argv, check=True, timeout=30, input=None):
    return sh('ip', 'netns', 'exec', ns, *argv, check=check, timeout=timeout, input=input)


def wait_for(predicate, timeout=10.0, interval=0.02, what='condition'):
    """The first truthy value of ``predicate()``; AssertionError after ``timeout`` s."""
    return polling.wait_for(predicate, timeout, interval, what, error=AssertionError)


def pids_with(marker):
    """Pids (never this process or its ancestors) whose command line holds ``marker``."""
    return list(procfs.pids_with([marker]))


def argvs():
    """(pid, argv) of every live process."""
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                argv = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        yield int(entry), argv


def programs(program, predicate):
    """Pids of the live ``program`` processes whose argv satisfies ``predicate``."""
    return sorted(pid for pid, argv in argvs()
                  if os.path.basename(argv[0]) == program and predicate(argv))


def kill_marked(marker):
    """SIGKILL every process carrying ``marker`` (a path only ours carry)."""
    for pid in pids_with(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def marked_dir(prefix, leaks):
    """A fresh 0755 directory (dnsmasq re-reads its files as 'nobody'), registered
    as the marker of our processes: at the end every process carrying it is killed
    (only ours carry it) and the directory removed."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    leaks.process_marker(path)
    try:
        yield path
    finally:
        kill_marked(path)
        shutil.rmtree(path, ignore_errors=True)


def netns_list():
    return set(netns_mod.list_namespaces())


def add_namespace(name, timeout=60):
    """Create namespace ``name`` (``ip netns add``) with its loopback up."""
    sh('ip', 'netns', 'add', name, timeout=timeout)
    in_ns(name, 'ip', 'link', 'set', 'lo', 'up', timeout=timeout)
    return name


def metadata_veth(proxy, vm, proxy_dev, proxy_ip, vm_ip, timeout=60):
    """A veth pair between namespaces: ``proxy_dev`` in ``proxy`` with ``proxy_ip``/24
    and 169.254.169.254/32, eth0 in ``vm`` with ``vm_ip``/24 and a route to
    169.254.169.254 via ``proxy_ip`` (a VM and the metadata proxy it reaches)."""
    sh('ip', 'link', 'add', proxy_dev, 'netns', proxy, 'type', 'veth',
       'peer', 'name', 'eth0', 'netns', vm, timeout=timeout)
    for ns, dev, cidr in ((proxy, proxy_dev, f'{proxy_ip}/24'), (vm, 'eth0', f'{vm_ip}/24')):
        in_ns(ns, 'ip', 'addr', 'add', cidr, 'dev', dev, timeout=timeout)
        in_ns(ns, 'ip', 'link', 'set', dev, 'up', timeout=timeout)
    in_ns(proxy, 'ip', 'addr', 'add', '169.254.169.254/32', 'dev', proxy_dev,
          timeout=timeout)
    in_ns(vm, 'ip', 'route', 'add', '169.254.169.254/32', 'via', proxy_ip, timeout=timeout)


def delete_namespaces(namespaces):
    """Delete those of ``namespaces`` that exist (best effort) and their /etc/netns dirs."""
    present = netns_list()
    for ns in sorted(set(namespaces) & present):
        try:
            netns_mod.delete(ns, force=True)
        except Exception:  # noqa: BLE001 - best effort
            pass
    for ns in namespaces:
        shutil.rmtree(f'/etc/netns/{ns}', ignore_errors=True)


def ip_json(ns, *args):
    return json.loads(sh('ip', '-j', '-n', ns, *args).stdout or '[]')


def iptables_rules(ns, version=4):
    """iptables-save of a namespace without counters and comment/COMMIT noise: a set
    of (table, line) for chain declarations (policy only) and rules."""
    return save_rules(in_ns(ns, 'iptables-save' if version == 4 else 'ip6tables-save').stdout)


def save_rules(text):
    """(table, line) of the chain declarations (policy only) and rules of an
    iptables-save text."""
    table, found = None, set()
    for line in text.splitlines():
        if line.startswith('*'):
            table = line[1:]
        elif line.startswith(':'):
            found.add((table, ' '.join(line.split()[:2])))
        elif line.startswith('-A'):
            found.add((table, line))
    return found


def ovs_vsctl(*args, check=True):
    return subprocess.run(['ovs-vsctl', '--timeout=10', *args], capture_output=True,
                          text=True, check=check).stdout


def add_bridge(name, datapath_type='netdev'):
    sh('ovs-vsctl', '--may-exist', 'add-br', name, '--', 'set', 'bridge', name,
       f'datapath_type={datapath_type}')


def delete_bridge(name):
    sh('ovs-vsctl', '--if-exists', 'del-br', name, check=False)
