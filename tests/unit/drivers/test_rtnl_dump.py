"""The hand-made rtnetlink decoding, on answers captured from a real kernel."""

import errno
import ipaddress
import socket
import struct

import pytest

from agent.drivers import link, rtnl_dump, rtnl_requests
from agent.drivers.netlink_api import NetlinkError
from agent.drivers.state import MAIN_TABLE, LinkState, NextHop, RouteState
from tests.unit.drivers.rtnl_captures import ADDRESSES, LINK_VETH0, ROUTES_V4, ROUTES_V6

V4, V6 = socket.AF_INET, socket.AF_INET6


def parsed(data, kind, parse):
    return [parse(data, start, end) for start, end in rtnl_dump.messages(data, kind)]


def ip(text):
    return ipaddress.ip_address(text).packed


def test_a_link_is_read_with_its_name_mac_mtu_flags_and_kind():
    [veth] = parsed(LINK_VETH0, rtnl_dump.RTM_NEWLINK, rtnl_dump.parse_link)
    # kind sits in IFLA_LINKINFO, a nested attribute (NLA_F_NESTED set)
    assert veth == rtnl_dump.Link(3, 'veth0', 'fa:16:3e:00:00:01', 1450, veth.flags, 'veth')
    assert veth.flags & link.IFF_UP


def test_every_address_of_every_family_is_read():
    found = parsed(ADDRESSES, rtnl_dump.RTM_NEWADDR, rtnl_dump.parse_address)
    assert [(a.ifindex, a.family, ipaddress.ip_address(a.address), a.prefixlen, a.scope,
             a.broadcast and ipaddress.ip_address(a.broadcast)) for a in found] == [
        (1, V4, ipaddress.ip_address('127.0.0.1'), 8, 254, None),
        (3, V4, ipaddress.ip_address('10.0.0.2'), 24, 0, ipaddress.ip_address('10.0.0.255')),
        (1, V6, ipaddress.ip_address('::1'), 128, 254, None),
        (2, V6, found[3].address and ipaddress.ip_address(found[3].address), 64, 253, None),
        (3, V6, ipaddress.ip_address('2001:db8::2'), 64, 0, None),
        (3, V6, ipaddress.ip_address('fe80::f816:3eff:fe00:1'), 64, 253, None),
    ]


def test_routes_carry_their_table_from_the_header_or_rta_table():
    tables = [rtnl_dump.route_table(ROUTES_V4, start, end)
              for start, end in rtnl_dump.messages(ROUTES_V4, rtnl_dump.RTM_NEWROUTE)]
    # table 1000 does not fit the header's byte: RT_TABLE_COMPAT there, RTA_TABLE read
    assert tables == [1000, 254, 254, 254, 255, 255, 255, 255, 255]
    routes = parsed(ROUTES_V4, rtnl_dump.RTM_NEWROUTE, rtnl_dump.parse_route)
    assert [r.table for r in routes] == tables


def test_ipv4_routes_with_gateway_device_scope_and_multipath():
    routes = parsed(ROUTES_V4, rtnl_dump.RTM_NEWROUTE, rtnl_dump.parse_route)
    main = [r for r in routes if r.table == MAIN_TABLE]
    assert main == [
        rtnl_dump.Route(V4, None, 0, ip('10.0.0.1'), 3, 254, 0, 3, None, ()),
        rtnl_dump.Route(V4, ip('10.0.0.0'), 24, None, 3, 254, 253, 2, None, ()),
        rtnl_dump.Route(V4, ip('192.0.2.0'), 24, None, None, 254, 0, 3, None,
                        ((ip('10.0.0.3'), 3), (ip('10.0.0.4'), 3))),
    ]


def test_ipv6_routes_with_metric():
    routes = parsed(ROUTES_V6, rtnl_dump.RTM_NEWROUTE, rtnl_dump.parse_route)
    default = [r for r in routes if r.dst_len == 0]
    assert default == [rtnl_dump.Route(V6, None, 0, ip('2001:db8::1'), 3, 254, 0, 3, 1024, ())]
    assert sum(r.table == MAIN_TABLE for r in routes) == 4
    assert sum(r.table == 255 for r in routes) == 4


def test_the_driver_states_made_of_the_captured_answers():
    [veth] = parsed(LINK_VETH0, rtnl_dump.RTM_NEWLINK, rtnl_dump.parse_link)
    addrs = parsed(ADDRESSES, rtnl_dump.RTM_NEWADDR, rtnl_dump.parse_address)
    v4 = ipaddress.ip_interface('10.0.0.2/24')
    assert link._link_state(veth, addrs) == LinkState(
        name='veth0', index=3, mac='fa:16:3e:00:00:01', mtu=1450, up=True, kind='veth',
        addresses=frozenset({v4, ipaddress.ip_interface('2001:db8::2/64')}),
        broadcasts=((v4, ipaddress.ip_address('10.0.0.255')),),
        link_local=frozenset({ipaddress.ip_interface('fe80::f816:3eff:fe00:1/64')}))
    names = {1: 'lo', 2: 'peer0', 3: 'veth0'}
    routes = [link._route_state(r, names)
              for r in parsed(ROUTES_V4, rtnl_dump.RTM_NEWROUTE, rtnl_dump.parse_route)
              + parsed(ROUTES_V6, rtnl_dump.RTM_NEWROUTE, rtnl_dump.parse_route)
              if r.table == MAIN_TABLE and (r.dst_len == 0 or r.nexthops)]
    assert routes == [
        RouteState(ipaddress.ip_network('0.0.0.0/0'), ipaddress.ip_address('10.0.0.1'),
                   'veth0', MAIN_TABLE, 0, 3, None),
        RouteState(ipaddress.ip_network('192.0.2.0/24'), None, None, MAIN_TABLE, 0, 3, None,
                   (NextHop(ipaddress.ip_address('10.0.0.3'), 'veth0'),
                    NextHop(ipaddress.ip_address('10.0.0.4'), 'veth0'))),
        RouteState(ipaddress.ip_network('::/0'), ipaddress.ip_address('2001:db8::1'),
                   'veth0', MAIN_TABLE, 0, 3, 1024),
    ]


