"""Golden wire payloads in the shapes of the fact sheet (§2, §3, §4.3)."""

import copy

NET = '6d0fb9d1-8f4e-4c57-a3c0-3f7a2d3ba2a1'
SUBNET = '2c7ad0b2-4a3c-4d7e-9a4f-0c4b6a1e7f10'
SUBNET6 = '9e1b7f0c-3d2a-4f5b-8c6d-1a2b3c4d5e6f'
PORT = 'b1b7c3a4-5d6e-4f70-8a9b-0c1d2e3f4a5b'
DHCP_PORT = 'c2c8d4b5-6e7f-4081-9bac-1d2e3f4a5b6c'
ROUTER = 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f'
EXT_NET = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
EXT_SUBNET = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e'
GW_PORT = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f'
RI_PORT = '3d4e5f6a-7b8c-4d9e-8f1a-2b3c4d5e6f7a'
FIP = '4e5f6a7b-8c9d-4e0f-9a2b-3c4d5e6f7a8b'

SUBNET_DICT = {
    'id': SUBNET, 'network_id': NET, 'name': 'private', 'cidr': '10.0.0.0/24',
    'ip_version': 4, 'gateway_ip': '10.0.0.1', 'enable_dhcp': True,
    'dns_nameservers': ['8.8.8.8'], 'ipv6_address_mode': None, 'ipv6_ra_mode': None,
    'host_routes': [{'destination': '192.168.0.0/24', 'nexthop': '10.0.0.254'}],
    'allocation_pools': [{'start': '10.0.0.2', 'end': '10.0.0.254'}],
    'segment_id': None, 'subnetpool_id': None, 'project_id': 'p1', 'tenant_id': 'p1',
}
SUBNET6_DICT = {
    'id': SUBNET6, 'network_id': NET, 'name': '', 'cidr': 'fd00::/64',
    'ip_version': 6, 'gateway_ip': 'fd00::1', 'enable_dhcp': True,
    'dns_nameservers': [], 'host_routes': [], 'ipv6_address_mode': 'slaac',
    'ipv6_ra_mode': 'slaac',
}
PORT_DICT = {
    'id': PORT, 'network_id': NET, 'name': '', 'mac_address': 'fa:16:3e:aa:bb:cc',
    'admin_state_up': True, 'status': 'ACTIVE', 'device_owner': 'compute:nova',
    'device_id': 'vm-1', 'binding:host_id': 'compute1', 'revision_number': 4,
    'fixed_ips': [{'subnet_id': SUBNET, 'ip_address': '10.0.0.5'}],
    'extra_dhcp_opts': [{'opt_name': 'tftp-server', 'opt_value': '10.0.0.9',
                         'ip_version': 4}],
    'dns_assignment': [{'ip_address': '10.0.0.5', 'hostname': 'host-10-0-0-5',
                        'fqdn': 'host-10-0-0-5.openstacklocal.'}],
    'security_groups': [], 'project_id': 'p1',
}
DHCP_PORT_DICT = {
    'id': DHCP_PORT, 'network_id': NET, 'mac_address': 'fa:16:3e:00:00:01',
    'admin_state_up': True, 'device_owner': 'network:dhcp',
    'device_id': 'dhcpe0130025-5ee5-5094-8d98-24d0a68981b3-' + NET,
    'fixed_ips': [{'subnet_id': SUBNET, 'ip_address': '10.0.0.2'}],
}
NETWORK_INFO = {
    'id': NET, 'project_id': 'p1', 'admin_state_up': True, 'mtu': 1450,
    'subnets': [SUBNET_DICT, SUBNET6_DICT], 'non_local_subnets': [],
    'ports': [DHCP_PORT_DICT, PORT_DICT],
}


def _enriched(port_id, net, subnet, cidr, ip, prefixlen, gw, owner):
    return {
        'id': port_id, 'network_id': net, 'mac_address': 'fa:16:3e:11:22:33',
        'admin_state_up': True, 'device_owner': owner, 'device_id': ROUTER,
        'fixed_ips': [{'subnet_id': subnet, 'ip_address': ip, 'prefixlen': prefixlen}],
        'subnets': [{'id': subnet, 'cidr': cidr, 'gateway_ip': gw,
                     'dns_nameservers': [], 'ipv6_ra_mode': None,
                     'subnetpool_id': None}],
        'extra_subnets': [], 'address_scopes': {'4': None, '6': None}, 'mtu': 1500,
    }


ROUTER_DICT = {
    'id': ROUTER, 'name': 'r1', 'project_id': 'p1', 'admin_state_up': True,
    'status': 'ACTIVE', 'distributed': False, 'ha': False,
    'external_gateway_info': {
        'network_id': EXT_NET, 'enable_snat': True,
        'external_fixed_ips': [{'subnet_id': EXT_SUBNET,
                                'ip_address': '198.51.100.10'}]},
    'gw_port_id': GW_PORT,
    'gw_port': _enriched(GW_PORT, EXT_NET, EXT_SUBNET, '198.51.100.0/24',
                         '198.51.100.10', 24, '198.51.100.1',
                         'network:router_gateway'),
    'enable_snat': True,
    'routes': [{'destination': '172.16.0.0/16', 'nexthop': '10.0.0.254'}],
    '_interfaces': [_enriched(RI_PORT, NET, SUBNET, '10.0.0.0/24', '10.0.0.1', 24,
                              '10.0.0.1', 'network:router_interface')],
    '_floatingips': [{
        'id': FIP, 'tenant_id': 'p1', 'project_id': 'p1',
        'floating_ip_address': '198.51.100.20', 'floating_network_id': EXT_NET,
        'router_id': ROUTER, 'port_id': PORT, 'fixed_ip_address': '10.0.0.5',
        'status': 'DOWN', 'standard_attr_id': 7, 'fixed_ip_address_scope': None}],
}


def copy_of(payload):
    return copy.deepcopy(payload)


def mutate(base, path, value):
    """A copy of ``base`` with ``value`` at ``path`` (KeyError: the key removed)."""
    data = copy_of(base)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data
