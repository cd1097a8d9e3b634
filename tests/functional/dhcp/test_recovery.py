"""The DHCP agent recovers from any state it finds (issue 11 items 2-5): dnsmasq
its pid file does not name, a stray dnsmasq, corrupt leases and opts files, temp
files of killed writes, leaked namespaces.  Real controller, RabbitMQ, OVS,
namespaces, dnsmasq and udhcpc; one stack for the module, one network per test.
"""

import os
import subprocess
import time
import uuid

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, netns_list, port_ip, wait_for
from tests.functional.helpers.host import add_namespace, delete_namespaces, programs

pytestmark = pytest.mark.functional

SETTLE = 30       # seconds: generous, the machine is shared (resync_interval is 3 s)


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'rec', leaks).start()
    yield s
    s.close()


@pytest.fixture
def net(stack):
    """A served network with a probe that got its lease: (network, probe)."""
    n = len(stack.api('GET', '/networks')['networks'])
    network, _ = stack.create_network(f'rec{n}', f'10.{90 + n}.0.0/24', f'10.{90 + n}.0.1')
    wait_for(lambda: dnsmasq_pid(stack, network['id']), SETTLE, 0.05, 'dnsmasq serving')
    probe = stack.probe_create(network['id'], name=f'rec-probe{n}')
    yield network, probe
    stack.probe_delete(probe)
    stack.api('DELETE', f'/networks/{network["id"]}')
    wait_for(lambda: f'qdhcp-{network["id"]}' not in netns_list(), SETTLE, 0.1,
             'the network torn down')


def net_dir(stack, net_id):
    return os.path.join(stack.state_path, 'dhcp', net_id)


def dnsmasqs(stack, net_id):
    """Pids of every dnsmasq naming the network's files under our state path."""
    marker = net_dir(stack, net_id) + '/'
    return programs('dnsmasq', lambda argv: any(marker in a for a in argv))


def leased(probe):
    env = wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), SETTLE,
                   0.2, 'a lease')
    return env['ip'] == port_ip(probe)


def exactly_one_serving(stack, net_id):
    """One dnsmasq of ours for the network, the one its pid file names."""
    pids = dnsmasqs(stack, net_id)
    return len(pids) == 1 and dnsmasq_pid(stack, net_id) == pids[0] and pids[0]


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


# -- item 2: dnsmasq its pid file does not name --------------------------------------

@pytest.mark.parametrize('content', [b'1\n', b'notapid\n'])
def test_pid_file_naming_another_pid_or_garbage_adopts_the_running_dnsmasq(
        stack, net, content):
    network, probe = net
    old = exactly_one_serving(stack, network['id'])
    write(os.path.join(net_dir(stack, network['id']), 'pid'), content)
    wait_for(lambda: exactly_one_serving(stack, network['id']) == old, SETTLE, 0.1,
             'the running dnsmasq adopted')
    time.sleep(2 * stack.resync_interval)
    assert exactly_one_serving(stack, network['id']) == old
    assert 'adopting pid %d' % old in stack.agent_log_text()
    assert leased(probe)


def test_state_directory_removed_while_dnsmasq_runs(stack, net):
    network, probe = net
    old = exactly_one_serving(stack, network['id'])
    subprocess.run(['rm', '-rf', net_dir(stack, network['id'])], check=True)
    wait_for(lambda: exactly_one_serving(stack, network['id']), SETTLE, 0.1,
             'one dnsmasq serving, named by its pid file')
    time.sleep(2 * stack.resync_interval)
    assert exactly_one_serving(stack, network['id']) == old
    assert os.path.exists(os.path.join(net_dir(stack, network['id']), 'host'))
    assert leased(probe)


def _stray_dnsmasq(ns, *argv, log=None):
    """A dnsmasq started by hand (give it a --pid-file: the default is the host's)."""
    return subprocess.Popen(['ip', 'netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground',
                             '--port=0', '--no-resolv', '--no-hosts', '--log-facility=-',
                             '--conf-file=/dev/null', *argv],
                            stdout=subprocess.DEVNULL,
                            stderr=open(log, 'w') if log else subprocess.DEVNULL)


