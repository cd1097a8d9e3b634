"""Devices, addresses and routes in a namespace (or the root one, ``ns=None``), via pyroute2.

Every call runs on the namespace's netlink worker (:func:`netns.call_netlink`):
no fork, ~1 ms per request. Every function takes the namespace first.
Changes are not logged here (see :mod:`agent.drivers`).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import ipaddress
import logging
import os
import socket
import struct
import time
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple, Union

from agent.drivers.netlink_api import NetlinkError

from agent.drivers import garp
from agent.drivers import netns
from agent.drivers import rtnl_dump
from agent.drivers import rtnl_requests
from agent.drivers.state import (
    DeviceNotFound, DeviceView, DriverError, IPAddress, IPInterface, IPNetwork, LinkState,
    NamespaceView, NextHop, RouteState, MAIN_TABLE, PROTO_STATIC, SCOPE_LINK, SCOPE_UNIVERSE,
    default_broadcast, interface, network)

LOG = logging.getLogger(__name__)
IFF_UP = 0x1
MOVE_ATTEMPTS = 10


def _where(ns: Optional[str], dev: Optional[str] = None) -> str:
    place = f'namespace {ns}' if ns else 'root namespace'
    return f'device {dev} in {place}' if dev else place


def _index(ipr: Any, ns: Optional[str], dev: str) -> int:
    """The device's index, looked up on the calling thread, which is inside ``ns``
    (its worker, or the root namespace's callers): the kernel's SIOCGIFINDEX,
    ~2 us of CPU where pyroute2's link_lookup decoded the whole device, ~0.4 ms."""
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise DeviceNotFound(f'{_where(ns, dev)}: not found') from None


def _call(ns: Optional[str], dev: Optional[str], what: str, fn: Any, *args: Any) -> Any:
    try:
        return netns.call_netlink(ns, fn, *args)
    except NetlinkError as exc:
        raise DriverError(f'{_where(ns, dev)}: {what} failed: {exc}') from exc


# -- observe ---------------------------------------------------------------------------

# The observations read the kernel's dumps with agent.drivers.rtnl_dump: pyroute2's
# decoding of every attribute was 60 % of the DHCP agent's CPU in a restart.
_INTERFACE: Dict[int, Callable[[Any], IPInterface]] = {
    socket.AF_INET: ipaddress.IPv4Interface, socket.AF_INET6: ipaddress.IPv6Interface}
_ADDRESS: Dict[int, Callable[[bytes], IPAddress]] = {
    socket.AF_INET: ipaddress.IPv4Address, socket.AF_INET6: ipaddress.IPv6Address}
_NETWORK: Dict[int, Callable[..., IPNetwork]] = {
    socket.AF_INET: ipaddress.IPv4Network, socket.AF_INET6: ipaddress.IPv6Network}
_ANY: Dict[int, bytes] = {socket.AF_INET: bytes(4), socket.AF_INET6: bytes(16)}


def _link_state(link: rtnl_dump.Link, addrs: Iterable[rtnl_dump.Address]) -> LinkState:
    """``link`` with its addresses ``addrs`` (those of other devices ignored)."""
    addresses, link_local, broadcasts = set(), set(), []
    for a in addrs:
        make = _INTERFACE.get(a.family)
        if a.ifindex != link.ifindex or make is None or a.address is None:
            continue
        addr = make((a.address, a.prefixlen))
        if a.scope != SCOPE_UNIVERSE:
            link_local.add(addr)
            continue
        addresses.add(addr)
        if a.broadcast:
            broadcasts.append((addr, _ADDRESS[a.family](a.broadcast)))
    return LinkState(name=link.name, index=link.ifindex, mac=link.mac, mtu=link.mtu,
                     up=bool(link.flags & IFF_UP), kind=link.kind,
                     addresses=frozenset(addresses), link_local=frozenset(link_local),
                     broadcasts=tuple(sorted(broadcasts, key=str)))


def _by_name(ns: Optional[str], dev: str, request: Any) -> Any:
    """Run a request that names the device (the kernel looks it up: no separate
    index lookup); a missing device raises DeviceNotFound."""
    try:
        return request()
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            raise DeviceNotFound(f'{_where(ns, dev)}: not found') from None
        raise


def _observe_one(ipr: Any, ns: Optional[str], dev: str) -> Optional[LinkState]:
    link = rtnl_dump.get_link(dev)
    return None if link is None else _link_state(link, rtnl_dump.dump_addresses())


def observe_link(ns: Optional[str], dev: str) -> Optional[LinkState]:
    """The device's state, or None if there is no such device."""
    return _call(ns, dev, 'observe', _observe_one, ns, dev)


def _observe_all(ipr: Any) -> Tuple[LinkState, ...]:
    """Two dumps (links, then every address) whatever the number of devices; one
    address request per device cost a round trip each."""
    by_index: dict = {}
    for addr in rtnl_dump.dump_addresses():
        by_index.setdefault(addr.ifindex, []).append(addr)
    return tuple(sorted((_link_state(link, by_index.get(link.ifindex, ()))
                         for link in rtnl_dump.dump_links()), key=lambda link: link.name))


def list_links(ns: Optional[str]) -> Tuple[LinkState, ...]:
    return _call(ns, None, 'list devices', _observe_all)


# -- device mutators -------------------------------------------------------------------

def _set(ipr: Any, ns: Optional[str], dev: str, fields: dict) -> None:
    _by_name(ns, dev, lambda: ipr.link('set', ifname=dev, **fields))


def set_mac(ns: Optional[str], dev: str, mac: str) -> None:
    _call(ns, dev, f'set MAC {mac}', _set, ns, dev, {'address': mac})


def set_mtu(ns: Optional[str], dev: str, mtu: int) -> None:
    _call(ns, dev, f'set MTU {mtu}', _set, ns, dev, {'mtu': mtu})


def set_up(ns: Optional[str], dev: str) -> None:
    _call(ns, dev, 'set up', _set, ns, dev, {'state': 'up'})


def set_down(ns: Optional[str], dev: str) -> None:
    _call(ns, dev, 'set down', _set, ns, dev, {'state': 'down'})


def _move(ipr: Any, ns: Optional[str], dev: str, target: str, fields: dict) -> None:
    fd = os.open(netns.path_of(target), os.O_RDONLY | os.O_CLOEXEC)
    try:
        # Packed by hand (agent.drivers.rtnl_requests): ~1 ms of CPU less per move.
        _by_name(ns, dev, lambda: rtnl_requests.set_link(
            dev, netns_fd=fd, mac=fields.get('address'), mtu=fields.get('mtu'),
            up=fields.get('state') == 'up'))
    finally:
        os.close(fd)


def move_to_namespace(dev: str, target: str, from_ns: Optional[str] = None, *,
                      mac: Optional[str] = None, mtu: Optional[int] = None,
                      up: bool = False) -> None:
    """Move ``dev`` from ``from_ns`` (root by default) into namespace ``target``,
    and there give it ``mac`` and ``mtu`` and set it up if asked: one request
    (``ip link set X netns T address M mtu N up``; the kernel moves the device
    first, then applies the rest in its new namespace)."""
    if not netns.exists(target):
        raise DriverError(f'{_where(from_ns, dev)}: cannot move into missing namespace '
                          f'{target}')
    fields: dict = {}
    if mac is not None:
        fields['address'] = mac
    if mtu is not None:
        fields['mtu'] = mtu
    if up:
        fields['state'] = 'up'
    for attempt in range(MOVE_ATTEMPTS):
        try:
            netns.call_netlink(from_ns, _move, from_ns, dev, target, fields)
            return
        except NetlinkError as exc:
            # EEXIST: a replaced port's old device is still being torn down in the target
            if exc.code != errno.EEXIST or attempt + 1 == MOVE_ATTEMPTS:
                raise DriverError(f'{_where(from_ns, dev)}: move to namespace {target} '
                                  f'failed: {exc}') from exc
            time.sleep(0.02)


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


def _transmit_checksums_in_software(name: str) -> None:
    """``ethtool -K NAME tx off`` for the calling thread's namespace: the kernel
    computes TCP and UDP checksums before the frame leaves the device."""
    value = ctypes.create_string_buffer(struct.pack('=II', ETHTOOL_STXCSUM, 0))
    request = struct.pack('16sP', name.encode(), ctypes.addressof(value))   # ifreq
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)


