import pytest

from agent.rpc import events
from agent.rpc.agent_server import DhcpAgentEndpoint, L3AgentEndpoint
from agent.rpc.codec import WireError
from agent.rpc.transport import DeclaredMethodsPolicy
from tests.unit.rpc import payloads as P


class Recorder:
    def __init__(self):
        self.events = []

    def enqueue(self, event):
        self.events.append(event)


@pytest.mark.parametrize('method, payload, expect', [
    ('network_create_end', {'network': {'id': P.NET}, 'priority': 0},
     events.DhcpEvent('network_create_end', P.NET, 0)),
    ('network_update_end', {'network': {'id': P.NET, 'admin_state_up': False,
                                        'name': 'x'}, 'priority': 1},
     events.DhcpEvent('network_update_end', P.NET, 1, admin_state_up=False)),
    ('network_delete_end', {'network_id': P.NET, 'priority': 2},
     events.DhcpEvent('network_delete_end', P.NET, 2)),
    ('subnet_create_end', {'subnet': P.SUBNET_DICT, 'priority': 3},
     events.DhcpEvent('subnet_create_end', P.NET, 3, subnet_id=P.SUBNET)),
    ('subnet_update_end', {'subnet': P.SUBNET_DICT, 'priority': 3},
     events.DhcpEvent('subnet_update_end', P.NET, 3, subnet_id=P.SUBNET)),
    ('subnet_delete_end', {'subnet_id': P.SUBNET, 'network_id': P.NET, 'priority': 4},
     events.DhcpEvent('subnet_delete_end', P.NET, 4, subnet_id=P.SUBNET)),
    ('subnet_delete_end', {'subnet_id': P.SUBNET},
     events.DhcpEvent('subnet_delete_end', None, 255, subnet_id=P.SUBNET)),
    ('port_delete_end', {'port_id': P.PORT, 'network_id': P.NET,
                         'fixed_ips': [], 'priority': 6},
     events.DhcpEvent('port_delete_end', P.NET, 6, port_id=P.PORT)),
    ('agent_updated', {'admin_state_up': True},
     events.DhcpEvent('agent_updated', None, 255, admin_state_up=True)),
])
def test_dhcp_events(method, payload, expect):
    assert events.dhcp_event_from_wire(method, payload) == expect


def test_port_events_carry_the_port():
    for method, prio in (('port_create_end', 5), ('port_update_end', 6)):
        ev = events.dhcp_event_from_wire(method, {'port': P.PORT_DICT, 'priority': prio})
        assert ev.network_id == P.NET and ev.priority == prio
        assert ev.port.id == P.PORT == ev.port_id


@pytest.mark.parametrize('method, payload, field', [
    ('network_create_end', {'network': {'id': 'x'}}, 'payload.network.id'),
    ('network_create_end', {'priority': 0}, 'payload.network'),
    ('network_update_end', {'network': {'id': P.NET}}, 'payload.network.admin_state_up'),
    ('network_delete_end', {'network_id': P.NET, 'priority': 'high'}, 'payload.priority'),
    ('port_create_end', {'port': dict(P.PORT_DICT, fixed_ips=[{'subnet_id': P.SUBNET,
                                                               'ip_address': 'x'}])},
     'payload.port.fixed_ips[0].ip_address'),
    ('port_delete_end', {'network_id': P.NET}, 'payload.port_id'),
    ('subnet_delete_end', None, 'payload'),
    ('bogus_end', {}, 'method'),
])
def test_dhcp_event_errors_name_field(method, payload, field):
    with pytest.raises(WireError) as info:
        events.dhcp_event_from_wire(method, payload)
    assert info.value.field == field
    assert info.value.obj == f'{method} message'


@pytest.mark.parametrize('method, kwargs, expect', [
    ('routers_updated', {'routers': [P.ROUTER]},
     events.L3Event('routers_updated', (P.ROUTER,))),
    ('routers_updated', {'routers': [{'id': P.ROUTER, 'name': 'r'}]},
     events.L3Event('routers_updated', (P.ROUTER,))),
    ('router_deleted', {'router_id': P.ROUTER},
     events.L3Event('router_deleted', (P.ROUTER,), deleted=True)),
    ('router_added_to_agent', {'payload': [P.ROUTER]},
     events.L3Event('router_added_to_agent', (P.ROUTER,))),
    ('router_removed_from_agent', {'payload': {'router_id': P.ROUTER}},
     events.L3Event('router_removed_from_agent', (P.ROUTER,), deleted=True)),
    ('agent_updated', {'payload': {'admin_state_up': False}},
     events.L3Event('agent_updated', admin_state_up=False)),
    ('network_update', {'network': {'id': P.NET, 'mtu': 1400}},
     events.L3Event('network_update', network_id=P.NET)),
])
def test_l3_events(method, kwargs, expect):
    assert events.l3_event_from_wire(method, kwargs) == expect


@pytest.mark.parametrize('method, kwargs, field', [
    ('routers_updated', {'routers': ['nope']}, 'routers[0]'),
    ('routers_updated', {'routers': [{'name': 'r'}]}, 'routers[0].id'),
    ('routers_updated', {}, 'routers'),
    ('router_deleted', {'router_id': 5}, 'router_id'),
    ('router_removed_from_agent', {'payload': [P.ROUTER]}, 'payload'),
    ('network_update', {'network': {}}, 'network.id'),
])
def test_l3_event_errors_name_field(method, kwargs, field):
    with pytest.raises(WireError) as info:
        events.l3_event_from_wire(method, kwargs)
    assert info.value.field == field


def test_dhcp_endpoint_enqueues_and_drops_malformed(caplog):
    rec = Recorder()
    ep = DhcpAgentEndpoint(rec)
    ep.network_create_end({}, payload={'network': {'id': P.NET}, 'priority': 0})
    ep.port_update_end({}, payload={'port': {'id': P.PORT}})
    ep.network_delete_end({})
    assert [e.method for e in rec.events] == ['network_create_end']
    assert ep.dropped == 2
    assert 'payload.port.network_id' in caplog.text
    assert 'network_delete_end' in caplog.text


def test_l3_endpoint_replies_none_and_drops_malformed(caplog):
    rec = Recorder()
    ep = L3AgentEndpoint(rec)
    assert ep.router_added_to_agent({}, payload=[P.ROUTER]) is None
    ep.routers_updated({}, routers=['bad'])
    ep.router_deleted({}, router_id=P.ROUTER)
    assert [e.method for e in rec.events] == ['router_added_to_agent', 'router_deleted']
    assert ep.dropped == 1 and 'routers[0]' in caplog.text


def test_access_policy_exposes_only_declared_methods():
    policy = DeclaredMethodsPolicy()
    ep = DhcpAgentEndpoint(Recorder())
    assert policy.is_allowed(ep, 'port_create_end')
    assert not policy.is_allowed(ep, '_deliver')
    assert not policy.is_allowed(ep, 'enqueue')
    l3 = L3AgentEndpoint(Recorder())
    assert policy.is_allowed(l3, 'network_update')
    assert not policy.is_allowed(l3, 'port_create_end')
