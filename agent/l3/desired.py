"""What one router needs on this host: pure functions of the typed router.

``desired_router(router, settings, tags)`` gives the namespace with its
sysctls, the qr-/qg- devices (as :class:`agent.dataplane.device.DesiredDevice`),
the extra routes, the iptables tables (:mod:`agent.l3.nat`), the floating-IP
mapping and the metadata proxy's ProcessSpec.  Nothing here touches the host.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Mapping

from agent.common import names
from agent.dataplane import ownership
from agent.dataplane.device import DesiredDevice
from agent.drivers.iptables_rules import Tables
from agent.drivers.state import PortSpec
from agent.l3 import keepalived, nat
from agent.l3.settings import L3Settings
from agent.metadata import haproxy
from agent.metadata.node_proxy import ListenerSpec
from agent.model.network import IPAddress, IPNetwork
from agent.model.router import Router, RouterPort
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

# Every qrouter namespace, at creation (neutron-agent-rpc.md §6.4).
NAMESPACE_SYSCTLS = (
    ('net.ipv4.ip_forward', 1),
    ('net.ipv4.conf.all.arp_ignore', 1),
    ('net.ipv4.conf.all.arp_announce', 2),
    ('net.netfilter.nf_conntrack_tcp_be_liberal', 1),
)
NAMESPACE_SYSCTLS_V6 = (('net.ipv6.conf.all.forwarding', 1),)
# HA routers too: a backup's services may bind the VIPs it does not hold yet
# (Neutron's HA namespaces; GARPs come from keepalived, not from the agent).
HA_SYSCTLS = (('net.ipv4.ip_nonlocal_bind', 1),)


@dataclasses.dataclass(frozen=True, slots=True)
class ExtraRoute:
    """One destination of the router's ``routes``; several nexthops make ECMP."""
    destination: IPNetwork
    nexthops: tuple[IPAddress, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class DesiredRouter:
    router_id: str
    namespace: str
    sysctls: tuple[tuple[str, int], ...]
    devices: tuple[DesiredDevice, ...]          # qr- ports first, qg-, then ha-
    device_sysctls: tuple[tuple[str, int], ...]  # need the devices (qg- accept_ra)
    routes: tuple[ExtraRoute, ...]
    tables: Tables
    floating_ips: Mapping[IPAddress, IPAddress]  # floating -> fixed (active ones)
    proxy: ProcessSpec | ListenerSpec | None     # haproxy, or the shared proxy's
    # HA routers: keepalived owns the qr-/qg- addresses, the default and extra
    # routes (``routes`` is then empty and no device manages its addresses).
    keepalived: ProcessSpec | None = None

    def device(self, name: str) -> DesiredDevice | None:
        return next((d for d in self.devices if d.name == name), None)

    @property
    def device_names(self) -> frozenset[str]:
        return frozenset(d.name for d in self.devices)


def hosted(router: Router | None, settings: L3Settings) -> bool:
    """Whether this agent serves ``router`` (an internal-only router only if allowed)."""
    if router is None or not router.admin_state_up:
        return False
    return router.gw_port is not None or settings.handle_internal_only_routers


def _interfaces(port: RouterPort) -> frozenset:
    return frozenset(ipaddress.ip_interface(f'{ip}/{prefixlen}')
                     for ip, prefixlen, _ in port.fixed_ips)


def _owner(router: Router, settings: L3Settings) -> str | None:
    """The mark of the router's ports (none without a host: unit tests)."""
    if not settings.host:
        return None
    return ownership.Owner(ownership.L3, settings.host, router.id).mark()


def _manages_tag(settings: L3Settings) -> bool:
    return ownership.manages_l2_fields(settings.local_vlan_tagging)


def internal_device(router: Router, port: RouterPort, settings: L3Settings,
                    tag: int | None) -> DesiredDevice:
    """``qr-<port>`` on the integration bridge: MAC, MTU, the subnets' gateway IPs
    (keepalived's VIPs on an HA router).

    Plugged with ``tag`` (the dead VLAN when an L2 agent tags); with
    ``local_vlan_tagging`` off an existing port's tag is the L2 agent's."""
    spec = PortSpec(names.internal_device_name(port.id), port.id, port.mac_address, tag,
                    _owner(router, settings), not settings.ovs_use_veth)
    return DesiredDevice(names.router_namespace(router.id), settings.integration_bridge,
                         spec, port.mtu or None, _interfaces(port),
                         manage_tag=_manages_tag(settings), manage_addresses=not router.ha)


def ha_device(router: Router, settings: L3Settings, tag: int | None) -> DesiredDevice:
    """``ha-<port>`` of an HA router on the integration bridge, tagged like a qr-
    port, with its HA network address always configured (VRRP runs over it);
    keepalived's primary VIP on it is left to keepalived."""
    port = router.ha_port
    spec = PortSpec(names.ha_device_name(port.id), port.id, port.mac_address, tag,
                    _owner(router, settings), not settings.ovs_use_veth)
    return DesiredDevice(names.router_namespace(router.id), settings.integration_bridge,
                         spec, port.mtu or None, _interfaces(port),
                         manage_tag=_manages_tag(settings),
                         foreign=(keepalived.PRIMARY_VIP_RANGE,))


def gateway_device(router: Router, port: RouterPort, settings: L3Settings) -> DesiredDevice:
    """``qg-<port>`` straight on the external bridge (untagged), with the external
    addresses, each floating IP as a /32, and the default route(s)."""
    addresses = set(_interfaces(port))
    for fip in nat.active_floating_ips(router):
        addresses.add(ipaddress.ip_interface(f'{fip.floating_ip_address}/32'))
    gateways: dict[int, IPAddress] = {}
    own_subnets = {subnet_id for _, _, subnet_id in port.fixed_ips}
    for subnet in port.subnets:
        if subnet.gateway_ip is not None and subnet.id in own_subnets:
            gateways.setdefault(subnet.gateway_ip.version, subnet.gateway_ip)
    spec = PortSpec(names.gateway_device_name(port.id), port.id, port.mac_address, None,
                    _owner(router, settings), not settings.ovs_use_veth)
    return DesiredDevice(names.router_namespace(router.id), settings.external_bridge,
                         spec, port.mtu or None, frozenset(addresses),
                         tuple(gateways[v] for v in sorted(gateways)),
                         manage_tag=_manages_tag(settings), manage_addresses=not router.ha)


def extra_routes(router: Router) -> tuple[ExtraRoute, ...]:
    """``routes`` grouped by destination (same destination: one multipath route)."""
    grouped: dict[IPNetwork, set[IPAddress]] = {}
    for route in router.routes:
        grouped.setdefault(route.destination, set()).add(route.nexthop)
    return tuple(ExtraRoute(dst, tuple(sorted(hops)))
                 for dst, hops in sorted(grouped.items(),
                                         key=lambda kv: (kv[0].version, kv[0])))


def proxy_spec(router_id: str, settings: L3Settings) -> ProcessSpec:
    return haproxy.metadata_proxy_spec(
        router_id, 'router', names.router_namespace(router_id), settings.state_path,
        settings.proxy_bind_address, settings.metadata_port, settings.proxy_user,
        settings.proxy_group, socket_path=settings.proxy_socket, debug=settings.debug,
        rate_limit=settings.proxy_rate_limit)


def listener_spec(router_id: str, settings: L3Settings) -> ListenerSpec:
    """The router's socket of the shared metadata proxy (metadata_proxy_mode =
    shared): where its haproxy would listen."""
    return ListenerSpec(router_id, 'router', names.router_namespace(router_id),
                        settings.proxy_bind_address, settings.metadata_port)


def _distinct_names(router: Router, devices: list[DesiredDevice]) -> list[DesiredDevice]:
    """Two interfaces whose ids share 11 characters would share a qr- device:
    the second is refused (with an ERROR naming both), the first keeps it."""
    kept: dict[str, DesiredDevice] = {}
    for device in devices:
        first = kept.get(device.name)
        if first is None:
            kept[device.name] = device
        else:
            LOG.error('router %s: port %s refused: its device %s would be port %s\'s '
                      '(device names are a prefix and the first 11 characters of the '
                      'port id)', router.id, device.port.iface_id, device.name,
                      first.port.iface_id)
    return list(kept.values())


def desired_router(router: Router, settings: L3Settings,
                   tags: Mapping[str, int], primary: bool = True) -> DesiredRouter:
    """Everything ``router`` needs; ``tags`` maps internal network ids to local VLANs.

    An HA router (``router.ha``) runs its metadata proxy only where it is
    ``primary``; its rules are the same on every node."""
    devices = _distinct_names(router, [
        internal_device(router, port, settings, tags.get(port.network_id))
        for port in router.interfaces])
    device_sysctls: list[tuple[str, int]] = []
    if router.gw_port is not None:
        gw = gateway_device(router, router.gw_port, settings)
        devices.append(gw)
        if settings.ipv6:
            has_v6_gw = any(g.version == 6 for g in gw.gateways)
            device_sysctls += [(f'net.ipv6.conf.{gw.name}.accept_ra', 0 if has_v6_gw else 2),
                               (f'net.ipv6.conf.{gw.name}.forwarding', 1)]
    if router.ha:
        devices.append(ha_device(router, settings, tags.get(router.ha_port.network_id)))
    sysctls = (NAMESPACE_SYSCTLS + (NAMESPACE_SYSCTLS_V6 if settings.ipv6 else ())
               + (HA_SYSCTLS if router.ha else ()))
    fips = {} if router.gw_port is None else {
        f.floating_ip_address: f.fixed_ip_address for f in nat.active_floating_ips(router)}
    proxy = None
    if settings.enable_metadata_proxy and (primary or not router.ha):
        proxy = (listener_spec(router.id, settings)
                 if settings.metadata_proxy_mode == 'shared' else proxy_spec(router.id, settings))
    vrrp = (keepalived.desired_spec(router, settings.ha, sorted(fips))
            if router.ha else None)
    return DesiredRouter(
        router_id=router.id, namespace=names.router_namespace(router.id),
        sysctls=sysctls, devices=tuple(devices), device_sysctls=tuple(device_sysctls),
        routes=() if router.ha else extra_routes(router),
        tables=nat.router_tables(router, settings.nat),
        floating_ips=fips, proxy=proxy, keepalived=vrrp)
