"""Plan one plugged device: ``diff(DesiredDevice, ObservedDevice) -> Plan``.

Pure: no driver is called here.  The order of the actions is the order the kernel
needs (plug, move into the namespace, MAC, MTU, up, addresses, routes), and a
converged device plans nothing.

Two layouts, as Neutron's OVS interface driver has them:

- an OVS internal port (the default, and what Neutron's agents leave on a
  node): ovs-vswitchd makes its device in the root namespace, which is then
  moved into the namespace.  Each move waits for an RCU barrier under the
  kernel's rtnl lock (~20 ms here, one at a time on the whole host): a
  thousand routers' 2000 moves hold that lock for 40 s of their cold start;
- a veth pair (``ovs_use_veth``): the namespace's end is made there, in the
  request that makes the pair (~0.5 ms, nothing moved), and the root end, of
  the same name, is plugged into the bridge.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from agent.drivers import commands
from agent.drivers.state import IPAddress, IPInterface, LinkState, OvsPort, PortSpec
from agent.drivers.state import RouteState, default_broadcast
from agent.reconcile.plan import Action, Plan


@dataclasses.dataclass(frozen=True, slots=True)
class DesiredDevice:
    namespace: str
    bridge: str
    port: PortSpec                     # OVS name, iface-id, MAC, tag
    mtu: int | None = None
    addresses: frozenset = frozenset()     # IPInterfaces, exact set
    gateways: tuple = ()                   # at most one IPAddress per family
    sysctls: tuple = ()                    # ((key, value), ...) of the namespace
    # False when another agent (an L2 agent) owns the VLAN tags: the port is
    # plugged with ``port.tag`` (the dead VLAN) but the tag, vlan_mode, trunks and
    # other_config of an existing port are left alone (agent.dataplane.ownership).
    manage_tag: bool = True
    # False when keepalived owns the addresses and default routes (an HA router's
    # qr-/qg- devices): they are neither added nor removed here.
    manage_addresses: bool = True
    # Networks whose addresses on the device are someone else's (keepalived's
    # primary VIP on an HA router's ha- device): never removed here.
    foreign: tuple = ()

    @property
    def name(self):
        return self.port.name

    @property
    def veth(self) -> bool:
        return not self.port.internal


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedDevice:
    namespace_exists: bool
    ovs_port: OvsPort | None               # our port of that name on the bridge
    link: LinkState | None                 # the device inside the namespace
    link_in_root: bool = False             # plugged but not yet moved
    default_routes: tuple = ()             # RouteState, both families
    sysctls: tuple = ()                    # ((key, value), ...) as observed


# -- actions ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class CreateNamespace(Action):
    namespace: str

    def describe(self):
        return commands.netns_add(self.namespace)


@dataclasses.dataclass(frozen=True, slots=True)
class SetSysctls(Action):
    namespace: str
    values: tuple                          # ((key, value), ...)

    def describe(self):
        return '; '.join(commands.sysctl_set(self.namespace, k, v) for k, v in self.values)


@dataclasses.dataclass(frozen=True, slots=True)
class PlugPort(Action):
    bridge: str
    port: PortSpec

    def describe(self):
        return commands.ovs_replace_port(self.bridge, self.port.name,
                                         self.port.external_ids(), self.port.tag,
                                         self.port.tag == 4095, self.port.internal)


@dataclasses.dataclass(frozen=True, slots=True)
class CreateVethPair(Action):
    """A veth pair named ``name`` at both ends: one made in ``namespace`` with
    the port's MAC and MTU, set up there with its transmit checksums computed
    in software (the userspace datapath forwards a frame whose checksum was
    left to the device as it is: TCP and UDP from the namespace were dropped
    by their receivers); the other left in the root namespace, up, without an
    IPv6 address, for the bridge (a PlugPort after this)."""
    namespace: str
    name: str
    mac: str
    mtu: int | None = None

    def describe(self):
        mtu = f' mtu {self.mtu}' if self.mtu else ''
        return (f'ip link add {self.name}{mtu} type veth peer name {self.name} '
                f'netns {self.namespace} address {self.mac}{mtu}; '
                f'ip link set {self.name} addrgenmode none up; '
                f'ip netns exec {self.namespace} ethtool -K {self.name} tx off; '
                + commands.link_set(self.namespace, self.name, up=True))


@dataclasses.dataclass(frozen=True, slots=True)
class SetTag(Action):
    name: str
    tag: int | None

    def describe(self):
        return commands.ovs_set_tag(self.name, self.tag)


@dataclasses.dataclass(frozen=True, slots=True)
class MoveToNamespace(Action):
    name: str
    namespace: str

    def describe(self):
        return commands.link_set(None, self.name, netns=self.namespace)


@dataclasses.dataclass(frozen=True, slots=True)
class SetMac(Action):
    namespace: str
    name: str
    mac: str

    def describe(self):
        return commands.link_set(self.namespace, self.name, mac=self.mac)


@dataclasses.dataclass(frozen=True, slots=True)
class SetMtu(Action):
    namespace: str | None                  # None: the root namespace (a veth's root end)
    name: str
    mtu: int

    def describe(self):
        return commands.link_set(self.namespace, self.name, mtu=self.mtu)


@dataclasses.dataclass(frozen=True, slots=True)
class SetUp(Action):
    namespace: str
    name: str

    def describe(self):
        return commands.link_set(self.namespace, self.name, up=True)


@dataclasses.dataclass(frozen=True, slots=True)
class AddAddress(Action):
    namespace: str
    name: str
    address: IPInterface

    def describe(self):
        return commands.addr_add(self.namespace, self.name, self.address,
                                 default_broadcast(self.address))


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteAddress(Action):
    namespace: str
    name: str
    address: IPInterface

    def describe(self):
        return commands.addr_delete(self.namespace, self.name, self.address)


@dataclasses.dataclass(frozen=True, slots=True)
class SetDefaultGateway(Action):
    namespace: str
    name: str
    gateway: IPAddress

    def describe(self):
        family = '0.0.0.0/0' if self.gateway.version == 4 else '::/0'
        return commands.route_replace(self.namespace, family, gateway=self.gateway,
                                      dev=self.name)


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteDefaultRoute(Action):
    namespace: str
    version: int

    def describe(self):
        return commands.route_delete(self.namespace,
                                     '0.0.0.0/0' if self.version == 4 else '::/0')


@dataclasses.dataclass(frozen=True, slots=True)
class UnplugPort(Action):
    bridge: str
    name: str

    def describe(self):
        return commands.ovs_del_port(self.bridge, self.name)


@dataclasses.dataclass(frozen=True, slots=True)
class RefuseDevice(Action):
    """The device name is already another port's (names are a prefix and the
    first 11 characters of the port id): that device is never replugged or moved
    for this port; executing this logs the refusal as an ERROR."""
    namespace: str
    name: str
    port_id: str
    holder_id: str

    def describe(self):
        return (f'# refused: {self.name} belongs to port {self.holder_id}, '
                f'not to port {self.port_id} ({self.namespace})')


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteNamespace(Action):
    namespace: str

    def describe(self):
        return commands.netns_delete(self.namespace)


@dataclasses.dataclass(frozen=True, slots=True)
class MoveDevice(Action):
    """A device moved into the namespace and given its MAC and MTU and set up
    there, in one netlink request (see :func:`coalesce`)."""
    name: str
    namespace: str
    mac: str | None = None
    mtu: int | None = None
    up: bool = False

    def describe(self):
        return commands.link_set(None, self.name, netns=self.namespace, mac=self.mac,
                                 mtu=self.mtu, up=True if self.up else None)


@dataclasses.dataclass(frozen=True, slots=True)
class GratuitousArp(Action):
    namespace: str
    name: str
    address: IPAddress

    def describe(self):
        return ' '.join(commands.arping(self.namespace, self.name, self.address))



@dataclasses.dataclass(frozen=True, slots=True)
class ConfigureDevice(Action):
    """A device's new addresses, then its default routes, then the first
    gratuitous ARP of each announced address, in one visit to the namespace's
    netlink worker (see :func:`fold_device_config`)."""
    namespace: str
    name: str
    addresses: tuple = ()                  # IPInterfaces to add, in order
    gateways: tuple = ()                   # default routes via these (one per family)
    announce: tuple = ()                   # IPv4 addresses to announce

    def describe(self):
        lines = [commands.addr_add(self.namespace, self.name, a, default_broadcast(a))
                 for a in self.addresses]
        lines += [SetDefaultGateway(self.namespace, self.name, g).describe()
                  for g in self.gateways]
        lines += [' '.join(commands.arping(self.namespace, self.name, a))
                  for a in self.announce]
        return '; '.join(lines)



# -- planning -----------------------------------------------------------------------

def _port_replug_needed(desired: DesiredDevice, observed: ObservedDevice) -> bool:
    port = observed.ovs_port
    if port is None or port.iface_id != desired.port.iface_id or port.type != 'internal':
        return True
    # The kernel device vanished (namespace deleted behind our back): re-plug.
    return observed.link is None and not observed.link_in_root


def _configure(desired, link):
    """Actions that make an existing device in the namespace look as desired."""
    ns, name = desired.namespace, desired.name
    actions: list[Action] = []
    if link is None or (link.mac or '').lower() != desired.port.mac.lower():
        actions.append(SetMac(ns, name, desired.port.mac))
    if desired.mtu and (link is None or link.mtu != desired.mtu):
        actions.append(SetMtu(ns, name, desired.mtu))
    if link is None or not link.up:
        actions.append(SetUp(ns, name))
    if desired.manage_addresses:
        actions += _addresses(desired, link)
    return actions


def _addresses(desired, link):
    ns, name = desired.namespace, desired.name
    actions: list[Action] = []
    # Link-scoped addresses count only when wanted (fe80::a9fe:a9fe): the kernel's
    # own IPv6 link-local address is never ours to remove.
    have = (link.addresses | (link.link_local & desired.addresses)
            if link is not None else frozenset())
    have = frozenset(a for a in have
                     if not any(a.version == n.version and a.ip in n for n in desired.foreign))
    stale_brd = frozenset(
        a for a in have & desired.addresses
        if a.version == 4 and link.broadcast(a) != default_broadcast(a))
    for addr in sorted((have - desired.addresses) | stale_brd, key=str):
        actions.append(DeleteAddress(ns, name, addr))
    for addr in sorted((desired.addresses - have) | stale_brd, key=str):
        actions.append(AddAddress(ns, name, addr))
    return actions


def _routes(desired: DesiredDevice, observed: ObservedDevice, fresh: bool) -> list[Action]:
    actions: list[Action] = []
    if not desired.manage_addresses:
        return actions
    wanted = {gw.version: gw for gw in desired.gateways}
    have: dict[int, RouteState] = {}
    for route in observed.default_routes:
        have.setdefault(route.dst.version, route)
    for version in (4, 6):
        gw, route = wanted.get(version), have.get(version)
        if gw is not None:
            if fresh or route is None or route.gateway != gw or route.dev != desired.name:
                actions.append(SetDefaultGateway(desired.namespace, desired.name, gw))
        elif route is not None and route.dev == desired.name:
            actions.append(DeleteDefaultRoute(desired.namespace, version))
    return actions


def holder(desired: DesiredDevice, observed: ObservedDevice) -> str | None:
    """The id of another port whose device has ``desired``'s name, if one has."""
    port = observed.ovs_port
    if port is not None and port.iface_id and port.iface_id != desired.port.iface_id:
        return port.iface_id
    return None


