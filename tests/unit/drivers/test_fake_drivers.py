"""The in-memory fakes behave like the real drivers where planners can tell."""

import inspect
import ipaddress

import pytest

from agent.drivers import Links, LocalVlanAllocator, Netns, Ovs
from agent.drivers.fake import FakeDrivers, FakeLinks, FakeLocalVlans, FakeNetns, FakeOvs
from agent.drivers.link import LinkDriver
from agent.drivers.local_vlan import LocalVlans
from agent.drivers.netns import NetnsDriver
from agent.drivers.ovs import OvsDriver
from agent.drivers.state import (
    DEAD_VLAN, SCOPE_LINK, BridgeNotFound, DeviceNotFound, NamespaceNotEmpty, PortSpec)

NS = 'qdhcp-524952ab-eb76-4838-8490-3a60a5746dcb'
NET = '524952ab-eb76-4838-8490-3a60a5746dcb'
PORT = 'e9f30b29-bfda-4d5e-b6fc-d5be3e94d090'
TAP = 'tape9f30b29-bf'
MAC = 'fa:16:3e:73:4a:f9'


@pytest.fixture
def fake():
    return FakeDrivers.create()


def plug_dhcp_port(fake, tag=5):
    fake.ovs.replace_internal_port('br-int', TAP, PORT, MAC, tag=tag)
    fake.links.set_mac(None, TAP, MAC)
    fake.netns.create(NS)
    fake.links.move_to_namespace(TAP, NS)
    fake.links.set_up(NS, TAP)
    fake.links.set_addresses(NS, TAP, ['192.168.10.2/24', '169.254.169.254/16'])
    fake.links.set_default_gateway(NS, TAP, '192.168.10.1')


def _members(protocol):
    return sorted(n for n, v in vars(protocol).items() if callable(v) and not n.startswith('_'))


def _parameters(fn):
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()
            if p.name != 'self']


@pytest.mark.parametrize('protocol, impl', [
    (Netns, FakeNetns), (Links, FakeLinks), (Ovs, FakeOvs),
    (LocalVlanAllocator, FakeLocalVlans),
    (Netns, NetnsDriver), (Links, LinkDriver), (Ovs, OvsDriver),
    (LocalVlanAllocator, LocalVlans),
], ids=lambda x: x.__name__)
def test_drivers_and_fakes_have_the_protocols_methods(protocol, impl):
    """Every method of the Protocol, with its parameters (names, kinds) in order;
    mypy checks the types where the seams use them (tools/check-types.sh)."""
    assert _members(protocol)
    for name in _members(protocol):
        assert hasattr(impl, name), f'{impl.__name__} has no {name}'
        assert _parameters(getattr(impl, name)) == _parameters(getattr(protocol, name)), name


def test_fake_drivers_as_the_seams_type_them(fake):
    assert fake.protocols() == (fake.netns, fake.links, fake.ovs, fake.vlans)


def test_reference_dhcp_port_sequence(fake):
    plug_dhcp_port(fake)
    state = fake.links.observe_link(NS, TAP)
    assert state.mac == MAC and state.up
    assert {str(a) for a in state.addresses} == {'192.168.10.2/24', '169.254.169.254/16'}
    assert state.broadcast('192.168.10.2/24') == ipaddress.ip_address('192.168.10.255')
    assert fake.links.observe_link(None, TAP) is None
    [default] = [r for r in fake.links.observe_routes(NS) if r.is_default]
    assert default.gateway == ipaddress.ip_address('192.168.10.1') and default.dev == TAP
    [port] = fake.ovs.list_ports('br-int')
    assert (port.iface_id, port.mac, port.tag) == (PORT, MAC, 5)
    assert f'ip -n {NS} addr add 192.168.10.2/24 brd 192.168.10.255 dev {TAP}' in fake.host.log