def test_stray_dnsmasq_of_ours_is_stopped_and_a_foreign_one_left_alone(stack, net, tmp_path):
    network, probe = net
    ours = exactly_one_serving(stack, network['id'])
    ns = f'qdhcp-{network["id"]}'
    host_file = os.path.join(net_dir(stack, network['id']), 'host')
    stray = _stray_dnsmasq(ns, f'--dhcp-hostsfile={host_file}',
                           f'--pid-file={tmp_path}/stray.pid', log=tmp_path / 'stray.log')
    # same namespace, another agent's (or test run's) state path: not ours
    theirs = tmp_path / 'dhcp' / network['id'] / 'host'
    theirs.parent.mkdir(parents=True)
    theirs.write_text('')
    foreign = _stray_dnsmasq(ns, f'--dhcp-hostsfile={theirs}',
                             f'--pid-file={tmp_path}/foreign.pid',
                             log=tmp_path / 'foreign.log')
    try:
        said = f'stopping pid {stray.pid} in namespace {ns}: duplicate of pid {ours}'
        try:
            wait_for(lambda: said in stack.agent_log_text(), SETTLE, 0.1, repr(said))
        except AssertionError as exc:
            raise AssertionError(f'{exc}; the stray exited with {stray.poll()}, saying '
                                 f'{(tmp_path / "stray.log").read_text()[-500:]!r}')
        wait_for(lambda: stray.poll() is not None, SETTLE, 0.1, 'the stray stopped')
        assert exactly_one_serving(stack, network['id']) == ours
        time.sleep(2 * stack.resync_interval)
        assert foreign.poll() is None, (tmp_path / 'foreign.log').read_text()[-500:]
        assert leased(probe)
    finally:
        for proc in (stray, foreign):
            proc.kill()
            proc.wait()


# -- item 3: corrupt files -------------------------------------------------------------

def test_corrupt_leases_and_opts_are_regenerated_and_a_new_port_is_served(stack, net):
    network, probe = net
    paths = net_dir(stack, network['id'])
    good_opts = open(os.path.join(paths, 'opts'), 'rb').read()
    write(os.path.join(paths, 'leases'), b'lease\0\0\0\xfe garbage\n')
    write(os.path.join(paths, 'opts'), b'\xfe\xff garbage\0\n')
    wait_for(lambda: open(os.path.join(paths, 'opts'), 'rb').read() == good_opts, SETTLE,
             0.1, 'opts written again')
    # a new port reaches dnsmasq: a second probe gets its lease
    second = stack.probe_create(network['id'], name='rec-corrupt')
    try:
        assert leased(second)
    finally:
        stack.probe_delete(second)
    assert b'garbage' not in open(os.path.join(paths, 'leases'), 'rb').read()
    log = stack.agent_log_text()
    assert 'unreadable line(s) of the lease file' in log
    assert 'UnicodeDecodeError' not in log
    assert leased(probe)


# -- item 4: temp files of killed writes -------------------------------------------------

def test_temp_files_of_killed_writes_are_swept(stack, net):
    network, _ = net
    left = [os.path.join(net_dir(stack, network['id']), '.opts.tmp-k1lled00'),
            os.path.join(net_dir(stack, network['id']), '.leases.tmp-k1lled01'),
            os.path.join(net_dir(stack, network['id']), '.opts.x7y8z9w0'),   # before
            os.path.join(stack.state_path, 'external', 'pids', '.x.pid.haproxy.tmp-k1lled02')]
    keep = os.path.join(net_dir(stack, network['id']), '.not-a-temp-file')
    for path in left + [keep]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write(path, b'partial')
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    wait_for(lambda: not any(os.path.exists(p) for p in left), SETTLE, 0.2,
             'the temp files swept')
    assert os.path.exists(keep)
    os.unlink(keep)


# -- item 5: leaked namespaces -------------------------------------------------------------

def test_leaked_namespace_of_ours_is_removed_with_its_process_and_a_foreign_one_kept(
        stack, tmp_path):
    leaked = stack.ns(f'qdhcp-{uuid.uuid4()}')
    foreign = stack.ns(f'qdhcp-{uuid.uuid4()}')
    add_namespace(leaked)
    add_namespace(foreign)
    leaked_id = leaked[len('qdhcp-'):]
    # no state directory, no tap: only a child naming our state path
    ours = _stray_dnsmasq(leaked, f'--pid-file={stack.state_path}/leaked-{leaked_id}.pid')
    theirs = _stray_dnsmasq(foreign, f'--pid-file={tmp_path}/{foreign[6:]}.pid')
    try:
        wait_for(lambda: leaked not in netns_list(), SETTLE, 0.1,
                 'the leaked namespace removed')
        wait_for(lambda: ours.poll() is not None, 10, 0.1, 'its dnsmasq stopped')
        time.sleep(2 * stack.resync_interval)
        assert foreign in netns_list() and theirs.poll() is None
        assert f'namespace {leaked} is ours' in stack.agent_log_text()
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
        delete_namespaces([leaked, foreign])
