"""How instances reach metadata: (network, options) -> MetadataAccess, a table."""

import ipaddress

import pytest

from agent.dhcp.metadata_access import MetadataAccess, metadata_access
from agent.dhcp.settings import DnsmasqSettings
from agent.model import network as m
from tests.unit.dhcp import golden as g

V6_ID = '11111111-2222-4333-8444-555555555555'
OFF_ID = '22222222-2222-4333-8444-555555555555'
V4 = g.subnet()
V6 = m.Subnet(id=V6_ID, network_id=g.NET_ID, cidr=ipaddress.ip_network('2001:db8::/64'),
              ip_version=6, gateway_ip=ipaddress.ip_address('2001:db8::1'))
OFF = g.subnet(id=OFF_ID, cidr=ipaddress.ip_network('10.9.0.0/24'),
               gateway_ip=ipaddress.ip_address('10.9.0.1'), enable_dhcp=False)
ROUTED = (g.ROUTER_PORT, g.DHCP_PORT)
ISOLATED = (g.DHCP_PORT,)
NONE = DnsmasqSettings()
ISOLATED_ON = DnsmasqSettings(enable_isolated_metadata=True)
FORCED = DnsmasqSettings(force_metadata=True)
S = frozenset({g.SUBNET_ID})
EMPTY = frozenset()


@pytest.mark.parametrize('what,subnets,ports,settings,expected', [
    ('routed, options off', (V4,), ROUTED, NONE, MetadataAccess(EMPTY, S, False)),
    ('isolated, options off', (V4,), ISOLATED, NONE, MetadataAccess(EMPTY, EMPTY, False)),
    ('isolated, isolated metadata', (V4,), ISOLATED, ISOLATED_ON,
     MetadataAccess(S, EMPTY, True)),
    ('routed, isolated metadata', (V4,), ROUTED, ISOLATED_ON,
     MetadataAccess(EMPTY, S, False)),
    ('routed, forced', (V4,), ROUTED, FORCED, MetadataAccess(S, S, True)),
    ('IPv6 only, isolated metadata: no proxy', (V6,), (), ISOLATED_ON,
     MetadataAccess(EMPTY, EMPTY, False)),
    ('IPv6 only, forced: a proxy, no route', (V6,), (), FORCED,
     MetadataAccess(EMPTY, EMPTY, True)),
    ('a subnet without DHCP is not served', (OFF,), (), FORCED,
     MetadataAccess(EMPTY, EMPTY, False)),
    ('only the DHCP subnets', (V4, OFF), ISOLATED, ISOLATED_ON,
     MetadataAccess(S, EMPTY, True)),
])
def test_metadata_access(what, subnets, ports, settings, expected):
    network = m.Network(id=g.NET_ID, subnets=subnets, ports=ports)
    assert metadata_access(network, settings) == expected, what
