"""Pure validators of request fields.  Errors name the object and the field.

Nothing here touches the database: callers pass in what the check needs (the
other CIDRs of the network, the CIDRs attached to a router, ...).
"""

from __future__ import annotations

import ipaddress
import re

from agent.controller import exceptions as exc

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV6_MODES = ('slaac', 'dhcpv6-stateful', 'dhcpv6-stateless')
_MAC_RE = re.compile(r'^([0-9a-f]{2}:){5}[0-9a-f]{2}$')


def invalid(field: str, message: str) -> exc.InvalidInput:
    return exc.InvalidInput(f'Invalid input for {field}: {message}')


def parse_cidr(value, field: str = 'cidr') -> IPNetwork:
    """A network address with no host bits set, e.g. ``10.0.0.0/24``."""
    if not isinstance(value, str) or '/' not in value:
        raise invalid(field, f'{value!r} is not a valid CIDR')
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise invalid(field, f'{value!r} is not a valid CIDR') from None
    raise invalid(field, f'{value!r} has host bits set')


def usable_range(cidr: IPNetwork) -> tuple[IPAddress, IPAddress]:
    """First and last address a port may get: not the network or broadcast address."""
    if cidr.version == 4 and cidr.prefixlen >= 31:
        return cidr.network_address, cidr.broadcast_address
    if cidr.version == 4:
        return cidr.network_address + 1, cidr.broadcast_address - 1
    if cidr.prefixlen == 128:
        return cidr.network_address, cidr.network_address
    return cidr.network_address + 1, cidr.broadcast_address


def parse_ip(value, field: str = 'ip_address') -> IPAddress:
    if not isinstance(value, str):
        raise invalid(field, f'{value!r} is not a valid IP address')
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise invalid(field, f'{value!r} is not a valid IP address') from None


def check_ip_version(value, cidr: IPNetwork | None = None) -> int:
    if value not in (4, 6, '4', '6'):
        raise invalid('ip_version', f'{value!r} is not in [4, 6]')
    version = int(value)
    if cidr is not None and cidr.version != version:
        raise invalid('ip_version', f'cidr {cidr} is not an IPv{version} network')
    return version


def check_gateway(gateway: IPAddress | None, cidr: IPNetwork) -> None:
    if gateway is None:
        return
    if gateway.version != cidr.version or gateway not in cidr:
        raise exc.InvalidInput(
            f'Invalid input for gateway_ip: gateway {gateway} is not in subnet {cidr}')
    if gateway == cidr.network_address and cidr.version == 4 and cidr.prefixlen < 31:
        raise exc.InvalidInput(
            f'Invalid input for gateway_ip: gateway {gateway} is the network address '
            f'of {cidr}')
    if cidr.version == 4 and cidr.prefixlen < 31 and gateway == cidr.broadcast_address:
        raise exc.InvalidInput(
            f'Invalid input for gateway_ip: gateway {gateway} is the broadcast address '
            f'of {cidr}')


def parse_pools(pools, cidr: IPNetwork) -> list[tuple[IPAddress, IPAddress]]:
    """``[{start, end}]`` -> sorted ranges inside ``cidr``, not overlapping."""
    if not isinstance(pools, list):
        raise invalid('allocation_pools', f'{pools!r} is not a list')
    ranges = []
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {'start', 'end'}:
            raise invalid('allocation_pools', f'{pool!r} must have exactly start and end')
        start = parse_ip(pool['start'], 'allocation_pools start')
        end = parse_ip(pool['end'], 'allocation_pools end')
        if start.version != cidr.version or end.version != cidr.version or end < start:
            raise exc.InvalidAllocationPool(
                f'The allocation pool {start}-{end} spanning is not valid.')
        first, last = usable_range(cidr)
        if start < first or end > last:
            raise exc.OutOfBoundsAllocationPool(
                f'The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}.')
        ranges.append((start, end))
    ranges.sort()
    for (s1, e1), (s2, e2) in zip(ranges, ranges[1:]):
        if s2 <= e1:
            raise exc.OverlappingAllocationPools(
                f'Found overlapping allocation pools: {s1}-{e1} and {s2}-{e2} '
                f'for subnet {cidr}.')
    return ranges


def check_gateway_not_in_pools(gateway: IPAddress | None, ranges) -> None:
    if gateway is None:
        return
    for start, end in ranges:
        if start <= gateway <= end:
            raise exc.GatewayConflictWithAllocationPools(
                f'Gateway ip {gateway} conflicts with allocation pool {start}-{end}.')


def check_no_overlap(cidr: IPNetwork, others: dict[str, str], network_id: str) -> None:
    """A network's subnets must not overlap.  ``others``: subnet id -> cidr."""
    for subnet_id, other in others.items():
        if cidr.overlaps(ipaddress.ip_network(other)):
            raise exc.SubnetOverlap(
                f'Invalid input for operation: Requested subnet with cidr: {cidr} for '
                f'network: {network_id} overlaps with another subnet ({subnet_id}).')


