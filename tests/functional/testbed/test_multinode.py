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
import tempfile
import time

import pytest

from agent.common import names
from tests.functional.helpers.host import pids_with, wait_for

pytestmark = pytest.mark.functional

OFFERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dhcp_offers.py')
LEASE = 120         # dnsmasq's shortest lease
T1, T2 = 5, 9       # dhcp_renewal_time, dhcp_rebinding_time: renewals every 5 s
DHCLIENT_SCRIPT = """#!/bin/sh
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
    ;;
EXPIRE|FAIL|RELEASE|STOP)
    ip addr flush dev "$interface"
    ;;
esac
echo "$(date +%s.%N) $reason ${new_ip_address:-} ${new_dhcp_server_identifier:-} ${new_dhcp_lease_time:-}" >> "{log}"
exit 0
"""


@pytest.fixture(scope='module')
def bed(testbed_factory):
    return testbed_factory(
        'm', network_nodes=('net1', 'net2'), agents=('dhcp', 'l3'),
        server_conf='dhcp_agents_per_network = 2\ntenant_network_types = vlan',
        agent_conf=f'dhcp_lease_duration = {LEASE}\ndhcp_renewal_time = {T1}\n'
                   f'dhcp_rebinding_time = {T2}')


def dnsmasq_pid(bed, node, net_id):
    path = os.path.join(bed.nodes[node].base, 'state', 'dhcp', net_id, 'pid')
    try:
        pid = int(open(path).read().strip())
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
    except (OSError, ValueError):
        return None
    return pid if net_id.encode() in cmd else None


def create_network(bed, name, cidr, **provider):
    net = bed.api('POST', '/networks', {'network': {'name': name, **provider}})['network']
    bed.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': cidr, 'ip_version': 4, 'name': name,
        'dns_nameservers': ['192.0.2.53']}})
    return net


def served_on(bed, net_id, nodes, timeout=60):
    wait_for(lambda: all(dnsmasq_pid(bed, n, net_id) for n in nodes), timeout, 0.2,
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
    assert dnsmasq_pid(bed, node.name, net['id']) is None


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


def _events(log):
    try:
        lines = open(log).read().split('\n')
    except FileNotFoundError:
        return []
    return [line.split() for line in lines if line.strip()]


def test_leases_keep_renewing_from_the_other_node_when_one_dies(bed):
    net = create_network(bed, 'ha', '10.64.0.0/24')
    served_on(bed, net['id'], ('net1', 'net2'))
    port = vm_port(bed, net['id'], 'vm3')
    probe = probe_for(bed, 'vm3', port, net['provider:segmentation_id'])
    dhcp_ports = {p['binding:host_id']: p['fixed_ips'][0]['ip_address'] for p in bed.api(
        'GET', f'/ports?network_id={net["id"]}&device_owner=network:dhcp')['ports']}
    tmp = tempfile.mkdtemp(prefix='netnode-dhclient-')
    log, script = os.path.join(tmp, 'events'), os.path.join(tmp, 'script')
    with open(script, 'w') as f:
        f.write(DHCLIENT_SCRIPT.replace('{log}', log))
    os.chmod(script, 0o755)
    with open(os.path.join(tmp, 'conf'), 'w') as f:
        f.write('timeout 30;\nretry 1;\nrequest subnet-mask, routers, '
                'domain-name-servers;\n')
    client = subprocess.Popen(bed.in_probe(
        probe, 'dhclient', '-4', '-d', '-sf', script, '-cf', os.path.join(tmp, 'conf'),
        '-lf', os.path.join(tmp, 'leases'), '-pf', os.path.join(tmp, 'pid'), probe),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = wait_for(lambda: next((e for e in _events(log) if e[1] == 'BOUND'), None),
                         60, 0.2, 'the first lease')
        assert first[2] == port['fixed_ips'][0]['ip_address']
        server = first[3]
        victim = next(n for n in bed.nodes.values() if dhcp_ports[n.host] == server)
        survivor = next(n for n in bed.nodes.values() if n is not victim)
        # Renewed from the same server first (T1).
        wait_for(lambda: any(e[1] == 'RENEW' for e in _events(log)), T1 * 6, 0.2,
                 'a renewal before the failure')
        killed_at = time.time()
        assert bed.kill_node(victim.name) > 0
        assert not victim.alive()
        new_server = dhcp_ports[survivor.host]
        renewed = wait_for(lambda: next((e for e in _events(log) if float(e[0]) > killed_at
                                         and e[1] in ('RENEW', 'REBIND', 'BOUND')
                                         and e[3] == new_server), None),
                           LEASE, 0.2, 'a renewal from the surviving node')
        # ... and renewed again from it (it is the client's server now).
        wait_for(lambda: [e for e in _events(log) if e[1] == 'RENEW' and e[3] == new_server
                          and float(e[0]) > float(renewed[0])], T1 * 6, 0.2,
                 'the next renewal from the surviving node')
        events = _events(log)
        assert not [e for e in events if e[1] in ('EXPIRE', 'FAIL', 'RELEASE')], events
        # No gap: every lease was renewed before it ran out, always the same address.
        held = [e for e in events if e[1] in ('BOUND', 'RENEW', 'REBIND', 'REBOOT')]
        for before, after in zip(held, held[1:]):
            assert float(after[0]) < float(before[0]) + int(before[4]), events
            assert after[2] == first[2]
        gap = max(float(b[0]) - float(a[0]) for a, b in zip(held, held[1:]))
        print(f'\nDHCP failover: node {victim.name} killed, lease renewed by '
              f'{survivor.name} {float(renewed[0]) - killed_at:.1f} s later ({renewed[1]}; '
              f'lease {LEASE} s, T1 {T1} s, T2 {T2} s; longest time between two '
              f'renewals {gap:.1f} s, {len(held)} renewals, never expired)')
    finally:
        client.kill()
        client.wait()
        for pid in pids_with(tmp):
            os.kill(pid, 9)
        subprocess.run(['rm', '-rf', tmp], check=False)
