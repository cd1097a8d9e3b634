"""Provider networks on the controller (segments.py) against a real database: VLAN
allocation from network_vlan_ranges, conflicts, and networks confined to one node."""

import pytest

from agent.controller import exceptions as exc
from agent.controller import scheduler
from agent.controller.notify import RecordingNotifier
from agent.controller.plugin import Plugin
from tests.functional.controller.conftest import make_conf

pytestmark = pytest.mark.functional


@pytest.fixture
def multi(tmp_path, db_url):
    conf = make_conf(tmp_path, db_url, network_vlan_ranges=['physnet1:100:101', 'physnet2'],
                     tenant_network_types=['vlan'])
    p = Plugin(conf, RecordingNotifier())
    p.migrate()
    yield p
    p.close()


def provider(kind, physnet=None, seg=None):
    body = {'provider:network_type': kind}
    if physnet:
        body['provider:physical_network'] = physnet
    if seg is not None:
        body['provider:segmentation_id'] = seg
    return body


def test_tenant_networks_take_the_lowest_free_vlan_until_none_is_left(multi, admin):
    first = multi.create_network(admin, {'name': 'a'})
    second = multi.create_network(admin, {'name': 'b'})
    assert [(n['provider:network_type'], n['provider:physical_network'],
             n['provider:segmentation_id']) for n in (first, second)] == [
        ('vlan', 'physnet1', 100), ('vlan', 'physnet1', 101)]
    with pytest.raises(exc.NoNetworkAvailable):
        multi.create_network(admin, {'name': 'c'})
    multi.delete_network(admin, first['id'])
    assert multi.create_network(admin, {})['provider:segmentation_id'] == 100


@pytest.mark.parametrize('body, error, words', [
    (provider('vlan'), exc.InvalidInput, 'needs one'),
    (provider('vlan', 'physnet9', 5), exc.InvalidInput, 'not in network_vlan_ranges'),
    (provider('vlan', 'physnet1', 4095), exc.InvalidInput, '4095 is not an integer between 1 and 4094'),
    (provider('flat', 'physnet1', 3), exc.InvalidInput, 'a flat network has none'),
    (provider('local', 'physnet1'), exc.InvalidInput, 'no physical network'),
    ({'provider:segmentation_id': 3}, exc.InvalidInput, 'required with'),
])
def test_bad_provider_attributes(multi, admin, body, error, words):
    with pytest.raises(error, match=words):
        multi.create_network(admin, body)


def test_a_vlan_or_flat_segment_is_used_once(multi, admin):
    multi.create_network(admin, provider('vlan', 'physnet2', 7))   # no range: given ids
    with pytest.raises(exc.VlanIdInUse, match='VLAN 7 on physical network physnet2'):
        multi.create_network(admin, provider('vlan', 'physnet2', 7))
    assert multi.create_network(admin, provider('vlan', 'physnet1', 7))
    multi.create_network(admin, provider('flat', 'physnet1'))
    with pytest.raises(exc.FlatNetworkInUse):
        multi.create_network(admin, provider('flat', 'physnet1'))


def test_a_network_without_a_physical_network_gets_one_dhcp_agent(multi, admin):
    multi.conf.set_override('dhcp_agents_per_network', 2)
    local = multi.create_network(admin, provider('local'))
    vlan = multi.create_network(admin, {})

    def wanted(net):
        return multi._read(admin, lambda t: scheduler.dhcp_agents_wanted(
            t.session, net['id'], multi.conf))
    assert (wanted(local), wanted(vlan)) == (1, 2)
