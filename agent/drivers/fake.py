"""In-memory fakes of the driver Protocols, sharing one :class:`FakeHost`.

Consistent with the real drivers where planners can tell: plugging an internal
port creates a ``tun`` device in the root namespace, moving it takes it along,
deleting the OVS port makes the device vanish wherever it is, IPv4 addresses get
their broadcast, set_default_gateway adds the on-link route for an outside
gateway, a namespace with devices refuses deletion. Every mutation appends the
equivalent shell command to ``host.log`` so tests can assert what would run.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import types
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from agent.drivers import Links, LocalVlanAllocator, Netns, Ovs, commands
from agent.drivers.state import (
    DEAD_VLAN, MAIN_TABLE, PROTO_KERNEL, PROTO_STATIC, SCOPE_LINK, SCOPE_UNIVERSE,
    BridgeNotFound, DeviceNotFound, DeviceView, DriverError, LinkState, NamespaceNotEmpty,
    NamespaceNotFound, NamespaceView, NextHop, OvsPort, PortSpec, RouteState, default_broadcast,
    interface, key_for, lowest_free, network, tags_in)


@dataclasses.dataclass
class _Dev:
    name: str
    index: int
    mac: str
    mtu: int = 1500
    up: bool = False
    kind: Optional[str] = 'tun'
    addresses: Dict[Any, Any] = dataclasses.field(default_factory=dict)  # iface -> brd

    def state(self) -> LinkState:
        brds = tuple(sorted(((a, b) for a, b in self.addresses.items() if b is not None),
                            key=str))
        return LinkState(self.name, self.index, self.mac, self.mtu, self.up, self.kind,
                         frozenset(self.addresses), brds, frozenset())


@dataclasses.dataclass
class _Ns:
    devices: Dict[str, _Dev] = dataclasses.field(default_factory=dict)
    sysctls: Dict[str, str] = dataclasses.field(default_factory=dict)
    routes: List[RouteState] = dataclasses.field(default_factory=list)


class FakeHost:
    """The shared kernel + OVSDB state of the fakes. ``None`` is the root namespace."""

    def __init__(self) -> None:
        self.namespaces: Dict[Optional[str], _Ns] = {None: _Ns()}
        self.bridges: Dict[str, Dict[str, Any]] = {}   # name -> {'ports': {}, 'ids': {}}
        self.patches: Dict[str, Any] = {}   # patch port -> (bridge, peer)
        self.log: List[str] = []
        self._index = itertools.count(100)

    def ns(self, name: Optional[str]) -> _Ns:
        try:
            return self.namespaces[name]
        except KeyError:
            raise NamespaceNotFound(f'namespace {name}: does not exist') from None

    def dev(self, ns: Optional[str], name: str) -> _Dev:
        try:
            return self.ns(ns).devices[name]
        except KeyError:
            place = f'namespace {ns}' if ns else 'root namespace'
            raise DeviceNotFound(f'device {name} in {place}: not found') from None

    def new_device(self, name: str, mac: str, ns: Optional[str] = None) -> _Dev:
        dev = _Dev(name, next(self._index), mac)
        self.ns(ns).devices[name] = dev
        return dev

    def drop_device(self, name: str) -> None:
        for ns in self.namespaces.values():
            if ns.devices.pop(name, None) is not None:
                ns.routes[:] = [r for r in ns.routes if r.dev != name]


class FakeNetns:
    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def list_namespaces(self) -> List[str]:
        return sorted(n for n in self.host.namespaces if n is not None)

    def exists(self, name: str) -> bool:
        return name in self.host.namespaces

    def create(self, name: str, sysctls: Mapping[str, Any] | None = None) -> bool:
        if name in self.host.namespaces:
            return False
        self.host.log.append(commands.netns_add(name))
        self.host.namespaces[name] = _Ns()
        if sysctls:
            self.set_sysctls(name, sysctls)
        return True

    def devices_in(self, name: str) -> List[str]:
        return sorted(self.host.ns(name).devices)

    def delete(self, name: str, force: bool = False) -> bool:
        if name not in self.host.namespaces:
            return False
        left = self.devices_in(name)
        if left and not force:
            raise NamespaceNotEmpty(f'namespace {name}: still holds devices {", ".join(left)}')
        self.host.log.append(commands.netns_delete(name))
        del self.host.namespaces[name]
        return True

    def run_in(self, name: Optional[str], fn: Callable[..., Any], *args: Any) -> Any:
        self.host.ns(name)
        return fn(*args)

    def call_netlink(self, name: Optional[str], fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(None, *args)``: the fake has no netlink socket to give ``fn``."""
        self.host.ns(name)
        return fn(None, *args)

    def sysctl_get(self, ns: Optional[str], key: str) -> str:
        try:
            return self.host.ns(ns).sysctls[key]
        except KeyError:
            return '0'

    def sysctl_set(self, ns: Optional[str], key: str, value: Any) -> None:
        self.host.log.append(commands.sysctl_set(ns, key, value))
        self.host.ns(ns).sysctls[key] = str(value)

    def set_sysctls(self, ns: Optional[str], wanted: Mapping[str, Any]) -> Dict[str, str]:
        changed = {k: str(v) for k, v in wanted.items() if self.sysctl_get(ns, k) != str(v)}
        for key, value in changed.items():
            self.sysctl_set(ns, key, value)
        return changed


