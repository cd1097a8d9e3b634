"""dnsmasq's host, addn_hosts, opts and lease-seed files, byte for byte as Neutron 29.

Pure functions of a :class:`~agent.model.network.Network` and
:class:`~agent.dhcp.settings.DnsmasqSettings` (``neutron/agent/linux/dhcp.py``:
``_iter_hosts``, ``_output_hosts_file``, ``_output_addn_hosts_file``,
``_generate_opts_per_subnet``/``_per_port``, ``_output_init_lease_file``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
from collections.abc import Iterator

from agent.common import dhcp_fields
from agent.dhcp.metadata_access import MetadataAccess, metadata_access
from agent.dhcp.settings import DnsmasqSettings
from agent.model.network import (
    DEVICE_OWNER_DHCP, DHCP_CONFIG_NOT_REQUIRED_OWNERS, IPV6_DHCP_STATELESS,
    IPV6_SLAAC, FixedIP, Network, Port, Subnet)

LOG = logging.getLogger(__name__)
SUBNET_TAG = 'subnet-%s'
PORT_TAG = 'port-%s'
HOST_DHCPV6_TAG = 'tag:dhcpv6,'
CLIENT_ID_NAMES = frozenset({'client-id', '61'})
METADATA_CIDR = '169.254.169.254/32'
IPV4_ANY = ipaddress.ip_network('0.0.0.0/0')
WIN2K3_STATIC_ROUTE = '249'
_OPTION_RE = re.compile(r'(tag:(.*),)?(.*)$', re.DOTALL)


@dataclasses.dataclass(frozen=True, slots=True)
class DnsmasqFiles:
    """The files a SIGHUP re-reads (the lease seed is written only on spawn)."""

    host: str
    addn_hosts: str
    opts: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Host:
    port: Port
    fixed_ip: FixedIP
    address: str      # the IP as text
    hostname: str
    fqdn: str
    no_dhcp: bool     # slaac / dhcpv6-stateless: no address handed out
    no_opts: bool     # slaac: nothing at all
    tag: str          # 'tag:dhcpv6,' for IPv6 when dnsmasq supports host tags


def requires_dhcp_config(port: Port) -> bool:
    """Neutron's ``port_requires_dhcp_configuration``."""
    return not port.device_owner or port.device_owner not in DHCP_CONFIG_NOT_REQUIRED_OWNERS


def client_id(port: Port) -> str | None:
    for opt in port.extra_dhcp_opts:
        if opt.opt_name in CLIENT_ID_NAMES:
            try:
                return dhcp_fields.client_id(opt.opt_value)
            except dhcp_fields.FieldError as e:
                LOG.error('port %s: extra_dhcp_opts %s: %s: not written', port.id,
                          opt.opt_name, e)
                return None
    return None


def _safe_lines(lines, what: str) -> list[str]:
    """Defence in depth (the codec refuses such values first): a line holding a
    newline, NUL or other control character is never written into dnsmasq's files."""
    out = []
    for line in lines:
        if not dhcp_fields.safe_line(line):
            LOG.error('Not writing a line of the %s file holding a control character: %r', what,
                      line[:120])
            continue
        out.append(line)
    return out


def _valid_dns_names(port: Port, hostname: str, fqdn: str) -> bool:
    try:
        dhcp_fields.dns_name(hostname)
        dhcp_fields.dns_name(fqdn)
    except dhcp_fields.FieldError as e:
        LOG.error('port %s: dns_assignment: %s: host-<address> names used', port.id, e)
        return False
    return True


def _same_address(text: str, ip, ip_text: str) -> bool:
    if text == ip_text:
        return True
    if ':' not in text:      # IPv4 text has one spelling; IPv6 may be uncompressed
        return False
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def dns_names(ip, port: Port, dns_domain: str, ip_text: str = '') -> tuple[str, str]:
    """(hostname, fqdn) of ``ip``: from dns_assignment, else ``host-<ip>``."""
    ip_text = ip_text or str(ip)
    for assigned_ip, hostname, fqdn in port.dns_assignment:
        if _same_address(assigned_ip, ip, ip_text) and _valid_dns_names(port, hostname, fqdn):
            return hostname, fqdn
    hostname = 'host-' + ip_text.replace('.', '-').replace(':', '-')
    fqdn = f'{hostname}.{dns_domain}' if dns_domain else hostname
    return hostname, fqdn


