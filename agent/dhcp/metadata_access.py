"""How a network's instances reach 169.254.169.254: decided once, here.

A subnet is *isolated* when no router interface holds its gateway address
(Neutron's ``get_isolated_subnets``).  From that and the two options
(``enable_isolated_metadata``, ``force_metadata``) follow both what dnsmasq
tells the instances (:mod:`agent.dhcp.render`: the route to 169.254.169.254
goes to the DHCP port, to the subnet's router or nowhere) and whether the
metadata proxy runs in ``qdhcp-`` with the metadata address on the tap
(:mod:`agent.dhcp.desired`, the reconciler).  Neutron's
``should_enable_metadata``, without OVN metadata ports.
"""

from __future__ import annotations

import dataclasses

from agent.dhcp.settings import DnsmasqSettings
from agent.model.network import ROUTER_INTERFACE_OWNERS, Network


@dataclasses.dataclass(frozen=True, slots=True)
class MetadataAccess:
    via_dhcp_port: frozenset[str]   # DHCP subnets whose metadata route is the DHCP port
    via_router: frozenset[str]      # DHCP subnets with a router on their gateway address
    proxy: bool                     # the proxy runs in the network's namespace


def isolated_subnets(network: Network) -> dict[str, bool]:
    """subnet id -> True unless a router-interface port holds the subnet's gateway IP."""
    result = {s.id: True for s in network.subnets}
    gateways = {s.id: s.gateway_ip for s in network.subnets}
    for port in network.ports:
        if port.device_owner not in ROUTER_INTERFACE_OWNERS:
            continue
        for fip in port.fixed_ips:
            if fip.subnet_id in gateways and gateways[fip.subnet_id] == fip.ip_address:
                result[fip.subnet_id] = False
    return result


def metadata_access(network: Network, settings: DnsmasqSettings) -> MetadataAccess:
    """The DHCP port answers metadata for an IPv4 DHCP subnet when forced, or when
    the subnet is isolated and enable_isolated_metadata; the proxy runs when one
    subnet is served so, or when forced (even with IPv6 subnets only)."""
    subnets = network.dhcp_subnets
    isolated = isolated_subnets(network)
    via_dhcp_port = frozenset(
        s.id for s in subnets if s.ip_version == 4 and (
            settings.force_metadata or (isolated[s.id] and settings.enable_isolated_metadata)))
    return MetadataAccess(
        via_dhcp_port=via_dhcp_port,
        via_router=frozenset(s.id for s in subnets if not isolated[s.id]),
        proxy=bool(subnets) and (settings.force_metadata or bool(via_dhcp_port)))
