"""A real controller and a real netnode-metadata-agent, asked over the unix socket
with the headers the proxy adds; instance data set through the CLI."""

import base64
import grp
import json
import os
import re
import time
import uuid

import pytest

from tests.functional.metadata.stack import unix_get

pytestmark = pytest.mark.functional

SAME_IP = '10.77.0.10'


def get(stack, url, ip, network=None, router=None, extra=None, method='GET'):
    headers = {'X-Forwarded-For': ip}
    if network:
        headers['X-Neutron-Network-ID'] = network
    if router:
        headers['X-Neutron-Router-ID'] = router
    headers.update(extra or {})
    return unix_get(stack.socket_path, url, headers, method=method)


def test_socket_mode_and_location(stack):
    assert stack.socket_path == os.path.join(stack.state_path, 'metadata_proxy')
    # deduce: the proxies run as netnode-haproxy (the default) -> group mode, the
    # socket given their group; never world-writable (Neutron's deduce said 0666)
    st = os.stat(stack.socket_path)
    assert oct(st.st_mode & 0o777) == '0o660'
    assert grp.getgrgid(st.st_gid).gr_name == 'netnode-haproxy'


def test_each_instance_gets_its_own_documents(stack, world, tmp_path):
    a, b = world['a'], world['b']
    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP, a['net']['id'])
    assert status == 200, body
    md = json.loads(body)
    assert md['uuid'] == a['device'] and md['hostname'] == 'vm-a'
    assert md['name'] == 'VM A' and md['availability_zone'] == 'az-a'
    assert md['public_keys'] == {'mykey': a['key']}
    assert md['keys'] == [{'name': 'mykey', 'type': 'ssh', 'data': a['key']}]

    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP, b['net']['id'])
    assert status == 200 and json.loads(body)['uuid'] == b['device']
    assert json.loads(body)['hostname'] == 'vm-b'

    assert get(stack, '/openstack/latest/user_data', SAME_IP, a['net']['id']) == (
        200, a['user_data'])
    assert get(stack, '/latest/user-data', SAME_IP, a['net']['id']) == (200, a['user_data'])
    assert get(stack, '/openstack/latest/user_data', SAME_IP, b['net']['id'])[0] == 404
    assert get(stack, '/latest/user-data', SAME_IP, b['net']['id'])[0] == 404


def test_router_id_finds_the_port_on_the_router_networks(stack, world):
    a = world['a']
    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP,
                       router=world['router']['id'])
    assert status == 200 and json.loads(body)['uuid'] == a['device']
    # the router has no interface on b's network: nobody there is answered
    status, _ = get(stack, '/latest/meta-data/instance-id', '10.78.0.99',
                    router=world['router']['id'])
    assert status == 404


def test_ec2_documents(stack, world):
    a = world['a']
    net = a['net']['id']
    status, body = get(stack, '/latest/meta-data/local-ipv4', SAME_IP, net)
    assert (status, body) == (200, SAME_IP.encode())
    status, body = get(stack, '/latest/meta-data/instance-id', SAME_IP, net)
    assert status == 200 and re.fullmatch(rb'i-[0-9a-f]{8}', body)
    assert get(stack, '/latest/meta-data/public-ipv4', SAME_IP, net) == (
        200, world['fip']['floating_ip_address'].encode())
    assert get(stack, '/latest/meta-data/public-ipv4', SAME_IP, world['b']['net']['id']) \
        == (200, b'')
    assert get(stack, '/latest/meta-data/hostname', SAME_IP, net) == (200, b'vm-a')
    assert get(stack, '/latest/meta-data/placement/availability-zone', SAME_IP, net) == (
        200, b'az-a')
    assert get(stack, '/latest/meta-data/public-keys/', SAME_IP, net) == (200, b'0=mykey')
    assert get(stack, '/latest/meta-data/public-keys/0/openssh-key', SAME_IP, net) == (
        200, a['key'].encode())
    status, body = get(stack, '/', SAME_IP, net)
    assert status == 200 and body.splitlines()[0] == b'1.0'
    assert body.splitlines()[-1] == b'latest'
    assert get(stack, '/latest/', SAME_IP, net) == (200, b'meta-data/\nuser-data')


