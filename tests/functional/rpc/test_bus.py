"""Agents and controller endpoints over the real RabbitMQ, on a private vhost."""

import queue
import subprocess
import threading

import oslo_messaging
import pytest

from agent.controller.rpc_notifier import RpcNotifier
from agent.controller.rpc_server import start_rpc_servers
from agent.rpc import agent_server, clients, transport
from agent.rpc.heartbeat import AgentIdentity, Heartbeat
from tests.unit.controller.fakes import RecordingPlugin
from tests.unit.rpc import payloads as P

pytestmark = pytest.mark.functional

WAIT = 5


class QueueHandler:
    def __init__(self):
        self.events = queue.Queue()

    def enqueue(self, event):
        self.events.put(event)

    def next(self, timeout=WAIT):
        return self.events.get(timeout=timeout)

    def nothing(self, timeout=0.3):
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError(f'unexpected event {event}')


def recording_plugin():
    return RecordingPlugin({'get_network_info': P.NETWORK_INFO, 'sync_routers': [P.ROUTER_DICT],
                            'get_router_ids': [P.ROUTER], 'report_state': 'new'})


class Stack(list):
    """Teardown callables, run in reverse order; RPC servers stopped together."""

    def __init__(self):
        super().__init__()
        self.servers = []
        self.threads = []     # stopped before the servers

    def server(self, server):
        self.servers.append(server)
        return server


@pytest.fixture
def stack():
    started = Stack()
    yield started
    for stop in started.threads:
        stop()
    transport.stop_rpc_servers(started.servers, 5)
    for stop in reversed(started):
        stop()


def dhcp_agent(make_bus_conf, stack, host):
    conf = make_bus_conf(host)
    trans = transport.get_transport(conf)
    handler = QueueHandler()
    stack.server(agent_server.start_dhcp_agent_server(trans, conf.host, handler))
    stack.append(trans.cleanup)
    return conf, handler


def controller(make_bus_conf, stack, plugin):
    """The controller's RPC servers on the bus, answering from ``plugin``."""
    servers = start_rpc_servers(make_bus_conf('server', server=True), plugin)
    stack.servers += servers
    stack.append(servers.transport.cleanup)
    return plugin


def notifier(make_bus_conf, stack):
    conf = make_bus_conf('controller', server=True)
    n = RpcNotifier(conf)
    stack.append(n.close)
    return n


def test_host_cast_reaches_one_agent_and_fanout_reaches_all(make_bus_conf, stack):
    conf_a, a = dhcp_agent(make_bus_conf, stack, 'hostA')
    conf_b, b = dhcp_agent(make_bus_conf, stack, 'hostB')
    n = notifier(make_bus_conf, stack)
    n.cast_dhcp(conf_a.host, 'network_create_end',
                {'network': {'id': P.NET}, 'priority': 0})
    event = a.next()
    assert event.method == 'network_create_end' and event.network_id == P.NET
    b.nothing()
    n.cast_dhcp(None, 'network_delete_end', {'network_id': P.NET, 'priority': 2})
    assert a.next().method == b.next().method == 'network_delete_end'


def test_malformed_and_unknown_messages_are_dropped(make_bus_conf, stack):
    conf_a, a = dhcp_agent(make_bus_conf, stack, 'hostA')
    n = notifier(make_bus_conf, stack)
    n.cast_dhcp(conf_a.host, 'port_create_end', {'port': {'id': 'bad'}})
    n.cast_dhcp(conf_a.host, 'no_such_method', {})
    n.cast_dhcp(conf_a.host, '_deliver', {})
    n.cast_dhcp(conf_a.host, 'port_create_end', {'port': P.PORT_DICT, 'priority': 5})
    event = a.next()
    assert event.method == 'port_create_end' and event.port.id == P.PORT
    a.nothing()


def test_l3_call_and_network_update_fanout(make_bus_conf, stack):
    conf = make_bus_conf('l3A')
    trans = transport.get_transport(conf)
    handler = QueueHandler()
    stack.servers += agent_server.start_l3_agent_servers(trans, conf.host, handler)
    stack.append(trans.cleanup)
    n = notifier(make_bus_conf, stack)
    n.call_l3(conf.host, 'router_added_to_agent', payload=[P.ROUTER])
    assert handler.next().router_ids == (P.ROUTER,)
    n.cast_l3(conf.host, 'routers_updated', version='1.1', routers=[P.ROUTER])
    assert handler.next().method == 'routers_updated'
    n.network_update({'id': P.NET, 'mtu': 1400})
    assert handler.next().network_id == P.NET


