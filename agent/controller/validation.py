"""Pure validators of request fields.  Errors name the object and the field.

Nothing here touches the database: callers pass in what the check needs (the
other CIDRs of the network, the CIDRs attached to a router, ...).
"""

from __future__ import annotations

import ipaddress
import json
import re

from agent.common import dhcp_fields
from agent.controller import exceptions as exc

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV6_MODES = ('slaac', 'dhcpv6-stateful', 'dhcpv6-stateless')
MAX_DHCP_OPTS = 64
_DEVICE_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$')
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
    if '\x00' in value:
        raise invalid(field, 'NUL characters are not allowed')
    return value


def check_known_fields(body, allowed: frozenset, resource: str) -> dict:
    """The body must be a dict whose keys are attributes of ``resource``."""
    if not isinstance(body, dict):
        raise exc.BadRequest(f'Bad {resource} request: body must be an object')
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise exc.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    return body


def check_unsupported(body: dict, unsupported: dict, resource: str) -> None:
    """Attributes Neutron has but this controller does not implement.

    ``unsupported`` maps a field to (the values that say "nothing", why): the
    value the responses show is accepted (clients send it, e.g. ``--no-security-
    group``), any other is refused rather than stored and ignored.
    """
    for field, (accepted, why) in unsupported.items():
        if field not in body:
            continue
        value = body[field]
        if not any(value == ok and type(value) is type(ok) for ok in accepted):
            shown = ' or '.join(json.dumps(ok) for ok in accepted)
            try:
                given = json.dumps(value)           # as the client sent it
            except (TypeError, ValueError):
                given = _short(value)
            if len(given) > 60:
                given = given[:57] + '...'
            raise invalid(f'{resource} {field}',
                          f'{given} is not supported: {why} (only {shown} is accepted)')


# Why port security is refused: what Neutron's OVS agent enforces with it (security
# groups, anti-spoofing of MACs and addresses) takes an L2 agent's firewall, and
# netnode's agents are DHCP, L3 and metadata only.
NO_PORT_SECURITY = ('no agent enforces port security (no L2 firewall: security groups '
                    'and anti-spoofing need an L2 agent)')


def parse_extra_dhcp_opts(values, obj: str = 'port') -> list[dict]:
    """``[{opt_name, opt_value, ip_version}]`` checked as :mod:`agent.common.dhcp_fields`
    says (what reaches dnsmasq's files); an option whose value is null is dropped
    (Neutron: null removes the option)."""
    if not isinstance(values, list):
        raise invalid(f'{obj}: extra_dhcp_opts', f'{_short(values)} is not a list')
    if len(values) > MAX_DHCP_OPTS:
        raise invalid(f'{obj}: extra_dhcp_opts', f'more than {MAX_DHCP_OPTS} options')
    opts, seen = [], set()
    for i, opt in enumerate(values):
        field = f'{obj}: extra_dhcp_opts[{i}]'
        if not isinstance(opt, dict):
            raise invalid(field, f'{_short(opt)} is not an object')
        unknown = sorted(set(opt) - {'opt_name', 'opt_value', 'ip_version'})
        if unknown:
            raise invalid(field, f"unknown key(s) {', '.join(map(repr, unknown))}")
        if 'opt_name' not in opt:
            raise invalid(f'{field}.opt_name', 'missing')
        try:
            version = dhcp_fields.ip_version(opt.get('ip_version', 4))
        except dhcp_fields.FieldError as e:
            raise invalid(f'{field}.ip_version', str(e)) from None
        try:
            name = dhcp_fields.opt_name(opt['opt_name'], version)
        except dhcp_fields.FieldError as e:
            raise invalid(f'{field}.opt_name', str(e)) from None
        if opt.get('opt_value') is None:
            continue
        try:
            value = dhcp_fields.opt_value(opt['opt_value'], name)
        except dhcp_fields.FieldError as e:
            raise invalid(f'{field}.opt_value', str(e)) from None
        if (name, version) in seen:
            raise invalid(f'{field}.opt_name', f'{name!r} (IPv{version}) given twice')
        seen.add((name, version))
        opts.append({'opt_name': name, 'opt_value': value, 'ip_version': version})
    return opts


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def parse_dns_name(value, field: str = 'dns_name') -> str:
    """``dns_name``: only empty (None or '') is accepted: without the
    dns-integration extension a name would be accepted and never used."""
    if value is None or value == '':
        return ''
    raise invalid(field, f'{_short(value)}: DNS names of ports are not supported '
                         '(no dns-integration extension); leave it empty')


def parse_zone_hints(values, field: str = 'availability_zone_hints') -> list[str]:
    """A list of at most 16 availability zone names."""
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > 16:
        raise invalid(field, f'{_short(values)} is not a list of at most 16 zone names')
    return [parse_string(h, field) for h in values]


def parse_device_id(value, allow_empty: bool = True) -> str:
    """1-255 letters, digits, '.', '_', ':' or '-' (the first a letter or digit);
    a port's may be empty (Neutron's default)."""
    if allow_empty and (value is None or value == ''):
        return ''
    if not isinstance(value, str) or not _DEVICE_ID_RE.match(value):
        raise invalid('device_id', f'{_short(value)} is not a device id (1-255 letters, '
                                   'digits, ".", "_", ":" or "-")')
    return value


def parse_int(value, field: str, low: int, high: int) -> int:
    """An integer (not a boolean) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(field, f'{_short(value)} is not an integer between {low} and {high}')
    return value
