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
