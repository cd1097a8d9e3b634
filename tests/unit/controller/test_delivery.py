"""The delivery queue: requests never wait, an outage collapses to resyncs sent once back."""

import threading
import time

import pytest

from agent.controller.delivery import AgentTarget, DeliveryFailed, QueuedNotifier, collapse
from agent.controller.notify import RecordingNotifier

WAIT = 10


class FakeBus(RecordingNotifier):
    """Records what the worker sends; ``down`` makes every send fail, ``gate``
    makes every send block until set (a bus that hangs)."""

    def __init__(self):
        super().__init__()
        self.down = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.resyncs = []

    def _record(self, kind, host, method, kwargs):
        self.entered.set()
        self.gate.wait()
        if self.down:
            raise DeliveryFailed('broker unreachable')
        super()._record(kind, host, method, kwargs)

    def resync(self, topic, host):
        if self.down:
            raise DeliveryFailed('broker unreachable')
        self.resyncs.append(AgentTarget(topic, host))


def wait_until(cond, what):
    deadline = time.monotonic() + WAIT
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def bus():
    return FakeBus()


@pytest.fixture
def queued(bus):
    q = QueuedNotifier(bus, size=5, probe_interval=0.05)
    yield q
    q.close()


@pytest.mark.parametrize('targets, new, expected', [
    (set(), ('dhcp', 'a'), {('dhcp', 'a')}),
    ({('dhcp', 'a')}, ('dhcp', 'a'), {('dhcp', 'a')}),
    ({('dhcp', 'a'), ('l3', 'a')}, ('dhcp', None), {('dhcp', None), ('l3', 'a')}),
    ({('dhcp', None)}, ('dhcp', 'b'), {('dhcp', None)}),
    ({('l3', None)}, ('dhcp', 'b'), {('l3', None), ('dhcp', 'b')}),
])
def test_collapse_keeps_one_target_per_agent_and_fanout_covers_its_topic(
        targets, new, expected):
    targets = {AgentTarget(*t) for t in targets}
    collapse(targets, AgentTarget(*new))
    assert targets == {AgentTarget(*t) for t in expected}


def test_target_of_each_notification_kind(queued):
    box = RecordingNotifier()
    box.cast_dhcp('h1', 'port_create_end', {'port': {}})
    box.cast_l3(None, 'router_deleted', router_id='r')
    box.call_l3('h2', 'router_added_to_agent', payload=['r'])
    box.network_update({'id': 'n'})
    assert [AgentTarget.of(n) for n in box.sent] == [
        AgentTarget('dhcp', 'h1'), AgentTarget('l3', None), AgentTarget('l3', 'h2'),
        AgentTarget('l3', None)]


def test_delivers_in_order_off_the_calling_thread(bus, queued):
    queued.cast_dhcp('h1', 'network_create_end', {'network': {'id': 'n'}})
    queued.call_l3('h2', 'router_added_to_agent', payload=['r'])
    queued.network_update({'id': 'n'})
    wait_until(lambda: len(bus.sent) == 3, 'three deliveries')
    assert bus.methods() == ['network_create_end', 'router_added_to_agent', 'network_update']
    assert not queued.in_outage and not bus.resyncs


def test_a_hung_bus_never_blocks_the_caller_and_overflow_collapses(bus, queued):
    bus.gate.clear()                      # the worker hangs in its first send
    queued.cast_dhcp('h0', 'port_create_end', {'port': {'id': 0}})
    assert bus.entered.wait(WAIT)
    started = time.monotonic()
    for i in range(1, 50):
        queued.cast_dhcp(f'h{i % 3}', 'port_create_end', {'port': {'id': i}})
    assert time.monotonic() - started < 1.0
    # 1 in the worker's hands + 5 queued; the rest collapsed to their hosts.
    assert queued.missed() == {AgentTarget('dhcp', 'h0'), AgentTarget('dhcp', 'h1'),
                               AgentTarget('dhcp', 'h2')}
    bus.gate.set()
    wait_until(lambda: len(bus.resyncs) == 3 and not queued.missed(), 'resyncs')
    wait_until(lambda: len(bus.sent) == 6, 'the queued deliveries')
    assert queued.stats.collapsed == 44


