"""``ovs_use_veth = true``: the DHCP and L3 agents plug veth pairs made in their
namespaces instead of OVS internal ports moved there.

On real parts: a DHCP agent whose tap is a pair answers dhclient (UDP from the
namespace), a router whose qr- and qg- are pairs carries TCP both ways through
SNAT and a floating IP (the namespace's end computes its own checksums: the
userspace datapath forwards a frame whose checksum was left to the device as it
is), a restart makes no new pair, and a delete leaves no pair behind.
"""

import json
import subprocess
import sys

import pytest

from agent.common import names
from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, port_ip
from tests.functional.helpers.host import in_ns, netns_list, wait_for
from tests.functional.l3.stack import L3Stack
from tests.functional.l3.test_l3_agent import (  # noqa: F401 - fixtures
    ask, associate_with_vm, fip, outside, topo, vm)

pytestmark = pytest.mark.functional

VETH = 'ovs_use_veth = true'


def link(ns, dev):
    """``ip -d -j link show dev`` of ``dev`` in ``ns`` (None: the root namespace)."""
    argv = ['ip', '-d', '-j'] + (['-n', ns] if ns else []) + ['link', 'show', 'dev', dev]
    res = subprocess.run(argv, capture_output=True, text=True)
    return json.loads(res.stdout)[0] if res.returncode == 0 else None


def ipv6_addresses(dev):
    out = subprocess.run(['ip', '-j', '-6', 'addr', 'show', 'dev', dev],
                         capture_output=True, text=True, check=True).stdout
    return [a for entry in json.loads(out) for a in entry.get('addr_info', ())]


def interface_type(name):
    return subprocess.run(['ovs-vsctl', 'get', 'Interface', name, 'type'],
                          capture_output=True, text=True, check=True).stdout.strip()


def assert_pair(ns, dev, mac):
    inside, root = link(ns, dev), link(None, dev)
    assert inside['linkinfo']['info_kind'] == 'veth' and inside['address'] == mac
    assert 'UP' in inside['flags']
    assert root['linkinfo']['info_kind'] == 'veth' and 'UP' in root['flags']
    assert ipv6_addresses(dev) == []            # the root end carries frames only
    assert interface_type(dev) == '""'          # a system port, not an internal one


# -- L3 ------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = L3Stack(run_id, 'veth', leaks, resync_interval=3, agent_conf=VETH).start()
    yield s
    s.close()


def test_router_ports_are_pairs_made_in_the_namespace(stack, topo):
    assert_pair(topo['ns'], topo['qr'], stack.api(
        'GET', f'/ports/{topo["qr_port"]}')['port']['mac_address'])
    assert_pair(topo['ns'], topo['qg'], topo['qg_port']['mac_address'])
    log = stack.agent_log_text()
    assert 'type veth peer name' in log and f'link set {topo["qr"]} netns' not in log


CONNECT = 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), ' \
          'timeout=3).close()'


def connects(ns, address, port):
    """Whether a TCP connection from ``ns`` to ``address``:``port`` is accepted."""
    return in_ns(ns, sys.executable, '-c', CONNECT, address, str(port),
                 check=False).returncode == 0


def test_tcp_through_snat_a_floating_ip_and_to_the_metadata_proxy(stack, topo, vm,
                                                                   outside, fip):
    vm_ns, _, _ = vm
    # The router's own TCP: the metadata proxy's SYN-ACK leaves the namespace's end
    # of the qr- pair (what it forwards keeps the checksums it came with).
    assert connects(vm_ns, '169.254.169.254', 80)
    assert ask(vm_ns, '198.51.100.1') == topo['gw_ip']          # SNAT, TCP both ways
    address = associate_with_vm(stack, topo, vm, fip)['floating_ip_address']
    try:
        assert stack.ping(outside, address, count=2)
        assert ask(vm_ns, '198.51.100.1') == address
    finally:
        stack.associate(fip['id'], None)