def refusals(plan) -> list[RefuseDevice]:
    return [a for a in plan if isinstance(a, RefuseDevice)]


def _veth_device(desired: DesiredDevice, observed: ObservedDevice) -> list[Action]:
    """The pair (made again if its namespace's end is gone), its port on the
    bridge (plugged again with a new pair: the old device is gone), the device's
    configuration.  An internal port's device of that name (a node that ran
    without ``ovs_use_veth``) is unplugged first: ovs-vswitchd deletes it."""
    actions: list[Action] = []
    port, link = observed.ovs_port, observed.link
    if link is not None and link.kind != 'veth' and port is not None:
        actions.append(UnplugPort(desired.bridge, desired.name))
        port = link = None
    fresh = link is None
    if fresh:
        actions.append(CreateVethPair(desired.namespace, desired.name, desired.port.mac,
                                      desired.mtu))
    if fresh or port is None or port.iface_id != desired.port.iface_id \
            or port.type != desired.port.interface_type:
        actions.append(PlugPort(desired.bridge, desired.port))
    elif desired.manage_tag and port.tag != desired.port.tag:
        actions.append(SetTag(desired.name, desired.port.tag))
    if not fresh:
        configure = _configure(desired, link)
        # A new MTU on the root end too (as Neutron's driver does): ovs-vswitchd
        # could not send it a frame larger than its own.
        actions += [SetMtu(None, a.name, a.mtu) for a in configure if isinstance(a, SetMtu)]
        actions += configure
    elif desired.manage_addresses:
        actions += _addresses(desired, None)
    return actions + _routes(desired, observed, fresh)


