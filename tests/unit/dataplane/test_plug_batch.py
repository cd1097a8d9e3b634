"""Concurrent plugs on one bridge share one transaction; a failing batch is retried
port by port so only the bad port's caller fails."""

import threading

import pytest

from agent.dataplane.plug_batch import PlugBatcher
from agent.drivers.fake import FakeDrivers
from agent.drivers.state import DriverError, PortSpec


def spec(i, name=None):
    return PortSpec(name or f'tap{i}', f'id{i}', f'fa:16:3e:00:00:{i:02x}', 1)


class GatedOvs:
    """The fake OVS driver whose first plug blocks until ``gate`` is set."""

    def __init__(self, bad=()):
        self.fake = FakeDrivers.create()
        self.fake.ovs.ensure_bridge('br-int')
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = []
        self.bad = set(bad)

    def plug_ports(self, bridge, specs, wait=True):
        self.calls.append([s.name for s in specs])
        if len(self.calls) == 1:
            self.entered.set()
            assert self.gate.wait(5)
        if self.bad & {s.name for s in specs}:
            raise DriverError('bad port')
        self.fake.ovs.plug_ports(bridge, specs, wait)

    def list_ports(self, bridge):
        return self.fake.ovs.list_ports(bridge)


def plug_concurrently(batcher, ovs, specs):
    errors = {}

    def run(s):
        try:
            batcher.plug_ports('br-int', [s])
        except DriverError as exc:
            errors[s.name] = exc

    first = threading.Thread(target=run, args=(specs[0],))
    first.start()
    assert ovs.entered.wait(5)
    rest = [threading.Thread(target=run, args=(s,)) for s in specs[1:]]
    for t in rest:
        t.start()
    while sum(len(r) for r in batcher._pending.values()) < len(rest):
        threading.Event().wait(0.001)
    ovs.gate.set()
    for t in [first, *rest]:
        t.join(5)
    return errors


def test_a_lone_plug_goes_straight_through():
    ovs = GatedOvs()
    ovs.gate.set()
    batcher = PlugBatcher(ovs)
    batcher.plug_ports('br-int', [spec(1)])
    batcher.plug_ports('br-int', [])
    assert ovs.calls == [['tap1']] and batcher.batches == 1
    assert [p.name for p in batcher.list_ports('br-int')] == ['tap1']   # delegated


def test_plugs_arriving_during_a_plug_share_the_next_transaction():
    ovs = GatedOvs()
    batcher = PlugBatcher(ovs)
    assert plug_concurrently(batcher, ovs, [spec(i) for i in range(1, 6)]) == {}
    assert ovs.calls[0] == ['tap1']
    assert sorted(ovs.calls[1]) == ['tap2', 'tap3', 'tap4', 'tap5'] and len(ovs.calls) == 2
    assert {p.name for p in ovs.list_ports('br-int')} == {f'tap{i}' for i in range(1, 6)}


def test_a_failing_batch_is_retried_one_by_one_and_fails_only_its_caller():
    ovs = GatedOvs(bad={'tap3'})
    batcher = PlugBatcher(ovs)
    errors = plug_concurrently(batcher, ovs, [spec(i) for i in range(1, 5)])
    assert set(errors) == {'tap3'}
    assert {p.name for p in ovs.list_ports('br-int')} == {'tap1', 'tap2', 'tap4'}


def test_the_same_name_twice_is_not_merged_into_one_transaction():
    ovs = GatedOvs()
    batcher = PlugBatcher(ovs)
    assert plug_concurrently(batcher, ovs, [spec(1), spec(2, 'tapx'), spec(3, 'tapx')]) == {}
    assert all(len(c) == 1 for c in ovs.calls) and len(ovs.calls) == 3


def test_an_error_of_a_lone_plug_reaches_its_caller():
    ovs = GatedOvs(bad={'tap1'})
    ovs.gate.set()
    with pytest.raises(DriverError):
        PlugBatcher(ovs).plug_ports('br-int', [spec(1)])
