"""Which OVS ports are ours: tables of (port, agent, known ports) -> resource.  Pure."""

import types

import pytest

from agent.dataplane import ownership as own
from agent.drivers.state import OvsPort, PortSpec

HOST = 'node-1'
NET = '11111111-1111-4111-8111-111111111111'
ROUTER = '22222222-2222-4222-8222-222222222222'
DHCP_PORT = '33333333-3333-4333-8333-333333333333'
VM_PORT = '44444444-4444-4444-8444-444444444444'
MAC = 'fa:16:3e:00:00:01'


def ovs_port(name, iface_id, **extra):
    ids = {'iface-id': iface_id, 'iface-status': 'active', 'attached-mac': MAC, **extra}
    return OvsPort(name, 'br-int', iface_id, MAC, 1, 7, types.MappingProxyType(ids))


def mark(kind, host, resource):
    return {own.OWNER_KEY: own.Owner(kind, host, resource).mark()}


def test_mark_round_trips_and_keeps_a_host_with_colons():
    for host in (HOST, 'compute-1.example.org', 'odd:host'):
        owner = own.Owner(own.DHCP, host, NET)
        assert own.Owner.parse(owner.mark()) == owner
    assert own.Owner(own.L3, HOST, ROUTER).mark() == f'l3:{HOST}:{ROUTER}'


@pytest.mark.parametrize('value', [None, '', 'dhcp', f'dhcp::{NET}', f'nova:{HOST}:{NET}',
                                   f'dhcp:{HOST}:not-a-uuid', f'dhcp:{HOST}:{NET}/x'])
def test_malformed_marks_are_no_owner(value):
    assert own.Owner.parse(value) is None


def test_a_spec_with_an_owner_plugs_it_in_external_ids():
    spec = PortSpec('tap33333333-33', DHCP_PORT, MAC, 4095, f'dhcp:{HOST}:{NET}')
    assert spec.external_ids() == {'iface-id': DHCP_PORT, 'iface-status': 'active',
                                   'attached-mac': MAC,
                                   'netnode-owner': f'dhcp:{HOST}:{NET}'}
    assert 'netnode-owner' not in PortSpec('x', DHCP_PORT, MAC).external_ids()


KNOWN = {DHCP_PORT: NET}
TAP = 'tap33333333-33'
VM_TAP = 'tap44444444-44'

# (case, port, kind, expected resource)
CASES = [
    ('our mark', ovs_port(TAP, DHCP_PORT, **mark(own.DHCP, HOST, NET)), own.DHCP, NET),
    ('our mark, unknown port (being set up)',
     ovs_port(TAP, VM_PORT, **mark(own.DHCP, HOST, NET)), own.DHCP, NET),
    ('another host\'s mark', ovs_port(TAP, DHCP_PORT, **mark(own.DHCP, 'node-2', NET)),
     own.DHCP, None),
    ('the L3 agent\'s mark, asked for DHCP',
     ovs_port('qr-22222222-22', DHCP_PORT, **mark(own.L3, HOST, ROUTER)), own.DHCP, None),
    ('the L3 agent\'s mark', ovs_port('qr-22222222-22', VM_PORT,
                                      **mark(own.L3, HOST, ROUTER)), own.L3, ROUTER),
    ('unmarked, a DHCP port of ours (older netnode, Neutron)', ovs_port(TAP, DHCP_PORT),
     own.DHCP, NET),
    ('unmarked VM tap (Nova: tap + port id)', ovs_port(VM_TAP, VM_PORT), own.DHCP, None),
    ('VM tap with a vm-uuid', ovs_port(VM_TAP, VM_PORT, **{'vm-uuid': ROUTER}),
     own.DHCP, None),
    ('malformed mark on a known port', ovs_port(TAP, DHCP_PORT, **{own.OWNER_KEY: 'x'}),
     own.DHCP, None),
]


@pytest.mark.parametrize('case,port,kind,expected', CASES, ids=[c[0] for c in CASES])
def test_resource_of(case, port, kind, expected):
    assert own.resource_of(port, kind, HOST, KNOWN) == expected


def test_unmarked_port_without_attached_mac_is_not_an_interface_driver_port():
    port = OvsPort(TAP, 'br-int', DHCP_PORT, None, 1, 7,
                   types.MappingProxyType({'iface-id': DHCP_PORT}))
    assert own.resource_of(port, own.DHCP, HOST, KNOWN) is None


def test_only_local_vlan_tagging_manages_the_l2_agents_fields():
    assert own.manages_l2_fields(True) is True
    assert own.manages_l2_fields(False) is False
