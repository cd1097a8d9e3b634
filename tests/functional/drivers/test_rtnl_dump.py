"""The hand-made rtnetlink decoding against pyroute2's, on a real namespace."""

import socket
import subprocess

import pytest

from agent.drivers import link, netns, rtnl_dump
from agent.drivers.state import MAIN_TABLE

pytestmark = pytest.mark.functional

V4, V6 = socket.AF_INET, socket.AF_INET6


def ip(ns, *argv):
    subprocess.run(['ip', '-n', ns, *argv], check=True, capture_output=True)


@pytest.fixture
def busy_namespace(make_namespace):
    """A namespace with a bit of everything a router has: two devices, addresses of
    both families, a default route each, a multipath route, a route in another
    table, a blackhole."""
    ns = make_namespace('qrouter-')
    ip(ns, 'link', 'add', 'qr-rtnl0', 'address', 'fa:16:3e:00:00:01', 'mtu', '1450',
       'type', 'veth', 'peer', 'name', 'qg-rtnl0')
    for dev in ('qr-rtnl0', 'qg-rtnl0'):
        ip(ns, 'link', 'set', dev, 'up')
    ip(ns, 'addr', 'add', '10.0.0.2/24', 'brd', '+', 'dev', 'qr-rtnl0')
    ip(ns, 'addr', 'add', '10.0.0.5/32', 'dev', 'qr-rtnl0')
    ip(ns, 'addr', 'add', '198.51.100.7/24', 'brd', '+', 'dev', 'qg-rtnl0')
    ip(ns, 'addr', 'add', '2001:db8::2/64', 'dev', 'qr-rtnl0', 'nodad')
    ip(ns, 'route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'qg-rtnl0')
    ip(ns, 'route', 'add', '192.0.2.0/24', 'nexthop', 'via', '10.0.0.3',
       'nexthop', 'via', '198.51.100.4')
    ip(ns, 'route', 'add', '203.0.113.0/24', 'via', '10.0.0.1', 'metric', '7')
    ip(ns, 'route', 'add', 'blackhole', '203.0.113.128/25')
    ip(ns, 'route', 'add', '198.18.0.0/15', 'via', '10.0.0.1', 'table', '1000')
    ip(ns, '-6', 'route', 'add', 'default', 'via', '2001:db8::1', 'dev', 'qr-rtnl0',
       'metric', '1024')
    ip(ns, '-6', 'route', 'add', '2001:db8:1::/64', 'nexthop', 'via', '2001:db8::3',
       'dev', 'qr-rtnl0', 'nexthop', 'via', '2001:db8::4', 'dev', 'qr-rtnl0')
    return ns


def _text(family, packed):
    return None if packed is None else socket.inet_ntop(family, packed)


def ours(_ipr):
    links = [(k.ifindex, k.name, k.mac, k.mtu, k.flags, k.kind) for k in rtnl_dump.dump_links()]
    addrs = [(a.ifindex, a.family, a.prefixlen, a.scope, _text(a.family, a.address),
              _text(a.family, a.broadcast)) for a in rtnl_dump.dump_addresses()]
    routes = [(r.family, _text(r.family, r.dst), r.dst_len, _text(r.family, r.gateway),
               r.oif, r.table, r.scope, r.proto, r.priority,
               [(_text(r.family, gw), oif) for gw, oif in r.nexthops])
              for family in (V4, V6) for table in (MAIN_TABLE, 1000)
              for r in rtnl_dump.dump_routes(family, table)]
    one = rtnl_dump.get_link('qg-rtnl0')
    return links, addrs, routes, (one.ifindex, one.name, one.mac, one.mtu, one.flags, one.kind)


def pyroute2s(ipr):
    """The same fields as pyroute2 decodes them (its IPRoute on the namespace's worker)."""
    def link_fields(m):
        kind = m.get(('linkinfo', 'kind')) if m.get('linkinfo') else None
        return (m['index'], m.get('ifname'), m.get('address'), m.get('mtu'), m['flags'], kind)
    links = [link_fields(m) for m in ipr.get_links()]
    addrs = [(m['index'], m['family'], m['prefixlen'], m['scope'], m.get('address'),
              m.get('broadcast')) for m in ipr.get_addr()]
    routes = [(m['family'], m.get('dst'), m['dst_len'], m.get('gateway'), m.get('oif'),
               m.get('table'), m['scope'], m['proto'], m.get('priority'),
               [(h.get('gateway'), h['oif']) for h in m.get('multipath') or ()])
              for family in (V4, V6) for table in (MAIN_TABLE, 1000)
              for m in ipr.get_routes(family=family, table=table)]
    return links, addrs, routes, link_fields(ipr.link('get', ifname='qg-rtnl0')[0])


def test_the_dumps_read_what_pyroute2_reads(busy_namespace):
    mine = netns.call_netlink(busy_namespace, ours)
    theirs = netns.call_netlink(busy_namespace, pyroute2s)
    assert mine == theirs
    links, addrs, routes, _ = mine
    # the namespace's objects are all there (not an empty match)
    assert {k[1] for k in links} == {'lo', 'qr-rtnl0', 'qg-rtnl0'}
    assert {a[4] for a in addrs} >= {'10.0.0.2', '10.0.0.5', '198.51.100.7', '2001:db8::2'}
    assert any(r[9] for r in routes if r[0] == V4) and any(r[9] for r in routes if r[0] == V6)
    assert any(r[5] == 1000 for r in routes)


def test_the_observations_hold_every_device_address_and_route(busy_namespace):
    view = link.observe_namespace(busy_namespace, (4, 6))
    qr = next(k for k in view.links if k.name == 'qr-rtnl0')
    assert qr.mac == 'fa:16:3e:00:00:01' and qr.mtu == 1450 and qr.up and qr.kind == 'veth'
    assert {str(a) for a in qr.addresses} == {'10.0.0.2/24', '10.0.0.5/32', '2001:db8::2/64'}
    assert [(str(a), str(b)) for a, b in qr.broadcasts] == [('10.0.0.2/24', '10.0.0.255')]
    assert {str(r.dst) for r in view.routes} >= {
        '0.0.0.0/0', '192.0.2.0/24', '203.0.113.0/24', '::/0', '2001:db8:1::/64'}
    assert not any(r.table != MAIN_TABLE for r in view.routes)
    multipath = next(r for r in view.routes if str(r.dst) == '192.0.2.0/24')
    assert [(str(h.gateway), h.dev) for h in multipath.nexthops] == [
        ('10.0.0.3', 'qr-rtnl0'), ('198.51.100.4', 'qg-rtnl0')]
    device = link.observe_device(busy_namespace, 'qr-rtnl0')
    assert device.link == qr
    # the IPv4 default route is through the other device: named from a dump
    assert sorted((str(r.gateway), r.dev, r.metric) for r in device.default_routes) == [
        ('198.51.100.1', 'qg-rtnl0', None), ('2001:db8::1', 'qr-rtnl0', 1024)]
    assert netns.devices_in(busy_namespace) == ['qg-rtnl0', 'qr-rtnl0']
