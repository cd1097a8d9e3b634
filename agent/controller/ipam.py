"""IP and MAC allocation, as pure functions over what the database holds.

The caller passes the subnet's pools and the addresses already used in it; these
functions never load a whole range.  Uniqueness under concurrency is the schema's
job (unique (network_id, ip_address), unique (network_id, mac_address)): a lost
race makes the transaction retry.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import socket
from typing import Iterable, Iterator

from agent.controller import exceptions as exc
from agent.controller.validation import IPAddress, IPNetwork, usable_range

# The lowest free address is taken (predictable for operators).  Concurrent
# allocators skip the addresses others are claiming (agent.controller.address_claim
# on PostgreSQL) or are serialised (BEGIN IMMEDIATE on SQLite, the subnet row lock
# elsewhere); a larger window spreads the picks of allocators that are not.
CANDIDATES = 1


def default_pools(cidr: IPNetwork, gateway: IPAddress | None) -> list[dict]:
    """The whole usable range of ``cidr`` minus the gateway, as ``[{start, end}]``."""
    first, last = usable_range(cidr)
    pools = []
    if gateway is not None and first <= gateway <= last:
        if first < gateway:
            pools.append((first, gateway - 1))
        if gateway < last:
            pools.append((gateway + 1, last))
    else:
        pools.append((first, last))
    return [{'start': str(s), 'end': str(e)} for s, e in pools]


def default_gateway(cidr: IPNetwork) -> IPAddress:
    """Neutron's default gateway: the first host address."""
    return usable_range(cidr)[0]


def pool_ranges(pools: list[dict]) -> list[tuple[int, int]]:
    return sorted((int(ipaddress.ip_address(p['start'])), int(ipaddress.ip_address(p['end'])))
                  for p in pools)


def in_pools(ip: IPAddress, pools: list[dict]) -> bool:
    value = int(ip)
    return any(start <= value <= end for start, end in pool_ranges(pools))


def ip_to_int(text: str) -> int:
    """Fast parse of a canonical address string (as the database holds them)."""
    family = socket.AF_INET6 if ':' in text else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, text), 'big')


def free_addresses(pools: list[dict], used: Iterable[str]) -> Iterator[int]:
    """Free addresses of the pools in ascending order, as integers."""
    taken = {ip_to_int(u) for u in used}
    for start, end in pool_ranges(pools):
        value = start
        while value <= end:
            if value not in taken:
                yield value
            value += 1


def free_v4_addresses(pools: list[dict], used: Iterable[str]) -> Iterator[int]:
    """:func:`free_addresses` of an IPv4 subnet, without parsing every used address.

    The database holds canonical dotted quads (addresses are stored as
    ``ipaddress`` prints them), so the candidates are printed and looked up
    instead: a port create on a subnet with thousands of ports parses none.
    """
    taken = used if isinstance(used, (set, frozenset)) else set(used)
    ntoa = socket.inet_ntoa
    for start, end in pool_ranges(pools):
        for value in range(start, end + 1):
            if ntoa(value.to_bytes(4, 'big')) not in taken:
                yield value


def first_free(version: int, pools: list[dict], used: Iterable[str], count: int) -> list[str]:
    """The ``count`` lowest free addresses of a subnet's pools (fewer near the end)."""
    free = free_v4_addresses if version == 4 else free_addresses
    return [_text(version, value) for value in itertools.islice(free(pools, used), count)]


def _text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def choose_address(subnet_id: str, version: int, pools: list[dict], used: Iterable[str],
                   rng: random.Random | None = None, window: int = CANDIDATES) -> str:
    """A free address of a subnet's pools (random among the first ``window`` free
    ones), or IpAddressGenerationFailure."""
    candidates = first_free(version, pools, used, window)
    if not candidates:
        raise exc.IpAddressGenerationFailure(
            f'No more IP addresses available for subnet {subnet_id}.')
    return (rng or random).choice(candidates)


def eui64_address(cidr: IPNetwork, mac: str) -> str:
    """The SLAAC address of ``mac`` on a /64: prefix + modified EUI-64."""
    if cidr.version != 6 or cidr.prefixlen != 64:
        raise exc.InvalidInput(
            f'Invalid input for cidr: SLAAC needs an IPv6 /64, not {cidr}')
    octets = [int(x, 16) for x in mac.split(':')]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xff, 0xfe] + octets[3:]
    suffix = int.from_bytes(bytes(eui), 'big')
    return str(ipaddress.IPv6Address(int(cidr.network_address) | suffix))


def random_mac(base_mac: str, rng: random.Random | None = None) -> str:
    """``base_mac`` with its last three octets random (Neutron's rule)."""
    rng = rng or random
    base = base_mac.lower().split(':')
    if len(base) != 6:
        raise exc.InvalidInput(f'Invalid input for base_mac: {base_mac!r}')
    octets = base[:3] + [f'{rng.randint(0, 255):02x}' for _ in range(3)]
    return ':'.join(octets)


def is_auto_address_subnet(ip_version: int, ipv6_address_mode: str | None) -> bool:
    """Addresses on SLAAC / DHCPv6-stateless subnets come from the MAC, not a pool."""
    return ip_version == 6 and ipv6_address_mode in ('slaac', 'dhcpv6-stateless')
