"""network_vlan_ranges as ML2 writes them, and which networks stay on one node."""

import types

import pytest

from agent.controller.segments import is_node_local, parse_vlan_ranges


@pytest.mark.parametrize('entries, ranges', [
    ([], {}),
    (['physnet1'], {'physnet1': ()}),
    (['physnet1:100:199'], {'physnet1': ((100, 199),)}),
    (['physnet1:100:199', 'physnet1:300:300', 'physnet2'],
     {'physnet1': ((100, 199), (300, 300)), 'physnet2': ()}),
])
def test_vlan_ranges(entries, ranges):
    assert parse_vlan_ranges(entries) == ranges


@pytest.mark.parametrize('entry', ['', ':1:2', 'p:1', 'p:a:b', 'p:0:10', 'p:10:4095',
                                   'p:20:10'])
def test_bad_vlan_ranges(entry):
    with pytest.raises(ValueError, match='network_vlan_ranges'):
        parse_vlan_ranges([entry])


MULTI = types.SimpleNamespace(network_vlan_ranges=['physnet1:100:199'])
SINGLE = types.SimpleNamespace(network_vlan_ranges=[])


@pytest.mark.parametrize('conf, kind, physnet, local', [
    (MULTI, 'local', None, True),
    (MULTI, None, None, True),
    (MULTI, 'flat', None, True),
    (MULTI, 'flat', 'physnet1', False),
    (MULTI, 'vlan', 'physnet1', False),
    (SINGLE, 'local', None, False),          # one machine: every agent shares L2
])
def test_node_local(conf, kind, physnet, local):
    assert is_node_local(conf, kind, physnet) is local


def test_provider_strings_are_bounded_by_their_columns():
    from agent.controller.exceptions import InvalidInput
    from agent.controller.segments import assign
    txn = types.SimpleNamespace(conf=None)
    for body, field in (({'provider:network_type': 'x' * 33}, 'provider:network_type'),
                        ({'provider:network_type': 'vlan',
                          'provider:physical_network': 'p' * 65},
                         'provider:physical_network'),
                        ({'provider:network_type': 7}, 'provider:network_type')):
        with pytest.raises(InvalidInput, match=field):
            assign(txn, body, False)
