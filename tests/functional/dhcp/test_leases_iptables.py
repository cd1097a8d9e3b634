"""What the DHCP agent does around dnsmasq, on real parts: stale leases released
with dhcp_release before a reload (the address goes to a new MAC at once), the
qdhcp iptables (checksum fill), the IPv6 metadata address and a DHCPv6 stateful
lease, and the pruning of a namespace a crash left before its tap was plugged.
One controller and agent for the module and one network the tests share; any test
runs alone or in any order.
"""

import os
import shutil
import time
import uuid

import pytest

from agent.dhcp.firewall import dhcp_tables
from agent.drivers.iptables import DHCP_WRAP, IptablesManager
from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import (
    DhcpStack, dnsmasq_pid, ip_json, netns_list, port_ip, sh, wait_for)

pytestmark = pytest.mark.functional

NEW_MAC = 'fa:16:3e:5e:1e:a5'


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'lease', leaks).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def net(stack):
    """The module's network, dnsmasq serving it."""
    net, _ = stack.create_network('fw', '192.168.40.0/24', '192.168.40.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 10, 0.02, 'dnsmasq serving')
    return net


def _file(stack, net_id, name):
    try:
        with open(os.path.join(stack.state_path, 'dhcp', net_id, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def _leased(stack, net_id, ip, mac=None):
    for line in _file(stack, net_id, 'leases').splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[2] == ip and (mac is None or fields[1] == mac):
            return True
    return False


def _argv(stack, net_id):
    pid = dnsmasq_pid(stack, net_id)
    try:
        with open(f'/proc/{pid}/cmdline') as f:
            return f.read().split('\0')
    except OSError:
        return []


def test_qdhcp_iptables_checksum_fill(stack, net):
    ns = f'qdhcp-{net["id"]}'
    rule = '-p udp -m udp --dport {} -j CHECKSUM --checksum-fill'
    v4 = wait_for(lambda: (lambda out: out if rule.format(68) in out else None)(
        sh('ip', 'netns', 'exec', ns, 'iptables-save').stdout), 10, 0.05, 'the v4 rule')
    # the agent restores the two families one after the other
    v6 = wait_for(lambda: (lambda out: out if rule.format(546) in out else None)(
        sh('ip', 'netns', 'exec', ns, 'ip6tables-save').stdout), 10, 0.05, 'the v6 rule')
    assert f'-A {DHCP_WRAP}-POSTROUTING {rule.format(68)}' in v4
    assert f'-A POSTROUTING -j {DHCP_WRAP}-POSTROUTING' in v4
    assert f'-A {DHCP_WRAP}-POSTROUTING {rule.format(546)}' in v6
    assert '-A FORWARD -j neutron-filter-top' in v4
    assert 'neutron-l3-agent' not in v4 + v6
    # converged: applying the same tables again is a no-op (no restore at all)
    assert not IptablesManager(ns, DHCP_WRAP).apply(dhcp_tables()).changed


def test_deleted_port_lease_is_released_and_the_ip_reused_at_once(stack, net):
    a = stack.probe_create(net['id'], name='lease-a')
    b = stack.probe_create(net['id'], name='lease-b')
    lease = wait_for(lambda: clients.dhclient(a['namespace'], a['device']), 40, 0.5,
                     'a dhclient lease')
    ip = lease['fixed-address']
    assert ip == port_ip(a)
    wait_for(lambda: _leased(stack, net['id'], ip, a['mac_address']), 5, 0.05,
             'the lease in dnsmasq\'s lease file')
    pid = dnsmasq_pid(stack, net['id'])
    stack.probe_delete(a)
    wait_for(lambda: not _leased(stack, net['id'], ip), 10, 0.02,
             f'the lease of {ip} gone from the lease file')
    assert f'releasing the lease of {ip}' in stack.agent_log_text()
    assert dnsmasq_pid(stack, net['id']) == pid             # a reload, not a restart
    # the address goes to another MAC right away (dnsmasq would refuse it while
    # the old lease stood: "not using configured address ... leased to ...")
    new = stack.api('POST', '/ports', {'port': {
        'network_id': net['id'], 'mac_address': NEW_MAC,
        'fixed_ips': [{'ip_address': ip}]}})['port']
    wait_for(lambda: NEW_MAC in _file(stack, net['id'], 'host'), 10, 0.02,
             'the new port in the host file')
    ns, dev = b['namespace'], b['device']
    sh('ip', '-n', ns, 'link', 'set', dev, 'address', NEW_MAC)
    try:
        got = wait_for(lambda: clients.dhclient(ns, dev), 20, 0.2, 'the reused address')
    finally:
        sh('ip', '-n', ns, 'link', 'set', dev, 'address', b['mac_address'])
    assert got['fixed-address'] == ip
    stack.api('DELETE', f'/ports/{new["id"]}')


def test_ipv6_metadata_address_and_a_dhcpv6_stateful_lease(stack):
    # a network of its own: the module's stays IPv4 only
    net, _ = stack.create_network('fw6', '192.168.41.0/24', '192.168.41.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 10, 0.02, 'dnsmasq serving')
    v6 = stack.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': '2001:db8:40::/64', 'ip_version': 6,
        'ipv6_address_mode': 'dhcpv6-stateful',
        'ipv6_ra_mode': 'dhcpv6-stateful'}})['subnet']
    ns = f'qdhcp-{net["id"]}'

    def tap_v6():
        return {(a['local'], a['prefixlen']) for link in ip_json(ns, 'addr')
                if link['ifname'].startswith('tap') for a in link['addr_info']
                if a['family'] == 'inet6'}
    wait_for(lambda: ('fe80::a9fe:a9fe', 128) in tap_v6(), 10, 0.05,
             'fe80::a9fe:a9fe/128 on the tap')
    wait_for(lambda: any(a.startswith('2001:db8:40:') for a, _ in tap_v6()), 10, 0.05,
             'the DHCP port\'s IPv6 address')
    wait_for(lambda: any(f'subnet-{v6["id"]}' in arg for arg in _argv(stack, net['id'])),
             10, 0.05, 'dnsmasq with the DHCPv6 range')
    b = stack.probe_create(net['id'], name='lease-v6')       # on both subnets
    want = next(ip['ip_address'] for ip in b['fixed_ips'] if ':' in ip['ip_address'])
    wait_for(lambda: f'[{want}]' in _file(stack, net['id'], 'host'), 10, 0.05,
             'the IPv6 host entry')
    got = wait_for(lambda: clients.dhclient6(b['namespace'], b['device']), 40, 0.5,
                   'a DHCPv6 lease')
    assert got['iaaddr'] == want
    # converged: the next periodic full sync plans nothing for this network (the
    # link-scoped metadata address is not re-added every time)
    mark = len(stack.agent_log_text())
    wait_for(lambda: 'dhcp-full-sync done' in stack.agent_log_text()[mark:], 15, 0.1,
             'a periodic full sync')
    assert f'reconciled network {net["id"]}: ' not in stack.agent_log_text()[mark:]


def test_namespace_left_by_a_crash_before_plugging_is_pruned(stack, net):
    gone_net, foreign_net = str(uuid.uuid4()), str(uuid.uuid4())
    leftover = stack._ns(f'qdhcp-{gone_net}')        # registered with the leak check
    foreign = stack._ns(f'qdhcp-{foreign_net}')
    stack.namespaces.update({leftover, foreign})
    state_dir = os.path.join(stack.state_path, 'dhcp', gone_net)
    assert stack.stop_agent() == 0
    try:
        # the crash: namespace created and the state directory written, no tap yet
        sh('ip', 'netns', 'add', leftover)
        os.makedirs(state_dir)
        # another agent's namespace (no state directory of ours, no tap of ours)
        sh('ip', 'netns', 'add', foreign)
        stack.start_agent()
        wait_for(lambda: leftover not in netns_list(), 20, 0.05,
                 f'{leftover} pruned')
        wait_for(lambda: not os.path.exists(state_dir), 5, 0.05, 'its state dir removed')
        assert f'network {gone_net} is not assigned' in stack.agent_log_text()
        wait_for(lambda: 'dhcp-full-sync done' in stack.agent_log_text(), 10, 0.05)
        time.sleep(0.5)
        assert foreign in netns_list()                      # never ours to remove
        assert foreign_net not in stack.agent_log_text()
        # the network that is ours keeps serving
        assert dnsmasq_pid(stack, net['id'])
    finally:
        sh('ip', 'netns', 'delete', foreign, check=False)
        shutil.rmtree(state_dir, ignore_errors=True)
