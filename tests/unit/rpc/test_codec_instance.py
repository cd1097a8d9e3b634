"""The metadata agent's wire: get_ports and get_instance_metadata answers."""

import base64
import ipaddress

import pytest

from agent.rpc import codec
from agent.rpc.codec import WireError
from tests.unit.rpc import payloads as P

ANSWER = {
    'device_id': 'vm-1',
    'instance': {'name': 'web', 'hostname': 'web', 'availability_zone': 'az1',
                 'user_data': base64.b64encode(b'#cloud-config\n').decode(),
                 'public_keys': {'k': 'ssh-ed25519 AAAA t@x'}, 'vendor_data': {'a': 1}},
    'ports': [P.PORT_DICT],
    'networks': {P.NET: {'id': P.NET, 'name': 'n', 'mtu': 1450}},
    'subnets': [dict(P.SUBNET_DICT, dhcp_server='10.0.0.2')],
    'floating_ips': [{'port_id': P.PORT, 'floating_ip_address': '198.51.100.7'}],
}


def test_an_answer_becomes_a_typed_view():
    port = codec.port_from_wire(P.PORT_DICT)
    view = codec.instance_view_from_wire(ANSWER, port, '10.0.0.5')
    assert view.port == port and view.port.project_id == 'p1'
    assert view.port.fixed_ips[0].ip_address == ipaddress.ip_address('10.0.0.5')
    assert view.subnet(P.SUBNET).cidr == ipaddress.ip_network('10.0.0.0/24')
    assert view.dhcp_served == {P.SUBNET}
    assert view.mtu(P.NET) == 1450 and view.public_ipv4 == '198.51.100.7'
    inst = view.instance
    assert inst.user_data == b'#cloud-config\n' and inst.public_keys == (
        ('k', 'ssh-ed25519 AAAA t@x'),)
    assert inst.vendor_data == '{"a": 1}' and inst.project_id == 'p1'   # the port's


def test_an_answer_without_instance_data_has_defaults():
    answer = {'ports': [], 'networks': {}, 'subnets': [], 'floating_ips': []}
    port = codec.port_from_wire(P.PORT_DICT)
    view = codec.instance_view_from_wire(answer, port, '10.0.0.5')
    assert view.ports == (port,) and view.instance.name == ''
    assert view.dhcp_served == frozenset()


@pytest.mark.parametrize('path, value, field, problem', [
    (('instance', 'user_data'), '#!', 'instance.user_data', 'is not base64'),
    (('instance', 'vendor_data'), [1], 'instance.vendor_data', 'is not an object'),
    (('subnets', 0, 'cidr'), '10.0.0.0/33', 'subnets[0].cidr', 'is not a CIDR'),
    (('subnets', 0, 'dhcp_server'), 'x', 'subnets[0].dhcp_server', 'is not an IP address'),
    (('networks', P.NET, 'mtu'), 'big', f'networks.{P.NET}.mtu', 'is not an integer'),
    (('networks',), [], 'networks', 'is not an object'),
    (('floating_ips', 0, 'floating_ip_address'), '198.51.100',
     'floating_ips[0].floating_ip_address', 'is not an IP address'),
])
def test_errors_name_the_field(path, value, field, problem):
    port = codec.port_from_wire(P.PORT_DICT)
    with pytest.raises(WireError) as info:
        codec.instance_view_from_wire(P.mutate(ANSWER, path, value), port, '10.0.0.5')
    err = info.value
    assert err.obj == 'get_instance_metadata reply' and err.field == field
    assert problem in err.problem


def test_get_ports_leaves_a_bad_port_out():
    bad = P.mutate(P.PORT_DICT, ('fixed_ips', 0, 'ip_address'), '10.0.0.300')
    assert codec.ports_from_wire([bad, P.DHCP_PORT_DICT]) == (
        codec.port_from_wire(P.DHCP_PORT_DICT),)
    with pytest.raises(WireError, match=r'get_ports reply: field \(result\): dict is not'):
        codec.ports_from_wire({})
