"""metadata_backend = nova: a real metadata agent process forwards to a (fake,
loopback) Nova metadata API with Neutron's headers and signature."""

import hmac
import http.server
import json
import os
import threading

import pytest

from agent.metadata.nova import sign_instance_id
from tests.functional.metadata.stack import MetadataAgentProcess, unix_get

pytestmark = pytest.mark.functional

SECRET = 'functional-s3cret'


@pytest.fixture
def fake_nova():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append((self.path, headers))
            good = hmac.compare_digest(
                headers.get('x-instance-id-signature', ''),
                sign_instance_id(SECRET, headers.get('x-instance-id', '')))
            body = json.dumps({'uuid': headers.get('x-instance-id'),
                               'from': 'nova'}).encode()
            self.send_response(200 if good else 403)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_forwarded_with_neutron_headers(stack, world, fake_nova):
    port, seen = fake_nova
    base = os.path.join(stack.base, 'nova-agent')
    os.makedirs(base, exist_ok=True)
    agent = MetadataAgentProcess(
        base, os.path.join(base, 'state'), stack.url, stack.exchange,
        stack.host + '-nova', '\n'.join([
            'metadata_backend = nova', 'nova_metadata_host = 127.0.0.1',
            f'nova_metadata_port = {port}',
            f'metadata_proxy_shared_secret = {SECRET}']))
    agent.start()
    try:
        a = world['a']
        headers = {'X-Forwarded-For': '10.77.0.10',
                   'X-Neutron-Network-ID': a['net']['id']}
        status, body = unix_get(agent.socket_path, '/openstack/latest/meta_data.json',
                                headers)
        assert status == 200 and json.loads(body) == {'uuid': a['device'],
                                                      'from': 'nova'}
        path, got = seen[-1]
        assert path == '/openstack/latest/meta_data.json'
        assert got['x-instance-id'] == a['device']
        assert got['x-forwarded-for'] == '10.77.0.10'
        assert got['x-instance-id-signature'] == sign_instance_id(SECRET, a['device'])
        assert got['x-tenant-id'] == (a['port']['project_id'] or '')
        headers['X-Forwarded-For'] = '10.77.0.99'
        assert unix_get(agent.socket_path, '/', headers)[0] == 404
        with open(agent.conf_path) as f:
            assert SECRET in f.read()
        with open(agent.log) as f:
            assert SECRET not in f.read()           # secret=True: never logged
    finally:
        agent.stop()