def _iter_hosts(network: Network, settings: DnsmasqSettings) -> Iterator[_Host]:
    v6_subnets = {s.id: s for s in network.subnets if s.ip_version == 6}

    def stateless_first(fip):
        subnet = v6_subnets.get(fip.subnet_id)
        return subnet is not None and subnet.ipv6_address_mode == IPV6_DHCP_STATELESS

    for port in network.ports:
        if not requires_dhcp_config(port):
            continue
        for fip in sorted(port.fixed_ips, key=stateless_first, reverse=True):
            no_dhcp = no_opts = False
            tag = ''
            subnet = v6_subnets.get(fip.subnet_id)
            if subnet is not None:
                no_dhcp = subnet.ipv6_address_mode in (IPV6_SLAAC, IPV6_DHCP_STATELESS)
                no_opts = subnet.ipv6_address_mode == IPV6_SLAAC
                tag = HOST_DHCPV6_TAG if settings.host_tag_supported else ''
            address = str(fip.ip_address)
            hostname, fqdn = dns_names(fip.ip_address, port, settings.dns_domain, address)
            yield _Host(port, fip, address, hostname, fqdn, no_dhcp, no_opts, tag)


def render_hosts(network: Network, settings: DnsmasqSettings) -> str:
    """The ``--dhcp-hostsfile``: who gets which address and which tags."""
    return _hosts_file(network, _iter_hosts(network, settings))


def _hosts_file(network: Network, hosts) -> str:
    dhcp_subnet_ids = {s.id for s in network.dhcp_subnets}
    lines = []
    for h in hosts:
        port = h.port
        port_tag = 'set:' + PORT_TAG % port.id
        if h.no_dhcp:
            if not h.no_opts and port.extra_dhcp_opts:
                lines.append(f'{port.mac_address},{h.tag}{port_tag}')
            continue
        if h.fixed_ip.subnet_id not in dhcp_subnet_ids:
            continue
        ip = f'[{h.address}]' if h.fixed_ip.ip_address.version == 6 else h.address
        cid = client_id(port)
        if not port.extra_dhcp_opts:
            lines.append(f'{port.mac_address},{h.tag}{h.fqdn},{ip}')
        elif cid and len(port.extra_dhcp_opts) > 1:
            lines.append(f'{port.mac_address},{h.tag}id:{cid},{h.fqdn},{ip},{port_tag}')
        elif cid:
            lines.append(f'{port.mac_address},{h.tag}id:{cid},{h.fqdn},{ip}')
        else:
            lines.append(f'{port.mac_address},{h.tag}{h.fqdn},{ip},{port_tag}')
    return ''.join(line + '\n' for line in _safe_lines(lines, 'host'))


def render_addn_hosts(network: Network, settings: DnsmasqSettings) -> str:
    """``--addn-hosts``: ``<ip>\\t<fqdn> <hostname>``, the FQDN first for PTR answers."""
    return _addn_hosts_file(_iter_hosts(network, settings))


def _addn_hosts_file(hosts) -> str:
    lines = [f'{h.address}\t{h.fqdn} {h.hostname}' for h in hosts]
    return ''.join(line + '\n' for line in _safe_lines(lines, 'addn_hosts'))


def format_option(ip_version: int, tag: str, option: str, *values: str) -> str:
    """Neutron's ``_format_option``: ``tag:<tag>[,tag:<extra>],option[6]:<name>,<values>``."""
    match = _OPTION_RE.match(str(option))
    extra_tag, name = match.group(1), match.group(3)
    if ip_version == 6:
        name = f'option6:{name}'
    elif not name.isdigit():
        name = f'option:{name}'
    parts = ['tag:' + tag]
    if extra_tag:
        parts.append(extra_tag[:-1])
    parts.append(name)
    return ','.join(parts + [str(v) for v in values])


def _literal_addresses(ip_version, addresses):
    return [f'[{a}]' if ip_version == 6 else str(a) for a in addresses]


def _dhcp_port_ip(network: Network, subnet: Subnet, dhcp_port_id: str | None):
    """The DHCP port's address on ``subnet`` (our port's if ``dhcp_port_id``)."""
    for port in network.ports:
        if dhcp_port_id is not None and port.id != dhcp_port_id:
            continue
        if dhcp_port_id is None and port.device_owner != DEVICE_OWNER_DHCP:
            continue
        for fip in port.fixed_ips:
            if fip.subnet_id == subnet.id:
                return fip.ip_address
    return None


def _subnet_routes(network: Network, subnet: Subnet, access: MetadataAccess,
                   dhcp_port_id):
    gateway = subnet.gateway_ip
    routes = []
    for route in subnet.host_routes:
        if route.destination == IPV4_ANY:
            gateway = gateway or route.nexthop
        else:
            routes.append(f'{route.destination},{route.nexthop}')
    if subnet.id in access.via_dhcp_port:
        dhcp_ip = _dhcp_port_ip(network, subnet, dhcp_port_id)
        if dhcp_ip:
            routes.append(f'{METADATA_CIDR},{dhcp_ip}')
    elif subnet.id in access.via_router and gateway:
        routes.append(f'{METADATA_CIDR},{gateway}')
    for other in network.subnets:
        if other.ip_version == 4 and other.cidr != subnet.cidr:
            routes.insert(0, f'{other.cidr},0.0.0.0')
    return gateway, routes


