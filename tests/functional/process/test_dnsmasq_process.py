"""A real dnsmasq in a namespace of ours, driven through ProcessManager."""

import os
import signal
import subprocess
import time
import uuid

import pytest

from agent.common import polling
from agent.process import manager as pm
from agent.process.monitor import ProcessMonitor
from agent.process.spec import ProcessSpec
from tests.functional.helpers.host import pids_with
from tests.functional.process.conftest import sh, zombie_children

pytestmark = pytest.mark.functional


def dnsmasq_spec(state_path, net, namespace, hosts='', extra=()):
    conf = os.path.join(state_path, 'dhcp', net)
    return ProcessSpec(
        service='dnsmasq', uuid=net, namespace=namespace,
        argv=('dnsmasq', '--no-hosts', '--no-resolv', f'--pid-file={conf}/pid',
              f'--dhcp-hostsfile={conf}/host', f'--dhcp-optsfile={conf}/opts',
              f'--dhcp-leasefile={conf}/leases', f'--log-facility={conf}/log',
              '--log-dhcp', '--port=0', '--bind-dynamic',
              '--dhcp-range=set:subnet-1,192.0.2.0,static,255.255.255.0,86400s',
              '--conf-file=/dev/null', *extra),
        pid_file=f'{conf}/pid',
        config_files=((f'{conf}/host', hosts), (f'{conf}/opts', '')),
        spawn_files=((f'{conf}/leases', ''),))


@pytest.fixture
def network(make_namespace, state_path, manager):
    net = str(uuid.uuid4())
    ns = make_namespace('qdhcp-')
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'add', 'tapfunc0', 'type', 'veth',
       'peer', 'name', 'tapfunc1')
    sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'tapfunc0')
    sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'tapfunc0', 'up')
    started = []

    def spec(**kwargs):
        s = dnsmasq_spec(state_path, net, ns, **kwargs)
        started.append(s)
        return s

    yield spec
    for s in started[-1:]:
        manager.stop(s)


def wait_for(condition, timeout=5.0):
    return polling.poll(condition, timeout, 0.02)


def read(path):
    with open(path) as f:
        return f.read()


def test_start_unchanged_reload_restart_stop(network, manager, state_path):
    spec = network(hosts='fa:16:3e:00:00:01,host-192-0-2-10,192.0.2.10\n')
    assert manager.ensure(spec) == pm.STARTED
    first = manager.observe(spec)
    assert first.running and first.argv_matches
    with open(f'/proc/{first.pid}/environ', 'rb') as f:
        assert f'PROCESS_TAG=dnsmasq-{spec.uuid}'.encode() in f.read().split(b'\0')
    assert zombie_children() == []
    log = os.path.join(state_path, 'dhcp', spec.uuid, 'log')
    assert wait_for(lambda: os.path.exists(log) and 'read ' in read(log))

    assert manager.ensure(spec) == pm.UNCHANGED
    assert manager.observe(spec).pid == first.pid

    hup_spec = network(hosts='fa:16:3e:00:00:01,host-192-0-2-10,192.0.2.10\n'
                             'fa:16:3e:00:00:02,host-192-0-2-11,192.0.2.11\n')
    reads_before = read(log).count('/host')
    assert manager.ensure(hup_spec) == pm.RELOADED
    assert manager.observe(hup_spec).pid == first.pid
    # dnsmasq logs "read <dir>/host" each time it re-reads the file (on SIGHUP)
    assert wait_for(lambda: read(log).count('/host') > reads_before)

    new_argv = network(hosts='fa:16:3e:00:00:01,host-192-0-2-10,192.0.2.10\n'
                             'fa:16:3e:00:00:02,host-192-0-2-11,192.0.2.11\n',
                       extra=('--dhcp-lease-max=16',))
    assert manager.ensure(new_argv) == pm.RESTARTED
    restarted = manager.observe(new_argv)
    assert restarted.running and restarted.argv_matches and restarted.pid != first.pid
    assert not os.path.exists(f'/proc/{first.pid}') or first.pid not in pids_with(spec.uuid)
    assert zombie_children() == []

    assert manager.stop(new_argv) is True
    assert pids_with(spec.uuid) == []
    assert not os.path.exists(new_argv.pid_file)
    assert manager.stop(new_argv) is False


def test_foreign_pid_in_pid_file_is_not_signalled(network, manager):
    spec = network()
    os.makedirs(os.path.dirname(spec.pid_file), exist_ok=True)
    sleeper = subprocess.Popen(['sleep', '1000'])
    try:
        with open(spec.pid_file, 'w') as f:
            f.write(f'{sleeper.pid}\n')
        assert not manager.observe(spec).running
        assert manager.ensure(spec) == pm.STARTED
        state = manager.observe(spec)
        assert state.running and state.pid != sleeper.pid
        assert manager.stop(spec)
        assert sleeper.poll() is None        # neither SIGHUP nor SIGTERM reached it
    finally:
        sleeper.kill()
        sleeper.wait()


def test_monitor_respawns_killed_child_within_interval(network, manager):
    spec = network()
    manager.ensure(spec)
    old = manager.observe(spec).pid
    monitor = ProcessMonitor(0.3, 'respawn', manager)
    monitor.register(spec)
    monitor.start()
    try:
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: manager.observe(spec).pid not in (None, old), timeout=3.0)
        assert time.monotonic() - killed_at < 0.3 + 1.0
        assert manager.observe(spec).running
        assert wait_for(lambda: monitor.respawn_count == 1)
    finally:
        monitor.unregister(spec.uuid, spec.service)
        monitor.stop()


def test_adoption_by_a_new_manager(network, manager):
    spec = network()
    manager.ensure(spec)
    pid = manager.observe(spec).pid
    restarted_agent = pm.ProcessManager()
    assert restarted_agent.ensure(spec) == pm.UNCHANGED
    assert restarted_agent.observe(spec).pid == pid
    found = restarted_agent.list_running('dnsmasq', os.path.dirname(
        os.path.dirname(spec.pid_file)))
    assert [(f.uuid, f.pid) for f in found] == [(spec.uuid, pid)]


def test_missing_namespace_is_a_clear_error(manager, state_path):
    net = str(uuid.uuid4())
    spec = dnsmasq_spec(state_path, net, f'qdhcp-{net}')
    with pytest.raises(pm.ProcessError, match=f'dnsmasq for {net}.*exited with status'):
        manager.ensure(spec)
