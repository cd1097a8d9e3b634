"""What a write transaction carries: the session, the outbox, the options, the caller."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller import exceptions as exc
from agent.controller.context import Context
from agent.controller.notify import Outbox

M = TypeVar('M')

_NOT_FOUND = {
    'Network': (exc.NetworkNotFound, 'Network {id} could not be found.'),
    'Subnet': (exc.SubnetNotFound, 'Subnet {id} could not be found.'),
    'Port': (exc.PortNotFound, 'Port {id} could not be found.'),
    'Router': (exc.RouterNotFound, 'Router {id} could not be found.'),
    'FloatingIP': (exc.FloatingIPNotFound, 'Floating IP {id} could not be found'),
    'Agent': (exc.AgentNotFound, 'Agent {id} could not be found.'),
}


@dataclasses.dataclass
class Txn:
    session: orm.Session
    outbox: Outbox
    conf: Any                 # the server's options (a ConfigOpts)
    ctx: Context = dataclasses.field(default_factory=Context.admin)

    def load(self, model: type[M], id: str, lock: bool = False) -> M:
        """The row of ``model`` with ``id`` visible to the caller, or its NotFound."""
        return load(self.session, model, id, self.ctx, lock)

    def load_row(self, model: type, id: str) -> sa.Row:
        """:meth:`load` as a read-only row: no ORM object, whose load (session.get)
        cost ~1 ms of CPU, a fifth of a port create's (py-spy)."""
        row = None
        if isinstance(id, str):
            row = self.session.connection().execute(_by_id(model), {'id': id}).first()
        return _visible(model, id, row, self.ctx, False)


_BY_ID: dict[type, sa.Select] = {}


def _by_id(model: type) -> sa.Select:
    stmt = _BY_ID.get(model)
    if stmt is None:
        table = model.__table__
        stmt = _BY_ID[model] = sa.select(table).where(table.c.id == sa.bindparam('id'))
    return stmt


def load(session: orm.Session, model: type[M], id, ctx: Context | None = None,
         lock: bool = False) -> M:
    row = None
    if isinstance(id, str):
        row = session.get(model, id, with_for_update=lock or None)
    return _visible(model, id, row, ctx, lock)


def _visible(model: type, id, row, ctx: Context | None, lock: bool):
    if row is not None and ctx is not None and not ctx.is_admin:
        owner = getattr(row, 'project_id', None)
        shared = getattr(row, 'shared', False) or getattr(row, 'external', False)
        # Others' shared networks can be used, not changed (lock=True means a change).
        if owner != ctx.project_id and (lock or not shared):
            row = None
    if row is None:
        cls, message = _NOT_FOUND[model.__name__]
        raise cls(message.format(id=id))
    return row


def count(session: orm.Session, stmt) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


def bump(row) -> None:
    """A resource changed: one more revision."""
    row.revision_number = (row.revision_number or 0) + 1