def _subnet_options(network, settings, dhcp_port_id):
    options = []
    without_nameservers = []
    access = metadata_access(network, settings)
    for subnet in network.dhcp_subnets:
        if subnet.ip_version == 6 and subnet.ipv6_address_mode == IPV6_SLAAC:
            continue
        tag = SUBNET_TAG % subnet.id
        v = subnet.ip_version
        servers = list(subnet.dns_nameservers)
        if servers:
            if servers == (['0.0.0.0'] if v == 4 else ['::']):
                options.append(format_option(v, tag, 'dns-server'))
            else:
                options.append(format_option(
                    v, tag, 'dns-server', ','.join(_literal_addresses(v, servers))))
        else:
            without_nameservers.append(subnet.id)
        if settings.dns_domain and v == 6:
            options.append(format_option(v, tag, 'domain-search', settings.dns_domain))
        gateway, routes = _subnet_routes(network, subnet, access, dhcp_port_id)
        if v == 4:
            if routes:
                if gateway:
                    routes.append(f'{IPV4_ANY},{gateway}')
                options.append(format_option(v, tag, 'classless-static-route',
                                             ','.join(routes)))
                options.append(format_option(v, tag, WIN2K3_STATIC_ROUTE,
                                             ','.join(routes)))
            if gateway:
                options.append(format_option(v, tag, 'router', str(gateway)))
            else:
                options.append(format_option(v, tag, 'router'))
    return options, without_nameservers


def _port_options(network, without_nameservers):
    options = []
    dhcp_ips: dict[str, list] = {}
    for port in network.ports:
        versions = {fip.ip_address.version for fip in port.fixed_ips}
        for opt in port.extra_dhcp_opts:
            if opt.opt_name in CLIENT_ID_NAMES or opt.ip_version not in versions:
                continue
            options.append(format_option(opt.ip_version, PORT_TAG % port.id,
                                         opt.opt_name, opt.opt_value))
        if port.device_owner == DEVICE_OWNER_DHCP:
            for fip in port.fixed_ips:
                if fip.subnet_id in without_nameservers:
                    dhcp_ips.setdefault(fip.subnet_id, []).append(fip.ip_address)
    # Several DHCP agents on a subnet without DNS servers: all of them serve DNS.
    for subnet_id, ips in dhcp_ips.items():
        for v in (4, 6):
            same_version = [ip for ip in ips if ip.version == v]
            if len(same_version) > 1:
                options.append(format_option(
                    v, SUBNET_TAG % subnet_id, 'dns-server',
                    ','.join(_literal_addresses(v, same_version))))
    return options


def render_opts(network: Network, settings: DnsmasqSettings,
                dhcp_port_id: str | None = None) -> str:
    """``--dhcp-optsfile``: per-subnet then per-port options, no trailing newline.

    ``dhcp_port_id`` is this agent's DHCP port (the metadata next hop on isolated
    subnets); without it the first ``network:dhcp`` port on the subnet is used.
    """
    options, without_nameservers = _subnet_options(network, settings, dhcp_port_id)
    options += _port_options(network, without_nameservers)
    return '\n'.join(_safe_lines(options, 'opts'))


def render_files(network: Network, settings: DnsmasqSettings,
                 dhcp_port_id: str | None = None) -> DnsmasqFiles:
    hosts = tuple(_iter_hosts(network, settings))
    return DnsmasqFiles(host=_hosts_file(network, hosts),
                        addn_hosts=_addn_hosts_file(hosts),
                        opts=render_opts(network, settings, dhcp_port_id))


def render_leases(network: Network, settings: DnsmasqSettings, old_leases: str = '') -> str:
    """The lease seed written before (re)spawning dnsmasq.

    ``0 <mac> <ip> * *`` (0: never expires; the client renews and dnsmasq fixes
    it up) for each IPv4 allocation on a DHCP-enabled subnet; from the old file
    the ``duid`` line and the IPv6 leases of addresses still allocated are kept.
    """
    v4_dhcp = {s.id for s in network.dhcp_subnets if s.ip_version == 4}
    lines = []
    v6_allocated = set()
    for port in network.ports:       # as _iter_hosts, without the names
        if not requires_dhcp_config(port):
            continue
        for fip in port.fixed_ips:
            if fip.ip_address.version == 6:
                v6_allocated.add(fip.ip_address)
            elif fip.subnet_id in v4_dhcp:
                lines.append(f'0 {port.mac_address} {fip.ip_address} * *')
    kept_v6 = []
    for line in old_leases.splitlines():
        fields = line.split()
        if fields[:1] == ['duid']:
            lines.append(line)
        elif len(fields) >= 3 and ':' in fields[2] and '[' not in fields[2]:
            try:
                address = ipaddress.ip_address(fields[2])
            except ValueError:
                continue
            if address in v6_allocated:
                kept_v6.append(line)
    return ''.join(line + '\n' for line in lines + kept_v6)


def render_interface(device: str) -> str:
    """The ``interface`` file: the DHCP device's name, no newline."""
    return device