def test_attributes_stop_at_a_malformed_length():
    good = rtnl_requests.attr(rtnl_dump.IFLA_MTU, struct.pack('=I', 1500))
    bad = struct.pack('=HH', 2, rtnl_dump.IFLA_IFNAME)
    assert rtnl_dump.attributes(good + bad, 0, len(good + bad)) == {
        rtnl_dump.IFLA_MTU: (4, 8)}


class ScriptedSocket:
    """Stands in for the kernel's end: answers each request with the next datagrams
    of ``script`` (functions of the request's sequence number)."""

    def __init__(self, *script):
        self.script = list(script)
        self.pending = []
        self.sent = []

    def send(self, data):
        self.sent.append(data)
        seq = struct.unpack_from('=I', data, 8)[0]
        self.pending = list(self.script.pop(0)(seq))

    def recvmsg(self, size):
        data = self.pending.pop(0)
        return data[:size], [], socket.MSG_TRUNC if len(data) > size else 0, None


def message(kind, seq, payload=b'', flags=0):
    return struct.pack('=IHHII', 16 + len(payload), kind, flags, seq, 0) + payload


def done(seq, flags=0):
    return message(rtnl_dump.NLMSG_DONE, seq, struct.pack('=i', 0), flags)


def renumbered(data, seq, flags=0):
    """The captured messages in ``data`` with the sequence number ``seq`` (and ``flags``)."""
    out = bytearray(data)
    offset = 0
    while offset < len(out):
        length, kind = struct.unpack_from('=IH', out, offset)
        if kind != rtnl_dump.NLMSG_DONE:
            struct.pack_into('=HI', out, offset + 6, flags, seq)
        offset += (length + 3) & ~3
    return bytes(out)


def dump_of(body, flags=0):
    """A dump answer: the messages of a capture (its own DONE left unnumbered) and DONE."""
    return lambda seq: [renumbered(body, seq, flags), done(seq)]


@pytest.fixture
def kernel(monkeypatch):
    def install(*script):
        sock = ScriptedSocket(*script)
        monkeypatch.setattr(rtnl_requests, 'socket_here', lambda: sock)
        return sock
    return install


def test_a_dump_reads_every_datagram_up_to_done(kernel):
    sock = kernel(dump_of(ADDRESSES))
    assert len(rtnl_dump.dump_addresses()) == 6
    assert struct.unpack_from('=HH', sock.sent[0], 4) == (
        rtnl_dump.RTM_GETADDR, rtnl_dump.NLM_F_REQUEST | rtnl_dump.NLM_F_DUMP)


def test_a_dump_the_kernel_flags_interrupted_is_asked_again(kernel):
    sock = kernel(dump_of(ADDRESSES, rtnl_dump.NLM_F_DUMP_INTR), dump_of(ADDRESSES))
    assert len(rtnl_dump.dump_addresses()) == 6
    assert len(sock.sent) == 2


def test_a_dump_that_keeps_changing_fails():
    script = [dump_of(ADDRESSES, rtnl_dump.NLM_F_DUMP_INTR)] * rtnl_dump.ATTEMPTS
    sock = ScriptedSocket(*script)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rtnl_requests, 'socket_here', lambda: sock)
        with pytest.raises(NetlinkError) as raised:
            rtnl_dump.dump_addresses()
    assert raised.value.code == errno.EBUSY


def test_a_datagram_larger_than_the_buffer_grows_it_and_asks_again(kernel, monkeypatch):
    monkeypatch.setattr(rtnl_dump, '_size', 256)      # the first datagram has 476 bytes
    sock = kernel(dump_of(ADDRESSES), dump_of(ADDRESSES))
    assert len(rtnl_dump.dump_addresses()) == 6
    assert len(sock.sent) == 2 and rtnl_dump._size >= len(ADDRESSES)


def test_a_missing_device_is_none_and_other_errors_raise(kernel):
    def error(code):
        return lambda seq: [message(rtnl_dump.NLMSG_ERROR, seq, struct.pack('=i', -code))]
    sock = kernel(error(errno.ENODEV), error(errno.EPERM),
                  lambda seq: [renumbered(LINK_VETH0, seq)])
    assert rtnl_dump.get_link('tapnothere') is None
    with pytest.raises(NetlinkError) as raised:
        rtnl_dump.get_link('veth0')
    assert raised.value.code == errno.EPERM
    assert rtnl_dump.get_link('veth0').name == 'veth0'
    # asked by name (IFLA_IFNAME), not dumped
    assert struct.unpack_from('=HH', sock.sent[2], 4) == (rtnl_dump.RTM_GETLINK,
                                                          rtnl_dump.NLM_F_REQUEST)
    assert b'veth0\0' in sock.sent[2]
