"""The codec refuses what could inject lines into dnsmasq's files, whoever sent it
(our controller or Neutron's), and one refused port leaves the network served."""

import copy

import pytest

from agent.rpc import codec, events
from agent.rpc.codec import WireError
from tests.unit.rpc import payloads as P

INJECT = f'x\ntag:subnet-{P.SUBNET},option:dns-server,6.6.6.6'


def _port(**changes):
    port = copy.deepcopy(P.PORT_DICT)
    port.update(changes)
    return port


@pytest.mark.parametrize('opts, field, problem', [
    ([{'opt_name': 'mtu', 'opt_value': INJECT}], 'extra_dhcp_opts[0].opt_value',
     'control characters'),
    ([{'opt_name': 'client-id', 'opt_value': 'x\nfa:16:3e:00:00:01,host-evil,10.0.0.99'}],
     'extra_dhcp_opts[0].opt_value', 'control characters'),
    ([{'opt_name': 'client-id', 'opt_value': '01:aa,host-evil'}],
     'extra_dhcp_opts[0].opt_value', 'without spaces or commas'),
    ([{'opt_name': 'router\ndhcp-option=3,6.6.6.6', 'opt_value': '1'}],
     'extra_dhcp_opts[0].opt_name', 'control characters'),
    ([{'opt_name': {'a': 1}, 'opt_value': '1'}], 'extra_dhcp_opts[0].opt_name',
     'is not a string'),
    ([{'opt_name': 'mtu', 'opt_value': ['1']}], 'extra_dhcp_opts[0].opt_value',
     'is not a string'),
    ([{'opt_name': 'tftp-server', 'opt_value': '1', 'ip_version': 6}],
     'extra_dhcp_opts[0].opt_name', 'is not a DHCPv6 option'),
    ([{'opt_name': 'mtu', 'opt_value': '1', 'ip_version': 5}],
     'extra_dhcp_opts[0].ip_version', 'is not 4 or 6'),
])
def test_port_with_injected_option_is_refused(opts, field, problem):
    with pytest.raises(WireError) as info:
        codec.port_from_wire(_port(extra_dhcp_opts=opts))
    assert info.value.obj == 'port ' + P.PORT and info.value.field == field
    assert problem in info.value.problem


@pytest.mark.parametrize('name, value', [
    ('hostname', 'vm\nfa:16:3e:00:00:01,evil'), ('fqdn', 'vm,evil.example.'),
    ('hostname', 'vm 1'),
])
def test_dns_assignment_names_checked(name, value):
    assignment = [dict(P.PORT_DICT['dns_assignment'][0], **{name: value})]
    with pytest.raises(WireError) as info:
        codec.port_from_wire(_port(dns_assignment=assignment))
    assert info.value.field == f'dns_assignment[0].{name}'


def test_subnet_dns_nameservers_are_addresses():
    subnet = dict(P.SUBNET_DICT, dns_nameservers=['8.8.8.8\ntag:x,option:router,6.6.6.6'])
    with pytest.raises(WireError) as info:
        codec.subnet_from_wire(subnet)
    assert info.value.field == 'dns_nameservers[0]'


def test_accepted_options_keep_their_form():
    port = codec.port_from_wire(_port(extra_dhcp_opts=[
        {'opt_name': 'tag:ipxe,67', 'opt_value': 'http://x/boot.ipxe'},
        {'opt_name': 'dns-server', 'opt_value': '8.8.8.8,1.1.1.1'},
        {'opt_name': '59', 'opt_value': 'tftp://[fd00::9]/b', 'ip_version': 6},
        {'opt_name': 'mtu', 'opt_value': 1400},
        {'opt_name': 'router', 'opt_value': None}]))     # null: no option (Neutron)
    assert [(o.opt_name, o.opt_value, o.ip_version) for o in port.extra_dhcp_opts] == [
        ('tag:ipxe,67', 'http://x/boot.ipxe', 4), ('dns-server', '8.8.8.8,1.1.1.1', 4),
        ('59', 'tftp://[fd00::9]/b', 6), ('mtu', '1400', 4)]


def test_bad_port_is_left_out_of_its_network(caplog):
    info = copy.deepcopy(P.NETWORK_INFO)
    info['ports'][1]['extra_dhcp_opts'] = [{'opt_name': 'mtu', 'opt_value': INJECT}]
    network = codec.network_from_wire(info)
    assert [p.id for p in network.ports] == [P.DHCP_PORT]
    assert len(network.subnets) == 2
    assert f'Refusing port {P.PORT}' in caplog.text
    assert 'ports[1].extra_dhcp_opts[0].opt_value' in caplog.text


def test_port_update_notification_with_injection_is_rejected():
    payload = {'port': _port(extra_dhcp_opts=[{'opt_name': 'mtu', 'opt_value': INJECT}])}
    with pytest.raises(WireError) as info:
        events.dhcp_event_from_wire('port_update_end', payload)
    assert info.value.field == 'payload.port.extra_dhcp_opts[0].opt_value'
