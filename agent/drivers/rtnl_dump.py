"""The rtnetlink reads of a re-check, asked for and decoded by hand.

An agent restart re-checks every network and router: for each, one namespace's
devices, addresses and routes.  pyroute2 decodes every attribute of every
message into objects (statistics, VF and XDP info, each route of the local
table...) through its generic attribute decoder, behind an asyncio loop: 60 %
of the DHCP agent's CPU in a restart with 300 networks (py-spy).  Here the
dump is asked for on the calling thread's plain netlink socket
(:mod:`agent.drivers.rtnl_requests`) and only the fields the agents compare
are read with ``struct``; the rest of each message is skipped by its length.

The parsers (``parse_*``) are pure functions of the kernel's bytes, unit-tested
on messages captured from a real kernel; ``dump_*``/``get_link`` talk to it.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Iterator, NamedTuple, Optional

from agent.drivers.netlink_api import NetlinkError
from agent.drivers import rtnl_requests
from agent.drivers.rtnl_requests import (
    HEADER, IFA_ADDRESS, IFA_BROADCAST, IFADDR, IFINFO, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU,
    NLM_F_REQUEST, NLMSG_ERROR, RTA_DST, RTA_GATEWAY, RTA_OIF, RTM_NEWADDR, RTM_NEWLINK,
    RTM_NEWROUTE, RTMSG)

NLMSG_DONE = 3
RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_GETROUTE = 26
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLA_TYPE_MASK = 0x3FFF                 # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
RTA_PRIORITY = 6
RTA_MULTIPATH = 9
RTA_TABLE = 15

_ATTR = struct.Struct('=HH')            # rtattr
_NEXTHOP = struct.Struct('=HBBi')       # rtnexthop
_U32 = struct.Struct('=I')
_ERRNO = struct.Struct('=i')
ATTEMPTS = 5          # dumps the kernel said were interrupted by a change, asked again
# The largest datagram a dump sends unless one message is larger; allocated per
# datagram and freed with it: a buffer kept per thread (a namespace worker each)
# held ~10 MiB of the L3 agent's RSS after a restart re-checked 300 routers.
BUFFER = 1 << 15


class Link(NamedTuple):
    ifindex: int
    name: str
    mac: Optional[str]            # 'aa:bb:cc:dd:ee:ff', as pyroute2 writes it
    mtu: int
    flags: int                    # IFF_* (IFF_UP = 1)
    kind: Optional[str]           # IFLA_INFO_KIND: 'veth', 'dummy', 'tun', ...


class Address(NamedTuple):
    ifindex: int
    family: int
    prefixlen: int
    scope: int
    address: Optional[bytes]      # IFA_ADDRESS, packed
    broadcast: Optional[bytes]    # IFA_BROADCAST, packed


class Route(NamedTuple):
    family: int
    dst: Optional[bytes]          # RTA_DST, packed; None: the default route
    dst_len: int
    gateway: Optional[bytes]
    oif: Optional[int]
    table: int                    # RTA_TABLE, else the header's
    scope: int
    proto: int
    priority: Optional[int]
    nexthops: tuple               # ((gateway bytes or None, oif), ...): multipath only


# -- parsing ---------------------------------------------------------------------------

def attributes(data, start: int, end: int) -> dict:
    """``{type: (offset, end)}`` of the attributes in ``data[start:end]`` (the last
    of a type wins, as in the kernel's own parsing)."""
    found = {}
    unpack = _ATTR.unpack_from
    while start + 4 <= end:
        length, kind = unpack(data, start)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = (start + 4, start + length)
        start += (length + 3) & ~3
    return found


def _string(data, where) -> Optional[str]:
    if where is None:
        return None
    return bytes(data[where[0]:where[1]]).split(b'\0', 1)[0].decode(errors='replace')


def _bytes(data, where) -> Optional[bytes]:
    return None if where is None else bytes(data[where[0]:where[1]])


def _u32(data, where) -> Optional[int]:
    return None if where is None else _U32.unpack_from(data, where[0])[0]


def _u32_or(data, where, default: int) -> int:
    return default if where is None else _U32.unpack_from(data, where[0])[0]


def messages(data, msg_type: int) -> Iterator[tuple]:
    """``(payload offset, end)`` of each ``msg_type`` message in one datagram."""
    offset, size = 0, len(data)
    unpack = HEADER.unpack_from
    while offset + HEADER.size <= size:
        length, kind, _, _, _ = unpack(data, offset)
        if length < HEADER.size:
            return
        if kind == msg_type:
            yield offset + HEADER.size, min(offset + length, size)
        offset += (length + 3) & ~3


def parse_link(data, start: int, end: int) -> Link:
    _, _, index, flags, _ = IFINFO.unpack_from(data, start)
    attrs = attributes(data, start + IFINFO.size, end)
    mac = attrs.get(IFLA_ADDRESS)
    kind = None
    info = attrs.get(IFLA_LINKINFO)
    if info is not None:
        kind = _string(data, attributes(data, info[0], info[1]).get(IFLA_INFO_KIND))
    # IFLA_IFNAME and IFLA_MTU are in every device's message
    return Link(index, _string(data, attrs.get(IFLA_IFNAME)) or '',
                None if mac is None else data[mac[0]:mac[1]].hex(':'),
                _u32_or(data, attrs.get(IFLA_MTU), 0), flags, kind)


def parse_address(data, start: int, end: int) -> Address:
    family, prefixlen, _, scope, index = IFADDR.unpack_from(data, start)
    attrs = attributes(data, start + IFADDR.size, end)
    return Address(index, family, prefixlen, scope, _bytes(data, attrs.get(IFA_ADDRESS)),
                   _bytes(data, attrs.get(IFA_BROADCAST)))


def route_table(data, start: int, end: int) -> int:
    """The table of a route message, from its header alone unless above 255."""
    table = data[start + 4]
    if table == 252:            # RT_TABLE_COMPAT: the real one is in RTA_TABLE
        table = _u32_or(data, attributes(data, start + RTMSG.size, end).get(RTA_TABLE),
                        table)
    return table


def _nexthops(data, where) -> tuple:
    if where is None:
        return ()
    hops = []
    offset, end = where
    while offset + _NEXTHOP.size <= end:
        length, _, _, oif = _NEXTHOP.unpack_from(data, offset)
        if length < _NEXTHOP.size:
            break
        attrs = attributes(data, offset + _NEXTHOP.size, offset + length)
        hops.append((_bytes(data, attrs.get(RTA_GATEWAY)), oif))
        offset += (length + 3) & ~3
    return tuple(hops)


def parse_route(data, start: int, end: int) -> Route:
    family, dst_len, _, _, table, proto, scope, _, _ = RTMSG.unpack_from(data, start)
    attrs = attributes(data, start + RTMSG.size, end)
    return Route(family, _bytes(data, attrs.get(RTA_DST)), dst_len,
                 _bytes(data, attrs.get(RTA_GATEWAY)), _u32(data, attrs.get(RTA_OIF)),
                 _u32_or(data, attrs.get(RTA_TABLE), table), scope, proto,
                 _u32(data, attrs.get(RTA_PRIORITY)),
                 _nexthops(data, attrs.get(RTA_MULTIPATH)))


# -- asking the kernel -----------------------------------------------------------------

_size = BUFFER      # grown once a datagram did not fit


def _check_error(data, start: int) -> None:
    error = -_ERRNO.unpack_from(data, start)[0]
    if error:
        raise NetlinkError(error, os.strerror(error))


def _exchange(msg_type: int, flags: int, body: bytes, answer: int) -> list:
    """Send one request on the calling thread's socket; the datagrams (bytes) of
    its answer: up to NLMSG_DONE (a dump), or the first ``answer`` message."""
    sock = rtnl_requests.socket_here()
    seq = rtnl_requests.next_seq()
    sock.send(HEADER.pack(HEADER.size + len(body), msg_type, NLM_F_REQUEST | flags,
                           seq, 0) + body)
    global _size
    found: list = []
    retry: Optional[type] = None     # read on to the end of the dump, then ask again
    while True:
        data, _, msg_flags, _ = sock.recvmsg(_size)
        if msg_flags & socket.MSG_TRUNC:     # the datagram did not fit: its rest is lost
            retry = _Truncated
            _size *= 2
        size = len(data)
        offset, done = 0, False
        while offset + HEADER.size <= size:
            length, kind, msg_flags, msg_seq, _ = HEADER.unpack_from(data, offset)
            if length < HEADER.size:
                break
            if msg_seq == seq:
                if msg_flags & NLM_F_DUMP_INTR:
                    retry = retry or _Interrupted
                if kind == NLMSG_ERROR:
                    _check_error(data, offset + HEADER.size)
                    done = True
                elif kind == NLMSG_DONE or (kind == answer and not flags & NLM_F_DUMP):
                    done = True
            offset += (length + 3) & ~3
        found.append(data)
        if done:
            if retry is not None:
                raise retry()
            return found


class _Interrupted(Exception):
    """The kernel flagged the dump inconsistent (changed while dumped)."""


class _Truncated(Exception):
    """A datagram did not fit in the buffer (the next ones are larger)."""


def _ask(msg_type: int, flags: int, body: bytes, answer: int) -> list:
    for attempt in range(ATTEMPTS):
        try:
            return _exchange(msg_type, flags, body, answer)
        except (_Interrupted, _Truncated):
            if attempt + 1 == ATTEMPTS:
                raise NetlinkError(errno.EBUSY, 'the dump kept changing') from None
    raise AssertionError('unreachable')


def dump_links() -> list:
    """Every device of the calling thread's namespace."""
    body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return [parse_link(data, start, end)
            for data in _ask(RTM_GETLINK, NLM_F_DUMP, body, RTM_NEWLINK)
            for start, end in messages(data, RTM_NEWLINK)]


def get_link(name: str) -> Optional[Link]:
    """The device named ``name`` in the calling thread's namespace, None if none."""
    body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + rtnl_requests.attr(
        IFLA_IFNAME, name.encode() + b'\0')
    try:
        found = _ask(RTM_GETLINK, 0, body, RTM_NEWLINK)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise
    return next((parse_link(data, start, end) for data in found
                 for start, end in messages(data, RTM_NEWLINK)), None)


def dump_addresses(family: int = socket.AF_UNSPEC) -> list:
    body = IFADDR.pack(family, 0, 0, 0, 0)
    return [parse_address(data, start, end)
            for data in _ask(RTM_GETADDR, NLM_F_DUMP, body, RTM_NEWADDR)
            for start, end in messages(data, RTM_NEWADDR)]


def dump_routes(family: int, table: int) -> list:
    """The routes of ``table`` and ``family``: the kernel sends every table's; those
    of the others are left after reading their header."""
    body = RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    return [parse_route(data, start, end)
            for data in _ask(RTM_GETROUTE, NLM_F_DUMP, body, RTM_NEWROUTE)
            for start, end in messages(data, RTM_NEWROUTE)
            if route_table(data, start, end) == table]
