"""Several network nodes on one machine (helpers/testbed): a controller node with a
private RabbitMQ, two network nodes each with its own Open vSwitch, /run/netns and
DHCP agent, joined by a physical network (VLANs and untagged) on a fabric.

A tenant network gets a VLAN of network_vlan_ranges and is served by both nodes
(dhcp_agents_per_network = 2): a probe on that VLAN sees two servers giving the
same answer.  A flat network is untagged on the wire.  A network of type local
stays on one node.  A router on a VLAN network lives on one node and answers a
probe on another.  The last test kills the node whose server a client renews
from, and the client keeps its address, renewed by the other node.
"""

import json
import os
import subprocess
import sys

import pytest

from agent.common import names
from tests.functional.dhcp.stack import dnsmasq_pid
from tests.functional.helpers.host import wait_for
from tests.functional.helpers.testbed.dhcp_failover import (HOLDING, LOST, Dhclient,
                                                            kill_serving_node)

pytestmark = pytest.mark.functional

OFFERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dhcp_offers.py')
LEASE = 120         # dnsmasq's shortest lease
T1, T2 = 5, 9       # dhcp_renewal_time, dhcp_rebinding_time: renewals every 5 s


@pytest.fixture(scope='module')
def bed(testbed_factory):
    return testbed_factory(
        'm', network_nodes=('net1', 'net2'), agents=('dhcp', 'l3'),
        server_conf='dhcp_agents_per_network = 2',
        agent_conf=f'dhcp_lease_duration = {LEASE}\ndhcp_renewal_time = {T1}\n'
                   f'dhcp_rebinding_time = {T2}')


def create_network(bed, name, cidr, **provider):
    net = bed.api('POST', '/networks', {'network': {'name': name, **provider}})['network']
    bed.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': cidr, 'ip_version': 4, 'name': name,
        'dns_nameservers': ['192.0.2.53']}})
    return net


def served_on(bed, net_id, nodes, timeout=60):
    wait_for(lambda: all(dnsmasq_pid(bed.nodes[n], net_id) for n in nodes), timeout, 0.2,
             f'dnsmasq of network {net_id} on {", ".join(nodes)}')


def vm_port(bed, net_id, name):
    return bed.api('POST', '/ports', {'port': {'network_id': net_id, 'name': name}})['port']


def probe_for(bed, name, port, vlan=None):
    return bed.add_probe(name, port['mac_address'], vlan)


def offers(bed, probe, mac, seconds=3):
    out = subprocess.run(bed.in_probe(probe, sys.executable, OFFERS, probe, mac,
                                      seconds), capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return json.loads(out)


def test_each_node_has_its_own_namespaces_switch_and_name(bed):
    hosts = set()
    root_net = os.stat('/proc/self/ns/net').st_ino
    for node in bed.nodes.values():
        hosts.add(node.run('hostname').stdout.strip())
        assert node.namespaces().net != root_net
        assert node.run('ovs-vsctl', f'--db=unix:{node.base}/ovs/db.sock',
                        'br-exists', 'br-int', check=False).returncode == 0
        assert node.run('ip', 'link', 'show', 'eth1', check=False).returncode == 0
    assert subprocess.run(['ovs-vsctl', '--timeout=10', 'br-exists', 'br-phys'],
                          check=False).returncode != 0
    assert hosts == {n.host for n in bed.nodes.values()}
    agents = bed.api('GET', '/agents')['agents']
    assert {a['host'] for a in agents if a['alive']} >= hosts
    # Nothing of the bed has an address in the root namespace.
    root = subprocess.run(['ip', '-o', 'addr'], capture_output=True, text=True).stdout
    assert bed.ctl_address not in root
    # The physical link of each node: int-br-phys / phy-br-phys, made by its agent.
    for node in bed.nodes.values():
        ports = node.run('ovs-vsctl', f'--db=unix:{node.base}/ovs/db.sock', 'list-ports',
                         'br-int').stdout.split()
        assert 'int-br-phys' in ports


def test_vlan_network_is_served_by_two_nodes_with_the_same_answer(bed):
    net = create_network(bed, 'tenant', '10.61.0.0/24')
    assert net['provider:network_type'] == 'vlan'
    assert net['provider:physical_network'] == 'physnet1'
    vlan = net['provider:segmentation_id']
    assert 100 <= vlan <= 199
    served_on(bed, net['id'], ('net1', 'net2'))
    ns = names.dhcp_namespace(net['id'])
    for node in bed.nodes.values():
        assert ns in node.netns_list()
    assert ns not in subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                                    text=True).stdout
    dhcp_ports = bed.api('GET', f'/ports?network_id={net["id"]}'
                                f'&device_owner=network:dhcp')['ports']
    assert len(dhcp_ports) == 2
    agents = bed.api('GET', f'/networks/{net["id"]}/dhcp-agents')['agents']
    assert sorted(a['host'] for a in agents) == sorted(n.host for n in bed.nodes.values())

    port = vm_port(bed, net['id'], 'vm1')
    probe = probe_for(bed, 'vm1', port, vlan)
    seen = wait_for(lambda: (lambda o: o if len(o) == 2 else None)(
        offers(bed, probe, port['mac_address'])), 60, 0.5, 'offers from both servers')
    servers = {o['server'] for o in seen}
    assert servers == {p['fixed_ips'][0]['ip_address'] for p in dhcp_ports}
    answers = [{k: v for k, v in o.items() if k != 'server'} for o in seen]
    assert answers[0] == answers[1]
    assert answers[0]['address'] == port['fixed_ips'][0]['ip_address']
    assert answers[0]['lease'] == LEASE
    # On another VLAN, the probe hears nobody: the network is on its VLAN only.
    other = probe_for(bed, 'vm1b', port, vlan + 1)
    assert offers(bed, other, port['mac_address'], 2) == []


