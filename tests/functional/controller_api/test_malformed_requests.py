"""No malformed request makes the API answer 500 (issue 10 items 2-3), on SQLite and
PostgreSQL: each answers 4xx naming the field and the server keeps serving."""

import http.client
import json
import uuid

import pytest

pytestmark = pytest.mark.functional


@pytest.fixture(scope='module')
def net(server):
    status, doc = server.call('POST', '/v2.0/networks', {'network': {'name': 'malformed'}})
    assert status == 201, doc
    network = doc['network']
    status, doc = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': network['id'], 'cidr': '10.91.0.0/24', 'ip_version': 4}})
    assert status == 201, doc
    return {'net': network, 'subnet': doc['subnet']}


def _network(**fields):
    return {'network': {'name': 'n', **fields}}


def _vlan(seg, net_type='vlan'):
    return _network(**{'provider:network_type': net_type,
                       'provider:physical_network': 'physnet1',
                       'provider:segmentation_id': seg})


# (what, method, path, body (bytes: sent as is), status, words of the message)
NETWORK_CASES = [
    ('segmentation_id overflow', 'POST', '/v2.0/networks', _vlan(99999999999999999999),
     400, 'provider:segmentation_id'),
    ('VLAN 0', 'POST', '/v2.0/networks', _vlan(0), 400, 'between 1 and 4094'),
    ('VLAN 4095', 'POST', '/v2.0/networks', _vlan(4095), 400, 'between 1 and 4094'),
    ('VNI 2^24', 'POST', '/v2.0/networks', _vlan(2 ** 24, 'vxlan'), 400,
     'between 1 and 16777215'),
    ('segmentation_id string', 'POST', '/v2.0/networks', _vlan('7'), 400,
     'provider:segmentation_id'),
    ('MTU 67', 'POST', '/v2.0/networks', _network(mtu=67), 400, 'mtu'),
    ('MTU 65536', 'POST', '/v2.0/networks', _network(mtu=65536), 400, 'mtu'),
    ('MTU 2^70', 'POST', '/v2.0/networks', _network(mtu=2 ** 70), 400, 'mtu'),
    ('lone surrogate', 'POST', '/v2.0/networks', b'{"network": {"name": "\\ud800"}}', 400,
     'network.name'),
    ('NUL', 'POST', '/v2.0/networks', b'{"network": {"name": "a\\u0000b"}}', 400,
     'network.name'),
    ('NUL in a key', 'POST', '/v2.0/networks', b'{"network": {"na\\u0000me": "a"}}', 400,
     'NUL'),
    ('100000 nested [', 'POST', '/v2.0/networks', b'[' * 100000, 400, 'nested deeper'),
    ('40 nested objects', 'POST', '/v2.0/networks',
     ('{"a":' * 40 + '1' + '}' * 40).encode(), 400, 'nested deeper'),
    ('name a list', 'POST', '/v2.0/networks', _network(name=['x']), 400, 'name'),
    ('hints not strings', 'POST', '/v2.0/networks',
     _network(availability_zone_hints=[{}]), 400, 'availability_zone_hints'),
    ('project_id a list', 'POST', '/v2.0/networks', _network(project_id=[{}]), 400,
     'project_id'),
    ('router hints a number', 'POST', '/v2.0/routers',
     {'router': {'name': 'r', 'availability_zone_hints': 1.5}}, 400,
     'availability_zone_hints'),
]


def _port_cases(net):
    net_id, subnet_id = net['net']['id'], net['subnet']['id']

    def port(**fields):
        return {'port': {'network_id': net_id, **fields}}
    return [
        ('fixed_ips subnet_id list', 'POST', '/v2.0/ports',
         port(fixed_ips=[{'subnet_id': []}]), 400, 'fixed_ips'),
        ('fixed_ips subnet_id object', 'POST', '/v2.0/ports',
         port(fixed_ips=[{'subnet_id': {}}]), 400, 'fixed_ips'),
        ('fixed_ips ip_address list', 'POST', '/v2.0/ports',
         port(fixed_ips=[{'subnet_id': subnet_id, 'ip_address': []}]), 400, 'fixed_ips'),
        ('fixed_ips not a list', 'POST', '/v2.0/ports', port(fixed_ips={'a': 1}), 400,
         'fixed_ips'),
        ('id upper case', 'POST', '/v2.0/ports', port(id=str(uuid.uuid4()).upper()), 400,
         'is not a valid UUID'),
        ('id not a UUID', 'POST', '/v2.0/ports', port(id='../../etc'), 400,
         'is not a valid UUID'),
        ('device_id with a space', 'POST', '/v2.0/ports', port(device_id='a b'), 400,
         'device_id'),
        ('device_id 256 long', 'POST', '/v2.0/ports', port(device_id='d' * 256), 400,
         'device_id'),
        ('device_id an object', 'POST', '/v2.0/ports', port(device_id={}), 400,
         'device_id'),
        ('dns_name', 'POST', '/v2.0/ports', port(dns_name='vm1'), 400, 'dns_name'),
        ('extra_dhcp_opts not a list', 'POST', '/v2.0/ports',
         port(extra_dhcp_opts='mtu=1'), 400, 'extra_dhcp_opts'),
        ('extra_dhcp_opts unknown name', 'POST', '/v2.0/ports',
         port(extra_dhcp_opts=[{'opt_name': 'no-such', 'opt_value': '1'}]), 400,
         'extra_dhcp_opts[0].opt_name'),
        ('extra_dhcp_opts value too long', 'POST', '/v2.0/ports',
         port(extra_dhcp_opts=[{'opt_name': 'mtu', 'opt_value': 'x' * 256}]), 400,
         'extra_dhcp_opts[0].opt_value'),
        ('floating ip dns_name', 'POST', '/v2.0/floatingips',
         {'floatingip': {'floating_network_id': net_id, 'dns_name': 'x'}}, 400, 'dns_name'),
    ]


