"""Routers as the L3 agent sees them (the shape of Neutron's sync_routers)."""

from __future__ import annotations

import dataclasses

from agent.model.network import IPAddress, IPNetwork, Segment


@dataclasses.dataclass(frozen=True, slots=True)
class RouterSubnet:
    id: str
    cidr: IPNetwork
    gateway_ip: IPAddress | None = None
    dns_nameservers: tuple[IPAddress, ...] = ()
    # slaac, dhcpv6-stateful or dhcpv6-stateless: the router advertises it (radvd)
    ipv6_ra_mode: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RouterPort:
    """An internal (qr-) or gateway (qg-) port with its addresses and subnets."""
    id: str
    network_id: str
    mac_address: str
    # (address, prefixlen, subnet id)
    fixed_ips: tuple[tuple[IPAddress, int, str], ...]
    subnets: tuple[RouterSubnet, ...] = ()
    mtu: int = 1500
    admin_state_up: bool = True
    # The network's other subnets: on-link routes on the device (Neutron adds them).
    extra_subnets: tuple[RouterSubnet, ...] = ()
    segment: Segment | None = None      # provider attributes, when the server sends them


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    destination: IPNetwork
    nexthop: IPAddress


@dataclasses.dataclass(frozen=True, slots=True)
class FloatingIP:
    id: str
    floating_ip_address: IPAddress
    fixed_ip_address: IPAddress | None
    port_id: str | None
    floating_network_id: str
    status: str = 'DOWN'


@dataclasses.dataclass(frozen=True, slots=True)
class Router:
    id: str
    name: str = ''
    project_id: str = ''
    admin_state_up: bool = True
    enable_snat: bool = True
    gw_port: RouterPort | None = None
    interfaces: tuple[RouterPort, ...] = ()
    routes: tuple[Route, ...] = ()
    floating_ips: tuple[FloatingIP, ...] = ()
    # HA (keepalived VRRP): ``ha_vr_id``, this host's HA port (``_ha_interface``)
    # and the state the server holds for this host (``_ha_state``).
    ha: bool = False
    ha_vr_id: int = 0
    ha_port: RouterPort | None = None
    ha_state: str = 'unknown'
