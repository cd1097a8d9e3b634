"""Which taps the DHCP agent may unplug: tables of (tap, assignment, server data) ->
orphan or kept.  Pure, no mocks.  A VM's tap (Nova: ``tap`` + port id) survives
every case."""

import types

import pytest

from agent.common import names
from agent.dhcp import taps
from agent.drivers.state import DEAD_VLAN, OvsPort
from agent.model.network import Network, Port

HOST = 'node-1'
NET = '11111111-1111-4111-8111-111111111111'
OLD = '22222222-2222-4222-8222-222222222222'        # no longer assigned
DHCP_PORT = '33333333-3333-4333-8333-333333333333'
OLD_PORT = '55555555-5555-4555-8555-555555555555'
VM_PORT = '44444444-4444-4444-8444-444444444444'
MAC = 'fa:16:3e:00:00:01'


def tap(port_id, tag=1, owner=None, **extra):
    ids = {'iface-id': port_id, 'iface-status': 'active', 'attached-mac': MAC, **extra}
    if owner is not None:
        ids['netnode-owner'] = owner
    return OvsPort(names.tap_name(port_id), 'br-int', port_id, MAC, tag, 9,
                   types.MappingProxyType(ids))


def dhcp_port(port_id, network_id, host=HOST):
    return Port(port_id, network_id, MAC, device_owner='network:dhcp',
                device_id=names.dhcp_port_device_id(host, network_id))


def test_our_dhcp_ports_are_those_with_this_hosts_device_id():
    network = Network(NET, ports=(
        dhcp_port(DHCP_PORT, NET),
        dhcp_port(OLD_PORT, NET, host='node-2'),                  # another DHCP agent's
        Port(VM_PORT, NET, MAC, device_owner='compute:nova', device_id='vm-1')))
    assert taps.our_dhcp_ports([network], HOST) == {DHCP_PORT: NET}
    assert taps.our_dhcp_ports([], HOST) == {}


ASSIGNED = frozenset({NET})
KNOWN = {DHCP_PORT: NET}
MARK_NET, MARK_OLD = f'dhcp:{HOST}:{NET}', f'dhcp:{HOST}:{OLD}'

# (case, tap, served taps, our DHCP ports known, orphan?)
CASES = [
    ('VM tap bound by the L2 agent', tap(VM_PORT, 1), (), KNOWN, False),
    ('VM tap on the dead VLAN', tap(VM_PORT, DEAD_VLAN), (), KNOWN, False),
    ('VM tap, nothing known (start-up)', tap(VM_PORT, 1), (), {}, False),
    ('VM tap with vm-uuid', tap(VM_PORT, 1, **{'vm-uuid': OLD}), (), KNOWN, False),
    ('our served tap', tap(DHCP_PORT, 1, MARK_NET), ('served',), KNOWN, False),
    ('our tap, start-up: not served yet, network assigned',
     tap(DHCP_PORT, 1, MARK_NET), (), {}, False),
    ('our tap just plugged (port not in the data yet)',
     tap(DHCP_PORT, DEAD_VLAN, MARK_NET), (), {}, False),
    ('our tap of a network no longer assigned', tap(OLD_PORT, 3, MARK_OLD), (), KNOWN,
     True),
    ('another host\'s tap of a network gone here',
     tap(OLD_PORT, 3, f'dhcp:node-2:{OLD}'), (), KNOWN, False),
    ('the L3 agent\'s mark', tap(OLD_PORT, 3, f'l3:{HOST}:{OLD}'), (), KNOWN, False),
    ('unmarked tap of ours (older netnode / Neutron), start-up',
     tap(DHCP_PORT, 1), (), KNOWN, False),
    ('unmarked tap of ours of a network no longer assigned',
     tap(OLD_PORT, 1), (), {OLD_PORT: OLD}, True),
    ('unmarked tap, port unknown', tap(OLD_PORT, 1), (), KNOWN, False),
]


@pytest.mark.parametrize('case,port,served,known,orphan', CASES, ids=[c[0] for c in CASES])
def test_orphan_taps(case, port, served, known, orphan):
    served_taps = frozenset({port.name}) if served else frozenset()
    found = taps.orphan_taps([port], HOST, ASSIGNED, served_taps, known)
    assert found == ((port.name,) if orphan else ())


def test_start_up_on_a_compute_node_unplugs_nothing():
    """The issue's start-up: served taps not yet in the cache, VM taps beside them."""
    ports = [tap(DHCP_PORT, 1, MARK_NET), tap(VM_PORT, 1), tap(OLD_PORT, 1)]
    assert taps.orphan_taps(ports, HOST, ASSIGNED, frozenset(), {}) == ()
    assert taps.orphan_taps(ports, HOST, frozenset(), frozenset(), {}) == (
        tap(DHCP_PORT).name,)