def test_network_mtu_change_reaches_both_ends_of_the_qr_pair(stack, topo):
    def mtus():
        return link(topo['ns'], topo['qr'])['mtu'], link(None, topo['qr'])['mtu']

    net = topo['net']['id']
    stack.api('PUT', f'/networks/{net}', {'network': {'mtu': 1400}})
    wait_for(lambda: mtus() == (1400, 1400), 15, 0.1, 'qr- MTU 1400 at both ends')
    stack.api('PUT', f'/networks/{net}', {'network': {'mtu': 1500}})
    wait_for(lambda: mtus() == (1500, 1500), 15, 0.1, 'qr- MTU back to 1500')


def test_restart_makes_no_new_pair(stack, topo):
    devices = [(ns, dev) for dev in (topo['qr'], topo['qg']) for ns in (topo['ns'], None)]
    before = {key: link(*key)['ifindex'] for key in devices}
    assert stack.stop_agent() == 0
    stack.start_agent()
    wait_for(lambda: stack.agent_log_text().count('l3-full-sync done') >= 2, 15, 0.1,
             'a periodic resync after the restart')
    assert {key: link(*key)['ifindex'] for key in devices} == before


def test_router_delete_leaves_no_pair(stack, topo):
    net, sub = stack.network('veth-doomed', '192.168.77.0/24', '192.168.77.1')
    router = stack.router('veth-doomed')
    intf = stack.add_interface(router['id'], sub['id'])
    ns, qr = names.router_namespace(router['id']), names.internal_device_name(
        intf['port_id'])
    wait_for(lambda: link(ns, qr) is not None and link(None, qr) is not None, 20, 0.05,
             'the pair made')
    stack.api('PUT', f'/routers/{router["id"]}/remove_router_interface',
              {'subnet_id': sub['id']})
    wait_for(lambda: link(None, qr) is None, 10, 0.05, 'the pair deleted')
    assert link(ns, qr) is None and ns in netns_list()
    stack.api('DELETE', f'/routers/{router["id"]}')
    wait_for(lambda: ns not in netns_list(), 10, 0.05, 'namespace removed')
    ports = subprocess.run(['ovs-vsctl', 'list-ports', stack.int_bridge],
                           capture_output=True, text=True, check=True).stdout.split()
    assert qr not in ports


# -- DHCP ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def dhcp(run_id, leaks):
    s = DhcpStack(run_id, 'vethd', leaks, agent_conf=VETH).start()
    yield s
    s.close()


def test_dhcp_tap_is_a_pair_and_dhclient_gets_its_lease(dhcp):
    network, _subnet = dhcp.create_network('veth-net', '192.168.20.0/24', '192.168.20.1',
                                           ('192.0.2.53',))
    wait_for(lambda: dnsmasq_pid(dhcp, network['id']), 20, 0.05, 'dnsmasq serving')
    port = wait_for(lambda: dhcp.dhcp_port(network['id']), 5, what='the DHCP port')
    ns, tap = names.dhcp_namespace(network['id']), names.tap_name(port['id'])
    wait_for(lambda: link(ns, tap) is not None, 10, 0.05, 'the tap')
    assert_pair(ns, tap, port['mac_address'])
    probe = dhcp.probe_create(network['id'], name='veth-probe')
    lease = wait_for(lambda: clients.dhclient(probe['namespace'], probe['device']), 40,
                     0.5, 'a dhclient lease')
    assert lease['fixed-address'] == port_ip(probe)
    assert lease['routers'] == '192.168.20.1'
    # TCP to dnsmasq's DNS port: its SYN-ACK leaves the namespace's end of the pair
    # (dhclient's lease alone proves no checksum: the agent's CHECKSUM rule fills
    # those of DHCP replies).
    in_ns(probe['namespace'], 'ip', 'addr', 'add', f'{lease["fixed-address"]}/24', 'dev',
          probe['device'])
    assert connects(probe['namespace'], port['fixed_ips'][0]['ip_address'], 53)
