import ipaddress

import pytest

from agent.controller import exceptions as exc
from agent.controller import validation as v


def net(text):
    return ipaddress.ip_network(text)


@pytest.mark.parametrize('value, message', [
    ('10.0.0.1/24', "Invalid input for cidr: '10.0.0.1/24' has host bits set"),
    ('10.0.0.0', "Invalid input for cidr: '10.0.0.0' is not a valid CIDR"),
    ('10.0.0.0/33', "Invalid input for cidr: '10.0.0.0/33' is not a valid CIDR"),
    (None, 'Invalid input for cidr: None is not a valid CIDR'),
    ('2001:db8::1/64', "has host bits set"),
])
def test_parse_cidr_errors(value, message):
    with pytest.raises(exc.InvalidInput) as info:
        v.parse_cidr(value)
    assert message in str(info.value)
    assert info.value.status == 400 and info.value.type == 'InvalidInput'


def test_parse_cidr_ok():
    assert v.parse_cidr('10.0.0.0/24') == net('10.0.0.0/24')
    assert v.parse_cidr('2001:db8::/64').version == 6


def test_ip_version():
    assert v.check_ip_version(4, net('10.0.0.0/8')) == 4
    with pytest.raises(exc.InvalidInput, match='ip_version'):
        v.check_ip_version(5)
    with pytest.raises(exc.InvalidInput, match='not an IPv6 network'):
        v.check_ip_version(6, net('10.0.0.0/8'))


def test_gateway_inside_subnet():
    v.check_gateway(ipaddress.ip_address('10.0.0.1'), net('10.0.0.0/24'))
    v.check_gateway(None, net('10.0.0.0/24'))
    for bad in ('10.0.1.1', '10.0.0.0', '10.0.0.255', '2001:db8::1'):
        with pytest.raises(exc.InvalidInput, match='gateway_ip'):
            v.check_gateway(ipaddress.ip_address(bad), net('10.0.0.0/24'))


def test_pools():
    cidr = net('10.0.0.0/24')
    ranges = v.parse_pools([{'start': '10.0.0.100', 'end': '10.0.0.200'},
                            {'start': '10.0.0.10', 'end': '10.0.0.20'}], cidr)
    assert [str(s) for s, _ in ranges] == ['10.0.0.10', '10.0.0.100']
    with pytest.raises(exc.OverlappingAllocationPools):
        v.parse_pools([{'start': '10.0.0.10', 'end': '10.0.0.20'},
                       {'start': '10.0.0.20', 'end': '10.0.0.30'}], cidr)
    with pytest.raises(exc.OutOfBoundsAllocationPool):
        v.parse_pools([{'start': '10.0.0.10', 'end': '10.0.0.255'}], cidr)
    with pytest.raises(exc.InvalidAllocationPool):
        v.parse_pools([{'start': '10.0.0.20', 'end': '10.0.0.10'}], cidr)
    with pytest.raises(exc.InvalidInput, match='allocation_pools'):
        v.parse_pools([{'start': '10.0.0.20'}], cidr)
    with pytest.raises(exc.GatewayConflictWithAllocationPools) as info:
        v.check_gateway_not_in_pools(ipaddress.ip_address('10.0.0.15'), ranges)
    assert info.value.status == 409


def test_overlaps():
    v.check_no_overlap(net('10.1.0.0/24'), {'a': '10.0.0.0/24'}, 'n')
    with pytest.raises(exc.InvalidInput, match='overlaps with another subnet'):
        v.check_no_overlap(net('10.0.0.128/25'), {'a': '10.0.0.0/24'}, 'n')
    with pytest.raises(exc.BadRequest, match='overlaps with cidr 10.0.0.0/24'):
        v.check_router_interface_overlap('10.0.0.0/25', 's2', {'s1': '10.0.0.0/24'}, 'r')
    v.check_router_interface_overlap('10.0.0.0/24', 's1', {'s1': '10.0.0.0/24'}, 'r')


@pytest.mark.parametrize('version, addr, ra, ok', [
    (6, 'slaac', 'slaac', True), (6, 'dhcpv6-stateful', None, True),
    (6, None, None, True), (4, 'slaac', None, False), (6, 'bogus', None, False),
    (6, 'slaac', 'dhcpv6-stateful', False),
])
def test_ipv6_modes(version, addr, ra, ok):
    if ok:
        v.check_ipv6_modes(version, addr, ra)
    else:
        with pytest.raises(exc.InvalidInput, match='ipv6_'):
            v.check_ipv6_modes(version, addr, ra)


def test_routes():
    routes = v.parse_routes([{'destination': '172.16.0.0/16', 'nexthop': '10.0.0.5'}], 'routes')
    v.check_router_routes(routes, ['10.0.0.0/24'], 'r')
    with pytest.raises(exc.InvalidRoutes, match='not connected'):
        v.check_router_routes(routes, ['10.1.0.0/24'], 'r')
    with pytest.raises(exc.InvalidInput, match='routes destination'):
        v.parse_routes([{'destination': '172.16.0.1/16', 'nexthop': '10.0.0.5'}], 'routes')
    with pytest.raises(exc.InvalidInput, match='mixes IP versions'):
        v.parse_routes([{'destination': '2001:db8::/64', 'nexthop': '10.0.0.5'}], 'routes')


def test_mac_and_misc():
    assert v.parse_mac('FA:16:3E:00:00:01') == 'fa:16:3e:00:00:01'
    for bad in ('01:00:5e:00:00:01', '00:00:00:00:00:00', 'zz:16:3e:00:00:01', 5):
        with pytest.raises(exc.InvalidInput, match='mac_address'):
            v.parse_mac(bad)
    assert v.parse_bool('True', 'shared') is True
    with pytest.raises(exc.InvalidInput, match='shared'):
        v.parse_bool('maybe', 'shared')
    with pytest.raises(exc.BadRequest, match="Unrecognized attribute"):
        v.check_known_fields({'x': 1}, frozenset({'name'}), 'network')
    assert v.parse_nameservers(['8.8.8.8', '2001:db8::53']) == ['8.8.8.8', '2001:db8::53']
    with pytest.raises(exc.InvalidInput, match='duplicate'):
        v.parse_nameservers(['8.8.8.8', '8.8.8.8'])


def test_unsupported_attributes_accept_only_the_value_shown():
    table = {'port_security_enabled': ((False,), 'no firewall'),
             'security_groups': (([],), 'no firewall'),
             'flavor_id': ((None,), 'no flavors')}
    v.check_unsupported({'port_security_enabled': False, 'security_groups': [],
                         'flavor_id': None, 'name': 'x'}, table, 'port')
    for body, named in (({'port_security_enabled': True}, 'port port_security_enabled'),
                        ({'port_security_enabled': 0}, 'port port_security_enabled'),
                        ({'security_groups': ['default']}, 'port security_groups'),
                        ({'flavor_id': 'f1'}, 'port flavor_id')):
        with pytest.raises(exc.InvalidInput) as err:
            v.check_unsupported(body, table, 'port')
        assert str(err.value).startswith(f'Invalid input for {named}: ')
        assert 'is not supported' in str(err.value)


def test_unrecognized_attributes_are_neutrons_http_bad_request():
    with pytest.raises(exc.HTTPBadRequest, match="Unrecognized attribute\\(s\\) 'a, b'"):
        v.check_known_fields({'a': 1, 'b': 2, 'name': 'x'}, frozenset({'name'}), 'network')
