"""HA routers over the real bus: what an L3 agent gets from sync_routers and sends
with update_ha_routers_states (q-l3-plugin), as Neutron's agent calls them."""

import logging
import time

import oslo_messaging
import pytest

from agent.controller.context import Context
from agent.rpc import transport
from tests.functional.controller.test_plugin_l3_and_agents import l3_state, now_str
from tests.functional.rpc.test_agent_bounds import client, controller  # noqa: F401

pytestmark = pytest.mark.functional

WAIT = 10
PROJECT = Context(project_id='proj-rpc')


@pytest.fixture
def ha_router(controller):  # noqa: F811
    controller.conf.set_override('l3_ha', True)
    for host in ('node-a', 'node-b'):
        controller.report_state(l3_state(host), now_str())
    return controller.create_router(PROJECT, {'name': 'ha-rpc'})


def _states(controller, router_id):
    return {a['host']: a['ha_state'] for a in
            controller.list_l3_agents_hosting_router(Context.admin(), router_id)}


def test_agent_syncs_and_reports_states(controller, client, ha_router):  # noqa: F811
    l3 = client('q-l3-plugin', '1.5')
    ctx = transport.admin_context()
    assert l3.call(ctx, 'get_host_ha_router_count', host='node-a') == 1
    [router] = l3.call(ctx, 'sync_routers', host='node-a', router_ids=[ha_router['id']])
    assert (router['ha'], router['ha_vr_id'], router['_ha_state']) == (True, 1, 'standby')
    port = router['_ha_interface']
    assert (port['device_owner'], port['binding:host_id']) == (
        'network:router_ha_interface', 'node-a')
    assert {'subnets', 'extra_subnets', 'mtu', 'address_scopes',
            'provider:network_type'} <= set(port)
    # A cast, as the agent's batch notifier sends it; applied asynchronously.
    l3.cast(ctx, 'update_ha_routers_states', host='node-a',
            states={ha_router['id']: 'active'})
    deadline = time.monotonic() + WAIT
    while _states(controller, ha_router['id'])['node-a'] != 'active':
        assert time.monotonic() < deadline, 'the state never landed'
        time.sleep(0.1)
    assert _states(controller, ha_router['id']) == {'node-a': 'active', 'node-b': 'standby'}
    [router] = l3.call(ctx, 'sync_routers', host='node-a', router_ids=[ha_router['id']])
    assert router['_ha_state'] == 'active'
    l3.call(ctx, 'update_all_ha_network_port_statuses', host='node-a')


@pytest.mark.parametrize('states, field', [
    (['not', 'a', 'dict'], 'states'),
    ({'not-a-uuid': 'active'}, 'states'),
    ({'ROUTER': 'primary'}, 'states.ROUTER'),        # keepalived's word, not Neutron's
    ({'ROUTER': None}, 'states.ROUTER'),
])
def test_malformed_states_are_refused_naming_the_field(controller, client, ha_router,  # noqa: F811
                                                       caplog, states, field):
    rid = ha_router['id']
    if isinstance(states, dict):
        states = {(rid if k == 'ROUTER' else k): v for k, v in states.items()}
    field = field.replace('ROUTER', rid)
    l3 = client('q-l3-plugin', '1.5')
    with caplog.at_level(logging.ERROR, logger='agent.controller.rpc_endpoint'):
        with pytest.raises(oslo_messaging.RemoteError) as info:
            l3.call(transport.admin_context(), 'update_ha_routers_states',
                    host='node-a', states=states)
    assert info.value.exc_type == 'WireError' and f'field {field}' in info.value.value
    assert 'rejected update_ha_routers_states call' in caplog.text
    assert _states(controller, rid) == {'node-a': 'standby', 'node-b': 'standby'}


def test_unknown_router_is_skipped_with_a_warning(controller, client, ha_router,  # noqa: F811
                                                  caplog):
    stranger = '0b7f3e1c-2d9a-4c55-9e0e-6f1d2a3b4c5d'
    l3 = client('q-l3-plugin', '1.5')
    with caplog.at_level(logging.WARNING, logger='agent.controller.plugin'):
        l3.call(transport.admin_context(), 'update_ha_routers_states', host='node-b',
                states={stranger: 'active', ha_router['id']: 'active'})
    assert f'no HA router {stranger} on its L3 agent' in caplog.text
    assert _states(controller, ha_router['id'])['node-b'] == 'active'
