"""One OVS listing shared by reconciles; a touched name forces a fresh one."""

from agent.dataplane.ports import BridgePorts
from agent.drivers.fake import FakeDrivers
from agent.drivers.state import PortSpec


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_listing_is_shared_until_a_port_is_touched_or_the_ttl_passes():
    drivers = FakeDrivers.create()
    clock = Clock()
    ports = BridgePorts(drivers.ovs, 'br-int', ttl=2.0, clock=clock)
    assert ports.snapshot('tap1') == {} and ports.listings == 1
    drivers.ovs.plug_ports('br-int', [PortSpec('tap1', 'id1', 'fa:16:3e:00:00:01', 1)])
    assert ports.snapshot('tap2') == {} and ports.listings == 1      # shared
    ports.touched('tap1')
    assert ports.snapshot('tap2') == {} and ports.listings == 1      # not asked about
    assert set(ports.snapshot('tap1')) == {'tap1'} and ports.listings == 2
    drivers.ovs.plug_ports('br-int', [PortSpec('tap3', 'id3', 'fa:16:3e:00:00:03', 1)])
    clock.now = 3.0
    assert set(ports.snapshot()) == {'tap1', 'tap3'} and ports.listings == 3


def test_reread_touched_reads_only_the_touched_names_again():
    drivers = FakeDrivers.create()
    clock = Clock()
    ports = BridgePorts(drivers.ovs, 'br-int', ttl=2.0, clock=clock, reread_touched=True)
    drivers.ovs.plug_ports('br-int', [PortSpec('tap1', 'id1', 'fa:16:3e:00:00:01', 1)])
    first = ports.snapshot('tap1')
    assert set(first) == {'tap1'} and ports.listings == 1
    drivers.ovs.plug_ports('br-int', [PortSpec('tap2', 'id2', 'fa:16:3e:00:00:02', 1),
                                      PortSpec('tap3', 'id3', 'fa:16:3e:00:00:03', 1)])
    drivers.ovs.delete_port('br-int', 'tap1')
    ports.touched('tap1', 'tap2')
    again = ports.snapshot('tap2')
    assert set(again) == {'tap2'} and (ports.listings, ports.rereads) == (1, 1)
    assert set(first) == {'tap1'}                     # a view handed out stays as it was
    clock.now = 3.0
    assert set(ports.snapshot()) == {'tap2', 'tap3'} and ports.listings == 2
