"""Pure helpers of the drivers: shell rendering, broadcasts, the local VLAN map."""

import ipaddress

import pytest

from agent.drivers import commands
from agent.drivers.state import (
    DEAD_VLAN, LinkState, NextHop, OvsPort, PortSpec, default_broadcast, interface, key_for,
    lowest_free, network, tags_in)

NS = 'qdhcp-524952ab-eb76-4838-8490-3a60a5746dcb'
NET = '524952ab-eb76-4838-8490-3a60a5746dcb'


@pytest.mark.parametrize('cidr, brd', [
    ('192.168.10.3/24', '192.168.10.255'),
    ('172.24.4.139/24', '172.24.4.255'),
    ('172.24.4.162/32', '172.24.4.162'),      # as in the reference qrouter state
    ('169.254.169.254/16', '169.254.255.255'),
    ('2001:db8::1/64', None),
])
def test_default_broadcast_matches_iproute2(cidr, brd):
    got = default_broadcast(interface(cidr))
    assert got == (ipaddress.ip_address(brd) if brd else None)


def test_network_rejects_the_word_default():
    with pytest.raises(ValueError):
        network('default')
    assert network('10.0.0.5/24') == ipaddress.ip_network('10.0.0.0/24')


def test_link_state_broadcast_lookup():
    addr = interface('192.168.10.3/24')
    state = LinkState('tap1', 5, 'fa:16:3e:00:00:01', 1450, True, 'tun', frozenset({addr}),
                      ((addr, ipaddress.ip_address('192.168.10.255')),))
    assert state.broadcast('192.168.10.3/24') == ipaddress.ip_address('192.168.10.255')
    assert state.broadcast('10.0.0.1/8') is None


def test_shell_rendering_is_what_operators_type():
    assert commands.netns_add(NS) == f'ip netns add {NS}'
    assert commands.link_set(None, 'tape9f30b29-bf', netns=NS) == \
        f'ip link set tape9f30b29-bf netns {NS}'
    assert commands.link_set(NS, 'tape9f30b29-bf', mac='fa:16:3e:73:4a:f9') == \
        f'ip -n {NS} link set tape9f30b29-bf address fa:16:3e:73:4a:f9'
    assert commands.addr_add(NS, 'tap1', interface('192.168.10.2/24'),
                             ipaddress.ip_address('192.168.10.255')) == \
        f'ip -n {NS} addr add 192.168.10.2/24 brd 192.168.10.255 dev tap1'
    assert commands.route_replace(NS, network('0.0.0.0/0'), gateway='192.168.10.1',
                                  dev='tap1') == \
        f'ip -n {NS} route replace default via 192.168.10.1 dev tap1'
    assert commands.route_replace(None, '10.9.0.0/16', nexthops=[
        NextHop(ipaddress.ip_address('10.0.0.1'), None),
        NextHop(ipaddress.ip_address('10.0.0.2'), 'qg-1')]) == \
        'ip route replace 10.9.0.0/16 nexthop via 10.0.0.1 nexthop via 10.0.0.2 dev qg-1'
    assert commands.sysctl_set(NS, 'net.ipv4.ip_forward', 1) == \
        f'ip netns exec {NS} sysctl -w net.ipv4.ip_forward=1'


def test_ovs_rendering_of_a_dead_vlan_port():
    spec = PortSpec('tap1', 'e9f30b29-bfda-4d5e-b6fc-d5be3e94d090', 'fa:16:3e:73:4a:f9',
                    DEAD_VLAN)
    text = commands.ovs_replace_port('br-int', spec.name, spec.external_ids(), spec.tag,
                                     True)
    assert text == ('ovs-vsctl --if-exists del-port br-int tap1 -- add-port br-int tap1 '
                    'tag=4095 vlan_mode=trunk trunks=4095 -- set Interface tap1 '
                    'type=internal external_ids:attached-mac=fa:16:3e:73:4a:f9 '
                    'external_ids:iface-id=e9f30b29-bfda-4d5e-b6fc-d5be3e94d090 '
                    'external_ids:iface-status=active')


def test_port_spec_external_ids_and_match():
    spec = PortSpec('tap1', 'pid', 'fa:16:3e:00:00:01', 5)
    assert spec.external_ids() == {'iface-id': 'pid', 'iface-status': 'active',
                                   'attached-mac': 'fa:16:3e:00:00:01'}
    port = OvsPort('tap1', 'br-int', 'pid', 'fa:16:3e:00:00:01', 5, 3, spec.external_ids())
    assert port.matches(spec)
    assert not port.matches(PortSpec('tap1', 'pid', 'fa:16:3e:00:00:01', 6))


def test_local_vlan_map_helpers():
    ids = {key_for(NET): '3', 'other': 'x', key_for('n2'): '1', 'netnode-vlan-bad': 'x'}
    assert tags_in(ids) == {NET: 3, 'n2': 1}
    assert lowest_free([1, 3]) == 2
    assert lowest_free([]) == 1
    assert lowest_free(range(1, 4095)) is None


def test_namespace_and_sysctl_names_cannot_escape():
    from agent.drivers import netns
    assert netns.path_of(NS) == f'/run/netns/{NS}'
    for bad in ('', '.', '..', 'a/b'):
        with pytest.raises(ValueError):
            netns.path_of(bad)
    assert netns._sysctl_path('net.ipv4.conf.qg-4e604425-c0.accept_ra') == \
        '/proc/sys/net/ipv4/conf/qg-4e604425-c0/accept_ra'
    for bad in ('', '.net', 'net..ipv4', 'net/../../etc'):
        with pytest.raises(ValueError):
            netns._sysctl_path(bad)