def test_second_apply_changes_nothing(fake):
    plug_dhcp_port(fake)
    before = len(fake.host.log)
    assert fake.links.set_addresses(NS, TAP, ['192.168.10.2/24', '169.254.169.254/16']) \
        == ([], [])
    assert fake.netns.create(NS) is False
    assert fake.netns.set_sysctls(NS, {'net.ipv4.ip_forward': 1}) == \
        {'net.ipv4.ip_forward': '1'}
    assert fake.netns.set_sysctls(NS, {'net.ipv4.ip_forward': 1}) == {}
    assert len(fake.host.log) == before + 1


def test_set_addresses_is_exact(fake):
    plug_dhcp_port(fake)
    added, removed = fake.links.set_addresses(NS, TAP, ['192.168.10.3/24'])
    assert [str(a) for a in added] == ['192.168.10.3/24']
    assert {str(a) for a in removed} == {'192.168.10.2/24', '169.254.169.254/16'}


def test_gateway_outside_subnets_gets_onlink_route(fake):
    plug_dhcp_port(fake)
    fake.links.set_default_gateway(NS, TAP, '10.9.9.1')
    routes = {str(r.dst): r for r in fake.links.observe_routes(NS)}
    assert routes['10.9.9.1/32'].scope == SCOPE_LINK
    assert str(routes['0.0.0.0/0'].gateway) == '10.9.9.1'


def test_multipath_extra_route(fake):
    plug_dhcp_port(fake)
    fake.links.replace_route(NS, '10.20.0.0/16', nexthops=['192.168.10.5', '192.168.10.6'])
    [route] = [r for r in fake.links.observe_routes(NS) if str(r.dst) == '10.20.0.0/16']
    assert [str(h.gateway) for h in route.nexthops] == ['192.168.10.5', '192.168.10.6']
    fake.links.delete_route(NS, '10.20.0.0/16')
    assert not [r for r in fake.links.observe_routes(NS) if str(r.dst) == '10.20.0.0/16']


def test_namespace_with_devices_refuses_delete(fake):
    plug_dhcp_port(fake)
    with pytest.raises(NamespaceNotEmpty, match=TAP):
        fake.netns.delete(NS)
    fake.ovs.delete_port('br-int', TAP)        # the tap vanishes with its OVS port
    assert fake.links.observe_link(NS, TAP) is None
    assert fake.netns.delete(NS) is True
    assert fake.netns.delete(NS) is False


def test_replacing_a_port_recreates_its_device(fake):
    plug_dhcp_port(fake)
    fake.ovs.replace_internal_port('br-int', TAP, PORT, MAC, tag=7)
    assert fake.links.observe_link(NS, TAP) is None
    assert fake.links.observe_link(None, TAP) is not None
    assert fake.ovs.list_ports('br-int')[0].tag == 7


def test_batch_plug_is_one_transaction(fake):
    specs = [PortSpec(f'tap{i:011d}', f'id{i}', MAC, 1) for i in range(100)]
    fake.ovs.plug_ports('br-int', specs)
    assert fake.ovs.transactions == 1
    assert len(fake.ovs.list_ports('br-int')) == 100
    assert len(fake.links.list_links(None)) == 100


def test_missing_things_raise_named_errors(fake):
    with pytest.raises(DeviceNotFound, match='tapnothere'):
        fake.links.set_up(None, 'tapnothere')
    with pytest.raises(BridgeNotFound, match='br-nope'):
        fake.ovs.list_ports('br-nope')


def test_local_vlans(fake):
    assert fake.vlans.tag_for(NET) == 1
    assert fake.vlans.tag_for('other') == 2
    assert fake.vlans.tag_for(NET) == 1
    fake.vlans.release(NET)
    assert fake.vlans.tag_for('third') == 1
    assert fake.vlans.allocations() == {'other': 2, 'third': 1}


def test_local_vlans_disabled_give_dead_vlan():
    fake = FakeDrivers.create(local_vlan_tagging=False)
    assert fake.vlans.port_tag(NET) == DEAD_VLAN
    fake.ovs.replace_internal_port('br-int', TAP, PORT, MAC, tag=fake.vlans.port_tag(NET))
    assert 'vlan_mode=trunk trunks=4095' in fake.host.log[-1]