def _check(server, case):
    what, method, path, body, status, words = case
    got, doc = server.call(method, path, body)
    assert got == status, (what, got, doc)
    assert words in doc['NeutronError']['message'], (what, doc)
    assert server.call('GET', '/v2.0/networks?limit=1')[0] == 200, what


@pytest.mark.parametrize('case', NETWORK_CASES, ids=[c[0] for c in NETWORK_CASES])
def test_malformed_network_requests_answer_400(server, case):
    _check(server, case)


def test_malformed_port_requests_answer_400(server, net):
    for case in _port_cases(net):
        _check(server, case)
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net['net']['id'], 'dns_name': '', 'device_id': '',
        'extra_dhcp_opts': [{'opt_name': 'tag:ipxe,67', 'opt_value': 'http://x/boot.ipxe'},
                            {'opt_name': 'dns-server', 'opt_value': '8.8.8.8,1.1.1.1'},
                            {'opt_name': 'bootfile-url', 'opt_value': 'tftp://[fd00::9]/b',
                             'ip_version': 6},
                            {'opt_name': 'mtu', 'opt_value': None}]}})
    assert status == 201, doc
    assert [o['opt_name'] for o in doc['port']['extra_dhcp_opts']] == [
        'tag:ipxe,67', 'dns-server', 'bootfile-url']
    assert server.call('DELETE', f'/v2.0/ports/{doc["port"]["id"]}')[0] == 204


def test_port_whose_device_names_would_collide_is_refused_with_409(server, net):
    first = str(uuid.uuid4())
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net['net']['id'], 'id': first}})
    assert status == 201, doc
    second = first[:11] + ('e' if first[11] == 'f' else 'f') + first[12:]
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net['net']['id'], 'id': second}})
    assert status == 409 and doc['NeutronError']['type'] == 'DeviceNameInUse', doc
    message = doc['NeutronError']['message']
    assert first in message and second in message and 'qr-' + first[:11] in message
    assert server.call('GET', f'/v2.0/ports/{second}')[0] == 404
    # Ids differing within their first 11 characters are fine.
    third = first[:10] + ('e' if first[10] == 'f' else 'f') + first[11:]
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net['net']['id'], 'id': third}})
    assert status == 201, doc
    for port_id in (first, third):
        assert server.call('DELETE', f'/v2.0/ports/{port_id}')[0] == 204


def test_body_over_the_limit_answers_413(server):
    body = json.dumps({'network': {'name': 'x' * (2 * 1024 * 1024)}}).encode()
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=60)
    try:
        try:
            conn.request('POST', '/v2.0/networks', body,
                         {'Content-Type': 'application/json'})
        except (BrokenPipeError, ConnectionResetError):
            pass          # the server may answer before it has read everything
        resp = conn.getresponse()
        doc = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 413 and doc['NeutronError']['type'] == 'HTTPRequestEntityTooLarge'
    assert server.call('GET', '/v2.0/networks?limit=1')[0] == 200


ODD = ({}, [{}], 2 ** 70, 'x' * 300)
FIELDS = {
    'network': ('name', 'admin_state_up', 'shared', 'mtu', 'router:external',
                'provider:network_type', 'provider:physical_network',
                'provider:segmentation_id', 'availability_zone_hints', 'description', 'id',
                'project_id'),
    'subnet': ('name', 'cidr', 'ip_version', 'gateway_ip', 'allocation_pools',
               'dns_nameservers', 'host_routes', 'enable_dhcp', 'ipv6_address_mode',
               'ipv6_ra_mode', 'network_id', 'id', 'project_id', 'description'),
    'port': ('name', 'mac_address', 'fixed_ips', 'device_id', 'device_owner',
             'binding:host_id', 'extra_dhcp_opts', 'admin_state_up', 'description',
             'network_id', 'id', 'project_id', 'dns_name'),
    'router': ('name', 'admin_state_up', 'external_gateway_info', 'routes', 'description',
               'id', 'project_id', 'availability_zone_hints'),
}


def test_no_odd_value_in_any_field_is_a_500(server, net):
    """Every field of every resource given values of the wrong type or size: 4xx."""
    bodies = {'network': {'name': 'odd'},
              'subnet': {'network_id': net['net']['id'], 'cidr': '10.92.0.0/24',
                         'ip_version': 4},
              'port': {'network_id': net['net']['id']}, 'router': {'name': 'odd'}}
    five_hundreds = []
    for res, fields in FIELDS.items():
        for field in fields:
            for odd in ODD:
                status, doc = server.call('POST', f'/v2.0/{res}s',
                                          {res: dict(bodies[res], **{field: odd})})
                if status >= 500:
                    five_hundreds.append((res, field, odd, doc))
                elif status < 300:
                    server.call('DELETE', f'/v2.0/{res}s/{doc[res]["id"]}')
    assert five_hundreds == []
    assert server.call('GET', '/v2.0/networks?limit=1')[0] == 200


def test_no_request_of_this_module_was_a_500(server):
    assert 'Unexpected error in the API' not in server.tail(100000)