class FakeLinks:
    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.garps: List[Tuple[str, str, str]] = []

    def observe_link(self, ns: Optional[str], dev: str) -> Optional[LinkState]:
        found = self.host.ns(ns).devices.get(dev)
        return found.state() if found else None

    def list_links(self, ns: Optional[str]) -> Tuple[LinkState, ...]:
        return tuple(d.state() for _, d in sorted(self.host.ns(ns).devices.items()))

    def observe_namespace(self, ns: Optional[str], families: Iterable[int] = (4, 6),
                          sysctl_keys: Iterable[str] = ()) -> NamespaceView:
        sysctls = self.host.ns(ns).sysctls
        return NamespaceView(self.list_links(ns),
                             tuple(r for family in families
                                   for r in self.observe_routes(ns, family)),
                             tuple((k, sysctls.get(k, '0')) for k in sysctl_keys))

    def observe_device(self, ns: Optional[str], dev: str,
                       sysctl_keys: Iterable[str] = ()) -> DeviceView:
        link = self.observe_link(ns, dev)
        routes = () if link is None else tuple(
            r for family in (4, 6) for r in self.observe_routes(ns, family) if r.is_default)
        sysctls = self.host.ns(ns).sysctls
        return DeviceView(link, routes, tuple((k, sysctls.get(k, '0')) for k in sysctl_keys))

    def set_mac(self, ns: Optional[str], dev: str, mac: str) -> None:
        self.host.dev(ns, dev).mac = mac
        self.host.log.append(commands.link_set(ns, dev, mac=mac))

    def set_mtu(self, ns: Optional[str], dev: str, mtu: int) -> None:
        self.host.dev(ns, dev).mtu = mtu
        self.host.log.append(commands.link_set(ns, dev, mtu=mtu))

    def set_up(self, ns: Optional[str], dev: str) -> None:
        self.host.dev(ns, dev).up = True
        self.host.log.append(commands.link_set(ns, dev, up=True))

    def set_down(self, ns: Optional[str], dev: str) -> None:
        self.host.dev(ns, dev).up = False
        self.host.log.append(commands.link_set(ns, dev, up=False))

    def move_to_namespace(self, dev: str, target: str, from_ns: Optional[str] = None, *,
                          mac: Optional[str] = None, mtu: Optional[int] = None,
                          up: bool = False) -> None:
        moving = self.host.dev(from_ns, dev)
        dest = self.host.ns(target)
        if dev in dest.devices:
            raise DriverError(f'device {dev}: namespace {target} already has one')
        self.host.log.append(commands.link_set(from_ns, dev, netns=target, mac=mac,
                                               mtu=mtu, up=True if up else None))
        del self.host.ns(from_ns).devices[dev]
        moving.up, moving.addresses = up, {}
        moving.mac = mac if mac is not None else moving.mac
        moving.mtu = mtu if mtu is not None else moving.mtu
        dest.devices[dev] = moving

    def create_veth(self, ns: str, name: str, mac: str, mtu: Optional[int] = None) -> None:
        dest = self.host.ns(ns)
        if name in dest.devices or name in self.host.ns(None).devices:
            raise DriverError(f'device {name}: exists already')
        from agent.dataplane.device import CreateVethPair
        self.host.log.append(CreateVethPair(ns, name, mac, mtu).describe())
        for where in (None, ns):
            made = self.host.new_device(name, mac if where else 'ee:ee:ee:ff:ff:ff', where)
            made.kind, made.up = 'veth', True
            made.mtu = mtu if mtu is not None else made.mtu

    def delete_veth(self, name: str) -> bool:
        found = self.host.ns(None).devices.get(name)
        if found is None or found.kind != 'veth':
            return False
        self.host.log.append(commands.link_delete(None, name))
        self.host.drop_device(name)
        return True

    def delete_device(self, ns: Optional[str], dev: str) -> bool:
        if dev not in self.host.ns(ns).devices:
            return False
        self.host.log.append(commands.link_delete(ns, dev))
        del self.host.ns(ns).devices[dev]
        return True

    def _connected_route(self, ns: Optional[str], dev: str, addr: Any) -> RouteState:
        return RouteState(addr.network, None, dev, MAIN_TABLE, SCOPE_LINK, PROTO_KERNEL)

    def add_address(self, ns: Optional[str], dev: str, cidr: Any, broadcast: Any = True) -> None:
        addr = interface(cidr)
        brd = default_broadcast(addr) if broadcast is True else (
            None if broadcast in (None, False) else ipaddress.ip_address(broadcast))
        device = self.host.dev(ns, dev)
        if addr in device.addresses:
            raise DriverError(f'device {dev}: add address {addr} failed: exists')
        self.host.log.append(commands.addr_add(ns, dev, addr, brd))
        device.addresses[addr] = brd
        route = self._connected_route(ns, dev, addr)
        if addr.network.prefixlen < addr.max_prefixlen and route not in self.host.ns(ns).routes:
            self.host.ns(ns).routes.append(route)

    def delete_address(self, ns: Optional[str], dev: str, cidr: Any) -> None:
        addr = interface(cidr)
        device = self.host.dev(ns, dev)
        if addr not in device.addresses:
            raise DriverError(f'device {dev}: delete address {addr} failed: not there')
        self.host.log.append(commands.addr_delete(ns, dev, addr))
        del device.addresses[addr]
        if not any(a.network == addr.network for a in device.addresses):
            routes = self.host.ns(ns).routes
            routes[:] = [r for r in routes if r != self._connected_route(ns, dev, addr)]

    def set_addresses(self, ns: Optional[str], dev: str, wanted: Iterable[Any]) -> Tuple[list, list]:
        want = {interface(w) for w in wanted}
        state = self.host.dev(ns, dev).state()
        stale = {a for a in state.addresses & want
                 if a.version == 4 and state.broadcast(a) != default_broadcast(a)}
        removed = sorted((state.addresses - want) | stale, key=str)
        added = sorted((want - state.addresses) | stale, key=str)
        for addr in removed:
            self.delete_address(ns, dev, addr)
        for addr in added:
            self.add_address(ns, dev, addr)
        return added, removed

    def observe_routes(self, ns: Optional[str], family: int = 4,
                       table: int = MAIN_TABLE) -> Tuple[RouteState, ...]:
        return tuple(r for r in self.host.ns(ns).routes
                     if r.dst.version == family and r.table == table)

    def replace_route(self, ns: Optional[str], dst: Any, gateway: Any = None,
                      dev: Optional[str] = None, table: int = MAIN_TABLE,
                      scope: Optional[int] = None, nexthops: Iterable[Any] = ()) -> None:
        dst = network(dst)
        gw = ipaddress.ip_address(gateway) if gateway is not None else None
        hops = tuple(sorted((h if isinstance(h, NextHop) else
                             NextHop(ipaddress.ip_address(h), None) for h in nexthops), key=str))
        if len(hops) == 1 and gw is None:
            gw, dev, hops = hops[0].gateway, hops[0].dev or dev, ()
        if dev is not None:
            self.host.dev(ns, dev)
        self.host.log.append(commands.route_replace(
            ns, dst, gateway=gw, dev=dev, table=table,
            scope='link' if scope == SCOPE_LINK else None, nexthops=hops))
        routes = self.host.ns(ns).routes
        routes[:] = [r for r in routes if not (r.dst == dst and r.table == table)]
        routes.append(RouteState(dst, gw, dev, table, SCOPE_UNIVERSE if scope is None else scope,
                                 PROTO_STATIC, None, hops))

    def delete_route(self, ns: Optional[str], dst: Any, gateway: Any = None,
                     dev: Optional[str] = None, table: int = MAIN_TABLE) -> None:
        dst = network(dst)
        routes = self.host.ns(ns).routes
        keep = [r for r in routes if not (r.dst == dst and r.table == table)]
        if len(keep) == len(routes):
            raise DriverError(f'namespace {ns}: delete route {dst} failed: no such route')
        self.host.log.append(commands.route_delete(ns, dst, gateway=gateway, dev=dev,
                                                   table=table))
        routes[:] = keep

    def set_default_gateway(self, ns: Optional[str], dev: str, gateway: Any) -> None:
        gw = ipaddress.ip_address(gateway)
        state = self.host.dev(ns, dev).state()
        if not any(gw in a.network for a in state.addresses if a.version == gw.version):
            self.replace_route(ns, f'{gw}/{gw.max_prefixlen}', dev=dev, scope=SCOPE_LINK)
        self.replace_route(ns, '0.0.0.0/0' if gw.version == 4 else '::/0', gateway=gw, dev=dev)

    def send_gratuitous_arp(self, ns: str, dev: str, ip: Any, count: int = 3) -> None:
        self.host.dev(ns, dev)
        self.garps.append((ns, dev, str(ip)))
        return None

    def configure_device(self, ns: Optional[str], dev: str, addresses: Iterable[Any] = (),
                         gateways: Iterable[Any] = (), announce: Iterable[Any] = (),
                         count: int = 3) -> None:
        for addr in addresses:
            self.add_address(ns, dev, addr)
        for gw in gateways:
            self.set_default_gateway(ns, dev, gw)
        for ip in announce:
            self.send_gratuitous_arp(ns, dev, ip, count)

    def has_device(self, ns: Optional[str], dev: str) -> bool:
        return dev in self.host.ns(ns).devices


