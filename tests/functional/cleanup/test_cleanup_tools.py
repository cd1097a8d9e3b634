"""netnode-netns-cleanup and netnode-ovs-cleanup against the real kernel, OVS and
dnsmasq.  Every run is restricted to what the test made (``--only`` namespaces,
``--bridge``/config naming our own bridge): other test runs on this machine share
the host, and the foreign namespace and ports made here prove they stay untouched.

The namespaces are qrouter-<uuid>: a DHCP agent under test elsewhere on this machine
prunes every qdhcp-<uuid> namespace it was not assigned, which would race with these
tests.  The tool treats both kinds alike (unit tests cover the prefixes)."""

import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from agent.common import names
from agent.drivers import link, netns
from agent.drivers.ovs import OvsDriver
from agent.drivers.state import PortSpec
from agent.l3 import radvd
from agent.model.router import Router, RouterPort, RouterSubnet
from agent.process.manager import ProcessManager
from agent.process.spec import ProcessSpec
from tests.functional.helpers.host import alive, marked_dir, ovs_vsctl

pytestmark = pytest.mark.functional

OVSDB = 'unix:/var/run/openvswitch/db.sock'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture(scope='module')
def ovs():
    return OvsDriver(OVSDB, timeout=10)


@pytest.fixture
def bridge(ovs, run_id, leaks):
    name = leaks.bridge(f'br-{run_id}-c')
    ovs.ensure_bridge(name, 'netdev')
    yield name
    ovs.delete_bridge(name)


@pytest.fixture
def state_path(leaks):
    with marked_dir('netnode-cleanup-', leaks) as path:
        yield path


@pytest.fixture
def namespaces(leaks):
    made = []

    def make(name):
        leaks.namespace(name)
        netns.create(name)
        made.append(name)
        return name

    yield make
    for name in made:
        if netns.exists(name):
            netns.delete(name, force=True)


@pytest.fixture
def config(tmp_path, state_path, bridge):
    path = tmp_path / 'cleanup.conf'
    path.write_text(f'[DEFAULT]\nstate_path = {state_path}\n'
                    f'[ovs]\nintegration_bridge = {bridge}\nexternal_bridge = {bridge}\n'
                    'datapath_type = netdev\n')
    return str(path)


def run_tool(module, *args):
    res = subprocess.run([sys.executable, '-m', module, *args], capture_output=True,
                         text=True, cwd=TOP, timeout=120)
    return res.returncode, res.stdout + res.stderr


def plug(ovs, bridge, ns, prefix, address, port_id=None):
    port_id = port_id or str(uuid.uuid4())
    dev = names.device_name(prefix, port_id)
    ovs.plug_ports(bridge, [PortSpec(dev, port_id, 'fa:16:3e:12:34:56')])
    link.move_to_namespace(dev, ns)
    link.add_address(ns, dev, address)
    link.set_up(ns, dev)
    return dev


def start_dnsmasq(state_path, net, ns, dev):
    conf = os.path.join(state_path, 'dhcp', net)
    spec = ProcessSpec(
        service='dnsmasq', uuid=net, namespace=ns,
        argv=('dnsmasq', '--no-hosts', '--no-resolv', f'--pid-file={conf}/pid',
              f'--dhcp-hostsfile={conf}/host', f'--dhcp-leasefile={conf}/leases',
              '--port=0', '--bind-interfaces', f'--interface={dev}',
              '--dhcp-range=set:subnet-1,192.0.2.0,static,255.255.255.0,86400s',
              '--conf-file=/dev/null'),
        pid_file=f'{conf}/pid', config_files=((f'{conf}/host', ''),))
    manager = ProcessManager()
    manager.ensure(spec)
    pid = manager.observe(spec).pid
    assert pid and alive(pid)
    return pid, spec.pid_file


