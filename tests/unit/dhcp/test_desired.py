"""What a network needs on the host: pure tables, no mocks."""

import ipaddress

import pytest

from agent.common import names
from agent.dhcp import desired as want
from agent.dhcp.metadata_access import metadata_access
from agent.dhcp.settings import DnsmasqSettings
from agent.model import network as m
from tests.unit.dhcp import golden as g

HOST = 'node1'
OURS = names.dhcp_port_device_id(HOST, g.NET_ID)
SUB2 = '11111111-2222-4333-8444-555555555555'


def network(*ports, subnets=None, **kw):
    return m.Network(id=g.NET_ID, project_id='p1', mtu=1450,
                     subnets=subnets or (g.subnet(),), ports=tuple(ports), **kw)


def dhcp_port(device_id=OURS, *ips):
    return g.port(g.DHCP_PORT_ID, 'fa:16:3e:73:4a:f9',
                  *(ips or ((g.SUBNET_ID, '192.168.10.2'),)), owner='network:dhcp',
                  device_id=device_id)


def test_new_port_on_every_dhcp_subnet():
    port, req = want.dhcp_port_request(network(), HOST)
    assert port is None
    assert req.method == 'create_dhcp_port'
    assert req.body == {'name': '', 'admin_state_up': True, 'device_id': OURS,
                        'network_id': g.NET_ID, 'project_id': 'p1',
                        'fixed_ips': [{'subnet_id': g.SUBNET_ID}]}


def test_existing_port_is_used_as_is():
    mine = dhcp_port()
    port, req = want.dhcp_port_request(network(mine), HOST)
    assert port == mine and req.method == ''


def test_existing_port_gets_the_new_subnet_and_keeps_its_ip():
    two = (g.subnet(), g.subnet(id=SUB2, cidr=ipaddress.ip_network('10.0.0.0/24'),
                                gateway_ip=None))
    port, req = want.dhcp_port_request(network(dhcp_port(), subnets=two), HOST)
    assert port is None and req.method == 'update_dhcp_port'
    assert req.port_id == g.DHCP_PORT_ID
    assert req.body['fixed_ips'] == [{'subnet_id': g.SUBNET_ID,
                                      'ip_address': '192.168.10.2'},
                                     {'subnet_id': SUB2}]


def test_reserved_port_is_adopted():
    port, req = want.dhcp_port_request(network(dhcp_port('reserved_dhcp_port')), HOST)
    assert (req.method, req.port_id) == ('update_dhcp_port', g.DHCP_PORT_ID)
    assert req.body == {'network_id': g.NET_ID, 'device_id': OURS}


def test_another_agents_port_is_not_ours():
    other = dhcp_port(names.dhcp_port_device_id('node2', g.NET_ID))
    _, req = want.dhcp_port_request(network(other), HOST)
    assert req.method == 'create_dhcp_port'


def test_device_as_in_the_golden_state():
    dev = want.desired_device(network(dhcp_port()), dhcp_port(), 'br-int', 5,
                              DnsmasqSettings())
    assert dev.namespace == 'qdhcp-' + g.NET_ID
    assert dev.name == 'tape9f30b29-bf'
    assert dev.port.tag == 5 and dev.port.mac == 'fa:16:3e:73:4a:f9'
    assert dev.port.external_ids()['iface-id'] == g.DHCP_PORT_ID
    assert dev.mtu == 1450
    assert dev.addresses == {ipaddress.ip_interface('192.168.10.2/24')}
    assert dev.gateways == (ipaddress.ip_address('192.168.10.1'),)


@pytest.mark.parametrize('tagging,manage_tag', [(True, True), (False, False)])
def test_device_marked_ours_and_tag_left_to_an_l2_agent(tagging, manage_tag):
    dev = want.desired_device(network(dhcp_port()), dhcp_port(), 'br-int', 4095,
                              DnsmasqSettings(), HOST, tagging)
    assert dev.port.external_ids()['netnode-owner'] == f'dhcp:{HOST}:{g.NET_ID}'
    assert dev.manage_tag is manage_tag


def test_isolated_metadata_adds_the_metadata_address():
    settings = DnsmasqSettings(enable_isolated_metadata=True)
    net = network(dhcp_port())
    assert metadata_access(net, settings).proxy
    dev = want.desired_device(net, dhcp_port(), 'br-int', 5, settings)
    assert ipaddress.ip_interface('169.254.169.254/16') in dev.addresses


def test_a_router_on_the_gateway_means_no_isolated_metadata():
    router = g.port(g.ROUTER_PORT_ID, 'fa:16:3e:b8:63:26', (g.SUBNET_ID, '192.168.10.1'),
                    owner='network:router_interface')
    settings = DnsmasqSettings(enable_isolated_metadata=True)
    assert not metadata_access(network(dhcp_port(), router), settings).proxy
    assert metadata_access(network(dhcp_port(), router),
                           DnsmasqSettings(force_metadata=True)).proxy


def test_ipv6_address_and_gateway():
    v6 = m.Subnet(id=SUB2, network_id=g.NET_ID, cidr=ipaddress.ip_network('2001:db8::/64'),
                  ip_version=6, gateway_ip=ipaddress.ip_address('2001:db8::1'),
                  ipv6_address_mode='dhcpv6-stateful')
    port = dhcp_port(OURS, (g.SUBNET_ID, '192.168.10.2'), (SUB2, '2001:db8::2'))
    dev = want.desired_device(network(port, subnets=(g.subnet(), v6)), port, 'br-int', 5,
                              DnsmasqSettings())
    assert ipaddress.ip_interface('2001:db8::2/64') in dev.addresses
    assert dev.gateways == (ipaddress.ip_address('192.168.10.1'),
                            ipaddress.ip_address('2001:db8::1'))


def test_wants_dhcp():
    assert want.wants_dhcp(network())
    assert not want.wants_dhcp(None)
    assert not want.wants_dhcp(network(admin_state_up=False))
    assert not want.wants_dhcp(network(subnets=(g.subnet(enable_dhcp=False),)))


def test_dhcp_enabled_view_drops_other_subnets():
    off = g.subnet(id=SUB2, enable_dhcp=False)
    assert want.dhcp_enabled(network(subnets=(g.subnet(), off))).subnets == (g.subnet(),)


def test_dnsmasq_spec_carries_files_and_lease_seed(tmp_path):
    settings = DnsmasqSettings(state_path=str(tmp_path))
    vm = g.port(g.VM_PORT_ID, 'fa:16:3e:b8:c1:5b', (g.SUBNET_ID, '192.168.10.93'))
    spec = want.dnsmasq_spec(network(dhcp_port(), vm), 'tape9f30b29-bf', g.DHCP_PORT_ID,
                             settings)
    files = dict(spec.config_files)
    assert files[f'{tmp_path}/dhcp/{g.NET_ID}/host'] == (
        'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n')
    assert files[f'{tmp_path}/dhcp/{g.NET_ID}/interface'] == 'tape9f30b29-bf'
    assert dict(spec.spawn_files)[f'{tmp_path}/dhcp/{g.NET_ID}/leases'] == (
        '0 fa:16:3e:b8:c1:5b 192.168.10.93 * *\n')
    assert spec.namespace == 'qdhcp-' + g.NET_ID and spec.argv[0] == 'dnsmasq'


def test_ready_ports_skip_dhcp_and_router_ports():
    vm = g.port(g.VM_PORT_ID, 'fa:16:3e:b8:c1:5b', (g.SUBNET_ID, '192.168.10.93'),
                revision_number=3)
    assert want.ready_port_ids(network(dhcp_port(), vm)) == {(g.VM_PORT_ID, 3)}