def diff(desired: DesiredDevice, observed: ObservedDevice) -> Plan:
    other = holder(desired, observed)
    if other is not None:
        return Plan.of([RefuseDevice(desired.namespace, desired.name,
                                     desired.port.iface_id, other)])
    actions: list[Action] = []
    if not observed.namespace_exists:
        actions.append(CreateNamespace(desired.namespace))
    have_sysctls = dict(observed.sysctls) if observed.namespace_exists else {}
    stale = tuple((k, v) for k, v in desired.sysctls if have_sysctls.get(k) != str(v))
    if stale:
        actions.append(SetSysctls(desired.namespace, stale))
    if desired.veth:
        return Plan.of(actions + _veth_device(desired, observed))
    fresh = _port_replug_needed(desired, observed)
    if observed.link is not None and observed.link.kind == 'veth':
        # A pair made with ovs_use_veth: deleting its root end deletes both.
        actions.append(UnplugPort(desired.bridge, desired.name))
        fresh = True
    if fresh:
        actions.append(PlugPort(desired.bridge, desired.port))
        actions.append(MoveToNamespace(desired.name, desired.namespace))
        link = None
    else:
        if desired.manage_tag and observed.ovs_port.tag != desired.port.tag:
            actions.append(SetTag(desired.name, desired.port.tag))
        if observed.link is None:        # plugged, still in the root namespace
            actions.append(MoveToNamespace(desired.name, desired.namespace))
        link = observed.link
    actions += _configure(desired, link)
    actions += _routes(desired, observed, fresh or link is None)
    return Plan.of(actions)


