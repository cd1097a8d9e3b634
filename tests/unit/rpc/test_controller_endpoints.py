import oslo_messaging
import pytest

from agent.controller.rpc_server import (AgentExtRpcCallback, DhcpRpcCallback,
                                         L3RpcCallback)
from agent.rpc.codec import WireError
from tests.unit.controller.fakes import RecordingPlugin
from tests.unit.rpc import payloads as P


def raises_wire_error(func, **kwargs):
    with pytest.raises(oslo_messaging.ExpectedException) as info:
        func({}, **kwargs)
    err = info.value.exc_info[1]
    assert isinstance(err, WireError)
    return err


def test_dhcp_callback_passes_neutron_kwargs():
    plugin = RecordingPlugin({'report_state': 'new'})
    cb = DhcpRpcCallback(plugin)
    cb.get_active_networks_info({}, host='h', enable_dhcp_filter=False)
    cb.get_network_info({}, network_id=P.NET, host='h')
    cb.create_dhcp_port({}, port={'port': {'network_id': P.NET}}, host='h')
    cb.update_dhcp_port({}, port_id=P.PORT, port={'port': {}}, host='h')
    cb.release_dhcp_port({}, network_id=P.NET, device_id='d', host='h')
    cb.get_dhcp_port({}, port_id=P.PORT)
    cb.dhcp_ready_on_ports({}, port_ids=[P.PORT])
    assert [(c[0], c[1], c[2]) for c in plugin.calls] == [
        ('get_active_networks_info', ('h',), {'enable_dhcp_filter': False}),
        ('get_network_info', (P.NET, 'h'), {}),
        ('create_dhcp_port', ({'port': {'network_id': P.NET}}, 'h'), {}),
        ('update_dhcp_port', (P.PORT, {'port': {}}, 'h'), {}),
        ('release_dhcp_port', (P.NET, 'd', 'h'), {}),
        ('get_dhcp_port', (P.PORT,), {}),
        ('dhcp_ready_on_ports', ([P.PORT],), {}),
    ]


def test_dhcp_callback_rejects_bad_calls_naming_field():
    cb = DhcpRpcCallback(RecordingPlugin({'report_state': 'new'}))
    assert raises_wire_error(cb.get_network_info, network_id='x', host='h').field \
        == 'network_id'
    assert raises_wire_error(cb.dhcp_ready_on_ports, port_ids=[P.PORT, 3]).field \
        == 'port_ids[1]'
    assert raises_wire_error(cb.create_dhcp_port, port={'x': 1}, host='h').field \
        == 'port.port'
    assert raises_wire_error(cb.get_active_networks_info).field == 'host'


def test_l3_callback():
    plugin = RecordingPlugin({'report_state': 'new'})
    cb = L3RpcCallback(plugin)
    cb.get_router_ids({}, host='h')
    cb.sync_routers({}, host='h', router_ids=None)
    cb.sync_routers({}, host='h', router_ids=[P.ROUTER])
    cb.update_floatingip_statuses({}, router_id=P.ROUTER,
                                  fip_statuses={P.FIP: 'ACTIVE'})
    cb.get_host_ha_router_count({}, host='h')
    cb.update_ha_routers_states({}, host='h', states={P.ROUTER: 'active'})
    cb.update_all_ha_network_port_statuses({}, host='h')
    assert [c[:2] for c in plugin.calls] == [
        ('get_router_ids', ('h',)), ('sync_routers', ('h',)),
        ('sync_routers', ('h',)), ('update_floatingip_statuses',
                                   (P.ROUTER, {P.FIP: 'ACTIVE'})),
        ('get_host_ha_router_count', ('h',)),
        ('update_ha_routers_states', ('h', {P.ROUTER: 'active'})),
        ('update_all_ha_network_port_statuses', ('h',))]
    assert plugin.calls[2][2] == {'router_ids': [P.ROUTER]}
    err = raises_wire_error(cb.update_floatingip_statuses, router_id=P.ROUTER,
                            fip_statuses={P.FIP: 'UP'})
    assert err.field == f'fip_statuses.{P.FIP}'


@pytest.mark.parametrize('kwargs,field', [
    ({'states': {P.ROUTER: 'active'}}, 'host'),
    ({'host': 'h'}, 'states'),
    ({'host': 'h', 'states': [P.ROUTER]}, 'states'),
    ({'host': 'h', 'states': {'r1': 'active'}}, 'states'),
    ({'host': 'h', 'states': {P.ROUTER: 'primary'}}, f'states.{P.ROUTER}'),
    ({'host': 'h', 'states': {P.ROUTER: 'ACTIVE'}}, f'states.{P.ROUTER}'),
])
def test_update_ha_routers_states_refuses_malformed_payloads(kwargs, field):
    plugin = RecordingPlugin({'report_state': 'new'})
    err = raises_wire_error(L3RpcCallback(plugin).update_ha_routers_states, **kwargs)
    assert err.field == field and plugin.calls == []


def test_report_state_unwraps_nested_agent_state():
    plugin = RecordingPlugin({'report_state': 'new'})
    cb = AgentExtRpcCallback(plugin)
    state = {'binary': 'neutron-l3-agent', 'host': 'h', 'topic': 'l3_agent',
             'agent_type': 'L3 agent', 'configurations': {}, 'start_flag': True}
    assert cb.report_state({}, agent_state={'agent_state': state},
                           time='2026-01-01T00:00:00.000000') == 'new'
    assert plugin.calls[0][1] == (state, '2026-01-01T00:00:00.000000')
    err = raises_wire_error(cb.report_state, agent_state=state, time='t')
    assert err.field == 'agent_state.agent_state'
