"""Typed, frozen views of what the drivers observe, and the errors they raise.

Pure data: no kernel or OVSDB access here, so planners and fakes import it freely.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, Dict, Mapping, Optional, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

DEAD_VLAN = 4095              # Neutron's DEAD_VLAN_TAG: a port nobody can talk to
MAIN_TABLE = 254
PROTO_KERNEL = 2
PROTO_BOOT = 3
PROTO_STATIC = 4
SCOPE_UNIVERSE = 0
SCOPE_LINK = 253
SCOPE_HOST = 254

IFACE_ID = 'iface-id'
IFACE_STATUS = 'iface-status'
ATTACHED_MAC = 'attached-mac'
OWNER = 'netnode-owner'       # <kind>:<host>:<resource id>, see agent.dataplane.ownership


# -- local VLAN map kept in the integration bridge's external_ids (pure helpers) ----

KEY_PREFIX = 'netnode-vlan-'
MIN_TAG, MAX_TAG = 1, 4094


def key_for(network_id: str) -> str:
    return KEY_PREFIX + network_id


def tags_in(external_ids: Dict[str, str]) -> Dict[str, int]:
    """network id -> tag, from a bridge's external_ids (pure)."""
    found = {}
    for key, value in external_ids.items():
        if key.startswith(KEY_PREFIX) and value.isdigit():
            found[key[len(KEY_PREFIX):]] = int(value)
    return found


def lowest_free(used: Any) -> Optional[int]:
    taken = set(used)
    for tag in range(MIN_TAG, MAX_TAG + 1):
        if tag not in taken:
            return tag
    return None


class DriverError(RuntimeError):
    """A kernel or OVSDB operation failed; the message names the object."""


class NamespaceNotFound(DriverError):
    pass


class NamespaceNotEmpty(DriverError):
    pass


class DeviceNotFound(DriverError):
    pass


class BridgeNotFound(DriverError):
    pass


class PortNotReady(DriverError):
    """OVS accepted a port but its kernel device did not appear in time."""


def interface(value: Union[str, IPInterface]) -> IPInterface:
    """``'10.0.0.3/24'`` or an interface object -> an ``ipaddress`` interface."""
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return value
    return ipaddress.ip_interface(value)


def network(value: Union[str, IPNetwork]) -> IPNetwork:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    if value == 'default':
        raise ValueError("give the family's default route as 0.0.0.0/0 or ::/0")
    return ipaddress.ip_network(value, strict=False)


def default_broadcast(addr: IPInterface) -> Optional[ipaddress.IPv4Address]:
    """The broadcast iproute2's ``brd +`` would give; None for IPv6.

    /31 and /32 have no broadcast of their own: like ``brd +`` (and the reference's
    ``172.24.4.162/32 brd 172.24.4.162``) use the network's last address.
    """
    if addr.version != 4:
        return None
    return addr.network.broadcast_address


@dataclasses.dataclass(frozen=True)
class LinkState:
    """One network device as the kernel reports it."""

    name: str
    index: int
    mac: Optional[str]
    mtu: int
    up: bool
    kind: Optional[str] = None                     # 'tun', 'veth', None for plain devices
    addresses: frozenset = frozenset()             # global scope IPInterfaces
    broadcasts: tuple = ()                         # ((IPv4Interface, IPv4Address), ...) sorted
    link_local: frozenset = frozenset()            # scope link/host addresses (kernel's own)

    def broadcast(self, addr: Union[str, IPInterface]) -> Optional[ipaddress.IPv4Address]:
        wanted = interface(addr)
        for have, brd in self.broadcasts:
            if have == wanted:
                return brd
        return None


@dataclasses.dataclass(frozen=True)
class NextHop:
    gateway: Optional[IPAddress]
    dev: Optional[str]


@dataclasses.dataclass(frozen=True)
class RouteState:
    """One route of a table. Multipath routes carry their hops in ``nexthops``."""

    dst: IPNetwork
    gateway: Optional[IPAddress] = None
    dev: Optional[str] = None
    table: int = MAIN_TABLE
    scope: int = SCOPE_UNIVERSE
    proto: int = PROTO_STATIC
    metric: Optional[int] = None
    nexthops: tuple = ()                           # (NextHop, ...) sorted, multipath only

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceView:
    """A device in a namespace, read in one visit (``links.observe_device``): the
    device (None: not there), the namespace's default routes (IPv4 and IPv6, only
    when the device is there) and the sysctls asked for (None: unreadable)."""

    link: Optional[LinkState]
    default_routes: tuple = ()                     # (RouteState, ...)
    sysctls: tuple = ()                            # ((key, value or None), ...)


@dataclasses.dataclass(frozen=True, slots=True)
class NamespaceView:
    """A namespace read in one visit (``links.observe_namespace``): its devices
    with their addresses, the main table's unicast routes of the families asked
    for (as ``observe_routes``) and the sysctls asked for (None: unreadable)."""

    links: tuple = ()                              # (LinkState, ...) by name
    routes: tuple = ()                             # (RouteState, ...)
    sysctls: tuple = ()                            # ((key, value or None), ...)


@dataclasses.dataclass(frozen=True)
class PortSpec:
    """An OVS port we want: name, Neutron port id, MAC, VLAN tag and the owner
    mark that tells our ports from others' (see agent.dataplane.ownership).

    ``internal``: an internal port, whose device ovs-vswitchd makes (then moved
    into its namespace); else the root end of a veth pair of that name, which
    we make (``ovs_use_veth``: agent.dataplane.device.CreateVethPair)."""

    name: str
    iface_id: str
    mac: str
    tag: Optional[int] = None
    owner: Optional[str] = None
    internal: bool = True

    @property
    def interface_type(self) -> str:
        """The OVS Interface ``type``: 'internal', or '' for a system device."""
        return 'internal' if self.internal else ''

    def external_ids(self) -> dict:
        ids = {IFACE_ID: self.iface_id, IFACE_STATUS: 'active', ATTACHED_MAC: self.mac}
        if self.owner:
            ids[OWNER] = self.owner
        return ids


@dataclasses.dataclass(frozen=True)
class OvsPort:
    """A port on a bridge that carries our external_ids (iface-id)."""

    name: str
    bridge: str
    iface_id: str
    mac: Optional[str]
    tag: Optional[int]
    ofport: Optional[int]
    external_ids: Mapping = dataclasses.field(default_factory=dict, hash=False,
                                              compare=True)
    type: str = 'internal'

    def matches(self, spec: PortSpec) -> bool:
        return (self.name == spec.name and self.iface_id == spec.iface_id
                and self.mac == spec.mac and self.tag == spec.tag)
