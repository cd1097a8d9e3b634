"""Claiming a free address of a subnet without a subnet-wide lock (PostgreSQL).

Locking the subnet row serialised every allocation of a subnet for the rest of
its transaction (the inserts and the commit): about 45 port creates/s from 8
clients, with most of the API workers' time spent waiting on that lock.

Instead each candidate address gets its own transaction-scoped advisory lock,
taken with ``pg_try_advisory_xact_lock``, which never waits: an address that a
concurrent transaction is claiming is skipped, as ``SKIP LOCKED`` skips rows.
One statement takes the first of a window of candidates that is neither locked
nor already allocated.  The lock is held until the claiming transaction ends, so
no two transactions in flight claim the same address; an address committed
since the caller read the used ones is not taken (the statement sees it).  The
unique (network_id, ip_address) constraint stays the guarantee: the one race
left (a commit between the statement's snapshot and its lock) fails the insert,
and the transaction is retried as every lost race is.

SQLite has one writer at a time and MySQL-compatible databases keep the subnet
row lock (agent.controller.ports); both take the first candidate.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller import exceptions as exc

# Candidates offered by the first statement, doubled on each further one: about
# the creates of a subnet usually in flight (8 clients), so that one round trip
# suffices; each candidate costs ~5 µs (printed, hashed, sent).
WINDOW = 8
# The advisory lock keys of this module: the first 64 bits of a hash, so that
# they do not meet small integers other users of the database may lock.
_KEY_DOMAIN = b'netnode-ip '

# The candidates and their keys go as comma-separated strings: psycopg's dump of
# a list cost ~0.1 ms of CPU per create (py-spy), 2% of it.
_CLAIM = sa.text(
    "SELECT c.ip FROM unnest(string_to_array(:ips, ','), "
    "CAST(string_to_array(:keys, ',') AS bigint[])) AS c(ip, lock_key) "
    'WHERE NOT EXISTS (SELECT 1 FROM ipallocations a '
    '                  WHERE a.network_id = :network_id AND a.ip_address = c.ip) '
    'AND pg_try_advisory_xact_lock(c.lock_key) '
    'LIMIT 1')


def lock_key(network_id: str, ip: str) -> int:
    """The advisory lock key of an address of a network (a signed 64-bit integer)."""
    digest = hashlib.blake2b(_KEY_DOMAIN + f'{network_id} {ip}'.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), 'big', signed=True)


def claim(session: orm.Session, subnet_id: str, network_id: str,
          candidates: Callable[[set[str], int], Iterable[str]]) -> str:
    """A free address of the subnet, locked for this transaction, or
    IpAddressGenerationFailure.

    ``candidates(skip, n)``: the first ``n`` free addresses of the subnet by what
    the database held when asked, leaving out ``skip``, in allocation order.
    """
    tried: set[str] = set()
    size = WINDOW
    while True:
        window = list(candidates(tried, size))
        if not window:
            raise exc.IpAddressGenerationFailure(
                f'No more IP addresses available for subnet {subnet_id}.')
        ip = session.connection().execute(_CLAIM, {
            'ips': ','.join(window),
            'keys': ','.join(str(lock_key(network_id, ip)) for ip in window),
            'network_id': network_id}).scalar()
        if ip is not None:
            return ip
        # Every one was claimed by a transaction in flight or committed since
        # they were read: the next window (those claimed now are not offered
        # again, even if their claimer rolls back).
        tried.update(window)
        size *= 2
