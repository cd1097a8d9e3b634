"""What any process on the bus may send the controller is bounded (issue 10 item 4):
report_state over the real bus with an oversized configurations, host or agent type
is refused with a clear log and stores nothing; get_ports with a dict filter gets a
clean error, not a database one; the controller keeps serving."""

import datetime
import logging

import oslo_messaging
import pytest

from agent.controller.context import Context
from agent.controller.notify import RecordingNotifier
from agent.controller.plugin import Plugin
from agent.controller.rpc_server import start_rpc_servers
from agent.rpc import transport

pytestmark = pytest.mark.functional


@pytest.fixture
def controller(make_bus_conf, tmp_path):
    conf = make_bus_conf('controller', server=True)
    conf.set_override('state_path', str(tmp_path))
    plugin = Plugin(conf, RecordingNotifier())
    plugin.migrate()
    servers = start_rpc_servers(conf, plugin)
    yield plugin
    servers.stop(10)
    plugin.close()


@pytest.fixture
def client(make_bus_conf):
    conf = make_bus_conf('evil-agent')
    tr = transport.get_transport(conf)
    yield lambda topic, version: transport.make_rpc_client(tr, topic, version, timeout=10)
    tr.cleanup()


def _state(**changes):
    state = {'binary': 'neutron-dhcp-agent', 'host': 'bounded-host', 'topic': 'dhcp_agent',
             'agent_type': 'DHCP agent', 'configurations': {'networks': 0},
             'start_flag': True}
    state.update(changes)
    return {'agent_state': state}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')


@pytest.mark.parametrize('changes, field', [
    ({'configurations': {'x': 'y' * 10_000_000}}, 'configurations'),
    ({'host': 'h' * 100_000}, 'host'),
    ({'agent_type': 't' * 100_000}, 'agent_type'),
    ({'agent_type': 'Evil agent'}, 'agent_type'),
])
def test_oversized_report_state_is_refused_with_a_clear_log(controller, client, caplog,
                                                            changes, field):
    reports = client('q-reports-plugin', '1.4')
    with caplog.at_level(logging.ERROR, logger='agent.controller.rpc_endpoint'):
        with pytest.raises(oslo_messaging.RemoteError) as info:
            reports.call(transport.admin_context(), 'report_state',
                         agent_state=_state(**changes), time=_now())
    assert info.value.exc_type == 'WireError'
    assert f'agent_state.agent_state.{field}' in info.value.value
    assert f'rejected report_state call: report_state call: field ' \
           f'agent_state.agent_state.{field}' in caplog.text
    assert controller.get_agents(Context.admin()) == []
    # the same agent with a sane report is registered at once
    assert reports.call(transport.admin_context(), 'report_state', agent_state=_state(),
                        time=_now()) == 'new'
    [agent] = controller.get_agents(Context.admin())
    assert agent['host'] == 'bounded-host'


@pytest.mark.parametrize('filters', [{'id': [{'a': 1}]}, {'network_id': [[1]]}, [1],
                                     {'fixed_ips': {'ip_address': [{}]}}])
def test_get_ports_with_a_malformed_filter_gets_a_clean_error(controller, client, filters):
    plugin_rpc = client('q-plugin', '1.0')
    with pytest.raises(oslo_messaging.RemoteError) as info:
        plugin_rpc.call(transport.admin_context(), 'get_ports', filters=filters)
    assert info.value.exc_type == 'WireError' and 'filters' in info.value.value
    assert 'sqlite' not in info.value.value.lower()
    assert plugin_rpc.call(transport.admin_context(), 'get_ports',
                           filters={'device_id': ['x']}) == []