def _veth_end_up(_ipr: Any, ns: str, name: str) -> None:
    try:
        _transmit_checksums_in_software(name)
    except OSError as exc:
        raise DriverError(f'{_where(ns, name)}: ethtool tx off failed: {exc}') from exc
    _by_name(ns, name, lambda: rtnl_requests.set_link(name, up=True))


def create_veth(ns: str, name: str, mac: str, mtu: Optional[int] = None) -> None:
    """A veth pair named ``name`` at both ends (see
    :class:`agent.dataplane.device.CreateVethPair`): ``ns``'s end made there with
    ``mac`` and ``mtu``, then set up there with its transmit checksums in
    software; the root end up, without IPv6.  A root end of that name left
    without its peer is deleted first; a pair whose namespace's end could not
    be set so is deleted again (no later look tells its checksums)."""
    if not netns.exists(ns):
        raise DriverError(f'{_where(ns, name)}: cannot make a veth pair into missing '
                          f'namespace {ns}')
    fd = os.open(netns.path_of(ns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        for attempt in (1, 2):
            try:
                netns.call_netlink(None, lambda _ipr: rtnl_requests.add_veth(
                    name, name, peer_netns_fd=fd, peer_mac=mac, mtu=mtu))
                break
            except NetlinkError as exc:
                if exc.code != errno.EEXIST or attempt == 2 or not delete_veth(name):
                    raise DriverError(f'{_where(None, name)}: veth pair into {ns} '
                                      f'failed: {exc}') from exc
    finally:
        os.close(fd)
    try:
        _call(ns, name, 'set up', _veth_end_up, ns, name)
    except Exception:
        delete_veth(name)
        raise


def delete_veth(name: str) -> bool:
    """Delete the root namespace's device ``name`` if it is a veth (its peer goes
    with it); False if there is none.  The index lookup first: no netlink
    request where there is no such device (an internal port's)."""
    if not has_device(None, name):
        return False
    link = observe_link(None, name)
    if link is None or link.kind != 'veth':
        return False
    try:
        return delete_device(None, name)
    except DriverError:
        if has_device(None, name):
            raise
        return False


def _delete(ipr: Any, ns: Optional[str], dev: str) -> bool:
    found = ipr.link_lookup(ifname=dev)
    if not found:
        return False
    ipr.link('del', index=found[0])
    return True


def delete_device(ns: Optional[str], dev: str) -> bool:
    """Delete ``dev``; False if it was not there."""
    return _call(ns, dev, 'delete', _delete, ns, dev)


# -- addresses -------------------------------------------------------------------------

def _addr(ipr: Any, ns: Optional[str], dev: str, op: str, addr: IPInterface,
          broadcast: Optional[IPAddress]) -> None:
    fields: dict = {'address': str(addr.ip), 'prefixlen': addr.network.prefixlen}
    if broadcast is not None:
        fields['broadcast'] = str(broadcast)
    ipr.addr(op, index=_index(ipr, ns, dev), **fields)


def add_address(ns: Optional[str], dev: str, cidr: Union[str, IPInterface],
                broadcast: Union[str, IPAddress, None, bool] = True) -> None:
    """Add ``cidr`` to ``dev``; IPv4 gets the subnet broadcast unless ``broadcast=False``."""
    addr = interface(cidr)
    if broadcast is True:
        brd = default_broadcast(addr)
    elif broadcast in (None, False):
        brd = None
    else:
        brd = ipaddress.ip_address(broadcast)
    _call(ns, dev, f'add address {addr}', _addr, ns, dev, 'add', addr, brd)


def delete_address(ns: Optional[str], dev: str, cidr: Union[str, IPInterface]) -> None:
    addr = interface(cidr)
    _call(ns, dev, f'delete address {addr}', _addr, ns, dev, 'del', addr, None)


def set_addresses(ns: Optional[str], dev: str,
                  wanted: Iterable[Union[str, IPInterface]]) -> Tuple[list, list]:
    """Make the device's global addresses exactly ``wanted`` (IPv4 with broadcast).

    Kernel link-local addresses are kept. An IPv4 address with the wrong broadcast is
    replaced. Returns (added, removed).
    """
    want = {interface(w) for w in wanted}
    state = observe_link(ns, dev)
    if state is None:
        raise DeviceNotFound(f'{_where(ns, dev)}: not found')
    stale_brd = {a for a in state.addresses & want
                 if a.version == 4 and state.broadcast(a) != default_broadcast(a)}
    removed = sorted((state.addresses - want) | stale_brd, key=str)
    added = sorted((want - state.addresses) | stale_brd, key=str)
    for addr in removed:
        delete_address(ns, dev, addr)
    for addr in added:
        add_address(ns, dev, addr)
    return added, removed


# -- routes ----------------------------------------------------------------------------

def _route_state(route: rtnl_dump.Route, names: dict) -> RouteState:
    address = _ADDRESS[route.family]
    hops = tuple(sorted((NextHop(address(gw) if gw else None, names.get(oif))
                         for gw, oif in route.nexthops), key=str))
    return RouteState(dst=_NETWORK[route.family]((route.dst or _ANY[route.family],
                                                  route.dst_len), strict=False),
                      gateway=address(route.gateway) if route.gateway else None,
                      dev=names.get(route.oif), table=route.table, scope=route.scope,
                      proto=route.proto, metric=route.priority, nexthops=hops)


def _names() -> dict:
    return {link.ifindex: link.name for link in rtnl_dump.dump_links()}


def _observe_routes(ipr: Any, family: int, table: int) -> Tuple[RouteState, ...]:
    return _unicast_routes(_names(), family, table)


def _unicast_routes(names: dict, family: int, table: int) -> Tuple[RouteState, ...]:
    routes = (_route_state(r, names) for r in rtnl_dump.dump_routes(family, table)
              if r.family in _NETWORK)
    return tuple(r for r in routes
                 if r.dst.version == 4 or not (r.dst.is_link_local or r.dst.is_multicast))


def _observe_namespace(ipr: Any, families: Tuple[int, ...],
                       sysctl_keys: Tuple[str, ...]) -> NamespaceView:
    links = _observe_all(ipr)
    names = {link.index: link.name for link in links}
    routes = tuple(r for family in families
                   for r in _unicast_routes(names, socket.AF_INET if family == 4
                                            else socket.AF_INET6, MAIN_TABLE))
    return NamespaceView(links, routes,
                         tuple((k, netns.sysctl_here(k)) for k in sysctl_keys))


def observe_namespace(ns: Optional[str], families: Iterable[int] = (4, 6),
                      sysctl_keys: Iterable[str] = ()) -> NamespaceView:
    """Every device of ``ns`` with its addresses, the main table's unicast routes
    of ``families`` and ``sysctl_keys``, in one visit to the namespace's worker and
    one links dump: a router's whole observation (an agent restart re-checks
    every router).  Separately (list_links, observe_routes per family, the
    sysctls) they cost three visits and two more links dumps (~1 ms CPU each
    with a router's three devices)."""
    return _call(ns, None, 'observe', _observe_namespace, tuple(families),
                 tuple(sysctl_keys))


def _observe_device(ipr: Any, ns: Optional[str], dev: str,
                    sysctl_keys: Tuple[str, ...]) -> DeviceView:
    link = _observe_one(ipr, ns, dev)
    routes: Tuple[RouteState, ...] = ()
    if link is not None:
        # Only the default routes are wanted: the others are not made objects.
        found = [r for af in (socket.AF_INET, socket.AF_INET6)
                 for r in rtnl_dump.dump_routes(af, MAIN_TABLE) if r.dst_len == 0]
        # The device names of the routes from the device itself; a dump of every
        # link only for a default route through another device.  An agent restart
        # re-checks every network.
        names = {link.index: link.name}
        if any(not _oifs(r) <= names.keys() for r in found):
            names = _names()
        routes = tuple(_route_state(r, names) for r in found)
    return DeviceView(link, routes, tuple((k, netns.sysctl_here(k)) for k in sysctl_keys))


def _oifs(route: rtnl_dump.Route) -> set:
    """The output device indexes of a route."""
    return {i for i in (route.oif, *(oif for _, oif in route.nexthops)) if i is not None}


def observe_device(ns: Optional[str], dev: str,
                   sysctl_keys: Iterable[str] = ()) -> DeviceView:
    """``dev``, the default routes and ``sysctl_keys`` of ``ns`` in one visit to the
    namespace's worker (a reconcile's whole observation: 4 netlink requests, or 5
    with a default route through another device, and no thread, where separate
    calls cost 6 requests and 3 thread hops)."""
    return _call(ns, dev, 'observe', _observe_device, ns, dev, tuple(sysctl_keys))


def observe_routes(ns: Optional[str], family: int = 4,
                   table: int = MAIN_TABLE) -> Tuple[RouteState, ...]:
    """Unicast routes of ``table`` (IPv6 fe80::/64 and multicast left out)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    return _call(ns, None, 'observe routes', _observe_routes, af, table)


def _route(ipr: Any, ns: Optional[str], op: str, dst: Any, gateway: Any, dev: Any,
           table: int, scope: Optional[int], nexthops: Sequence[NextHop]) -> None:
    fields: dict = {'dst': str(dst), 'table': table, 'family':
                    socket.AF_INET if dst.version == 4 else socket.AF_INET6}
    if op != 'del':
        fields['proto'] = PROTO_STATIC
    if gateway is not None:
        fields['gateway'] = str(gateway)
    if dev is not None:
        fields['oif'] = _index(ipr, ns, dev)
    if scope is not None:
        fields['scope'] = scope
    if nexthops:
        fields['multipath'] = [
            {k: v for k, v in (('gateway', str(h.gateway) if h.gateway else None),
                               ('oif', _index(ipr, ns, h.dev) if h.dev else None))
             if v is not None} for h in nexthops]
    ipr.route(op, **fields)


def _hops(nexthops: Iterable[Any]) -> Tuple[NextHop, ...]:
    hops = []
    for hop in nexthops:
        if isinstance(hop, NextHop):
            hops.append(hop)
        else:
            hops.append(NextHop(ipaddress.ip_address(hop), None))
    return tuple(hops)


def replace_route(ns: Optional[str], dst: Any, gateway: Any = None, dev: Optional[str] = None,
                  table: int = MAIN_TABLE, scope: Optional[int] = None,
                  nexthops: Iterable[Any] = ()) -> None:
    """``ip route replace``; several ``nexthops`` (addresses or NextHop) make it multipath."""
    dst = network(dst)
    gw = ipaddress.ip_address(gateway) if gateway is not None else None
    hops = _hops(nexthops)
    if len(hops) == 1 and gw is None:
        gw, dev, hops = hops[0].gateway, hops[0].dev or dev, ()
    _call(ns, dev, f'replace route {dst}', _route, ns, 'replace', dst, gw, dev, table,
          scope, hops)


def delete_route(ns: Optional[str], dst: Any, gateway: Any = None, dev: Optional[str] = None,
                 table: int = MAIN_TABLE) -> None:
    dst = network(dst)
    gw = ipaddress.ip_address(gateway) if gateway is not None else None
    _call(ns, dev, f'delete route {dst}', _route, ns, 'del', dst, gw, dev, table, None, ())


def set_default_gateway(ns: Optional[str], dev: str, gateway: Any) -> None:
    """Replace the default route by one via ``gateway`` on ``dev``.

    A gateway outside every subnet on ``dev`` first gets an on-link host route.
    """
    configure_device(ns, dev, gateways=(gateway,))


def _configure(ipr: Any, ns: Optional[str], dev: str, addresses: Tuple[IPInterface, ...],
               gateways: Tuple[IPAddress, ...], announce: Tuple[IPAddress, ...]) -> list:
    """On the namespace's worker: what :func:`configure_device` does; returns the
    addresses whose first announcement could not be sent (with the error)."""
    index = _index(ipr, ns, dev)
    # Packed by hand (agent.drivers.rtnl_requests): ~1 ms of CPU less per request.
    for addr in addresses:
        rtnl_requests.add_address(index, addr, default_broadcast(addr))
    for gw in gateways:
        on_link = any(gw in a.network for a in addresses if a.version == gw.version)
        if not on_link:     # rare: then ask the device, as set_default_gateway does
            state = _observe_one(ipr, ns, dev)
            on_link = state is not None and any(
                gw in a.network for a in state.addresses if a.version == gw.version)
        if not on_link:
            rtnl_requests.replace_route(ipaddress.ip_network(f'{gw}/{gw.max_prefixlen}'),
                                        index, table=MAIN_TABLE, proto=PROTO_STATIC,
                                        scope=SCOPE_LINK)
        rtnl_requests.replace_route(
            ipaddress.ip_network('0.0.0.0/0' if gw.version == 4 else '::/0'), index,
            gateway=gw, table=MAIN_TABLE, proto=PROTO_STATIC)
    failed = []
    for ip in announce:
        try:
            garp.send_here(ipr, dev, ip)
        except OSError as exc:
            failed.append((ip, exc))
    return failed


def configure_device(ns: Optional[str], dev: str, addresses: Iterable[Any] = (),
                     gateways: Iterable[Any] = (), announce: Iterable[Any] = (),
                     count: int = 3) -> None:
    """``add_address`` of each of ``addresses`` (IPv4 with the subnet broadcast),
    then ``set_default_gateway`` via each of ``gateways`` (one per family), then
    ``send_gratuitous_arp`` of each of ``announce``: in one visit to the
    namespace's worker with one device lookup (each call was a visit and a
    lookup of its own: ~1.5 ms of the agent's CPU each); the first frame of each
    announcement is sent there, the ``count - 1`` repeats in the background."""
    addrs = tuple(interface(a) for a in addresses)
    gws = tuple(ipaddress.ip_address(g) for g in gateways)
    ips = tuple(ipaddress.IPv4Address(str(ipaddress.ip_interface(a).ip)) for a in announce)
    failed = _call(ns, dev, 'configure', _configure, ns, dev, addrs, gws, ips)
    for ip, exc in failed:      # as the announcer does: never fail a router over it
        LOG.warning('device %s in %s: gratuitous ARP for %s failed: %s', dev,
                    ns or 'the root namespace', ip, exc)
    for ip in ips:
        if count > 1 and all(ip != f for f, _ in failed):
            garp.ANNOUNCER.announce(ns, dev, ip, count - 1, delay=garp.INTERVAL)


def has_device(ns: Optional[str], dev: str) -> bool:
    """Whether ``ns`` (None: the root namespace) has a device named ``dev``: the
    kernel's index lookup by name, no netlink request (an ``observe_link`` was
    two requests and the decoding of the device and its addresses, ~2 ms)."""
    def lookup() -> bool:
        try:
            socket.if_nametoindex(dev)
            return True
        except OSError:
            return False
    if ns is None:
        return lookup()
    return netns.call_netlink(ns, lambda _ipr: lookup())


# -- gratuitous ARP --------------------------------------------------------------------

def send_gratuitous_arp(ns: str, dev: str, ip: Any, count: int = 3
                        ) -> Optional[garp.Announcement]:
    """Announce an IPv4 address ``count`` times, 2 s apart, in the background
    (raw frames from inside the namespace: :mod:`agent.drivers.garp`)."""
    return garp.ANNOUNCER.announce(ns, dev, ip, count)


class LinkDriver:
    """The module's functions as an object, for injection (see ``agent.drivers.Links``)."""

    observe_link = staticmethod(observe_link)
    observe_device = staticmethod(observe_device)
    list_links = staticmethod(list_links)
    observe_namespace = staticmethod(observe_namespace)
    set_mac = staticmethod(set_mac)
    set_mtu = staticmethod(set_mtu)
    set_up = staticmethod(set_up)
    set_down = staticmethod(set_down)
    move_to_namespace = staticmethod(move_to_namespace)
    create_veth = staticmethod(create_veth)
    delete_veth = staticmethod(delete_veth)
    delete_device = staticmethod(delete_device)
    add_address = staticmethod(add_address)
    delete_address = staticmethod(delete_address)
    set_addresses = staticmethod(set_addresses)
    observe_routes = staticmethod(observe_routes)
    replace_route = staticmethod(replace_route)
    delete_route = staticmethod(delete_route)
    set_default_gateway = staticmethod(set_default_gateway)
    send_gratuitous_arp = staticmethod(send_gratuitous_arp)
    configure_device = staticmethod(configure_device)
    has_device = staticmethod(has_device)
