"""The few rtnetlink requests of a router's hot path, built by hand.

A router's cold start moves its qr- and qg- devices into the namespace and adds
their addresses and default route.  Through pyroute2 each of these requests
cost ~1 ms of the agent's CPU under load (its request filters, the asyncio
loop of the sync API, the decoding of the answer; py-spy, 200-router cold
start: 9 % of the agent's CPU for the moves and the device configuration);
packed here with ``struct`` and sent on a plain netlink socket, ~5-20 us.
Errors are pyroute2's :class:`NetlinkError` with the kernel's errno, as the
callers expect.

Each thread keeps its own socket, opened in the namespace the thread is in when
it first asks: a namespace's netlink worker talks to that namespace, the
agent's other threads to the root one (as pyroute2's ``IPRoute`` does).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import struct
import threading

from agent.drivers.netlink_api import NetlinkError

NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFF_UP = 0x1
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINKINFO = 18
IFLA_AF_SPEC = 26
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_INET6_ADDR_GEN_MODE = 8
IN6_ADDR_GEN_MODE_NONE = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0

HEADER = struct.Struct('=IHHII')          # nlmsghdr
IFINFO = struct.Struct('=BxHiII')         # ifinfomsg
IFADDR = struct.Struct('=BBBBi')          # ifaddrmsg
RTMSG = struct.Struct('=BBBBBBBBI')       # rtmsg

_local = threading.local()
_seq = itertools.count(1)


def attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack('=HH', length, kind) + payload + b'\0' * (-length % 4)


def _u32(value: int) -> bytes:
    return struct.pack('=I', value)


def next_seq() -> int:
    return next(_seq) & 0xFFFFFFFF


def socket_here() -> socket.socket:
    """The calling thread's rtnetlink socket, opened in its namespace on first use."""
    sock = getattr(_local, 'sock', None)
    if sock is None:
        sock = _local.sock = socket.socket(socket.AF_NETLINK,
                                           socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                           socket.NETLINK_ROUTE)
        sock.bind((0, 0))
    return sock


def request(kind: int, flags: int, body: bytes) -> None:
    """Send one request on the calling thread's socket and wait for its ACK;
    NetlinkError(errno) if the kernel refused it."""
    sock = socket_here()
    seq = next_seq()
    sock.send(HEADER.pack(HEADER.size + len(body), kind,
                           NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0) + body)
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + HEADER.size <= len(data):
            length, msg_type, _, msg_seq, _ = HEADER.unpack_from(data, offset)
            if msg_type == NLMSG_ERROR and msg_seq == seq:
                error = -struct.unpack_from('=i', data, offset + HEADER.size)[0]
                if error:
                    raise NetlinkError(error, os.strerror(error))
                return
            if length < HEADER.size:
                break
            offset += (length + 3) & ~3


def set_link(name: str, *, netns_fd: int | None = None, mac: str | None = None,
             mtu: int | None = None, up: bool = False) -> None:
    """``ip link set NAME [netns FD] [address MAC] [mtu N] [up]`` in one request
    (the kernel moves the device first, then applies the rest there)."""
    attrs = attr(IFLA_IFNAME, name.encode() + b'\0')
    if netns_fd is not None:
        attrs += attr(IFLA_NET_NS_FD, _u32(netns_fd))
    if mac is not None:
        attrs += attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(':', '')))
    if mtu is not None:
        attrs += attr(IFLA_MTU, _u32(mtu))
    flags = IFF_UP if up else 0
    request(RTM_NEWLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, 0, flags, flags) + attrs)


def add_veth(name: str, peer: str, *, peer_netns_fd: int, peer_mac: str,
             mtu: int | None = None) -> None:
    """``ip link add NAME [mtu N] type veth peer name PEER netns FD address MAC
    [mtu N]``, then ``ip link set NAME addrgenmode none up``.

    The peer is made in its namespace, never moved there (a move waits for an
    RCU barrier under the rtnl lock, ~20 ms); it is left down (the kernel
    refuses to open a veth end before its pair is made: ENOTCONN), for whoever
    configures it there.  NAME, the end left here, gets no IPv6 link-local
    address (Neutron disables IPv6 on it): it only carries frames between the
    bridge and the peer."""
    def link_attrs(ifname: str) -> bytes:
        out = attr(IFLA_IFNAME, ifname.encode() + b'\0')
        return out + (attr(IFLA_MTU, _u32(mtu)) if mtu is not None else b'')

    peer_msg = (IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + link_attrs(peer)
                + attr(IFLA_NET_NS_FD, _u32(peer_netns_fd))
                + attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(':', ''))))
    info = attr(IFLA_INFO_KIND, b'veth') + attr(
        IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
    request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
            IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + link_attrs(name)
            + attr(IFLA_LINKINFO, info))
    # IFLA_AF_SPEC is applied to an existing device only, before the flags.
    request(RTM_NEWLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
            + attr(IFLA_IFNAME, name.encode() + b'\0')
            + attr(IFLA_AF_SPEC, attr(socket.AF_INET6, attr(
                IFLA_INET6_ADDR_GEN_MODE, bytes([IN6_ADDR_GEN_MODE_NONE])))))


def add_address(index: int, address, broadcast=None) -> None:
    """``ip addr add ADDRESS [brd B] dev INDEX`` (an ``ip_interface``)."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    packed = address.ip.packed
    attrs = attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
    if broadcast is not None:
        attrs += attr(IFA_BROADCAST, ipaddress.ip_address(broadcast).packed)
    request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
            IFADDR.pack(family, address.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attrs)


def replace_route(dst, index: int, *, gateway=None, table: int, proto: int,
                  scope: int = RT_SCOPE_UNIVERSE) -> None:
    """``ip route replace DST [via GATEWAY] dev INDEX`` (``dst`` an ``ip_network``)."""
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    attrs = attr(RTA_DST, dst.network_address.packed) if dst.prefixlen else b''
    if gateway is not None:
        attrs += attr(RTA_GATEWAY, ipaddress.ip_address(gateway).packed)
    attrs += attr(RTA_OIF, _u32(index))
    request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
            RTMSG.pack(family, dst.prefixlen, 0, 0, table, proto, scope, RTN_UNICAST, 0)
            + attrs)
