"""A real haproxy metadata proxy in a namespace, reached from a "VM" namespace."""

import http.server
import json
import os
import socketserver
import subprocess
import threading
import uuid

import pytest

from agent.metadata import haproxy
from agent.process import manager as pm
from tests.functional.helpers.host import metadata_veth, pids_with
from tests.functional.process.conftest import zombie_children

pytestmark = pytest.mark.functional

VM_IP = '192.0.2.10'


class _HeaderEcho(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({'path': self.path,
                           'headers': [[k.lower(), v] for k, v in self.headers.items()]})
        data = body.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):   # unix peers have no address to log
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def metadata_socket(state_path):
    path = os.path.join(state_path, 'metadata_proxy')
    server = _UnixHTTPServer(path, _HeaderEcho)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    thread.join(5)
    os.unlink(path)


@pytest.fixture
def proxy_and_vm(make_namespace):
    """(proxy namespace, vm namespace) joined by a veth pair on 192.0.2.0/24."""
    proxy = make_namespace('qdhcp-')
    vm = make_namespace('vm-')
    metadata_veth(proxy, vm, 'tapmd0', '192.0.2.2', VM_IP, timeout=None)
    return proxy, vm


def curl_from(vm, *headers):
    cmd = ['ip', 'netns', 'exec', vm, 'curl', '-s', '-m', '5']
    for h in headers:
        cmd += ['-H', h]
    res = subprocess.run([*cmd, 'http://169.254.169.254/latest/meta-data/'],
                         capture_output=True, text=True, timeout=15)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def spec_for(net, proxy, state_path, socket_path, **kwargs):
    return haproxy.metadata_proxy_spec(net, 'network', proxy, state_path,
                                       haproxy.METADATA_V4_IP, 80, 'root', 'root',
                                       socket_path=socket_path, **kwargs)


def test_proxy_forwards_with_our_headers_only(proxy_and_vm, metadata_socket, state_path,
                                              manager):
    proxy, vm = proxy_and_vm
    net = str(uuid.uuid4())
    spec = spec_for(net, proxy, state_path, metadata_socket)
    try:
        assert manager.ensure(spec) == pm.STARTED
        state = manager.observe(spec)
        assert state.running and state.argv_matches
        assert zombie_children() == []
        cfg = spec.config_files[0][0]
        assert cfg == os.path.join(state_path, 'ns-metadata-proxy', f'{net}.conf')
        assert oct(os.stat(cfg).st_mode & 0o777) == '0o640'

        got = curl_from(vm, 'X-Neutron-Router-ID: evil', 'X-Forwarded-For: 6.6.6.6',
                        'x-neutron-network-id: 00000000-0000-0000-0000-000000000000',
                        'X-Instance-ID: i-evil', 'X-Instance-ID-Signature: sig',
                        'X-Tenant-ID: t-evil', 'Forwarded: for=6.6.6.6')
        headers = got['headers']
        assert got['path'] == '/latest/meta-data/'
        assert ['x-neutron-network-id', net] in headers
        assert [v for k, v in headers if k == 'x-forwarded-for'] == [VM_IP]
        names = [k for k, _ in headers]
        assert names.count('x-neutron-network-id') == 1
        for spoofed in ('x-neutron-router-id', 'x-instance-id', 'x-instance-id-signature',
                        'x-tenant-id', 'forwarded'):
            assert spoofed not in names
        assert '6.6.6.6' not in json.dumps(got) and 'evil' not in json.dumps(got)

        assert manager.ensure(spec) == pm.UNCHANGED
        assert manager.observe(spec).pid == state.pid

        changed = spec_for(net, proxy, state_path, metadata_socket, debug=True)
        assert manager.ensure(changed) == pm.RESTARTED
        assert manager.observe(changed).pid != state.pid
        assert [v for k, v in curl_from(vm)['headers'] if k == 'x-forwarded-for'] == [VM_IP]
    finally:
        manager.stop(spec)
    assert pids_with(net) == []
    assert not os.path.exists(spec.pid_file)
