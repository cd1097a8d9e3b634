"""What one network needs on this host: pure functions of the typed network.

The DHCP port request (Neutron's existing -> reserved -> new order), the tap
device in ``qdhcp-<net>`` (with the metadata address when the proxy runs, see
:mod:`agent.dhcp.metadata_access`) and the dnsmasq ProcessSpec.  Nothing here
touches the host.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from agent.common import names
from agent.dataplane import ownership
from agent.dataplane.device import DesiredDevice
from agent.dhcp import dnsmasq, render
from agent.dhcp.metadata_access import metadata_access
from agent.dhcp.settings import DhcpPaths, DnsmasqSettings
from agent.drivers.state import PortSpec
from agent.model.network import Network, Port
from agent.process.spec import ProcessSpec

RESERVED_DHCP_PORT = 'reserved_dhcp_port'
METADATA_ADDRESS = ipaddress.ip_interface('169.254.169.254/16')
METADATA_ADDRESS_V6 = ipaddress.ip_interface('fe80::a9fe:a9fe/128')
# Set in the namespace before the tap is plugged (Neutron's qdhcp sysctls).
NAMESPACE_SYSCTLS = (('net.ipv4.ip_nonlocal_bind', 1),
                     ('net.ipv6.conf.default.accept_ra', 0))
SERVICE = 'dnsmasq'


def dhcp_enabled(network: Network) -> Network:
    """The network as ``get_network_info`` gives it: DHCP-enabled subnets only.

    ``get_active_networks_info`` sends every subnet; normalising both to the same
    view keeps the rendered files identical whichever call fetched the network.
    """
    subnets = network.dhcp_subnets
    if subnets == network.subnets:
        return network
    return dataclasses.replace(network, subnets=subnets)


def wants_dhcp(network: Network | None) -> bool:
    """Whether the network gets a DHCP server here (Neutron: admin up, a DHCP subnet)."""
    return (network is not None and network.admin_state_up
            and bool(network.dhcp_subnets))


@dataclasses.dataclass(frozen=True, slots=True)
class PortRequest:
    """One ``*_dhcp_port`` call to make: ``method`` is create or update."""
    method: str                 # 'create_dhcp_port' / 'update_dhcp_port' / '' (none)
    port_id: str | None
    body: dict = dataclasses.field(hash=False, compare=True, default_factory=dict)


def dhcp_port_request(network: Network, host: str) -> tuple[Port | None, PortRequest]:
    """Our DHCP port if it is right already, else the call that makes it right.

    1. a port with our device_id: updated only if its subnets differ from the
       DHCP-enabled ones (kept IPs + ``{subnet_id}`` for new subnets);
    2. a ``reserved_dhcp_port``: adopted by setting our device_id;
    3. otherwise a new port on every DHCP-enabled subnet.
    """
    device_id = names.dhcp_port_device_id(host, network.id)
    wanted = [s.id for s in network.dhcp_subnets]
    ours = next((p for p in network.ports if p.device_id == device_id), None)
    if ours is not None:
        have = [ip.subnet_id for ip in ours.fixed_ips]
        if set(have) == set(wanted):
            return ours, PortRequest('', ours.id)
        kept = [{'subnet_id': ip.subnet_id, 'ip_address': str(ip.ip_address)}
                for ip in ours.fixed_ips if ip.subnet_id in wanted]
        new = [{'subnet_id': s} for s in wanted if s not in have]
        return None, PortRequest('update_dhcp_port', ours.id,
                                 {'network_id': network.id, 'fixed_ips': kept + new})
    reserved = next((p for p in network.ports if p.device_id == RESERVED_DHCP_PORT),
                    None)
    if reserved is not None:
        return None, PortRequest('update_dhcp_port', reserved.id,
                                 {'network_id': network.id, 'device_id': device_id})
    return None, PortRequest('create_dhcp_port', None, {
        'name': '', 'admin_state_up': True, 'device_id': device_id,
        'network_id': network.id, 'project_id': network.project_id,
        'fixed_ips': [{'subnet_id': s} for s in wanted]})


def with_port(network: Network, port: Port) -> Network:
    """The network with ``port`` added or replaced, ports sorted by id (as served)."""
    others = tuple(p for p in network.ports if p.id != port.id)
    return dataclasses.replace(network, ports=tuple(sorted(others + (port,),
                                                           key=lambda p: p.id)))


def desired_device(network: Network, port: Port, bridge: str, tag: int | None,
                   settings: DnsmasqSettings, host: str = '',
                   local_vlan_tagging: bool = True, veth: bool = False) -> DesiredDevice:
    """``tap<port>`` in ``qdhcp-<net>``: MAC, MTU, fixed IPs, gateways; with metadata
    169.254.169.254/16, and fe80::a9fe:a9fe/128 when there are IPv6 subnets.  The
    port is marked as this ``host``'s DHCP agent's; its tag is left to the L2
    agent once plugged unless ``local_vlan_tagging``.  ``veth``: a veth pair
    (``ovs_use_veth``), not an internal port."""
    subnets = {s.id: s for s in network.dhcp_subnets}
    addresses = set()
    for ip in port.fixed_ips:
        subnet = subnets.get(ip.subnet_id)
        if subnet is not None:
            addresses.add(ipaddress.ip_interface(f'{ip.ip_address}/{subnet.cidr.prefixlen}'))
    if metadata_access(network, settings).proxy:
        addresses.add(METADATA_ADDRESS)
        if any(s.ip_version == 6 for s in subnets.values()):
            addresses.add(METADATA_ADDRESS_V6)
    gateways = {}
    for subnet in subnets.values():
        if subnet.gateway_ip is not None:
            if subnet.ip_version == 6 and not 0 < subnet.cidr.prefixlen <= 126:
                continue
            gateways.setdefault(subnet.ip_version, subnet.gateway_ip)
    owner = ownership.Owner(ownership.DHCP, host, network.id).mark() if host else None
    spec = PortSpec(names.tap_name(port.id), port.id, port.mac_address, tag, owner,
                    not veth)
    return DesiredDevice(names.dhcp_namespace(network.id), bridge, spec,
                         network.mtu or None, frozenset(addresses),
                         tuple(gateways[v] for v in sorted(gateways)), NAMESPACE_SYSCTLS,
                         manage_tag=ownership.manages_l2_fields(local_vlan_tagging))


def dnsmasq_spec(network: Network, device: str, port_id: str,
                 settings: DnsmasqSettings, old_leases: str = '') -> ProcessSpec:
    """dnsmasq for the network: argv, the re-read files and the lease seed."""
    paths = DhcpPaths.of(settings, network.id)
    files = render.render_files(network, settings, port_id)
    return ProcessSpec(
        service=SERVICE, uuid=network.id, namespace=names.dhcp_namespace(network.id),
        argv=dnsmasq.dnsmasq_argv(network, device, settings), pid_file=paths.pid,
        env=(('NEUTRON_NETWORK_ID', network.id),),       # as in the reference log
        config_files=((paths.host, files.host), (paths.addn_hosts, files.addn_hosts),
                      (paths.opts, files.opts),
                      (paths.interface, render.render_interface(device))),
        spawn_files=((paths.leases, render.render_leases(network, settings,
                                                         old_leases)),))


def stop_spec(network_id: str, settings: DnsmasqSettings) -> ProcessSpec:
    """Enough of a dnsmasq spec to find and stop it (teardown, prune)."""
    paths = DhcpPaths.of(settings, network_id)
    return ProcessSpec(service=SERVICE, uuid=network_id,
                       namespace=names.dhcp_namespace(network_id),
                       argv=('dnsmasq', f'--pid-file={paths.pid}'), pid_file=paths.pid)


def ready_port_ids(network: Network) -> frozenset[tuple[str, int]]:
    """(port id, revision) of the ports dnsmasq now serves (for dhcp_ready_on_ports)."""
    return frozenset((p.id, p.revision_number) for p in network.ports
                     if render.requires_dhcp_config(p) and p.fixed_ips)
