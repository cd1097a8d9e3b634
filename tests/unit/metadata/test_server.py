"""The unix-socket server: what it accepts from the proxy, what it refuses."""

import email.message
import http.client
import os
import socket

import pytest

from agent.metadata.documents import Document
from agent.metadata.server import BadRequest, Caller, MetadataServer, caller_from_headers

NET = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'
ROUTER = '1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'


def headers(*pairs):
    msg = email.message.Message()
    for name, value in pairs:
        msg[name] = value
    return msg


def test_caller_from_proxy_headers():
    assert caller_from_headers(headers(('X-Forwarded-For', '10.0.0.5'),
                                       ('X-Neutron-Network-ID', NET))) == \
        Caller('10.0.0.5', NET, None)
    assert caller_from_headers(headers(('X-Forwarded-For', '2001:DB8::0:5'),
                                       ('X-Neutron-Router-ID', ROUTER.upper()))) == \
        Caller('2001:db8::5', None, ROUTER)
    assert caller_from_headers(headers(('X-Forwarded-For', '::ffff:10.0.0.5'),
                                       ('X-Neutron-Router-ID', ROUTER))).remote_ip == \
        '10.0.0.5'
    # a client value the proxy did not delete would come first: the last one counts
    assert caller_from_headers(headers(('X-Forwarded-For', '6.6.6.6, 10.0.0.9'),
                                       ('X-Forwarded-For', '10.0.0.5'),
                                       ('X-Neutron-Network-ID', NET))).remote_ip == \
        '10.0.0.5'


@pytest.mark.parametrize('pairs', [
    (),
    (('X-Neutron-Network-ID', NET),),
    (('X-Forwarded-For', '10.0.0.5'),),
    (('X-Forwarded-For', '10.0.0.5'), ('X-Neutron-Network-ID', NET),
     ('X-Neutron-Router-ID', ROUTER)),
    (('X-Forwarded-For', '10.0.0.5'), ('X-Neutron-Network-ID', NET),
     ('X-Neutron-Network-ID', NET)),
    (('X-Forwarded-For', 'host.example'), ('X-Neutron-Network-ID', NET)),
    (('X-Forwarded-For', '10.0.0.5'), ('X-Neutron-Network-ID', 'not-a-uuid')),
    (('X-Forwarded-For', '10.0.0.5'), ('X-Neutron-Router-ID', '../../x')),
])
def test_refused_headers(pairs):
    with pytest.raises(BadRequest):
        caller_from_headers(headers(*pairs))


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=5)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path_)


def request(path, url, method='GET', hdrs=None):
    conn = UnixConnection(path)
    try:
        conn.request(method, url, headers=hdrs or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_server_on_a_socket(tmp_path):
    seen = []

    def answer(method, path, caller, body):
        seen.append((method, path, caller))
        if path == '/boom':
            raise RuntimeError('boom')
        return Document(200, 'text/plain', b'ok')

    path = str(tmp_path / 'md.sock')
    open(path, 'w').close()
    with pytest.raises(RuntimeError, match='not a socket'):
        MetadataServer(path, answer).start()
    os.unlink(path)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)            # a socket file nobody listens on: removed at start
    stale.close()
    server = MetadataServer(path, answer, mode=0o666)
    server.start()
    try:
        assert oct(os.stat(path).st_mode & 0o777) == '0o666'
        with pytest.raises(RuntimeError, match='served by another process'):
            MetadataServer(path, answer).start()
        good = {'X-Forwarded-For': '10.0.0.5', 'X-Neutron-Network-ID': NET}
        assert request(path, '/latest/meta-data/', hdrs=good) == (200, b'ok')
        assert seen[-1] == ('GET', '/latest/meta-data/', Caller('10.0.0.5', NET))
        assert request(path, '/x', 'HEAD', good) == (200, b'')
        assert request(path, '/boom', hdrs=good)[0] == 500
        assert request(path, '/x')[0] == 400
        assert len(seen) == 3
    finally:
        server.stop()
    assert not os.path.exists(path)


def test_requests_beyond_the_limit_get_a_quick_503(tmp_path):
    import threading
    release = threading.Event()
    entered = threading.Event()

    def answer(method, path, caller, body):
        entered.set()
        release.wait(10)
        return Document(200, 'text/plain', b'ok')

    path = str(tmp_path / 'md.sock')
    server = MetadataServer(path, answer, max_concurrent=1)
    server.start()
    good = {'X-Forwarded-For': '10.0.0.5', 'X-Neutron-Network-ID': NET}
    try:
        first = threading.Thread(target=lambda: request(path, '/a', hdrs=good))
        first.start()
        assert entered.wait(5)
        assert request(path, '/b', hdrs=good)[0] == 503
        release.set()
        first.join(5)
        assert request(path, '/c', hdrs=good) == (200, b'ok')
    finally:
        release.set()
        server.stop()