def test_flat_network_is_untagged_on_the_wire(bed):
    net = create_network(bed, 'flat', '10.62.0.0/24', **{
        'provider:network_type': 'flat', 'provider:physical_network': 'physnet1'})
    served_on(bed, net['id'], ('net1', 'net2'))
    port = vm_port(bed, net['id'], 'vm2')
    probe = probe_for(bed, 'vm2', port)
    seen = wait_for(lambda: (lambda o: o if len(o) == 2 else None)(
        offers(bed, probe, port['mac_address'])), 60, 0.5, 'offers on the flat network')
    assert {o['address'] for o in seen} == {port['fixed_ips'][0]['ip_address']}


def test_provider_attributes_are_checked(bed):
    status, body = bed.api('POST', '/networks', {'network': {
        'provider:network_type': 'vlan', 'provider:physical_network': 'nowhere',
        'provider:segmentation_id': 5}}, expect_error=True)
    assert status == 400 and 'nowhere' in json.dumps(body)
    net = bed.api('POST', '/networks', {'network': {
        'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1',
        'provider:segmentation_id': 150}})['network']
    status, body = bed.api('POST', '/networks', {'network': {
        'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1',
        'provider:segmentation_id': 150}}, expect_error=True)
    assert status == 409 and 'VLAN 150' in json.dumps(body)
    bed.api('DELETE', f'/networks/{net["id"]}')


def test_local_network_stays_on_one_node(bed):
    net = create_network(bed, 'local', '10.63.0.0/24', **{'provider:network_type': 'local'})
    agents = wait_for(lambda: bed.api('GET', f'/networks/{net["id"]}/dhcp-agents')['agents'],
                      30, 0.2, 'the local network scheduled')
    assert len(agents) == 1
    other = next(a for a in bed.api('GET', '/agents?agent_type=DHCP%20agent')['agents']
                 if a['id'] != agents[0]['id'])
    status, body = bed.api('POST', f'/agents/{other["id"]}/dhcp-networks',
                           {'network_id': net['id']}, expect_error=True)
    assert status == 409 and 'local' in json.dumps(body)
    # The node refuses to put a local VLAN on its trunk: nothing is plugged, and
    # its log says why.
    node = next(n for n in bed.nodes.values() if n.host == agents[0]['host'])
    wait_for(lambda: 'cannot be served on a node with bridge_mappings' in open(
        f'{node.base}/dhcp-agent.log').read(), 30, 0.2, 'the refusal logged')
    assert dnsmasq_pid(node, net['id']) is None


def test_router_on_a_vlan_network_is_reached_from_another_node(bed):
    net = create_network(bed, 'routed', '10.65.0.0/24')
    subnet_id = net_subnet(bed, net['id'])
    router = bed.api('POST', '/routers', {'router': {'name': 'r1'}})['router']
    bed.api('PUT', f'/routers/{router["id"]}/add_router_interface', {'subnet_id': subnet_id})
    ns = names.router_namespace(router['id'])
    hosting = wait_for(lambda: [n for n in bed.nodes.values() if ns in n.netns_list()],
                       60, 0.2, 'the router namespace on a node')
    assert len(hosting) == 1         # qrouter-<id> on its own node only
    port = vm_port(bed, net['id'], 'vm4')
    probe = probe_for(bed, 'vm4', port, net['provider:segmentation_id'])
    address = port['fixed_ips'][0]['ip_address']
    subprocess.run(bed.in_probe(probe, 'ip', 'addr', 'add', f'{address}/24', 'dev', probe),
                   check=True)
    wait_for(lambda: subprocess.run(bed.in_probe(probe, 'ping', '-c', '1', '-W', '1',
                                                 '10.65.0.1'),
                                    capture_output=True).returncode == 0,
             60, 0.5, 'the router\'s interface answering from another node')


def net_subnet(bed, net_id):
    return bed.api('GET', f'/networks/{net_id}')['network']['subnets'][0]


def test_leases_keep_renewing_from_the_other_node_when_one_dies(bed):
    net = create_network(bed, 'ha', '10.64.0.0/24')
    served_on(bed, net['id'], ('net1', 'net2'))
    port = vm_port(bed, net['id'], 'vm3')
    probe = probe_for(bed, 'vm3', port, net['provider:segmentation_id'])
    by_host = {p['binding:host_id']: p['fixed_ips'][0]['ip_address'] for p in bed.api(
        'GET', f'/ports?network_id={net["id"]}&device_owner=network:dhcp')['ports']}
    servers = {n.name: by_host[n.host] for n in bed.nodes.values()}
    client = Dhclient(bed, probe)
    try:
        result = kill_serving_node(bed, client, servers, 60, T1 * 6)
    finally:
        client.close()
    assert not bed.nodes[result.victim].alive()
    assert not [e for e in result.events if e.reason in LOST], result.events
    assert result.lapses() == [], result.events         # no gap: never ran out
    assert {e.address for e in result.events if e.reason in HOLDING} == {
        port['fixed_ips'][0]['ip_address']}
    print(f'\nDHCP failover: node {result.victim} killed, lease renewed by '
          f'{result.survivor} {result.renewed_after:.1f} s later (lease {LEASE} s, T1 '
          f'{T1} s, T2 {T2} s; longest time between two renewals '
          f'{result.longest_gap:.1f} s, never expired)')
