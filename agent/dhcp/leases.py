"""Release the leases of allocations that went away, before a reload (Neutron's
``_release_unused_leases``, neutron-agent-rpc.md §6.5 "reload" step 2).

dnsmasq keeps a lease until it expires even when its host entry is gone, so an
address freed by a port delete (or an IP or MAC change) could not be handed to
another MAC.  Before the files are rewritten and dnsmasq gets its SIGHUP, every
lease that matches an allocation of the *old* host file or dnsmasq's lease file
but no allocation of the network any more is released with ``dhcp_release``
(IPv4) or ``dhcp_release6`` (IPv6), up to three tries 0.3 s apart, re-reading
the lease file in between.

Parsing and the choice of what to release are pure; :class:`LeaseReleaser` runs
the tries through a driver (:class:`agent.drivers.dhcp_release.DhcpReleaseDriver`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Protocol

from agent.common import fileutils
from agent.dhcp import render
from agent.model.network import Network

LOG = logging.getLogger(__name__)

RELEASE_TRIES = 3
RELEASE_INTERVAL = 0.3
POLL_INTERVAL = 0.02      # dnsmasq rewrites its lease file within milliseconds


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Allocation:
    """(ip, mac, client id) as the host file and Neutron's release logic see it."""
    ip: str
    mac: str
    client_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """One lease of dnsmasq's lease file.

    IPv4 ``<expiry> <mac> <ip> <hostname> <client-id or *>``; IPv6
    ``<expiry> <iaid> <ip> <hostname> <client duid>`` after a ``duid <server>`` line.
    """
    ip: str
    hwaddr: str                # the MAC (IPv4) or the IAID (IPv6)
    client_id: str | None
    server_id: str | None = None

    @property
    def version(self) -> int:
        return 6 if ':' in self.ip else 4


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip('[]')))
    except ValueError:
        return None


def _lease_line(line: bytes) -> str | None:
    """One line of a lease file as text if it is a lease or the ``duid`` line."""
    try:
        text = line.decode('utf-8')
    except UnicodeDecodeError:
        return None
    fields = text.split()
    if '\0' in text or not fields:
        return None
    if len(fields) == 2 and fields[0] == 'duid':
        return text
    if len(fields) == 5 and _address(fields[2]) is not None:
        return text
    return None


def clean_leases(raw: bytes) -> tuple[str, int]:
    """(the readable lease lines, how many other non-empty lines were dropped).

    dnsmasq owns the file; a crash, a full disk or a hand edit can leave bytes in
    it that are no lease (``lease\\0\\0\\0\\xfe garbage``): those lines are
    dropped so the network's reconcile goes on.
    """
    kept, dropped = [], 0
    for line in raw.split(b'\n'):
        if not line.strip():
            continue
        text = _lease_line(line)
        if text is None:
            dropped += 1
        else:
            kept.append(text + '\n')
    return ''.join(kept), dropped


def read_leases(path: str, what: str) -> str:
    """The lease file's readable lines ('' if none); a file with lines that are
    not leases is rewritten with the readable ones, and that is logged."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        return ''
    text, dropped = clean_leases(raw)
    if dropped:
        LOG.warning('%s: dropped %d unreadable line(s) of the lease file %s and '
                    'wrote it again with the %d readable one(s)', what, dropped, path,
                    text.count('\n'))
        fileutils.write_atomic(path, text)
    return text


def parse_leases(text: str) -> dict[str, Lease]:
    """dnsmasq's lease file, by (normalised) IP address."""
    leases: dict[str, Lease] = {}
    server_id = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == 'duid':
            server_id = fields[1]
            continue
        if len(fields) != 5:
            continue
        ip = _address(fields[2])
        if ip is None:
            continue
        client_id = None if fields[4] == '*' else fields[4]
        leases[ip] = Lease(ip, fields[1].lower() if ':' not in ip else fields[1],
                           client_id, server_id if ':' in ip else None)
    return leases


def parse_hosts(text: str) -> frozenset[Allocation]:
    """The allocations of a ``--dhcp-hostsfile`` written by :mod:`agent.dhcp.render`.

    ``<mac>,[tag:dhcpv6,][id:<client id>,]<fqdn>,<ip>[,set:port-<id>]``; lines
    without an address (stateless IPv6) are skipped.
    """
    found = set()
    for line in text.splitlines():
        parts = line.strip().split(',')
        if len(parts) < 3:
            continue
        client_id = next((p[3:] for p in parts[1:] if p.startswith('id:')), None)
        ip = next((a for a in map(_address, parts[2:]) if a is not None), None)
        if ip is not None:
            found.add(Allocation(ip, parts[0].lower(), client_id))
    return frozenset(found)


