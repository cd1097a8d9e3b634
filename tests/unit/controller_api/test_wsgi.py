"""The cheroot server on a pre-bound loopback socket, stopped by an Event."""

import socket
import threading
import urllib.request

import pytest

from agent.controller import wsgi


def hello_app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello ' + environ['PATH_INFO'].encode()]


def test_serve_until_stop_event():
    sock = wsgi.bind_socket('127.0.0.1', 0)
    port = sock.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=wsgi.serve_until, args=(sock, hello_app, stop))
    thread.start()
    try:
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/x', timeout=5) as resp:
            assert resp.read() == b'hello /x'
    finally:
        stop.set()
        thread.join(10)
        sock.close()
    assert not thread.is_alive()


def test_bind_socket_error_names_the_address():
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f'cannot listen on 127.0.0.1:{port}'):
            wsgi.bind_socket('127.0.0.1', port)
    finally:
        busy.close()
