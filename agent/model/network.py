"""Networks, subnets and ports as the DHCP and metadata agents see them."""

from __future__ import annotations

import dataclasses
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEVICE_OWNER_DHCP = 'network:dhcp'
DEVICE_OWNER_ROUTER_INTF = 'network:router_interface'
DEVICE_OWNER_ROUTER_GW = 'network:router_gateway'
DEVICE_OWNER_FLOATINGIP = 'network:floatingip'
ROUTER_INTERFACE_OWNERS = frozenset({
    DEVICE_OWNER_ROUTER_INTF, 'network:ha_router_replicated_interface',
    'network:router_interface_distributed'})
# Ports whose addresses dnsmasq does not hand out (Neutron's list).
DHCP_CONFIG_NOT_REQUIRED_OWNERS = frozenset({
    'network:router_ha_interface', DEVICE_OWNER_FLOATINGIP, DEVICE_OWNER_DHCP,
    'network:distributed'})

IPV6_SLAAC = 'slaac'
IPV6_DHCP_STATEFUL = 'dhcpv6-stateful'
IPV6_DHCP_STATELESS = 'dhcpv6-stateless'


@dataclasses.dataclass(frozen=True, slots=True)
class HostRoute:
    destination: IPNetwork
    nexthop: IPAddress


@dataclasses.dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    network_id: str
    cidr: IPNetwork
    ip_version: int
    gateway_ip: IPAddress | None = None
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    ipv6_address_mode: str | None = None
    ipv6_ra_mode: str | None = None
    name: str = ''


@dataclasses.dataclass(frozen=True, slots=True)
class FixedIP:
    subnet_id: str
    ip_address: IPAddress


@dataclasses.dataclass(frozen=True, slots=True)
class DhcpOpt:
    opt_name: str
    opt_value: str
    ip_version: int = 4


@dataclasses.dataclass(frozen=True, slots=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[FixedIP, ...] = ()
    device_owner: str = ''
    device_id: str = ''
    admin_state_up: bool = True
    extra_dhcp_opts: tuple[DhcpOpt, ...] = ()
    binding_host_id: str = ''
    revision_number: int = 0
    name: str = ''
    # (ip, hostname, fqdn) triples from dns_assignment, when the server sends them.
    dns_assignment: tuple[tuple[str, str, str], ...] = ()
    project_id: str = ''
    vif_type: str = 'ovs'           # binding:vif_type (the metadata's network_data.json)


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """A network's provider attributes (``provider:network_type`` and friends)."""
    network_type: str | None = None
    physical_network: str | None = None
    segmentation_id: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Network:
    id: str
    project_id: str = ''
    admin_state_up: bool = True
    mtu: int = 0
    subnets: tuple[Subnet, ...] = ()
    ports: tuple[Port, ...] = ()
    name: str = ''
    segment: Segment | None = None

    @property
    def dhcp_subnets(self) -> tuple[Subnet, ...]:
        """The subnets with DHCP enabled, in order: the one place that filters them.
        Not cached (the model has slots): measured 0.5 us when all have DHCP (the
        tuple itself), 1.5 us for two subnets of which one has not."""
        subnets = self.subnets
        if all(s.enable_dhcp for s in subnets):
            return subnets
        return tuple(s for s in subnets if s.enable_dhcp)

    def port(self, port_id):
        return next((p for p in self.ports if p.id == port_id), None)