def allocations(network: Network) -> frozenset[Allocation]:
    """What the network allocates now (every fixed IP of every port)."""
    return frozenset(
        Allocation(str(fip.ip_address), port.mac_address.lower(), render.client_id(port))
        for port in network.ports for fip in port.fixed_ips)


def stale(old_hosts: frozenset[Allocation], leases: dict[str, Lease],
          network: Network) -> tuple[Allocation, ...]:
    """Allocations to release, in Neutron's rule.

    Candidates are the old host file's entries and the IPv4 leases; those still
    allocated are kept.  A lease whose client sent a client id the port does not
    configure is kept too when the same (ip, mac) without client id is still
    allocated (the client just identifies itself).
    """
    new = allocations(network)
    v4 = {Allocation(ip, lease.hwaddr, lease.client_id)
          for ip, lease in leases.items() if lease.version == 4}
    candidates = (v4 | old_hosts) - new
    # A deleted port's host entry (no client id) and its lease (the client's id,
    # e.g. udhcpc's) are both candidates: None and a string do not compare.
    return tuple(sorted(
        (a for a in candidates
         if not (a.client_id and Allocation(a.ip, a.mac) in old_hosts
                 and Allocation(a.ip, a.mac) in new)),
        key=lambda a: (a.ip, a.mac, a.client_id or '')))


def _still_leased(entry: Allocation, leases: dict[str, Lease]) -> bool:
    lease = leases.get(entry.ip)
    if lease is None:
        return False
    # An IPv4 lease already held by another MAC is not this entry's to release.
    return lease.version == 6 or lease.hwaddr == entry.mac


class ReleaseDriver(Protocol):
    def release_v4(self, namespace: str, iface: str, ip: str, mac: str,
                   client_id: str | None = None) -> bool: ...

    def release_v6(self, namespace: str, iface: str, ip: str, client_id: str,
                   server_id: str, iaid: str) -> bool: ...


class LeaseReleaser:
    """Releases stale leases through ``driver``; ``read(path)`` reads a file ('' if none)."""

    def __init__(self, driver: ReleaseDriver, read: Callable[[str], str],
                 tries: int = RELEASE_TRIES, interval: float = RELEASE_INTERVAL,
                 sleep: Callable[[float], None] = time.sleep):
        self.driver = driver
        self.read = read
        self.tries = tries
        self.interval = interval
        self.sleep = sleep

    def _release(self, namespace: str, iface: str, entry: Allocation, lease: Lease) -> None:
        if lease.version == 4:
            self.driver.release_v4(namespace, iface, entry.ip, entry.mac, entry.client_id)
        elif lease.client_id and lease.server_id:
            self.driver.release_v6(namespace, iface, entry.ip, lease.client_id,
                                   lease.server_id, lease.hwaddr)

    def _wait_gone(self, pending: list[Allocation], leases_path: str
                   ) -> tuple[list[Allocation], dict[str, Lease]]:
        """Re-read the lease file until the entries are gone or ``interval`` passed."""
        waited = 0.0
        while True:
            leases = parse_leases(self.read(leases_path))
            pending = [e for e in pending if _still_leased(e, leases)]
            if not pending or waited >= self.interval:
                return pending, leases
            step = min(POLL_INTERVAL, self.interval - waited)
            self.sleep(step)
            waited += step

    def release_stale(self, namespace: str, iface: str, network: Network,
                      host_path: str, leases_path: str) -> tuple[str, ...]:
        """Release what :func:`stale` finds; returns the IPs still leased after the
        tries (logged as a warning)."""
        leases = parse_leases(self.read(leases_path))
        if not leases:
            return ()
        pending = [e for e in stale(parse_hosts(self.read(host_path)), leases, network)
                   if _still_leased(e, leases)]
        for _ in range(self.tries):
            if not pending:
                return ()
            for entry in pending:
                LOG.info('network %s: releasing the lease of %s (%s)', network.id,
                         entry.ip, entry.mac)
                self._release(namespace, iface, entry, leases[entry.ip])
            pending, leases = self._wait_gone(pending, leases_path)
        if pending:
            LOG.warning('network %s: could not release the DHCP leases of %s after %d '
                        'tries', network.id, ', '.join(e.ip for e in pending), self.tries)
        return tuple(e.ip for e in pending)
