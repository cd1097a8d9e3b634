"""Bounds on what agents send the controller (agent.controller.rpc_bounds), as tables,
through the RPC endpoints (the fake plugin sees only what passed)."""

import pytest

from agent.controller.rpc_server import AgentExtRpcCallback, DhcpRpcCallback, L3RpcCallback
from tests.unit.controller.fakes import RecordingPlugin
from tests.unit.rpc.test_controller_endpoints import raises_wire_error

TIME = '2026-01-01T00:00:00.000000'


def state(**changes):
    s = {'binary': 'neutron-dhcp-agent', 'host': 'h1', 'topic': 'dhcp_agent',
         'agent_type': 'DHCP agent', 'configurations': {'networks': 3}, 'start_flag': True}
    s.update(changes)
    return {'agent_state': s}


@pytest.mark.parametrize('changes', [
    {}, {'agent_type': 'Open vSwitch agent'}, {'agent_type': 'Metadata agent'},
    {'host': 'h' * 255}, {'configurations': {'x': 'y' * 60000}},
    {'resource_versions': {'Port': '1.4'}}, {'availability_zone': 'nova'},
])
def test_report_state_accepted(changes):
    plugin = RecordingPlugin({'report_state': 'new'})
    assert AgentExtRpcCallback(plugin).report_state({}, agent_state=state(**changes),
                                                    time=TIME) == 'new'
    assert len(plugin.calls) == 1


@pytest.mark.parametrize('changes, field, problem', [
    ({'configurations': {'x': 'y' * 10_000_000}}, 'configurations', 'more than 65536'),
    ({'configurations': ['x']}, 'configurations', 'is not an object'),
    ({'resource_versions': {'x': 'y' * 20000}}, 'resource_versions', 'more than 16384'),
    ({'host': 'h' * 100000}, 'host', 'more than 255'),
    ({'host': 'h\nx'}, 'host', 'control characters'),
    ({'binary': 'b' * 256}, 'binary', 'more than 255'),
    ({'topic': 7}, 'topic', 'is not a string'),
    ({'agent_type': 't' * 100000}, 'agent_type', 'is not a known agent type'),
    ({'agent_type': 'Evil agent'}, 'agent_type', 'is not a known agent type'),
    ({'availability_zone': 'z' * 300}, 'availability_zone', 'more than 255'),
])
def test_report_state_refused(changes, field, problem):
    plugin = RecordingPlugin({'report_state': 'new'})
    err = raises_wire_error(AgentExtRpcCallback(plugin).report_state,
                            agent_state=state(**changes), time=TIME)
    assert err.field == f'agent_state.agent_state.{field}' and problem in err.problem
    assert plugin.calls == []


@pytest.mark.parametrize('filters', [
    None, {}, {'device_id': ['x']}, {'network_id': 'n'}, {'admin_state_up': [True]},
    {'fixed_ips': {'ip_address': ['10.0.0.5'], 'subnet_id': ['s']}},
    {'fixed_ips': ['ip_address=10.0.0.5']},
])
def test_filters_accepted(filters):
    plugin = RecordingPlugin({'report_state': 'new'})
    DhcpRpcCallback(plugin).get_ports({}, filters=filters)
    assert plugin.calls[0][2] == {'filters': filters or {}}


@pytest.mark.parametrize('filters, field', [
    ([1], 'filters'),
    ('id=x', 'filters'),
    ({'id': {'a': 1}}, 'filters.id[0]'),
    ({'id': [{'a': 1}]}, 'filters.id[0]'),
    ({'network_id': [[1]]}, 'filters.network_id[0]'),
    ({'id': ['x' * 300]}, 'filters.id[0]'),
    ({'id': ['x'] * 1001}, 'filters.id'),
    ({f'k{i}': ['x'] for i in range(33)}, 'filters'),
    ({'fixed_ips': {'ip_address': [{}]}}, 'filters.fixed_ips.ip_address[0]'),
    ({'fixed_ips': {'mac': ['x']}}, 'filters.fixed_ips'),
])
def test_filters_refused(filters, field):
    plugin = RecordingPlugin({'report_state': 'new'})
    for call in (DhcpRpcCallback(plugin).get_ports, DhcpRpcCallback(plugin).get_networks,
                 L3RpcCallback(plugin).get_networks):
        assert raises_wire_error(call, filters=filters).field == field
    assert plugin.calls == []


def test_fields_must_be_names():
    plugin = RecordingPlugin({'report_state': 'new'})
    assert raises_wire_error(DhcpRpcCallback(plugin).get_networks,
                             fields=[{'a': 1}]).field == 'fields'
    DhcpRpcCallback(plugin).get_networks({}, fields=['id'])
    assert plugin.calls[0][2] == {'filters': {}, 'fields': ['id']}