def wait_dead(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_force_only_stops_dnsmasq_unplugs_and_deletes(ovs, bridge, state_path, config,
                                                      namespaces, run_id):
    net = str(uuid.uuid4())
    target = namespaces(f'qrouter-{net}')
    other = namespaces(f'qrouter-{uuid.uuid4()}')      # ours, but not named: stays
    foreign = namespaces(f'nn-{run_id}-foreign')         # not ours at all: stays
    tap = plug(ovs, bridge, target, 'qr-', '192.0.2.2/24')
    other_tap = plug(ovs, bridge, other, 'qr-', '192.0.2.3/24')
    pid, pid_file = start_dnsmasq(state_path, net, target, tap)

    code, out = run_tool('agent.cmd.netns_cleanup', '--config-file', config, '--force',
                         '--only', target, '--only', foreign, '--delay', '0')
    assert code == 1, out             # the foreign name given to --only is refused
    assert 'refusing' in out and foreign in out
    assert wait_dead(pid), out
    assert not os.path.exists(pid_file)
    assert not netns.exists(target)
    assert tap not in [p.name for p in ovs.list_ports(bridge)]
    # untouched: the namespace not named, its port, the foreign namespace
    assert netns.exists(other) and netns.devices_in(other) == [other_tap], out
    assert other_tap in [p.name for p in ovs.list_ports(bridge)]
    assert netns.exists(foreign)

    code, out = run_tool('agent.cmd.netns_cleanup', '--config-file', config, '--force',
                         '--only', target, '--delay', '0')
    assert code == 0, out             # idempotent


def test_force_finds_a_child_whose_pid_file_was_lost(ovs, bridge, state_path, config,
                                                     namespaces):
    router = str(uuid.uuid4())
    target = namespaces(f'qrouter-{router}')
    qr = plug(ovs, bridge, target, 'qr-', '192.0.2.1/24')
    # a dnsmasq carrying the router's uuid and our state path, its pid file lost
    pid, pid_file = start_dnsmasq(state_path, router, target, qr)
    os.unlink(pid_file)
    code, out = run_tool('agent.cmd.netns_cleanup', '--config-file', config, '--force',
                         '--agent-type', 'l3', '--only', target, '--delay', '0')
    assert code == 0, out
    assert wait_dead(pid) and not netns.exists(target)


def test_force_stops_a_routers_radvd(ovs, bridge, state_path, config, namespaces):
    router, port_id = str(uuid.uuid4()), str(uuid.uuid4())
    target = namespaces(f'qrouter-{router}')
    netns.sysctl_set(target, 'net.ipv6.conf.all.forwarding', 1)
    plug(ovs, bridge, target, 'qr-', '2001:db8:20::1/64', port_id)
    subnet = RouterSubnet(str(uuid.uuid4()), ipaddress.ip_network('2001:db8:20::/64'),
                          ipv6_ra_mode='slaac')
    port = RouterPort(port_id, str(uuid.uuid4()), 'fa:16:3e:12:34:56', (), (subnet,))
    ra = radvd.RaSettings.default(state_path)
    spec = radvd.desired_spec(Router(router, interfaces=(port,)), ra)
    manager = ProcessManager()
    manager.ensure(spec)
    pid = manager.observe(spec).pid
    assert pid and alive(pid)
    code, out = run_tool('agent.cmd.netns_cleanup', '--config-file', config, '--force',
                         '--agent-type', 'l3', '--only', target, '--delay', '0')
    assert code == 0, out
    assert wait_dead(pid) and not netns.exists(target), out
    assert not os.path.exists(spec.pid_file)


def test_without_force_only_empty_namespaces_go(ovs, bridge, state_path, config,
                                                namespaces):
    busy = namespaces(f'qrouter-{uuid.uuid4()}')
    empty = namespaces(f'qrouter-{uuid.uuid4()}')
    tap = plug(ovs, bridge, busy, 'qr-', '192.0.2.2/24')
    code, out = run_tool('agent.cmd.netns_cleanup', '--config-file', config,
                         '--only', busy, '--only', empty, '--delay', '0')
    assert code == 0, out
    assert not netns.exists(empty)
    assert netns.exists(busy) and netns.devices_in(busy) == [tap]
    assert 'Keeping namespace' in out


def test_ovs_cleanup_removes_our_ports_only(ovs, bridge, run_id, state_path, config):
    host = socket.gethostname()                 # the tool's [DEFAULT] host
    marked = names.tap_name(str(uuid.uuid4()))
    legacy_tap = names.tap_name(str(uuid.uuid4()))     # unmarked, a state dir names it
    net = str(uuid.uuid4())
    os.makedirs(os.path.join(state_path, 'dhcp', net))
    with open(os.path.join(state_path, 'dhcp', net, 'interface'), 'w') as f:
        f.write(legacy_tap + '\n')
    ours = [marked, legacy_tap, names.internal_device_name(str(uuid.uuid4())),
            names.gateway_device_name(str(uuid.uuid4()))]
    ovs.plug_ports(bridge, [
        PortSpec(n, str(uuid.uuid4()), 'fa:16:3e:00:00:0%d' % i,
                 owner=f'dhcp:{host}:{net}' if n == marked else None)
        for i, n in enumerate(ours)])
    plain = f'p{run_id}'                                  # no external_ids
    ovs_vsctl('add-port', bridge, plain, '--', 'set', 'Interface', plain, 'type=internal')
    vm_like = f'v{run_id}'                                # our ids, foreign name
    ovs_vsctl('add-port', bridge, vm_like, '--', 'set', 'Interface', vm_like,
              'type=internal', f'external_ids:iface-id={uuid.uuid4()}',
              'external_ids:attached-mac=fa:16:3e:00:00:09')
    vm_id = str(uuid.uuid4())                             # Nova's: tap + port id
    vm_tap = names.tap_name(vm_id)
    ovs_vsctl('add-port', bridge, vm_tap, '--', 'set', 'Interface', vm_tap,
              'type=internal', f'external_ids:iface-id={vm_id}',
              'external_ids:attached-mac=fa:16:3e:00:00:0a',
              'external_ids:iface-status=active')
    other_host = names.tap_name(str(uuid.uuid4()))        # marked by another host
    ovs_vsctl('add-port', bridge, other_host, '--', 'set', 'Interface', other_host,
              'type=internal', f'external_ids:iface-id={uuid.uuid4()}',
              'external_ids:attached-mac=fa:16:3e:00:00:0b',
              f'external_ids:netnode-owner="dhcp:{host}-other:{net}"')
    no_mac = names.tap_name(str(uuid.uuid4()))            # our name, no attached-mac
    ovs_vsctl('add-port', bridge, no_mac, '--', 'set', 'Interface', no_mac,
              'type=internal', f'external_ids:iface-id={uuid.uuid4()}')

    code, out = run_tool('agent.cmd.ovs_cleanup', '--config-file', config,
                         '--bridge', bridge)
    assert code == 0, out
    left = set(ovs_vsctl('list-ports', bridge).split())
    assert left == {plain, vm_like, vm_tap, other_host, no_mac}, out
    for name in ours:
        assert f'{bridge}/{name}' in out

    code, out = run_tool('agent.cmd.ovs_cleanup', '--config-file', config,
                         '--bridge', bridge)
    assert code == 0 and set(ovs_vsctl('list-ports', bridge).split()) == left


def test_ovs_cleanup_of_a_missing_bridge_is_a_no_op(run_id):
    code, out = run_tool('agent.cmd.ovs_cleanup', '--bridge', f'br-{run_id}-gone')
    assert code == 0 and 'does not exist' in out