def test_agent_calls_round_trip_to_controller_endpoints(make_bus_conf, stack):
    plugin = recording_plugin()
    controller(make_bus_conf, stack, plugin)
    conf = make_bus_conf('hostA')
    trans = transport.get_transport(conf)
    stack.append(trans.cleanup)
    dhcp = clients.DhcpPluginApi(conf, trans, conf.host)
    network = dhcp.get_network_info(P.NET)
    assert network.id == P.NET and network.port(P.PORT) is not None
    assert plugin.next_call(WAIT) == ('get_network_info', (P.NET, conf.host), {})
    dhcp.dhcp_ready_on_ports([P.PORT])
    assert plugin.next_call(WAIT)[1] == ([P.PORT],)
    l3 = clients.L3PluginApi(conf, trans, conf.host)
    assert [r.id for r in l3.sync_routers_chunked(l3.get_router_ids())] == [P.ROUTER]
    # a malformed call is answered with an error naming the field; still serving
    rpc = clients.BackingOffCaller(transport.make_rpc_client(trans, 'q-plugin'), 5, 5)
    with pytest.raises(oslo_messaging.RemoteError) as info:
        rpc.call('get_network_info', network_id='nope', host=conf.host)
    assert 'network_id' in str(info.value)
    with pytest.raises(oslo_messaging.RemoteError):
        rpc.call('no_such_method')
    assert dhcp.get_network_info(P.NET).id == P.NET


def test_heartbeat_reaches_controller_and_revived_resyncs(make_bus_conf, stack):
    plugin = recording_plugin()
    plugin.in_turn['report_state'] = ['new', 'revived']
    plugin.answers['report_state'] = 'alive'        # from then on
    controller(make_bus_conf, stack, plugin)
    conf = make_bus_conf('hostA')
    trans = transport.get_transport(conf)
    stack.append(trans.cleanup)
    resynced = threading.Event()
    identity = AgentIdentity('neutron-dhcp-agent', 'dhcp_agent', 'DHCP agent', conf.host)
    hb = Heartbeat(clients.ReportStateApi(trans, timeout=5), identity,
                   lambda: {'networks': 2}, interval=0.2, on_resync=resynced.set)
    hb.start()
    stack.threads.append(lambda: (hb.stop(), hb.join(5)))
    assert hb.first_report.wait(WAIT)
    assert resynced.wait(WAIT)
    name, (state, time), _ = plugin.next_call(WAIT)
    assert name == 'report_state' and state['start_flag'] is True
    assert state['host'] == conf.host and state['configurations'] == {'networks': 2}
    assert state['topic'] == 'dhcp_agent' and len(state['uuid']) == 36
    assert time.count('T') == 1


def test_reconnect_is_noticed_and_server_serves_again(make_bus_conf, stack, bus_url):
    conf = make_bus_conf('hostR')
    trans = transport.get_transport(conf)
    handler = QueueHandler()
    reconnected = threading.Event()
    stack.server(agent_server.start_dhcp_agent_server(trans, conf.host, handler,
                                                      on_reconnect=reconnected.set))
    stack.append(trans.cleanup)
    vhost = bus_url.rsplit('/', 1)[-1]
    close_connections(vhost)
    assert reconnected.wait(15)
    n = notifier(make_bus_conf, stack)
    n.cast_dhcp(conf.host, 'agent_updated', {'admin_state_up': True})
    assert handler.next(10).full_resync


def close_connections(vhost):
    subprocess.run(['rabbitmqctl', '-q', 'close_all_connections', '-p', vhost,
                    'netnode test: simulated broker outage'], check=True,
                   capture_output=True, timeout=60)


def test_agent_bus_for_dhcp(make_bus_conf, stack):
    from agent.rpc.agent_bus import AgentBus
    plugin = recording_plugin()
    controller(make_bus_conf, stack, plugin)
    conf = make_bus_conf('hostD')
    conf.set_override('report_interval', 0.5, group='AGENT')
    handler = QueueHandler()
    bus = AgentBus.for_dhcp(conf, handler, lambda: {'networks': 0}, lambda: None)
    bus.start()
    stack.threads.append(lambda: (bus.stop(), bus.join(5)))
    assert bus.heartbeat.first_report.wait(WAIT)
    name, (state, _), _ = plugin.next_call(WAIT)
    assert (name, state['binary'], state['agent_type']) == (
        'report_state', 'neutron-dhcp-agent', 'DHCP agent')
    n = notifier(make_bus_conf, stack)
    n.cast_dhcp(conf.host, 'network_delete_end', {'network_id': P.NET, 'priority': 2})
    assert handler.next().network_id == P.NET
    assert bus.dhcp.get_network_info(P.NET).id == P.NET
