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

_NETWORKS = (sa.select(*models.Network.__table__.c)
             .where(models.Network.id.in_(_IDS)).order_by(models.Network.id))
_SUBNETS = (sa.select(*models.Subnet.__table__.c)
            .where(models.Subnet.network_id.in_(_IDS)).order_by(models.Subnet.id))
_PORTS = (sa.select(*models.Port.__table__.c)
          .where(models.Port.network_id.in_(_IDS)).order_by(models.Port.id))
_ALLOCATIONS = (sa.select(_Alloc.port_id, _Alloc.subnet_id, _Alloc.ip_address)
                .join(models.Port, models.Port.id == _Alloc.port_id)
                .where(models.Port.network_id.in_(_IDS)).order_by(_Alloc.id))


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def networks(session: orm.Session, ids: Sequence[str]) -> list[types.SimpleNamespace]:
    """The networks of ``ids`` that exist, each with ``subnets`` (by id).

    In the database's order of ids when ``ids`` come in it (chunks keep their order).
    """
    conn = session.connection()
    nets = []
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows = conn.execute(_NETWORKS, {'ids': chunk}).all()
        by_id = {row.id: types.SimpleNamespace(**row._asdict(), subnets=[]) for row in rows}
        for row in conn.execute(_SUBNETS, {'ids': list(by_id)}).all():
            by_id[row.network_id].subnets.append(row)
        nets += by_id.values()
    return nets


def ports_of_networks(session: orm.Session,
                      network_ids: Sequence[str]) -> dict[str, list[types.SimpleNamespace]]:
    """network id -> its ports sorted by id, each with ``fixed_ips`` (by allocation id)."""
    conn = session.connection()
    by_network: dict[str, list[types.SimpleNamespace]] = {}
    for chunk in _chunks(list(network_ids)):
        ports = {}
        for row in conn.execute(_PORTS, {'ids': chunk}).all():
            port = types.SimpleNamespace(**row._asdict(), fixed_ips=[])
            ports[port.id] = port
            by_network.setdefault(port.network_id, []).append(port)
        for row in conn.execute(_ALLOCATIONS, {'ids': chunk}).all():
            port = ports.get(row.port_id)
            if port is not None:
                port.fixed_ips.append(row)
    return by_network
