"""How the agent acts on a route (agent.dhcp.routing, tested as tables in
test_routing): keys onto the queue, assignments, refetches, resyncs."""

from agent.dhcp.agent import DhcpAgent
from agent.dhcp.fetch_waiters import FetchWaiters
from agent.dhcp.state import Assignments, NetworkStates
from agent.model import network as m
from agent.rpc.events import DhcpEvent
from tests.unit.dhcp import golden as g

HOST = 'node1'


class Queue:
    def __init__(self):
        self.keys = []

    def enqueue(self, key, priority=100, reason=''):
        self.keys.append((key, priority, reason))

    def pending_keys(self):
        return set()


class Runner:
    def __init__(self):
        self.requests = []

    def request_full_sync(self, reason):
        self.requests.append(reason)


class Reconciler:
    def __init__(self):
        self.assigned = Assignments()
        self.invalidated = []
        self.fetched = {}
        self.fetch_waiters = FetchWaiters()

    def invalidate(self, network_id):
        self.invalidated.append(network_id)

    def last_fetched(self, network_id):
        return self.fetched.get(network_id)


def agent():
    a = DhcpAgent.__new__(DhcpAgent)
    a.host, a.queue, a.runner = HOST, Queue(), Runner()
    a.networks, a.reconciler = NetworkStates(), Reconciler()
    return a


def test_a_network_event_enqueues_its_key_with_the_priority():
    a = agent()
    a.enqueue(DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID))
    assert a.queue.keys == [(('network', g.NET_ID), 3, 'subnet_create_end')]
    assert g.NET_ID in a.reconciler.assigned
    assert a.reconciler.invalidated == [g.NET_ID]


def test_network_delete_unassigns():
    a = agent()
    a.reconciler.assigned.event(g.NET_ID, True)
    a.enqueue(DhcpEvent('network_delete_end', g.NET_ID, 2))
    assert g.NET_ID not in a.reconciler.assigned
    assert a.queue.keys[0][0] == ('network', g.NET_ID)


def test_agent_updated_and_unknown_subnets_resync_in_full():
    a = agent()
    a.enqueue(DhcpEvent('agent_updated', None, admin_state_up=True))
    a.enqueue(DhcpEvent('subnet_delete_end', None, 4, subnet_id=g.SUBNET_ID))
    assert len(a.runner.requests) == 2 and a.queue.keys == []


def test_a_skipped_create_changes_nothing():
    a = agent()
    a.reconciler.assigned.event(g.NET_ID, True)
    a.reconciler.fetched[g.NET_ID] = g.NETWORK
    a.enqueue(DhcpEvent('network_create_end', g.NET_ID, 0))
    assert a.queue.keys == [] and a.reconciler.invalidated == []


def test_creates_the_last_fetch_lacks_are_acted_on():
    a = agent()
    a.reconciler.assigned.event(g.NET_ID, True)
    a.reconciler.fetched[g.NET_ID] = m.Network(id=g.NET_ID, subnets=(g.subnet(),))
    other_subnet = '0b7c7c52-5d5e-4e4e-9a55-3f1f5b0e7a01'
    a.enqueue(DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=other_subnet))
    a.enqueue(DhcpEvent('port_create_end', g.NET_ID, 5, port=g.VM_PORT,
                        port_id=g.VM_PORT_ID))
    a.enqueue(DhcpEvent('subnet_update_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID))
    # the port waits for the read of the run the subnet queued (the next test)
    assert [k[2] for k in a.queue.keys] == ['subnet_create_end', 'subnet_update_end']
    assert [w.reason for w in a.reconciler.fetch_waiters.read(g.NET_ID, None)] == [
        'port_create_end']


def test_a_network_scheduled_again_after_its_removal_is_acted_on():
    a = agent()
    a.reconciler.fetched[g.NET_ID] = g.NETWORK       # not torn down yet
    a.enqueue(DhcpEvent('network_delete_end', g.NET_ID, 2))
    a.enqueue(DhcpEvent('network_create_end', g.NET_ID, 0))
    assert g.NET_ID in a.reconciler.assigned
    # one run: it serves the network if it reads it, else hands the create on
    assert [k[2] for k in a.queue.keys] == ['network_delete_end']
    assert [w.reason for w in a.reconciler.fetch_waiters.read(g.NET_ID, None)] == [
        'network_create_end']


def test_creates_wait_for_the_read_of_the_run_queued_other_events_do_not():
    """network_create_end queued the run; the rest arrive before it read the network."""
    a = agent()
    a.enqueue(DhcpEvent('network_create_end', g.NET_ID, 0))
    a.enqueue(DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID))
    a.enqueue(DhcpEvent('port_create_end', g.NET_ID, 5, port=g.VM_PORT,
                        port_id=g.VM_PORT_ID))
    a.enqueue(DhcpEvent('subnet_update_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID))
    assert [k[2] for k in a.queue.keys] == ['network_create_end', 'subnet_update_end']
    read = m.Network(id=g.NET_ID, subnets=(g.subnet(),))      # without the VM port
    assert [(w.priority, w.reason) for w in a.reconciler.fetch_waiters.read(g.NET_ID, read)] \
        == [(5, 'port_create_end')]
    a.enqueue(DhcpEvent('port_create_end', g.NET_ID, 5, port=g.VM_PORT,
                        port_id=g.VM_PORT_ID))      # after the read: queued
    assert [k[2] for k in a.queue.keys][-1] == 'port_create_end'


def test_whichever_create_comes_first_queues_the_run_the_other_waits():
    """The RPC server hands a network's two creates to two threads at once."""
    a = agent()
    a.enqueue(DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID))
    a.enqueue(DhcpEvent('network_create_end', g.NET_ID, 0))
    assert [k[2] for k in a.queue.keys] == ['subnet_create_end']
    assert a.reconciler.fetch_waiters.read(g.NET_ID, g.NETWORK) == []