def teardown_devices(namespace: str, bridge: str, devices, namespace_exists: bool) -> Plan:
    """Unplug every one of ``devices`` (OVS ports that exist), then the namespace."""
    actions: list[Action] = [UnplugPort(bridge, d) for d in devices]
    if namespace_exists:
        actions.append(DeleteNamespace(namespace))
    return Plan.of(actions)


def interfaces(addresses) -> frozenset:
    return frozenset(ipaddress.ip_interface(a) for a in addresses)


def default_routes_of(routes) -> tuple:
    return tuple(r for r in routes if isinstance(r, RouteState) and r.is_default)


_MOVED_FIELDS = {SetMac: ('mac', lambda a: a.mac), SetMtu: ('mtu', lambda a: a.mtu),
                 SetUp: ('up', lambda a: True)}


def coalesce(plan: Plan) -> Plan:
    """``plan`` with each MoveToNamespace and the SetMac, SetMtu and SetUp of that
    device right after it made one :class:`MoveDevice`: one request instead of
    four (each ~1 ms of the agent's CPU and a trip through the kernel's rtnl
    lock), the same effect in the same order."""
    actions: tuple[Any, ...] = plan.actions   # each run's type checked before use
    out, i = [], 0
    while i < len(actions):
        move, fields, i = actions[i], {}, i + 1
        if isinstance(move, MoveToNamespace):
            while i < len(actions) and type(actions[i]) in _MOVED_FIELDS:
                field, value = _MOVED_FIELDS[type(actions[i])]
                if (actions[i].namespace, actions[i].name) != (move.namespace, move.name) \
                        or field in fields:
                    break
                fields[field] = value(actions[i])
                i += 1
        out.append(MoveDevice(move.name, move.namespace, **fields) if fields else move)
    return Plan.of(out)


# AddAddress, then SetDefaultGateway, then GratuitousArp: the planner's order
# within one device, the only one folded.
_CONFIG_STAGE = {AddAddress: 0, SetDefaultGateway: 1, GratuitousArp: 2}


def fold_device_config(plan: Plan) -> Plan:
    """``plan`` with each run of two or more AddAddress, SetDefaultGateway and
    GratuitousArp of one device (in that order) made one :class:`ConfigureDevice`.

    Each of them was a visit to the namespace's netlink worker (a thread hop,
    ~0.3-0.5 ms of the agent's CPU under the GIL) and a device lookup (one
    more request, ~1 ms): a router with a gateway and two floating IPs made 13
    visits for its qr- and qg- devices, now 2 (plus the later ARP repeats); a
    DHCP tap's addresses and default route one instead of two.  Same effect in
    the same order."""
    actions: tuple[Any, ...] = plan.actions   # each run's type checked before use
    out, i = [], 0
    while i < len(actions):
        first = actions[i]
        stage = _CONFIG_STAGE.get(type(first))
        j = i + 1
        if stage is not None:
            while (j < len(actions) and _CONFIG_STAGE.get(type(actions[j]), -1) >= stage
                   and (actions[j].namespace, actions[j].name)
                   == (first.namespace, first.name)):
                stage = _CONFIG_STAGE[type(actions[j])]
                j += 1
        if j - i < 2:
            out.append(first)
            i += 1
            continue
        run = actions[i:j]
        out.append(ConfigureDevice(
            first.namespace, first.name,
            tuple(a.address for a in run if isinstance(a, AddAddress)),
            tuple(a.gateway for a in run if isinstance(a, SetDefaultGateway)),
            tuple(a.address for a in run if isinstance(a, GratuitousArp))))
        i = j
    return Plan.of(out)
