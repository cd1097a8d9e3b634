"""The metadata agent's HTTP server on the unix socket the haproxy proxies forward to.

Trust: only the proxy can reach this socket, and the proxy deletes every
``X-Forwarded-For``, ``Forwarded``, ``X-Neutron-*``, ``X-Instance-ID*`` and
``X-Tenant-ID`` header the instance sent before adding its own
(:mod:`agent.metadata.haproxy`).  So a request carries exactly one
``X-Neutron-Network-ID`` or ``X-Neutron-Router-ID`` (the proxy's) and the
``X-Forwarded-For`` that ``option forwardfor`` appended last; anything else is
refused with 400.  Ids and addresses are validated before any lookup.

One thread per connection (``ThreadingMixIn``), each with a socket timeout; at
most ``MAX_CONCURRENT`` answers are worked out at once (more get a quick 503,
and cloud-init retries).
"""

from __future__ import annotations

import dataclasses
import http.server
import ipaddress
import logging
import os
import socketserver
import threading
import time
from collections.abc import Callable

from agent.common import names
from agent.metadata.documents import Document
from agent.metadata.unix_socket import remove_stale_socket

LOG = logging.getLogger(__name__)
MAX_BODY = 65536
REQUEST_TIMEOUT = 30.0
MAX_CONCURRENT = 256          # answers worked out at once; more get a quick 503