class FakeOvs:
    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.transactions = 0

    def _bridge(self, name: str) -> Dict[str, Any]:
        try:
            return self.host.bridges[name]
        except KeyError:
            raise BridgeNotFound(f'bridge {name}: does not exist') from None

    def bridge_exists(self, name: str) -> bool:
        return name in self.host.bridges

    def ensure_patch_pair(self, bridge_a: str, port_a: str, bridge_b: str,
                          port_b: str) -> bool:
        created = False
        for bridge, port, peer in ((bridge_a, port_a, port_b), (bridge_b, port_b, port_a)):
            if port not in self.host.patches:
                self.host.log.append(commands.ovs_add_patch_port(bridge, port, peer))
                self.host.patches[port] = (bridge, peer)
                created = True
        return created

    def ensure_bridge(self, name: str, datapath_type: str = 'system') -> bool:
        if name in self.host.bridges:
            return False
        self.host.log.append(commands.ovs_add_bridge(name, datapath_type))
        self.host.bridges[name] = {'ports': {}, 'ids': {}, 'datapath_type': datapath_type}
        return True

    def delete_bridge(self, name: str) -> None:
        for port in list(self.host.bridges.get(name, {}).get('ports', {})):
            self.host.drop_device(port)
        self.host.bridges.pop(name, None)
        self.host.log.append(commands.ovs_del_bridge(name))

    def _find(self, name: str) -> Optional[str]:
        return next((b for b, br in self.host.bridges.items() if name in br['ports']), None)

    def plug_ports(self, bridge: str, specs: Sequence[PortSpec], wait: bool = True) -> None:
        ports = self._bridge(bridge)['ports']
        for spec in specs:
            self.host.log.append(commands.ovs_replace_port(
                bridge, spec.name, spec.external_ids(), spec.tag, spec.tag == DEAD_VLAN,
                spec.internal))
            old = self._find(spec.name)
            if old is not None:
                old_spec = self.host.bridges[old]['ports'].pop(spec.name)['spec']
                if old_spec.internal:
                    self.host.drop_device(spec.name)
            ports[spec.name] = {'spec': spec, 'ofport': len(ports) + 1}
            if spec.internal:       # a veth's root end is made before it is plugged
                self.host.new_device(spec.name, mac=f'ee:ee:ee:00:{len(ports) // 256:02x}:'
                                                    f'{len(ports) % 256:02x}')
        self.transactions += 1

    def replace_internal_port(self, bridge: str, name: str, iface_id: str, mac: str,
                              tag: Optional[int] = None) -> None:
        self.plug_ports(bridge, [PortSpec(name, iface_id, mac, tag)])

    def list_ports(self, bridge: str) -> List[OvsPort]:
        out = []
        for name, port in sorted(self._bridge(bridge)['ports'].items()):
            spec = port['spec']
            out.append(OvsPort(name, bridge, spec.iface_id, spec.mac, spec.tag, port['ofport'],
                               types.MappingProxyType(spec.external_ids()),
                               spec.interface_type))
        return out

    def find_port(self, bridge: str, name: str) -> Optional[OvsPort]:
        return next((p for p in self.list_ports(bridge) if p.name == name), None)

    def find_ports(self, bridge: str, names: Sequence[str]) -> Dict[str, OvsPort]:
        return {p.name: p for p in self.list_ports(bridge) if p.name in set(names)}

    def delete_port(self, bridge: str, name: str) -> None:
        self.host.log.append(commands.ovs_del_port(bridge, name))
        port = self._bridge(bridge)['ports'].pop(name, None)
        if port is not None and port['spec'].internal:   # a veth's root end stays
            self.host.drop_device(name)

    def set_port_tag(self, name: str, tag: Optional[int]) -> None:
        bridge = self._find(name)
        if bridge is None:
            raise DriverError(f'port {name}: does not exist')
        self.host.log.append(commands.ovs_set_tag(name, tag))
        port = self.host.bridges[bridge]['ports'][name]
        port['spec'] = dataclasses.replace(port['spec'], tag=tag)

    def bridge_external_ids(self, bridge: str) -> Dict[str, str]:
        return dict(self._bridge(bridge)['ids'])


