"""Forwarding to Nova: Neutron's X-Instance-ID-Signature and the request Nova gets."""

import http.server
import threading

import pytest

from agent.metadata import nova

SECRET = 'metadata-s3cr3t'
INSTANCE = '6ea7f4b1-3a7e-4d7a-9f0e-2c5b8a9d1e11'
# printf %s "$INSTANCE" | openssl dgst -sha256 -hmac "$SECRET"
EXPECTED = 'ee0b8bfa1a72d037aa5eb0b92363d98cf17e04eb6098234031589a8392ab7474'


def test_signature_known_value():
    assert nova.sign_instance_id(SECRET, INSTANCE) == EXPECTED
    assert nova.sign_instance_id(SECRET + 'x', INSTANCE) != EXPECTED


def test_request_headers():
    endpoint = nova.NovaEndpoint('127.0.0.1', 8775, secret=SECRET)
    assert nova.request_headers(endpoint, '10.0.0.5', INSTANCE, 'p1') == {
        'X-Forwarded-For': '10.0.0.5', 'X-Instance-ID': INSTANCE, 'X-Tenant-ID': 'p1',
        'X-Instance-ID-Signature': EXPECTED}


@pytest.fixture
def fake_nova():
    seen = []
    answers = {'/openstack/latest/meta_data.json': (200, b'{"uuid": "x"}'),
               '/forbidden': (403, b'no'), '/boom': (502, b'bad gateway')}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.command, self.path, dict(self.headers)))
            status, body = answers.get(self.path.split('?')[0], (404, b'nf'))
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield nova.NovaEndpoint('127.0.0.1', server.server_address[1], secret=SECRET,
                            timeout=5), seen
    server.shutdown()
    server.server_close()


def test_forward(fake_nova):
    endpoint, seen = fake_nova
    doc = nova.forward(endpoint, 'GET', '/openstack/latest/meta_data.json?x=1', None,
                       '10.0.0.5', INSTANCE, 'p1')
    assert (doc.status, doc.body) == (200, b'{"uuid": "x"}')
    method, path, headers = seen[0]
    assert (method, path) == ('GET', '/openstack/latest/meta_data.json?x=1')
    assert headers['X-Instance-ID-Signature'] == EXPECTED
    assert headers['X-Forwarded-For'] == '10.0.0.5' and headers['X-Tenant-ID'] == 'p1'
    assert nova.forward(endpoint, 'GET', '/forbidden', None, '10.0.0.5', INSTANCE,
                        'p1').status == 403
    assert nova.forward(endpoint, 'GET', '/nope', None, '10.0.0.5', INSTANCE,
                        'p1').status == 404
    assert nova.forward(endpoint, 'GET', '/boom', None, '10.0.0.5', INSTANCE,
                        'p1').status == 500
    doc = nova.forward(endpoint, 'POST', '/openstack/latest/meta_data.json', b'pw',
                       '10.0.0.5', INSTANCE, 'p1')
    assert doc.status == 200 and seen[-1][0] == 'POST'


def test_unreachable_nova_is_503():
    endpoint = nova.NovaEndpoint('127.0.0.1', 1, timeout=2)
    assert nova.forward(endpoint, 'GET', '/', None, '10.0.0.5', INSTANCE, None).status \
        == 503