def check_router_interface_overlap(cidr: str, subnet_id: str,
                                   attached: dict[str, str], router_id: str) -> None:
    """Two subnets of one router must not overlap.  ``attached``: id -> cidr."""
    net = ipaddress.ip_network(cidr)
    for other_id, other in attached.items():
        if other_id != subnet_id and net.overlaps(ipaddress.ip_network(other)):
            raise exc.RouterInterfaceOverlap(
                f'Bad router request: Cidr {cidr} of subnet {subnet_id} overlaps with '
                f'cidr {other} of subnet {other_id} on router {router_id}.')


def check_ipv6_modes(ip_version: int, address_mode, ra_mode) -> None:
    for field, mode in (('ipv6_address_mode', address_mode), ('ipv6_ra_mode', ra_mode)):
        if mode is None:
            continue
        if mode not in IPV6_MODES:
            raise invalid(field, f'{mode!r} is not in {list(IPV6_MODES)}')
        if ip_version != 6:
            raise invalid(field, f'{field} is set but ip_version is {ip_version}, not 6')
    if address_mode and ra_mode and address_mode != ra_mode:
        raise invalid('ipv6_ra_mode',
                      f'ipv6_ra_mode set to {ra_mode!r} with ipv6_address_mode set to '
                      f'{address_mode!r} is not valid: they must be equal when both are set')


def parse_nameservers(values, ip_version: int | None = None) -> list[str]:
    if not isinstance(values, list):
        raise invalid('dns_nameservers', f'{values!r} is not a list')
    seen = []
    for value in values:
        ip = parse_ip(value, 'dns_nameservers')
        if str(ip) in seen:
            raise invalid('dns_nameservers', f'duplicate nameserver {value!r}')
        seen.append(str(ip))
    return seen


def parse_routes(values, field: str = 'host_routes', version: int | None = None) -> list[dict]:
    """``[{destination, nexthop}]`` normalised; versions of both must agree."""
    if not isinstance(values, list):
        raise invalid(field, f'{values!r} is not a list')
    routes = []
    for route in values:
        if not isinstance(route, dict) or set(route) != {'destination', 'nexthop'}:
            raise invalid(field, f'{route!r} must have exactly destination and nexthop')
        dest = parse_cidr(route['destination'], f'{field} destination')
        hop = parse_ip(route['nexthop'], f'{field} nexthop')
        if dest.version != hop.version or (version and dest.version != version):
            raise invalid(field, f'{route!r} mixes IP versions')
        item = {'destination': str(dest), 'nexthop': str(hop)}
        if item in routes:
            raise invalid(field, f'duplicate route {route!r}')
        routes.append(item)
    return routes


def check_router_routes(routes: list[dict], connected: list[str], router_id: str) -> None:
    """Every nexthop of a router's routes must be on one of its subnets."""
    nets = [ipaddress.ip_network(c) for c in connected]
    for route in routes:
        hop = ipaddress.ip_address(route['nexthop'])
        if not any(hop in net for net in nets):
            raise exc.InvalidRoutes(
                f'Invalid format for routes: {route}, the nexthop is not connected with '
                f'router {router_id}')


def parse_mac(value, field: str = 'mac_address') -> str:
    mac = value.lower() if isinstance(value, str) else value
    if not isinstance(mac, str) or not _MAC_RE.match(mac) or mac == '00:00:00:00:00:00':
        raise invalid(field, f'{value!r} is not a valid MAC address')
    if int(mac[:2], 16) & 1:
        raise invalid(field, f'{value!r} is a multicast MAC address')
    return mac


def parse_bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'false', '1', '0'):
        return value.lower() in ('true', '1')
    raise invalid(field, f'{value!r} is not a boolean')


def parse_string(value, field: str, max_len: int = 255) -> str:
    if value is None:
        return ''
    if not isinstance(value, str):
        raise invalid(field, f'{value!r} is not a string')
    if len(value) > max_len:
        raise invalid(field, f'{value[:20]!r}... exceeds maximum length of {max_len}')
    return value


def check_known_fields(body, allowed: frozenset, resource: str) -> dict:
    """The body must be a dict whose keys are attributes of ``resource``."""
    if not isinstance(body, dict):
        raise exc.BadRequest(f'Bad {resource} request: body must be an object')
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise exc.BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    return body


def parse_extra_dhcp_opts(values) -> list[dict]:
    if not isinstance(values, list):
        raise invalid('extra_dhcp_opts', f'{values!r} is not a list')
    opts = []
    for opt in values:
        if not isinstance(opt, dict) or not opt.get('opt_name'):
            raise invalid('extra_dhcp_opts', f'{opt!r} needs opt_name')
        version = opt.get('ip_version', 4)
        if version not in (4, 6, '4', '6'):
            raise invalid('extra_dhcp_opts', f'ip_version {version!r} is not in [4, 6]')
        opts.append({'opt_name': str(opt['opt_name']),
                     'opt_value': None if opt.get('opt_value') is None
                     else str(opt['opt_value']),
                     'ip_version': int(version)})
    return opts
