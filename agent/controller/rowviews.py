"""Bulk reads for the agents' answers as plain rows, without ORM objects.

The ORM costs ~50 µs per loaded object (identity map, instrumentation, the
``fixed_ips`` selectin) and building a statement costs more than running it on
a small table; the agents' sync answers load thousands of rows.  These Core
selects are built once and run on the session's connection; they return objects
with the same attribute names as the models, so :mod:`agent.controller.wire`
turns them into the same wire dicts.  Read only: nothing here is flushed.
"""

from __future__ import annotations

import types
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller.db import models

CHUNK = 500     # bound parameters per IN (SQLite allows 32766, PostgreSQL 65535)
_IDS = sa.bindparam('ids', expanding=True)
_Alloc = models.IPAllocation

_SUBNET_COLUMNS = [c.label(f'subnet_{c.name}') for c in models.Subnet.__table__.c]
# Networks with their subnets, and ports with their addresses: one query each.
_NETWORKS = (sa.select(*models.Network.__table__.c, *_SUBNET_COLUMNS)
             .outerjoin(models.Subnet, models.Subnet.network_id == models.Network.id)
             .where(models.Network.id.in_(_IDS))
             .order_by(models.Network.id, models.Subnet.id))
_PORTS = (sa.select(*models.Port.__table__.c, _Alloc.subnet_id.label('alloc_subnet_id'),
                    _Alloc.ip_address.label('alloc_ip_address'))
          .outerjoin(_Alloc, _Alloc.port_id == models.Port.id)
          .where(models.Port.network_id.in_(_IDS))
          .order_by(models.Port.id, _Alloc.id))
# A router's ports (interfaces and gateway) with their addresses; its floating IPs.
_DEVICE_PORTS = (sa.select(*models.Port.__table__.c,
                           _Alloc.subnet_id.label('alloc_subnet_id'),
                           _Alloc.ip_address.label('alloc_ip_address'))
                 .outerjoin(_Alloc, _Alloc.port_id == models.Port.id)
                 .where(models.Port.device_id.in_(_IDS),
                        models.Port.device_owner.in_(sa.bindparam('owners', expanding=True)))
                 .order_by(models.Port.id, _Alloc.id))
_FLOATINGIPS = (sa.select(*models.FloatingIP.__table__.c)
                .where(models.FloatingIP.router_id.in_(_IDS),
                       models.FloatingIP.fixed_port_id.is_not(None))
                .order_by(models.FloatingIP.id))
_NETWORK_KEYS = [c.name for c in models.Network.__table__.c]
_SUBNET_KEYS = [(f'subnet_{c.name}', c.name) for c in models.Subnet.__table__.c]
_PORT_KEYS = [c.name for c in models.Port.__table__.c]


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def networks(session: orm.Session, ids: Sequence[str]) -> list[types.SimpleNamespace]:
    """The networks of ``ids`` that exist, each with ``subnets`` (by id).

    In the database's order of ids when ``ids`` come in it (chunks keep their order).
    """
    conn = session.connection()
    nets: dict[str, types.SimpleNamespace] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        for row in conn.execute(_NETWORKS, {'ids': chunk}).all():
            m = row._mapping
            net = nets.get(m['id'])
            if net is None:
                net = nets[m['id']] = types.SimpleNamespace(
                    **{k: m[k] for k in _NETWORK_KEYS}, subnets=[])
            if m['subnet_id'] is not None:
                net.subnets.append(types.SimpleNamespace(
                    **{name: m[label] for label, name in _SUBNET_KEYS}))
    return list(nets.values())


def _ports(rows, key: str, into: dict[str, list[types.SimpleNamespace]]) -> None:
    """Rows of port x allocation (by port, then allocation) -> ports under ``into[row[key]]``."""
    port = None
    for row in rows:
        m = row._mapping
        if port is None or port.id != m['id']:
            port = types.SimpleNamespace(**{k: m[k] for k in _PORT_KEYS}, fixed_ips=[])
            into.setdefault(m[key], []).append(port)
        if m['alloc_subnet_id'] is not None:
            port.fixed_ips.append(types.SimpleNamespace(
                subnet_id=m['alloc_subnet_id'], ip_address=m['alloc_ip_address']))


def ports_of_networks(session: orm.Session,
                      network_ids: Sequence[str]) -> dict[str, list[types.SimpleNamespace]]:
    """network id -> its ports sorted by id, each with ``fixed_ips`` (by allocation id)."""
    conn = session.connection()
    by_network: dict[str, list[types.SimpleNamespace]] = {}
    for chunk in _chunks(list(network_ids)):
        _ports(conn.execute(_PORTS, {'ids': chunk}).all(), 'network_id', by_network)
    return by_network


def ports_of_devices(session: orm.Session, device_ids: Sequence[str],
                     owners: Sequence[str]) -> dict[str, list[types.SimpleNamespace]]:
    """device id -> its ports of ``owners`` sorted by id, each with ``fixed_ips``."""
    conn = session.connection()
    by_device: dict[str, list[types.SimpleNamespace]] = {}
    for chunk in _chunks(list(device_ids)):
        _ports(conn.execute(_DEVICE_PORTS, {'ids': chunk, 'owners': list(owners)}).all(),
               'device_id', by_device)
    return by_device


def select(session: orm.Session, stmt) -> list[types.SimpleNamespace]:
    """The rows of a Core select of whole-table columns, as attribute objects."""
    return [types.SimpleNamespace(**row._mapping)
            for row in session.connection().execute(stmt).all()]


def floatingips_of_routers(session: orm.Session, router_ids: Sequence[str]
                           ) -> dict[str, list[types.SimpleNamespace]]:
    """router id -> its floating IPs that have a fixed port, sorted by id."""
    conn = session.connection()
    by_router: dict[str, list[types.SimpleNamespace]] = {}
    for chunk in _chunks(list(router_ids)):
        for row in conn.execute(_FLOATINGIPS, {'ids': chunk}).all():
            fip = types.SimpleNamespace(**row._mapping)
            by_router.setdefault(fip.router_id, []).append(fip)
    return by_router
