"""What may reach dnsmasq's files (agent.common.dhcp_fields): tables of values."""

import pytest

from agent.common import dhcp_fields as df

SUBNET = '2c7ad0b2-4a3c-4d7e-9a4f-0c4b6a1e7f10'


@pytest.mark.parametrize('value, version, expected', [
    ('router', 4, 'router'),
    ('dns-server', 6, 'dns-server'),
    ('bootfile-url', 6, 'bootfile-url'),
    ('67', 4, '67'),
    (67, 4, '67'),
    ('254', 4, '254'),
    ('59', 6, '59'),
    ('tag:ipxe,67', 4, 'tag:ipxe,67'),             # Ironic
    ('tag:!ipxe,bootfile-name', 4, 'tag:!ipxe,bootfile-name'),
    ('tag:ipxe6,59', 6, 'tag:ipxe6,59'),
    ('client-id', 4, 'client-id'),
])
def test_option_names_accepted(value, version, expected):
    assert df.opt_name(value, version) == expected


@pytest.mark.parametrize('value, version, problem', [
    ('router\ndhcp-option=3,6.6.6.6', 4, 'control characters'),
    ('router\x00', 4, 'control characters'),
    ({'a': 1}, 4, 'is not a string'),
    (['router'], 4, 'is not a string'),
    (True, 4, 'is not a string'),
    ('', 4, 'is not a DHCPv4 option'),
    ('no-such-option', 4, 'is not a DHCPv4 option'),
    ('router', 6, 'is not a DHCPv6 option'),        # the option6: family
    ('option:router', 4, 'is not a DHCPv4 option'),
    ('0', 4, 'out of 1-254'),
    ('255', 4, 'out of 1-254'),
    ('65536', 6, 'out of 1-65535'),
    ('tag:a b,67', 4, 'the tag must be'),
    ('tag:,67', 4, 'the tag must be'),
    ('tag:a,tag:b,67', 4, 'is not a DHCPv4 option'),
    ('router,6.6.6.6', 4, 'is not a DHCPv4 option'),
    ('x' * 65, 4, 'longer than 64'),
])
def test_option_names_refused(value, version, problem):
    with pytest.raises(df.FieldError, match=problem):
        df.opt_name(value, version)


@pytest.mark.parametrize('value, name, expected', [
    ('1400', 'mtu', '1400'),
    (1400, 'mtu', '1400'),
    ('8.8.8.8,1.1.1.1', 'dns-server', '8.8.8.8,1.1.1.1'),         # commas: lists
    ('10.1.0.0/16,10.0.0.1,0.0.0.0/0,10.0.0.254', 'classless-static-route',
     '10.1.0.0/16,10.0.0.1,0.0.0.0/0,10.0.0.254'),
    ('', 'router', ''),
    ('01:aa:bb', 'client-id', '01:aa:bb'),
    ('ff:00', '61', 'ff:00'),
])
def test_option_values_accepted(value, name, expected):
    assert df.opt_value(value, name) == expected


@pytest.mark.parametrize('value, name, problem', [
    (f'x\ntag:subnet-{SUBNET},option:dns-server,6.6.6.6', 'mtu', 'control characters'),
    ('x\r', 'mtu', 'control characters'),
    ('x\x00y', 'mtu', 'control characters'),
    ('x\x1b', 'mtu', 'control characters'),
    ('x\x85', 'mtu', 'control characters'),
    (['1'], 'mtu', 'is not a string'),
    ({'a': 1}, 'mtu', 'is not a string'),
    (None, 'mtu', 'is not a string'),
    ('x' * 256, 'mtu', 'longer than 255'),
    ('x\nfa:16:3e:00:00:01,host-evil,10.81.0.99', 'client-id', 'control characters'),
    ('01:aa,host-evil', 'client-id', 'without spaces or commas'),
    ('01 aa', '61', 'without spaces or commas'),
    ('', 'client-id', 'without spaces or commas'),
])
def test_option_values_refused(value, name, problem):
    with pytest.raises(df.FieldError, match=problem):
        df.opt_value(value, name)


@pytest.mark.parametrize('value, ok', [
    ('', True), ('vm1', True), ('vm-1.example.org', True), ('vm-1.example.org.', True),
    ('host_1', True), ('a' * 63, True),
    ('vm,1', False), ('vm 1', False), ('vm\n1', False), ('-vm', False), ('vm..org', False),
    ('a' * 64, False), ('.'.join(['a' * 60] * 5), False), (3, False), (None, False),
])
def test_dns_names(value, ok):
    if ok:
        assert df.dns_name(value) == value
    else:
        with pytest.raises(df.FieldError):
            df.dns_name(value)


@pytest.mark.parametrize('value, ok', [
    (4, True), (6, True), ('4', True), ('6', True),
    (5, False), (True, False), ('v4', False), (None, False), ([4], False),
])
def test_ip_version(value, ok):
    if ok:
        assert df.ip_version(value) in (4, 6)
    else:
        with pytest.raises(df.FieldError):
            df.ip_version(value)


@pytest.mark.parametrize('line, ok', [
    ('tag:subnet-x,option:router,10.0.0.1', True),
    ('10.0.0.5\thost-10-0-0-5.openstacklocal host-10-0-0-5', True),
    ('a\nb', False), ('a\rb', False), ('a\x00b', False), ('a\x7fb', False),
])
def test_safe_line(line, ok):
    assert df.safe_line(line) is ok
