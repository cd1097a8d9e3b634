"""The shared metadata proxy's request rewriting (pure; standard library only).

A VM's request head goes in; the head the metadata agent gets comes out, or
the status of a refusal.  What the haproxy proxies do with ``del-header`` and
``set-header`` (agent.metadata.haproxy), done here on the raw head:

- every ``X-Forwarded-For``, ``Forwarded``, ``X-Neutron-*``, ``X-Instance-ID*``
  and ``X-Tenant-ID`` the VM sent is dropped, whatever its case, and so are the
  hop-by-hop ``Connection``, ``Keep-Alive`` and ``Proxy-Connection``;
- one ``X-Neutron-Router-ID`` or ``X-Neutron-Network-ID`` of the listener, one
  ``X-Forwarded-For`` with the address the connection came from, and
  ``Connection: close`` are added (one request per connection, as haproxy's
  ``option http-server-close`` does towards the server);
- a head the metadata agent could read differently from us is refused:
  folded header lines, ``Transfer-Encoding`` (the agent reads Content-Length
  only), two different Content-Lengths, a body over ``MAX_BODY``, bytes that
  are not a header line.

This module is imported by the proxy child run as a script, so it imports
nothing of the project.
"""

from __future__ import annotations

import ipaddress
import re

MAX_HEAD = 16384          # bytes of request line and headers (haproxy's tune.bufsize)
MAX_BODY = 65536          # what the metadata agent accepts (agent.metadata.server)
HEADERS = {'router': 'X-Neutron-Router-ID', 'network': 'X-Neutron-Network-ID'}

_TOKEN = re.compile(rb'^[!#$%&\'*+\-.^_`|~0-9A-Za-z]+$')
_TARGET = re.compile(rb'^[\x21-\x7e]+$')
_VALUE = re.compile(rb'^[\t\x20-\x7e\x80-\xff]*$')
_UNTRUSTED_EXACT = frozenset((b'x-forwarded-for', b'forwarded', b'x-tenant-id',
                              b'connection', b'keep-alive', b'proxy-connection'))
_UNTRUSTED_PREFIXES = (b'x-neutron-', b'x-instance-id')


class Refused(ValueError):
    """The request is answered by the proxy itself with ``status``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def untrusted(name: bytes) -> bool:
    """Whether a header of this name is one the VM may not send on."""
    lower = name.lower()
    return lower in _UNTRUSTED_EXACT or lower.startswith(_UNTRUSTED_PREFIXES)


def source_address(peer: str) -> str:
    """The address the metadata agent should see: IPv4 for an IPv4-mapped peer
    (a socket bound to ``::`` accepts IPv4 clients as ``::ffff:a.b.c.d``)."""
    address = ipaddress.ip_address(peer.split('%', 1)[0])
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def rewrite(head: bytes, kind: str, resource_id: str, peer: str) -> tuple[bytes, int]:
    """(the head to forward, the body length to forward after it) for ``head``,
    a request line and headers ending with the blank line; Refused otherwise."""
    lines = head.split(b'\r\n')
    if len(lines) < 3 or lines[-1] != b'' or lines[-2] != b'':
        raise Refused(400, 'the request head does not end with an empty line')
    parts = lines[0].split(b' ')
    if (len(parts) != 3 or not _TOKEN.match(parts[0]) or not _TARGET.match(parts[1])
            or parts[2] not in (b'HTTP/1.0', b'HTTP/1.1')):
        raise Refused(400, 'malformed request line')
    kept = [lines[0]]
    lengths = set()
    for line in lines[1:-2]:
        if line[:1] in (b' ', b'\t'):
            raise Refused(400, 'folded header line')
        name, sep, value = line.partition(b':')
        if not sep or not _TOKEN.match(name) or not _VALUE.match(value):
            raise Refused(400, 'malformed header line')
        lower = name.lower()
        if lower == b'transfer-encoding':
            raise Refused(411, 'Transfer-Encoding is not accepted: send Content-Length')
        if lower == b'content-length':
            lengths.add(value.strip())
        if not untrusted(name):
            kept.append(line)
    if len(lengths) > 1:
        raise Refused(400, 'conflicting Content-Length headers')
    length = 0
    if lengths:
        text = next(iter(lengths))
        if not text.isdigit() or int(text) > MAX_BODY:
            raise Refused(413 if text.isdigit() else 400, 'Content-Length not accepted')
        length = int(text)
    try:
        source = source_address(peer)
    except ValueError:
        raise Refused(400, f'source {peer!r} is not an IP address') from None
    kept += [f'{HEADERS[kind]}: {resource_id}'.encode(),
             f'X-Forwarded-For: {source}'.encode(), b'Connection: close', b'', b'']
    return b'\r\n'.join(kept), length


REASONS = {400: 'Bad Request', 411: 'Length Required', 413: 'Payload Too Large',
           429: 'Too Many Requests', 502: 'Bad Gateway', 503: 'Service Unavailable',
           504: 'Gateway Timeout', 408: 'Request Timeout'}


def local_response(status: int, detail: str = '') -> bytes:
    """A complete answer of the proxy itself (it closes the connection after)."""
    reason = REASONS.get(status, 'Error')
    body = f'{status} {reason}\n\n{detail}\n'.encode() if detail else \
        f'{status} {reason}\n'.encode()
    return (f'HTTP/1.0 {status} {reason}\r\nContent-Type: text/plain\r\n'
            f'Content-Length: {len(body)}\r\nConnection: close\r\n\r\n').encode() + body
