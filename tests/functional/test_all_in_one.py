"""tools/all-in-one.sh end to end: run, every check PASS, --clean leaves nothing,
a second run passes again and cleans again.

The instance gets names of its own from the run id (state and log directories,
bridges, vhost, exchange, API port, host, outside namespace), so it shares nothing
with the machine's default all-in-one or with other tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.functional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, 'tools', 'all-in-one.sh')
BIN = os.path.dirname(sys.executable)
SERVICES = ('netnode-server', 'netnode-dhcp-agent', 'netnode-l3-agent',
            'netnode-metadata-agent', 'netnode-netns-cleanup', 'netnode-ovs-cleanup')
CHECKS = ('DHCP lease in the probe', 'ping from the probe to the gateway',
          'SNAT from the probe to the outside namespace', 'metadata from the probe',
          'floating IP of the probe from the outside namespace')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _netns():
    try:
        return set(os.listdir('/run/netns'))
    except FileNotFoundError:
        return set()


def _bridges():
    res = subprocess.run(['ovs-vsctl', '--timeout=10', 'list-br'], capture_output=True,
                         text=True)
    return set(res.stdout.split())


def _pids_with(marker):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f'/proc/{entry}/cmdline', 'rb') as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture
def aio(run_id, leaks, tmp_path_factory):
    missing = [s for s in SERVICES if not os.path.exists(os.path.join(BIN, s))]
    if missing:
        pytest.skip(f'console scripts not installed yet: {", ".join(missing)}')
    base = f'/tmp/netnode-{run_id}-aio'
    env = dict(os.environ,
               NETNODE_AIO_DIR=base, NETNODE_AIO_LOG_DIR=base + '-log',
               NETNODE_AIO_INT_BRIDGE=leaks.bridge(f'br-{run_id}a-i'),
               NETNODE_AIO_EX_BRIDGE=leaks.bridge(f'br-{run_id}a-e'),
               NETNODE_AIO_VHOST=f'netnode-{run_id}-aio',
               NETNODE_AIO_EXCHANGE=f'netnode-{run_id}-aio',
               NETNODE_AIO_PORT=str(_free_port()), NETNODE_AIO_HOST=f'{run_id}-aio',
               NETNODE_AIO_OUTSIDE_NS=leaks.namespace(f'out-{run_id}-aio'),
               NETNODE_AIO_SKIP_SETUP='1', NETNODE_VENV=os.path.dirname(BIN),
               NETNODE_AIO_CHECK_TIMEOUT='20')
    leaks.process_marker(base + '/')
    yield env
    if os.path.exists(base):          # a failed test: clean up anyway
        subprocess.run(['bash', SCRIPT, '--clean'], env=env, capture_output=True,
                       timeout=300)
    shutil.rmtree(base + '-log', ignore_errors=True)


def _run(env, *args, timeout=600):
    res = subprocess.run(['bash', SCRIPT, *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    return res.returncode, res.stdout + res.stderr


def _namespaces_of(env):
    with open(os.path.join(env['NETNODE_AIO_DIR'], 'aio-state.json')) as f:
        record = json.load(f)
    names = {env['NETNODE_AIO_OUTSIDE_NS']}
    names |= {f'qdhcp-{n}' for n in record.get('networks', [])}
    names |= {f'qrouter-{r}' for r in record.get('routers', [])}
    names |= {f'qprobe-{p}' for p in record.get('probes', [])}
    return names


def _run_and_check(env, leaks, again=False):
    code, out = _run(env)
    if again:       # everything in place: services and resources reused
        assert 'reused, pid' in out and '(created)' not in out, out
    failed = [c for c in CHECKS if not re.search(rf'check: {re.escape(c)}.*PASS', out)]
    assert not failed, f'checks {failed} did not pass:\n{out}'
    assert code == 0, out
    assert 'checks: 5 PASS, 0 FAIL' in out, out
    # The report shows the node the way the reference log does.
    for part in ('qrouter-', 'qprobe-', 'iptables-save -t nat', 'neutron-l3-agent-snat',
                 'dnsmasq --no-hosts', 'iface-id=', 'tools/all-in-one.sh --clean'):
        assert part in out, f'{part!r} missing from the report:\n{out}'
    names = _namespaces_of(env)
    for ns in names:
        leaks.namespace(ns)
    assert {n for n in names if n.startswith(('qrouter-', 'qprobe-'))} <= _netns()
    return names


def _clean_and_check(env, names):
    code, out = _run(env, '--clean', timeout=300)
    assert code == 0, out
    assert not names & _netns(), f'namespaces left: {names & _netns()}\n{out}'
    bridges = {env['NETNODE_AIO_INT_BRIDGE'], env['NETNODE_AIO_EX_BRIDGE']}
    assert not bridges & _bridges(), out
    assert not _pids_with(env['NETNODE_AIO_DIR'] + '/'), out
    assert not os.path.exists(env['NETNODE_AIO_DIR']), out
    assert not any(os.path.exists(f'/etc/netns/{ns}') for ns in names), out
    vhosts = subprocess.run(['rabbitmqctl', '-q', 'list_vhosts'], capture_output=True,
                            text=True).stdout.split()
    assert env['NETNODE_AIO_VHOST'] not in vhosts, out


def _children(env):
    """{pid: program} of the instance's dnsmasq and haproxy."""
    found = {}
    for pid in _pids_with(env['NETNODE_AIO_DIR'] + '/'):
        try:
            with open(f'/proc/{pid}/comm') as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in ('dnsmasq', 'haproxy'):
            found[pid] = comm
    return found


def _services(env):
    """The services read their config files from <state dir>/etc."""
    return _pids_with(env['NETNODE_AIO_DIR'] + '/etc/')


def test_all_in_one_runs_cleans_and_runs_again(aio, leaks):
    names = _run_and_check(aio, leaks)
    assert _run_and_check(aio, leaks, again=True) == names
    # --stop: the services go, their children and the data plane stay (KillMode=process);
    # the next run starts the services again and they adopt the children.
    children = _children(aio)
    assert sorted(children.values()) == ['dnsmasq', 'haproxy'], children
    code, out = _run(aio, '--stop')
    assert code == 0, out
    assert not _services(aio), out
    assert _children(aio) == children
    assert _run_and_check(aio, leaks) == names
    assert _children(aio) == children
    _clean_and_check(aio, names)
    names = _run_and_check(aio, leaks)
    _clean_and_check(aio, names)
