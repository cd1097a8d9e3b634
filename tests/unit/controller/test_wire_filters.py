from agent.controller import wire

PORT = {'id': 'p1', 'network_id': 'n1', 'admin_state_up': True, 'device_owner': '',
        'fixed_ips': [{'subnet_id': 's1', 'ip_address': '10.0.0.5'}], 'security_groups': ['a']}


def test_matches_scalars_and_booleans():
    assert wire.matches(PORT, {'network_id': ['n1', 'n2']})
    assert not wire.matches(PORT, {'network_id': ['n2']})
    assert wire.matches(PORT, {'admin_state_up': ['True']})
    assert wire.matches(PORT, {'admin_state_up': ['true']})
    assert not wire.matches(PORT, {'admin_state_up': ['False']})
    assert wire.matches(PORT, {'device_owner': ['']})
    assert wire.matches(PORT, {'unknown_field': ['x']})   # ignored, as Neutron does


def test_matches_fixed_ips_and_lists():
    assert wire.matches(PORT, {'fixed_ips': ['ip_address=10.0.0.5']})
    assert wire.matches(PORT, {'fixed_ips': ['subnet_id=s1']})
    assert not wire.matches(PORT, {'fixed_ips': ['ip_address=10.0.0.6']})
    assert wire.matches(PORT, {'fixed_ips': {'ip_address': ['10.0.0.5']}})
    assert wire.matches(PORT, {'fixed_ips': ['ip_address_substr=0.0.5']})
    assert wire.matches(PORT, {'security_groups': ['a']})


def test_select_fields():
    assert wire.select_fields(PORT, ['id', 'nope']) == {'id': 'p1'}
    assert wire.select_fields(PORT, None) is PORT


def test_filters_are_the_attributes_of_each_collection():
    """FILTERS (filter-validation) list exactly the keys the API shows."""
    from agent.controller.db import models
    net = models.Network(id='n', name='', project_id='p', description='',
                         revision_number=0, admin_state_up=True, status='ACTIVE',
                         shared=False, mtu=1500, external=False, network_type='local',
                         availability_zone_hints=[])
    subnet = models.Subnet(id='s', name='', project_id='p', description='',
                           revision_number=0, network_id='n', ip_version=4,
                           cidr='10.0.0.0/24', allocation_pools=[], dns_nameservers=[],
                           host_routes=[], enable_dhcp=True)
    port = models.Port(id='p', name='', project_id='p', description='', revision_number=0,
                       network_id='n', mac_address='fa:16:3e:00:00:01', admin_state_up=True,
                       status='DOWN', device_id='', device_owner='', host='',
                       extra_dhcp_opts=[])
    router = models.Router(id='r', name='', project_id='p', description='',
                           revision_number=0, admin_state_up=True, status='ACTIVE',
                           routes=[], enable_snat=True, availability_zone_hints=[])
    fip = models.FloatingIP(id='f', project_id='p', description='', revision_number=0,
                            floating_ip_address='192.0.2.9', floating_network_id='n',
                            status='DOWN')
    agent = models.Agent(id='a', agent_type='L3 agent', binary='b', host='h', topic='t',
                         admin_state_up=True, configurations={})
    shown = {'networks': wire.network_dict(net, []), 'subnets': wire.subnet_dict(subnet),
             'ports': wire.port_dict(port), 'routers': wire.router_dict(router, None),
             'floatingips': wire.floatingip_dict(fip), 'agents': wire.agent_dict(agent, True)}
    assert set(shown) == set(wire.FILTERS)
    for plural, item in shown.items():
        assert set(item) == wire.FILTERS[plural], plural
        assert 'tags' not in item
