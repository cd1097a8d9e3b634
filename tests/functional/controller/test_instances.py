"""Instance metadata on the controller: REST extension, validation, project scoping,
and the get_instance_metadata answer (SQLite and PostgreSQL)."""

import base64

import pytest

from agent.controller import instances
from agent.controller.api.app import create_app
from agent.controller.context import Context
from agent.controller.metadata_rpc import MetadataRpcCallback

pytestmark = pytest.mark.functional

DEVICE = '5d1f9a0e-2b3c-4d5e-8f90-a1b2c3d4e5f6'


@pytest.fixture
def client(plugin):
    return create_app(plugin).test_client()


def put(client, device, body, **headers):
    return client.put(f'/v2.0/instances/{device}', json={'instance': body},
                      headers=headers)


def test_put_get_list_delete(client):
    ud = base64.b64encode(b'#!/bin/sh\necho hi\n').decode()
    r = put(client, DEVICE, {'name': 'Web Server', 'user_data': ud,
                             'public_keys': {'k': 'ssh-rsa AAAA k@h\n'},
                             'availability_zone': 'az1', 'vendor_data': {'a': 1}})
    assert r.status_code == 201, r.json
    item = r.json['instance']
    assert item['device_id'] == DEVICE and item['hostname'] == 'web-server'
    assert item['public_keys'] == {'k': 'ssh-rsa AAAA k@h'} and item['user_data'] == ud
    r = put(client, DEVICE, {'hostname': 'web1.example.org'})
    assert r.status_code == 200 and r.json['instance']['revision_number'] == 1
    assert r.json['instance']['user_data'] == ud        # untouched fields stay
    assert client.get(f'/v2.0/instances/{DEVICE}').json['instance']['hostname'] == \
        'web1.example.org'
    assert [i['device_id'] for i in client.get('/v2.0/instances').json['instances']] == \
        [DEVICE]
    assert client.get(f'/v2.0/instances/{DEVICE}?fields=name').json == {
        'instance': {'name': 'Web Server'}}
    assert client.delete(f'/v2.0/instances/{DEVICE}').status_code == 204
    r = client.get(f'/v2.0/instances/{DEVICE}')
    assert r.status_code == 404 and r.json['NeutronError']['type'] == 'InstanceNotFound'
    aliases = [e['alias'] for e in client.get('/v2.0/extensions').json['extensions']]
    assert 'netnode-instance-metadata' in aliases


@pytest.mark.parametrize('body, field', [
    ({'hostname': 'bad_host'}, 'hostname'),
    ({'hostname': '-lead.example'}, 'hostname'),
    ({'user_data': 'not base64!'}, 'user_data'),
    ({'user_data': base64.b64encode(b'x' * 65536).decode()}, 'user_data'),
    ({'public_keys': {'k': 'line1\nline2'}}, 'public_keys'),
    ({'public_keys': {'bad/name': 'ssh-rsa A'}}, 'public_keys'),
    ({'public_keys': ['ssh-rsa A']}, 'public_keys'),
    ({'name': 'x' * 256}, 'name'),
    ({'name': 'tab\there'}, 'name'),
    ({'vendor_data': []}, 'vendor_data'),
    ({'colour': 'red'}, 'colour'),
    ({'device_id': 'other'}, 'device_id'),
])
def test_invalid_bodies_name_the_field(client, body, field):
    r = put(client, DEVICE, body)
    assert r.status_code == 400, r.json
    assert field in r.json['NeutronError']['message']


@pytest.mark.parametrize('device', ['a b', 'x' * 256, '-lead', 'semi;colon'])
def test_invalid_device_ids(client, device):
    assert put(client, device, {'name': 'n'}).status_code in (400, 404)


def test_project_scoping(client):
    assert put(client, DEVICE, {'name': 'mine'}, **{'X-Project-Id': 'p1'}).status_code \
        == 201
    r = client.get(f'/v2.0/instances/{DEVICE}', headers={'X-Project-Id': 'p1'})
    assert r.json['instance']['project_id'] == 'p1'
    assert client.get(f'/v2.0/instances/{DEVICE}',
                      headers={'X-Project-Id': 'p2'}).status_code == 404
    assert put(client, DEVICE, {'name': 'theirs'},
               **{'X-Project-Id': 'p2'}).status_code == 404
    assert client.get('/v2.0/instances', headers={'X-Project-Id': 'p2'}).json == {
        'instances': []}
    assert put(client, 'other-device', {'project_id': 'p3'},
               **{'X-Project-Id': 'p1'}).status_code == 403


def test_instance_metadata_answer(plugin, client, admin):
    net = plugin.create_network(admin, {'name': 'n'})
    subnet = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.5.0.0/24',
                                          'ip_version': 4, 'dns_nameservers': ['192.0.2.1']})
    dhcp = plugin.create_port(admin, {'network_id': net['id'], 'device_owner': 'network:dhcp',
                                      'device_id': 'dhcp-x'})
    vm = plugin.create_port(admin, {'network_id': net['id'], 'device_id': DEVICE,
                                    'device_owner': 'compute:nova'})
    put(client, DEVICE, {'name': 'vm'})
    rpc = MetadataRpcCallback(plugin)
    answer = rpc.get_instance_metadata({}, device_id=DEVICE)
    assert answer['instance']['name'] == 'vm'
    assert [p['id'] for p in answer['ports']] == [vm['id']]
    assert answer['networks'] == {net['id']: {'id': net['id'], 'name': 'n',
                                              'mtu': net['mtu']}}
    assert [s['id'] for s in answer['subnets']] == [subnet['id']]
    assert answer['subnets'][0]['dhcp_server'] == dhcp['fixed_ips'][0]['ip_address']
    assert answer['floating_ips'] == []
    none = rpc.get_instance_metadata({}, device_id='no-such-device')
    assert none['instance'] is None and none['ports'] == []
    ip = vm['fixed_ips'][0]['ip_address']
    found = plugin.get_ports(Context.admin(), filters={
        'network_id': [net['id']], 'fixed_ips': {'ip_address': [ip]}})
    assert [p['id'] for p in found] == [vm['id']]
    # the same address on another network is another port
    net2 = plugin.create_network(admin, {'name': 'n2'})
    subnet2 = plugin.create_subnet(admin, {'network_id': net2['id'], 'cidr': '10.5.0.0/24',
                                           'ip_version': 4})
    vm2 = plugin.create_port(admin, {'network_id': net2['id'], 'device_id': 'other',
                                     'fixed_ips': [{'subnet_id': subnet2['id'],
                                                    'ip_address': ip}]})
    for network, port in ((net, vm), (net2, vm2)):
        found = plugin.get_ports(Context.admin(), filters={
            'network_id': [network['id']], 'fixed_ips': {'ip_address': [ip]}})
        assert [p['id'] for p in found] == [port['id']]
    both = plugin.get_ports(Context.admin(), filters={'fixed_ips': {'ip_address': [ip]}})
    assert {p['id'] for p in both} == {vm['id'], vm2['id']}
    assert plugin.get_ports(Context.admin(), filters={
        'network_id': [net['id']], 'fixed_ips': {'ip_address': ['10.5.0.250']}}) == []


def test_hostname_from_name():
    assert instances.hostname_from_name('My Web_Server 1') == 'my-web-server-1'
    assert instances.hostname_from_name('--a..b--') == 'a.b'
    assert instances.hostname_from_name('') == ''
