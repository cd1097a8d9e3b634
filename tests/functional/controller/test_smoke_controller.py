import pytest

pytestmark = pytest.mark.functional


def test_network_subnet_port(plugin, admin):
    net = plugin.create_network(admin, {'name': 'n1'})
    sub = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.0.0.0/24',
                                       'ip_version': 4})
    assert sub['gateway_ip'] == '10.0.0.1'
    port = plugin.create_port(admin, {'network_id': net['id']})
    assert port['fixed_ips'][0]['subnet_id'] == sub['id']
    assert plugin.get_network(admin, net['id'])['subnets'] == [sub['id']]
