"""CRUD, filters and validation of the Plugin, on SQLite and PostgreSQL."""

import pytest

from agent.controller import exceptions as exc
from agent.controller.context import Context

pytestmark = pytest.mark.functional


@pytest.fixture
def net(plugin, admin):
    return plugin.create_network(admin, {'name': 'private', 'project_id': 'p1'})


@pytest.fixture
def subnet(plugin, admin, net):
    return plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.0.0.0/24',
                                        'ip_version': 4, 'project_id': 'p1'})


def test_network_defaults_and_update(plugin, admin, net):
    assert net['mtu'] == 1500
    assert net['router:external'] is False and net['shared'] is False
    assert net['tenant_id'] == net['project_id'] == 'p1'
    assert net['status'] == 'ACTIVE' and net['subnets'] == []
    updated = plugin.update_network(admin, net['id'], {'name': 'renamed', 'mtu': 1400})
    assert updated['name'] == 'renamed' and updated['mtu'] == 1400
    assert updated['revision_number'] == net['revision_number'] + 1
    [fanout] = plugin.notifier.find('network_update')      # ML2's fanout to L3 agents
    assert fanout.host is None and fanout.kwargs['network']['mtu'] == 1400
    with pytest.raises(exc.InvalidInput, match='mtu'):
        plugin.update_network(admin, net['id'], {'mtu': 9000})


def test_subnet_defaults(plugin, admin, net, subnet):
    assert subnet['gateway_ip'] == '10.0.0.1'
    assert subnet['allocation_pools'] == [{'start': '10.0.0.2', 'end': '10.0.0.254'}]
    assert subnet['enable_dhcp'] is True and subnet['subnetpool_id'] is None
    assert plugin.get_network(admin, net['id'])['subnets'] == [subnet['id']]
    nogw = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.1.0.0/29',
                                        'ip_version': 4, 'gateway_ip': None})
    assert nogw['gateway_ip'] is None
    assert nogw['allocation_pools'] == [{'start': '10.1.0.1', 'end': '10.1.0.6'}]


@pytest.mark.parametrize('body, error, text', [
    ({'cidr': '10.0.0.1/24'}, exc.InvalidInput, "Invalid input for cidr: '10.0.0.1/24' has host bits set"),
    ({'cidr': '10.0.0.0/24', 'ip_version': 6}, exc.InvalidInput, 'ip_version'),
    ({'cidr': '10.0.0.0/24', 'gateway_ip': '10.9.0.1'}, exc.InvalidInput, 'gateway_ip'),
    ({'cidr': '10.0.0.0/24', 'allocation_pools': [{'start': '10.0.1.2', 'end': '10.0.1.9'}]},
     exc.OutOfBoundsAllocationPool, 'spans beyond'),
    ({'cidr': '10.0.0.0/24', 'allocation_pools': [{'start': '10.0.0.2', 'end': '10.0.0.9'},
                                                  {'start': '10.0.0.5', 'end': '10.0.0.20'}]},
     exc.OverlappingAllocationPools, 'overlapping'),
    ({'cidr': '10.0.0.0/24', 'allocation_pools': [{'start': '10.0.0.1', 'end': '10.0.0.9'}]},
     exc.GatewayConflictWithAllocationPools, '10.0.0.1'),
    ({'cidr': '10.0.0.0/24', 'ipv6_address_mode': 'slaac'}, exc.InvalidInput, 'ipv6_address_mode'),
    ({'cidr': 'nonsense'}, exc.InvalidInput, 'cidr'),
])
def test_subnet_validation(plugin, admin, net, body, error, text):
    with pytest.raises(error) as info:
        plugin.create_subnet(admin, dict(body, network_id=net['id']))
    assert text in str(info.value)
    assert plugin.get_subnets(admin) == []


def test_overlapping_subnets_in_network(plugin, admin, net, subnet):
    with pytest.raises(exc.InvalidInput, match='overlaps'):
        plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.0.0.128/25',
                                     'ip_version': 4})
    other = plugin.create_network(admin, {'name': 'other'})
    plugin.create_subnet(admin, {'network_id': other['id'], 'cidr': '10.0.0.0/24',
                                 'ip_version': 4})


def test_ipv6_subnet_and_slaac_port(plugin, admin, net):
    v6 = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '2001:db8::/64',
                                      'ip_version': 6, 'ipv6_address_mode': 'slaac',
                                      'ipv6_ra_mode': 'slaac'})
    assert v6['gateway_ip'] == '2001:db8::1'
    port = plugin.create_port(admin, {'network_id': net['id'],
                                      'mac_address': 'fa:16:3e:11:22:33'})
    assert port['fixed_ips'] == [{'subnet_id': v6['id'],
                                  'ip_address': '2001:db8::f816:3eff:fe11:2233'}]


