"""OvsDriver.find_ports: several ports of a bridge by name in one read."""

import uuid

import pytest

from agent.drivers.state import BridgeNotFound, PortSpec
from tests.functional.drivers.conftest import port_name

pytestmark = pytest.mark.functional


def test_find_ports_gives_the_named_ports_of_that_bridge_only(ovs, make_bridge):
    bridge, other = make_bridge(), make_bridge()
    mine = [PortSpec(port_name('qr-'), str(uuid.uuid4()), f'fa:16:3e:00:00:0{i}', 3)
            for i in range(2)]
    elsewhere = PortSpec(port_name('qg-'), str(uuid.uuid4()), 'fa:16:3e:00:00:09', None)
    ovs.plug_ports(bridge, mine)
    ovs.plug_ports(other, [elsewhere])
    found = ovs.find_ports(bridge, [s.name for s in mine] + [elsewhere.name, 'qr-nothere'])
    assert sorted(found) == sorted(s.name for s in mine)
    listed = {p.name: p for p in ovs.list_ports(bridge)}
    assert found == listed                            # what a listing says of them
    assert ovs.find_ports(other, [mine[0].name]) == {}
    with pytest.raises(BridgeNotFound):
        ovs.find_ports('br-nothere', [mine[0].name])


def test_a_bridges_members_follow_its_ports_after_the_first_lookup(ovs, make_bridge):
    bridge, other = make_bridge(), make_bridge()
    first = PortSpec(port_name('tap'), str(uuid.uuid4()), 'fa:16:3e:00:01:01', 3)
    ovs.plug_ports(bridge, [first])
    assert ovs.find_port(bridge, first.name).iface_id == first.iface_id
    assert ovs.find_port(other, first.name) is None       # the members of each bridge
    later = PortSpec(port_name('tap'), str(uuid.uuid4()), 'fa:16:3e:00:01:02', 3)
    ovs.plug_ports(bridge, [later])
    assert ovs.find_port(bridge, later.name).iface_id == later.iface_id
    ovs.delete_port(bridge, first.name)
    ovs.plug_ports(other, [first])
    assert ovs.find_port(bridge, first.name) is None
    assert ovs.find_port(other, first.name).iface_id == first.iface_id
    assert ovs.find_port(bridge, later.name) is not None
