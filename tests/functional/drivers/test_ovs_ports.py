"""OVS bridges, internal ports and local VLANs against the real ovsdb-server/vswitchd."""

import json
import subprocess
import sys
import time
import uuid

import pytest

from agent.drivers import link
from agent.drivers.local_vlan import LocalVlans
from agent.drivers.state import DEAD_VLAN, BridgeNotFound, PortSpec
from tests.functional.drivers.conftest import OVSDB, port_name

pytestmark = pytest.mark.functional


def vsctl(*argv):
    return subprocess.run(['ovs-vsctl', '--timeout=10', *argv], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_bridge_lifecycle(ovs, make_bridge):
    bridge = make_bridge()
    assert ovs.bridge_exists(bridge)
    assert ovs.ensure_bridge(bridge, 'netdev') is False
    assert vsctl('get', 'Bridge', bridge, 'datapath_type') == 'netdev'
    assert ovs.list_ports(bridge) == []
    with pytest.raises(BridgeNotFound, match='br-nothere'):
        ovs.list_ports('br-nothere')


def test_replace_port_recreates_a_stale_one(ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace()
    dev, pid = port_name(), str(uuid.uuid4())
    ovs.replace_internal_port(bridge, dev, pid, 'fa:16:3e:00:00:01', tag=3)
    link.move_to_namespace(dev, ns)
    # a restart that lost track of it plugs it again: the port and its tap are new
    ovs.replace_internal_port(bridge, dev, pid, 'fa:16:3e:00:00:02', tag=4)
    assert link.observe_link(None, dev) is not None
    [port] = ovs.list_ports(bridge)
    assert (port.mac, port.tag) == ('fa:16:3e:00:00:02', 4)
    assert vsctl('get', 'Interface', dev, 'type') == 'internal'
    ovs.delete_port(bridge, dev)
    assert ovs.list_ports(bridge) == []
    ovs.delete_port(bridge, dev)                   # already gone: fine


def test_dead_vlan_port_is_trunk_4095(ovs, make_bridge):
    bridge = make_bridge()
    dev = port_name('qr-')
    ovs.replace_internal_port(bridge, dev, str(uuid.uuid4()), 'fa:16:3e:00:00:01',
                              tag=DEAD_VLAN)
    assert vsctl('get', 'Port', dev, 'tag') == '4095'
    assert vsctl('get', 'Port', dev, 'vlan_mode') == 'trunk'
    assert vsctl('get', 'Port', dev, 'trunks') == '[4095]'
    ovs.set_port_tag(dev, 7)
    assert vsctl('get', 'Port', dev, 'tag') == '7'
    assert vsctl('get', 'Port', dev, 'vlan_mode') == '[]'


def test_batch_of_100_ports_is_one_transaction(ovs, make_bridge):
    bridge = make_bridge()
    specs = [PortSpec(port_name(), str(uuid.uuid4()), 'fa:16:3e:00:01:%02x' % i, 9)
             for i in range(100)]
    started = time.monotonic()
    ovs.plug_ports(bridge, specs)
    elapsed = time.monotonic() - started
    ports = ovs.list_ports(bridge)
    assert [p.name for p in ports] == sorted(s.name for s in specs)
    assert all(p.ofport and p.tag == 9 for p in ports)
    assert all(link.observe_link(None, s.name) for s in specs[:5])
    ovs.plug_ports(bridge, specs[:10])             # replacing stale ones works in a batch too
    assert len(ovs.list_ports(bridge)) == 100
    assert elapsed < 30


def test_find_port_is_the_listing_s_entry_of_that_name_on_that_bridge(ovs, make_bridge):
    bridge, other = make_bridge(), make_bridge()
    specs = [PortSpec(port_name(), str(uuid.uuid4()), 'fa:16:3e:00:02:%02x' % i, 5 + i)
             for i in range(3)]
    ovs.plug_ports(bridge, specs)
    listed = {p.name: p for p in ovs.list_ports(bridge)}
    assert all(ovs.find_port(bridge, s.name) == listed[s.name] for s in specs)
    assert ovs.find_port(other, specs[0].name) is None         # not on that bridge
    assert ovs.find_port(bridge, port_name()) is None          # no such port
    later = PortSpec(port_name(), str(uuid.uuid4()), 'fa:16:3e:00:02:ff', 9)
    ovs.plug_ports(other, [later])                 # after other's ports were looked at
    assert ovs.find_port(other, later.name) == ovs.list_ports(other)[0]
    plain = port_name()
    vsctl('add-port', bridge, plain, '--', 'set', 'Interface', plain, 'type=internal')
    assert ovs.find_port(bridge, plain) is None                # no iface-id: not listed
    with pytest.raises(BridgeNotFound):
        ovs.find_port('br-nothere', specs[0].name)


_ALLOCATE = '''
import json, sys
from agent.drivers.ovs import OvsDriver
from agent.drivers.local_vlan import LocalVlans
sys.stdin.readline()                                   # start together
vlans = LocalVlans(OvsDriver(sys.argv[1]), sys.argv[2])
print(json.dumps({n: vlans.tag_for(n) for n in sys.argv[3:]}))
'''


def test_local_vlans_from_three_processes_are_distinct(ovs, make_bridge):
    bridge = make_bridge()
    shared = str(uuid.uuid4())
    nets = [[str(uuid.uuid4()) for _ in range(8)] + [shared] for _ in range(3)]
    procs = [subprocess.Popen([sys.executable, '-c', _ALLOCATE, OVSDB, bridge, *n],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for n in nets]
    time.sleep(1.0)                                    # both imported and waiting
    for proc in procs:
        proc.stdin.write('go\n')
        proc.stdin.flush()
    results = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    assert results[0][shared] == results[1][shared] == results[2][shared]
    merged = {**results[0], **results[1], **results[2]}
    assert len(merged) == 25 and len(set(merged.values())) == 25   # verified CAS held
    assert sorted(merged.values()) == list(range(1, 26))
    vlans = LocalVlans(ovs, bridge)
    assert vlans.allocations() == merged
    assert vsctl('get', 'Bridge', bridge, f'external_ids:netnode-vlan-{shared}') == \
        f'"{merged[shared]}"'


def test_local_vlan_release_and_reuse(ovs, make_bridge):
    vlans = LocalVlans(ovs, make_bridge())
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert (vlans.tag_for(a), vlans.tag_for(b), vlans.tag_for(a)) == (1, 2, 1)
    vlans.release(a)
    vlans.release(a)
    assert vlans.tag_for(str(uuid.uuid4())) == 1
    assert LocalVlans(ovs, 'br-x', enabled=False).port_tag(a) == DEAD_VLAN