def test_network_data(stack, world):
    a = world['a']
    status, body = get(stack, '/openstack/latest/network_data.json', SAME_IP,
                       a['net']['id'])
    assert status == 200
    nd = json.loads(body)
    assert nd['links'] == [{'id': 'tap' + a['port']['id'][:11], 'vif_id': a['port']['id'],
                            'type': 'ovs', 'mtu': a['net']['mtu'],
                            'ethernet_mac_address': a['port']['mac_address']}]
    assert nd['networks'] == [{
        'id': 'network0', 'type': 'ipv4', 'link': 'tap' + a['port']['id'][:11],
        'ip_address': SAME_IP, 'netmask': '255.255.255.0',
        'routes': [{'network': '0.0.0.0', 'netmask': '0.0.0.0', 'gateway': '10.77.0.1'}],
        'network_id': a['net']['id'],
        'services': [{'type': 'dns', 'address': '192.0.2.53'}]}]
    assert nd['services'] == [{'type': 'dns', 'address': '192.0.2.53'}]


def test_unknown_instance_paths_and_bad_requests(stack, world):
    net = world['a']['net']['id']
    assert get(stack, '/openstack/latest/meta_data.json', '10.77.0.99', net)[0] == 404
    assert get(stack, '/openstack/latest/meta_data.json', SAME_IP,
               str(uuid.uuid4()))[0] == 404
    assert get(stack, '/openstack/latest/nope.json', SAME_IP, net)[0] == 404
    assert get(stack, '/openstack/1999-01-01/meta_data.json', SAME_IP, net)[0] == 404
    assert get(stack, '/latest/meta-data/nope', SAME_IP, net)[0] == 404
    assert get(stack, '/../../etc/passwd', SAME_IP, net)[0] == 404
    # without the proxy's headers, or with both ids, or malformed: refused
    assert unix_get(stack.socket_path, '/latest/meta-data/')[0] == 400
    assert get(stack, '/', SAME_IP)[0] == 400
    assert get(stack, '/', SAME_IP, net, router=world['router']['id'])[0] == 400
    assert get(stack, '/', 'not-an-ip', net)[0] == 400
    assert get(stack, '/', SAME_IP, 'evil')[0] == 400
    assert get(stack, '/latest/meta-data/', SAME_IP, net, method='POST')[0] == 405


def test_instance_data_changes_through_the_cli(stack, world, tmp_path):
    b = world['b']
    ud = tmp_path / 'ud2'
    ud.write_bytes(b'#cloud-config\nhostname: changed\n')
    stack.cli('instance-set', b['device'], '--hostname', 'vm-b2', '--user-data', str(ud))
    shown = json.loads(stack.cli('instance-show', b['device'], '-f', 'json'))
    assert shown['hostname'] == 'vm-b2'
    assert base64.b64decode(shown['user_data']) == ud.read_bytes()
    net = b['net']['id']
    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP, net)
    assert json.loads(body)['hostname'] == 'vm-b2'
    assert get(stack, '/latest/user-data', SAME_IP, net) == (200, ud.read_bytes())
    stack.cli('instance-set', b['device'], '--no-user-data', '--hostname', 'vm-b')
    assert get(stack, '/latest/user-data', SAME_IP, net)[0] == 404


def test_controller_down_is_a_quick_503(stack, world):
    net = world['a']['net']['id']
    stack.server.stop()
    try:
        started = time.monotonic()
        status, _ = get(stack, '/openstack/latest/meta_data.json', SAME_IP, net)
        elapsed = time.monotonic() - started
        assert status == 503 and elapsed < 3.5, (status, elapsed)
    finally:
        stack.restart_server()
    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP, net)
    assert status == 200 and json.loads(body)['uuid'] == world['a']['device']


def test_agent_reports_its_state(stack):
    def listed():
        agents = json.loads(stack.cli('agent-list', '-f', 'json'))
        return [a for a in agents if a['host'] == stack.host
                and a['agent_type'] == 'Metadata agent' and a['alive'] in (True, ':-)')]
    from tests.functional.helpers.host import wait_for
    found = wait_for(listed, 15, 0.2, 'the metadata agent in agent-list')
    assert found[0]['binary'] == 'neutron-metadata-agent'


def test_sighup_rereads_and_keeps_serving(stack, world):
    import signal
    stack.agent.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert stack.agent.proc.poll() is None
    status, body = get(stack, '/openstack/latest/meta_data.json', SAME_IP,
                       world['a']['net']['id'])
    assert status == 200 and json.loads(body)['uuid'] == world['a']['device']
    with open(stack.agent.log) as f:
        assert 'SIGHUP: configuration re-read' in f.read()
