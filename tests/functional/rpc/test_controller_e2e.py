"""The real Plugin (SQLite) behind our RPC servers and notifier, with agents on the bus."""

import queue

import pytest

from agent.controller.context import Context
from agent.controller.plugin import Plugin
from agent.controller.rpc_notifier import RpcNotifier
from agent.controller.rpc_server import start_rpc_servers
from agent.rpc import transport
from agent.rpc.agent_bus import AgentBus

pytestmark = pytest.mark.functional

WAIT = 10


class Events:
    def __init__(self):
        self.q = queue.Queue()

    def enqueue(self, event):
        self.q.put(event)

    def wait_for(self, method):
        while True:
            event = self.q.get(timeout=WAIT)
            if event.method == method:
                return event


@pytest.fixture
def controller(make_bus_conf, tmp_path):
    conf = make_bus_conf('controller', server=True)
    conf.set_override('state_path', str(tmp_path))
    notifier = RpcNotifier(conf)
    plugin = Plugin(conf, notifier)
    plugin.migrate()
    servers = start_rpc_servers(conf, plugin)
    yield plugin
    servers.stop(10)
    notifier.close()
    plugin.close()


@pytest.fixture
def agents(make_bus_conf):
    started = []

    def start(kind, host):
        conf = make_bus_conf(host)
        conf.set_override('report_interval', 1, group='AGENT')
        events = Events()
        make = AgentBus.for_dhcp if kind == 'dhcp' else AgentBus.for_l3
        bus = make(conf, events, lambda: {'networks': 0, 'routers': 0}, lambda: None)
        bus.start()
        started.append(bus)
        assert bus.heartbeat.first_report.wait(WAIT)
        return bus, events
    yield start
    for bus in started:
        bus.stop()
    for bus in started:
        bus.join(10)
    assert all(not s for s in (b.servers for b in started))


def test_dhcp_agent_registers_is_notified_and_fetches(controller, agents):
    bus, events = agents('dhcp', 'dhcpE')
    admin = Context.admin()
    [agent] = controller.get_agents(admin)
    assert agent['host'] == bus.conf.host and agent['agent_type'] == 'DHCP agent'
    assert bus.heartbeat.last_result in ('new', 'alive')
    net = controller.create_network(admin, {'name': 'e2e'})
    sub = controller.create_subnet(admin, {'network_id': net['id'], 'ip_version': 4,
                                           'cidr': '10.9.0.0/24'})
    event = events.wait_for('subnet_create_end')
    assert event.network_id == net['id']
    network = bus.dhcp.get_network_info(net['id'])
    assert [s.id for s in network.subnets] == [sub['id']]
    assert [n.id for n in bus.dhcp.get_active_networks_info()] == [net['id']]


def test_l3_agent_gets_router_added_call_and_syncs(controller, agents):
    bus, events = agents('l3', 'l3E')
    admin = Context.admin()
    router = controller.create_router(admin, {'name': 'r-e2e'})
    net = controller.create_network(admin, {})
    sub = controller.create_subnet(admin, {'network_id': net['id'], 'ip_version': 4,
                                           'cidr': '10.8.0.0/24'})
    controller.add_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    assert router['id'] in bus.l3.get_router_ids()
    routers = bus.l3.sync_routers_chunked([router['id']])
    assert routers[0].interfaces[0].fixed_ips[0][2] == sub['id']
    event = events.q.get(timeout=WAIT)
    assert router['id'] in event.router_ids