class BadRequest(ValueError):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, as the proxy says: the source address and the network or router."""
    remote_ip: str
    network_id: str | None = None
    router_id: str | None = None


def _one(headers, name: str) -> str | None:
    values = headers.get_all(name) or []
    if len(values) > 1:
        raise BadRequest(f'{len(values)} {name} headers: only the proxy may set it')
    return values[0].strip() if values else None


def caller_from_headers(headers) -> Caller:
    """The :class:`Caller` of a request forwarded by our proxy, or BadRequest."""
    forwarded = headers.get_all('X-Forwarded-For') or []
    if not forwarded:
        raise BadRequest('no X-Forwarded-For: requests must come through the metadata '
                         'proxy')
    # haproxy's ``option forwardfor`` appends its own header after the client's
    # (which the proxy deleted anyway): the last address is the real source.
    last = forwarded[-1].split(',')[-1].strip()
    try:
        address = ipaddress.ip_address(last)
    except ValueError:
        raise BadRequest(f'X-Forwarded-For {last!r} is not an IP address') from None
    # A proxy bound to [::] (the qrouter- one with IPv6) sees IPv4 clients as
    # ::ffff:a.b.c.d; the port has a.b.c.d.
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    remote_ip = str(address)
    network_id = _one(headers, 'X-Neutron-Network-ID')
    router_id = _one(headers, 'X-Neutron-Router-ID')
    if (network_id is None) == (router_id is None):
        raise BadRequest('exactly one of X-Neutron-Network-ID and X-Neutron-Router-ID '
                         'is required')
    for value, what in ((network_id, 'X-Neutron-Network-ID'),
                        (router_id, 'X-Neutron-Router-ID')):
        if value is not None and not names.is_uuid(value.lower()):
            raise BadRequest(f'{what} {value!r} is not a UUID')
    return Caller(remote_ip, network_id and network_id.lower(),
                  router_id and router_id.lower())


Answer = Callable[[str, str, Caller, bytes | None], Document]


class MetadataRequestHandler(http.server.BaseHTTPRequestHandler):
    server_version = 'netnode-metadata-agent'
    sys_version = ''
    timeout = REQUEST_TIMEOUT
    server: MetadataHTTPServer

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle(head=True)

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _read_body(self) -> bytes | None:
        length = self.headers.get('Content-Length')
        if not length:
            return None
        if not length.isdigit() or int(length) > MAX_BODY:
            raise BadRequest(f'Content-Length {length!r} is not accepted')
        return self.rfile.read(int(length))

    def _handle(self, head: bool = False) -> None:
        started = time.monotonic()
        caller = None
        try:
            caller = caller_from_headers(self.headers)
            body = self._read_body()
            doc = self.server.answer('GET' if head else self.command, self.path,
                                     caller, body)
        except BadRequest as exc:
            LOG.warning('metadata request %s %s refused: %s', self.command, self.path, exc)
            doc = Document(400, 'text/plain', f'400 Bad Request\n\n{exc}\n'.encode())
        except Exception:      # noqa: BLE001 - one failed request, never the server
            LOG.exception('metadata request %s %s failed', self.command, self.path)
            doc = Document(500, 'text/plain', b'500 Internal Server Error\n')
        self._send(doc, head)
        LOG.info('%s %s %s from %s (%s) %.1f ms', self.command, self.path, doc.status,
                 caller.remote_ip if caller else '-',
                 (caller.network_id and f'network {caller.network_id}'
                  or caller.router_id and f'router {caller.router_id}') if caller else '-',
                 (time.monotonic() - started) * 1000.0)

    def _send(self, doc: Document, head: bool) -> None:
        self.send_response(doc.status)
        self.send_header('Content-Type', doc.content_type)
        self.send_header('Content-Length', str(len(doc.body)))
        self.end_headers()
        if not head:
            self.wfile.write(doc.body)

    def log_message(self, format, *args):      # noqa: A002 - the base class's name
        LOG.debug('metadata http: ' + format, *args)

    def address_string(self):                  # unix peers have no address
        return 'unix'


BUSY = Document(503, 'text/plain', b'503 Service Unavailable\n\nToo many requests in '
                                   b'progress; retry later.\n')


class MetadataHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """One thread per connection; at most ``max_concurrent`` answers being worked
    out at once (beyond, a quick 503: cloud-init retries)."""
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, answer: Answer, mode: int, backlog: int,
                 max_concurrent: int = MAX_CONCURRENT, group: int | None = None):
        self._answer = answer
        self.mode = mode
        self.group = group
        self.request_queue_size = backlog
        self.inode: int | None = None
        self._slots = threading.BoundedSemaphore(max_concurrent)
        super().__init__(path, MetadataRequestHandler)

    def answer(self, method: str, path: str, caller: Caller,
               body: bytes | None) -> Document:
        if not self._slots.acquire(blocking=False):
            LOG.warning('too many metadata requests in progress: answering 503')
            return BUSY
        try:
            return self._answer(method, path, caller, body)
        finally:
            self._slots.release()

    def server_bind(self):
        remove_stale_socket(self.server_address, 'another metadata agent with the same '
                            'metadata_proxy_socket?')
        os.makedirs(os.path.dirname(self.server_address) or '.', exist_ok=True)
        super().server_bind()
        # bind() made it with the umask's mode (connecting needs write: 0755 lets
        # no other user in); the group first, then the mode that opens it to them.
        if self.group is not None:
            os.chown(self.server_address, -1, self.group)
        os.chmod(self.server_address, self.mode)
        self.inode = os.stat(self.server_address).st_ino


class MetadataServer:
    """``start()`` serves ``path`` in a thread; ``stop()`` closes and removes it."""

    def __init__(self, path: str, answer: Answer, mode: int = 0o600,
                 backlog: int = 4096, max_concurrent: int = MAX_CONCURRENT,
                 group: int | None = None):
        self.path = path
        self._group = group
        self._answer = answer
        self._mode = mode
        self._backlog = backlog
        self._max_concurrent = max_concurrent
        self._httpd: MetadataHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._httpd = MetadataHTTPServer(self.path, self._answer, self._mode,
                                         self._backlog, self._max_concurrent, self._group)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={'poll_interval': 0.5},
                                        name='metadata-http', daemon=True)
        self._thread.start()
        LOG.info('serving instance metadata on %s (mode %o%s)', self.path, self._mode,
                 '' if self._group is None else f', group {self._group}')

    def stop(self, timeout: float = 5.0) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            if os.stat(self.path).st_ino == httpd.inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
