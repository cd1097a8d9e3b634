import ipaddress
import random

import pytest

from agent.controller import exceptions as exc
from agent.controller import ipam


def net(text):
    return ipaddress.ip_network(text)


def test_default_pools_exclude_gateway():
    cidr = net('10.0.0.0/24')
    assert ipam.default_gateway(cidr) == ipaddress.ip_address('10.0.0.1')
    assert ipam.default_pools(cidr, ipaddress.ip_address('10.0.0.1')) == [
        {'start': '10.0.0.2', 'end': '10.0.0.254'}]
    assert ipam.default_pools(cidr, ipaddress.ip_address('10.0.0.100')) == [
        {'start': '10.0.0.1', 'end': '10.0.0.99'}, {'start': '10.0.0.101', 'end': '10.0.0.254'}]
    assert ipam.default_pools(cidr, None) == [{'start': '10.0.0.1', 'end': '10.0.0.254'}]
    assert ipam.default_pools(net('2001:db8::/64'), ipaddress.ip_address('2001:db8::1')) == [
        {'start': '2001:db8::2', 'end': '2001:db8::ffff:ffff:ffff:ffff'}]


def test_free_addresses_skip_used():
    pools = [{'start': '10.0.0.2', 'end': '10.0.0.5'}, {'start': '10.0.0.10', 'end': '10.0.0.11'}]
    free = [str(ipaddress.ip_address(i)) for i in ipam.free_addresses(
        pools, ['10.0.0.2', '10.0.0.4', '10.0.0.10'])]
    assert free == ['10.0.0.3', '10.0.0.5', '10.0.0.11']


def test_choose_address_and_exhaustion():
    pools = [{'start': '10.0.0.2', 'end': '10.0.0.3'}]
    assert ipam.choose_address('s', 4, pools, ['10.0.0.2']) == '10.0.0.3'
    with pytest.raises(exc.IpAddressGenerationFailure, match='subnet s'):
        ipam.choose_address('s', 4, pools, ['10.0.0.2', '10.0.0.3'])


def test_choose_address_is_fast_on_a_big_range():
    pools = [{'start': '10.0.0.1', 'end': '10.255.255.254'}]
    used = [str(ipaddress.ip_address(int(ipaddress.ip_address('10.0.0.1')) + i))
            for i in range(5000)]
    ip = ipam.choose_address('s', 4, pools, used, random.Random(1))
    assert ip not in used and ip.startswith('10.0.')


def test_choose_v6():
    pools = [{'start': '2001:db8::2', 'end': '2001:db8::ffff'}]
    assert ipam.choose_address('s', 6, pools, [], random.Random(0)).startswith('2001:db8::')


def test_eui64():
    assert ipam.eui64_address(net('2001:db8::/64'), 'fa:16:3e:11:22:33') == \
        '2001:db8::f816:3eff:fe11:2233'
    with pytest.raises(exc.InvalidInput, match='cidr'):
        ipam.eui64_address(net('2001:db8::/80'), 'fa:16:3e:11:22:33')


def test_random_mac_keeps_base_prefix():
    mac = ipam.random_mac('fa:16:3e:00:00:00', random.Random(3))
    assert mac.startswith('fa:16:3e:') and len(mac) == 17
    assert ipam.in_pools(ipaddress.ip_address('10.0.0.3'), [{'start': '10.0.0.2', 'end': '10.0.0.4'}])


def test_lowest_free_address_by_default_and_random_window():
    pools = [{'start': '10.0.0.2', 'end': '10.0.0.254'}]
    assert ipam.choose_address('s', 4, pools, ['10.0.0.2']) == '10.0.0.3'
    picks = {ipam.choose_address('s', 4, pools, [], random.Random(i), window=4) for i in range(40)}
    assert picks == {'10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'}