def test_port_fixed_ips_requests(plugin, admin, net, subnet):
    p1 = plugin.create_port(admin, {'network_id': net['id']})
    assert p1['status'] == 'DOWN' and p1['mac_address'].startswith('fa:16:3e:')
    assert p1['fixed_ips'][0]['ip_address'] != subnet['gateway_ip']
    p2 = plugin.create_port(admin, {'network_id': net['id'],
                                    'fixed_ips': [{'ip_address': '10.0.0.50'}]})
    assert p2['fixed_ips'] == [{'subnet_id': subnet['id'], 'ip_address': '10.0.0.50'}]
    with pytest.raises(exc.IpAddressInUse):
        plugin.create_port(admin, {'network_id': net['id'],
                                   'fixed_ips': [{'ip_address': '10.0.0.50'}]})
    with pytest.raises(exc.InvalidIpForNetwork):
        plugin.create_port(admin, {'network_id': net['id'],
                                   'fixed_ips': [{'ip_address': '192.168.0.5'}]})
    with pytest.raises(exc.MacAddressInUse):
        plugin.create_port(admin, {'network_id': net['id'], 'mac_address': p1['mac_address']})
    p3 = plugin.update_port(admin, p2['id'], {'fixed_ips': [{'ip_address': '10.0.0.60'}],
                                              'name': 'moved'})
    assert p3['fixed_ips'][0]['ip_address'] == '10.0.0.60' and p3['name'] == 'moved'
    same = plugin.update_port(admin, p2['id'], {'fixed_ips': [{'subnet_id': subnet['id']}]})
    assert same['fixed_ips'] == p3['fixed_ips']     # subnet-only request keeps the address
    plugin.create_port(admin, {'network_id': net['id'],
                               'fixed_ips': [{'ip_address': '10.0.0.50'}]})


def test_exhaustion(plugin, admin, net):
    sub = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.2.0.0/29',
                                       'ip_version': 4})
    ips = {plugin.create_port(admin, {'network_id': net['id']})['fixed_ips'][0]['ip_address']
           for _ in range(5)}
    assert ips == {f'10.2.0.{i}' for i in range(2, 7)}
    with pytest.raises(exc.IpAddressGenerationFailure, match=sub['id']):
        plugin.create_port(admin, {'network_id': net['id']})
    assert len(plugin.get_ports(admin)) == 5


def test_filters_and_fields(plugin, admin, net, subnet):
    ext = plugin.create_network(admin, {'name': 'public', 'router:external': True})
    assert [n['id'] for n in plugin.get_networks(admin, {'router:external': ['True']})] == [ext['id']]
    assert [n['name'] for n in plugin.get_networks(admin, {'name': ['private']})] == ['private']
    assert plugin.get_networks(admin, fields=['id', 'name'])[0].keys() == {'id', 'name'}
    port = plugin.create_port(admin, {'network_id': net['id'], 'device_id': 'vm1'})
    ip = port['fixed_ips'][0]['ip_address']
    assert [p['id'] for p in plugin.get_ports(admin, {'fixed_ips': [f'ip_address={ip}']})] == [port['id']]
    assert [p['id'] for p in plugin.get_ports(admin, {'device_id': ['vm1']})] == [port['id']]
    assert plugin.get_ports(admin, {'device_id': ['nothing']}) == []
    assert plugin.get_subnets(admin, {'network_id': [net['id']]})[0]['id'] == subnet['id']


def test_project_visibility(plugin, admin, net):
    mine = Context(project_id='p1')
    theirs = Context(project_id='p2')
    assert plugin.get_network(mine, net['id'])['id'] == net['id']
    with pytest.raises(exc.NetworkNotFound):
        plugin.get_network(theirs, net['id'])
    assert plugin.get_networks(theirs) == []
    own = plugin.create_network(theirs, {'name': 'theirs'})
    assert own['project_id'] == 'p2'
    plugin.update_network(admin, net['id'], {'shared': True})
    assert plugin.get_network(theirs, net['id'])['shared'] is True
    with pytest.raises(exc.NetworkNotFound):
        plugin.update_network(theirs, net['id'], {'name': 'hijacked'})
    with pytest.raises(exc.InvalidInput, match='project_id'):
        plugin.create_network(theirs, {'project_id': 'p1'})


def test_not_found_errors(plugin, admin):
    for getter, error in ((plugin.get_network, exc.NetworkNotFound),
                          (plugin.get_subnet, exc.SubnetNotFound),
                          (plugin.get_port, exc.PortNotFound),
                          (plugin.get_router, exc.RouterNotFound),
                          (plugin.get_floatingip, exc.FloatingIPNotFound),
                          (plugin.get_agent, exc.AgentNotFound)):
        with pytest.raises(error) as info:
            getter(admin, '3f1b6c2e-0000-4000-8000-000000000000')
        assert info.value.status == 404 and info.value.type == error.__name__


def test_delete_in_use(plugin, admin, net, subnet):
    port = plugin.create_port(admin, {'network_id': net['id']})
    with pytest.raises(exc.NetworkInUse):
        plugin.delete_network(admin, net['id'])
    with pytest.raises(exc.SubnetInUse):
        plugin.delete_subnet(admin, subnet['id'])
    plugin.delete_port(admin, port['id'])
    plugin.delete_subnet(admin, subnet['id'])
    plugin.delete_network(admin, net['id'])
    assert plugin.get_networks(admin) == []


def test_unknown_attribute(plugin, admin):
    with pytest.raises(exc.BadRequest, match='bogus'):
        plugin.create_network(admin, {'bogus': 1})