def test_outage_collapses_then_resyncs_each_agent_once_back(bus, queued, caplog):
    bus.down = True
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 1}})
    wait_until(lambda: queued.in_outage, 'the outage noticed')
    for i in range(20):
        queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': i}})
        queued.cast_l3('h2', 'routers_updated', routers=['r'])
    queued.cast_l3(None, 'router_deleted', router_id='r')
    wait_until(lambda: queued.missed() == {AgentTarget('dhcp', 'h1'),
                                           AgentTarget('l3', None)}, 'all collapsed')
    time.sleep(0.3)                       # several probes fail meanwhile
    assert bus.sent == [] and bus.resyncs == []
    bus.down = False
    wait_until(lambda: not queued.in_outage, 'the outage over')
    assert sorted(bus.resyncs) == [AgentTarget('dhcp', 'h1'), AgentTarget('l3', None)]
    assert bus.sent == []                 # collapsed, not replayed
    errors = [r for r in caplog.records if 'message bus looks down' in r.getMessage()]
    assert len(errors) == 1               # once per outage, not per message
    assert any('is back' in r.getMessage() for r in caplog.records)
    queued.cast_dhcp('h1', 'port_update_end', {'port': {'id': 1}})
    wait_until(lambda: bus.methods() == ['port_update_end'], 'delivery after the outage')
    assert queued.stats.outages == 1


# -- a request waits (bounded) for its own notifications ---------------------------

def test_wait_sent_returns_once_the_requests_notifications_are_out(bus, queued):
    assert queued.wait_sent(WAIT)             # nothing queued by this thread
    queued.cast_dhcp('h1', 'network_create_end', {'network': {'id': 'n'}})
    queued.cast_dhcp('h1', 'subnet_create_end', {'subnet': {'id': 's'}})
    assert queued.wait_sent(WAIT)
    assert bus.methods() == ['network_create_end', 'subnet_create_end']


def test_wait_sent_counts_only_the_calling_threads_notifications(bus, queued):
    bus.gate.clear()
    other = threading.Thread(
        target=queued.cast_dhcp, args=('h2', 'port_create_end', {'port': {'id': 2}}))
    other.start()
    other.join()
    assert bus.entered.wait(WAIT)             # another thread's send hangs
    started = time.monotonic()
    assert queued.wait_sent(WAIT)             # this one queued nothing: no wait
    assert time.monotonic() - started < 1.0
    bus.gate.set()


def test_wait_sent_is_bounded_on_a_hung_bus(bus, queued):
    bus.gate.clear()
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 1}})
    started = time.monotonic()
    assert not queued.wait_sent(0.2)
    assert 0.15 < time.monotonic() - started < 2.0
    bus.gate.set()
    wait_until(lambda: bus.methods() == ['port_create_end'], 'the delivery')


def test_wait_sent_does_not_wait_during_an_outage(bus, queued):
    bus.down = True
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 1}})
    wait_until(lambda: queued.in_outage, 'the outage noticed')
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 2}})
    started = time.monotonic()
    queued.wait_sent(WAIT)
    assert time.monotonic() - started < 1.0
    bus.down = False


def test_wait_sent_does_not_wait_behind_a_backlog(bus):
    from agent.controller.delivery import SETTLE_AHEAD
    q = QueuedNotifier(bus, size=100, probe_interval=0.05)
    try:
        bus.gate.clear()
        for i in range(SETTLE_AHEAD + 2):     # another client's burst
            threading.Thread(target=q.cast_dhcp,
                             args=('h2', 'port_create_end', {'port': {'id': i}})).start()
        wait_until(lambda: q._queue.qsize() >= SETTLE_AHEAD + 1, 'the backlog queued')
        q.cast_dhcp('h1', 'port_create_end', {'port': {'id': 'mine'}})
        started = time.monotonic()
        assert not q.wait_sent(WAIT)
        assert time.monotonic() - started < 1.0
        bus.gate.set()
        wait_until(lambda: len(bus.sent) == SETTLE_AHEAD + 3, 'every delivery')
    finally:
        bus.gate.set()
        q.close()


def test_wait_sent_does_not_wait_on_a_send_that_hangs_already(bus, queued):
    bus.gate.clear()                          # the bus hangs, no outage noticed yet
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 1}})
    assert not queued.wait_sent(0.2)          # the first request waits its bound
    queued.cast_dhcp('h1', 'port_create_end', {'port': {'id': 2}})
    started = time.monotonic()
    assert not queued.wait_sent(0.2)          # the next ones do not wait again
    assert time.monotonic() - started < 0.1
    bus.gate.set()
    wait_until(lambda: len(bus.sent) == 2, 'the deliveries')
