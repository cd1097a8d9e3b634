"""The DHCP agents' network info, read as Core rows (agent/controller/rowviews.py),
is the same as the wire dicts of the ORM objects: every subnet and port field,
subnets by id, ports by id, each port's addresses in allocation order."""

import pytest
import sqlalchemy as sa

from agent.controller import dhcp_queries
from agent.controller.db import models
from agent.controller.plugin import ADMIN
from tests.functional.controller.test_plugin_l3_and_agents import dhcp_state, now_str

pytestmark = pytest.mark.functional


def _from_orm(plugin, network_id, enable_dhcp_filter=True):
    def fn(t):
        net = t.session.get(models.Network, network_id)
        ports = t.session.scalars(sa.select(models.Port).where(
            models.Port.network_id == network_id).order_by(models.Port.id)).all()
        return dhcp_queries.network_info(net, ports, enable_dhcp_filter)
    return plugin._read(ADMIN, fn)


def test_network_info_rows_match_the_orm_objects(plugin, admin):
    plugin.report_state(dhcp_state('host-a'), now_str())
    net = plugin.create_network(admin, {'name': 'rows'})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.7.0.0/24',
                                 'ip_version': 4, 'dns_nameservers': ['10.7.0.53'],
                                 'host_routes': [{'destination': '10.8.0.0/24',
                                                  'nexthop': '10.7.0.254'}]})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': 'fd07::/64',
                                 'ip_version': 6, 'ipv6_address_mode': 'slaac',
                                 'ipv6_ra_mode': 'slaac'})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '192.168.7.0/24',
                                 'ip_version': 4, 'enable_dhcp': False,
                                 'allocation_pools': [{'start': '192.168.7.10',
                                                       'end': '192.168.7.20'}]})
    for i in range(3):
        plugin.create_port(admin, {'network_id': net['id'], 'name': f'p{i}',
                                   'extra_dhcp_opts': [{'opt_name': 'mtu',
                                                        'opt_value': '1400'}]})
    bare = plugin.create_network(admin, {'name': 'no subnets'})
    plugin.create_port(admin, {'network_id': bare['id'], 'name': 'no address'})

    for network_id in (net['id'], bare['id']):
        info = plugin.get_network_info(network_id, 'host-a')
        assert info == _from_orm(plugin, network_id)
    assert plugin.get_network_info(net['id'], 'host-a')['ports'][0]['fixed_ips']
    assert plugin.get_network_info('no-such-network', 'host-a') is None
    for dhcp_filter in (True, False):
        active = plugin.get_active_networks_info('host-a', enable_dhcp_filter=dhcp_filter)
        assert [n['id'] for n in active] == [net['id']]
        assert active[0] == _from_orm(plugin, net['id'], dhcp_filter)
