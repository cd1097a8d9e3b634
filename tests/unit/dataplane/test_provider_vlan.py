"""The tag of a network's ports on a node linked to a physical network, and the
bridge mappings option: tables."""

import pytest

from agent.dataplane.provider_vlan import (
    ProviderNetworkError, parse_bridge_mappings, patch_names, provider_tag)
from agent.model.network import Segment

NET = '11111111-2222-3333-4444-555555555555'
MAPPED = {'physnet1': 'br-phys'}


@pytest.mark.parametrize('segment, mappings, tag', [
    (None, {}, None),                                           # one node: local VLAN
    (Segment('local'), {}, None),
    (Segment('vlan', 'physnet1', 100), {}, None),
    (Segment('vlan', 'physnet1', 100), MAPPED, 100),            # the VLAN on the wire
    (Segment('vlan', 'physnet1', 4094), MAPPED, 4094),
    (Segment('flat', 'physnet1'), MAPPED, 0),                   # untagged
])
def test_tag(segment, mappings, tag):
    assert provider_tag(NET, segment, mappings) == tag


@pytest.mark.parametrize('segment, words', [
    (None, 'type local'),
    (Segment('local'), 'type local'),
    (Segment('flat'), 'type flat without a physical network'),
    (Segment('gre', None, 5), 'type gre'),
    (Segment('vlan', 'physnet2', 100), 'physnet2 is not in [ovs] bridge_mappings'),
    (Segment('vlan', 'physnet1', None), 'segmentation id None'),
    (Segment('vlan', 'physnet1', 4095), 'segmentation id 4095'),
])
def test_refused_on_a_mapped_node_naming_the_network(segment, words):
    with pytest.raises(ProviderNetworkError) as err:
        provider_tag(NET, segment, MAPPED)
    assert NET in str(err.value) and words in str(err.value)


@pytest.mark.parametrize('entries, mappings', [
    ([], {}),
    (['physnet1:br-phys'], {'physnet1': 'br-phys'}),
    ([' physnet1:br-phys '], {'physnet1': 'br-phys'}),
])
def test_bridge_mappings(entries, mappings):
    assert parse_bridge_mappings(entries) == mappings


@pytest.mark.parametrize('entries, words', [
    (['physnet1'], 'is not <physical_network>:<bridge>'),
    ([':br'], 'is not'),
    (['p:'], 'is not'),
    (['p:a:b'], 'is not'),
    (['p:a', 'p:b'], 'mapped twice'),
    (['p:a', 'q:b'], 'more than one physical network'),
    (['p:a-bridge-name-too-long'], 'longer than 15'),
])
def test_bad_bridge_mappings(entries, words):
    with pytest.raises(ProviderNetworkError, match='bridge_mappings') as err:
        parse_bridge_mappings(entries)
    assert words in str(err.value)


def test_patch_names_fit_a_device_name():
    assert patch_names('br-phys') == ('int-br-phys', 'phy-br-phys')
    assert all(len(n) <= 15 for n in patch_names('br-0123456789ab'))