class FakeLocalVlans:
    """Lowest-free allocation in the fake bridge's external_ids, like the real one."""

    def __init__(self, host: FakeHost, bridge: str, enabled: bool = True) -> None:
        self.host = host
        self.bridge = bridge
        self.enabled = enabled

    def _ids(self) -> Dict[str, str]:
        try:
            return self.host.bridges[self.bridge]['ids']
        except KeyError:
            raise BridgeNotFound(f'bridge {self.bridge}: does not exist') from None

    def allocations(self) -> Dict[str, int]:
        return tags_in(self._ids())

    def tag_for(self, network_id: str) -> int:
        current = self.allocations()
        if network_id in current:
            return current[network_id]
        tag = lowest_free(current.values())
        if tag is None:
            raise DriverError(f'bridge {self.bridge}: no free local VLAN')
        self.host.log.append(commands.ovs_set_bridge_key(self.bridge, key_for(network_id), tag))
        self._ids()[key_for(network_id)] = str(tag)
        return tag

    def tags_for(self, network_ids: Sequence[str]) -> Dict[str, int]:
        return {n: self.tag_for(n) for n in network_ids}

    def port_tag(self, network_id: str) -> int:
        return self.tag_for(network_id) if self.enabled else DEAD_VLAN

    def release(self, network_id: str) -> None:
        if self._ids().pop(key_for(network_id), None) is not None:
            self.host.log.append(commands.ovs_remove_bridge_key(self.bridge, key_for(network_id)))


@dataclasses.dataclass
class FakeDrivers:
    """All fakes over one host: ``FakeDrivers.create(integration_bridge='br-int')``."""

    host: FakeHost
    netns: FakeNetns
    links: FakeLinks
    ovs: FakeOvs
    vlans: FakeLocalVlans

    def protocols(self) -> Tuple[Netns, Links, Ovs, LocalVlanAllocator]:
        """The fakes as the seams type them (mypy checks that each fits its Protocol)."""
        return self.netns, self.links, self.ovs, self.vlans

    @classmethod
    def create(cls, integration_bridge: str = 'br-int', local_vlan_tagging: bool = True,
               bridges: Sequence[str] = ('br-int', 'br-ex')) -> 'FakeDrivers':
        host = FakeHost()
        ovs = FakeOvs(host)
        for name in bridges:
            ovs.ensure_bridge(name)
        host.log.clear()
        return cls(host, FakeNetns(host), FakeLinks(host), ovs,
                   FakeLocalVlans(host, integration_bridge, local_vlan_tagging))
