"""Reads behind the list and show calls of the API: visibility, filters, fields."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller import wire
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.txn import Txn

# API filter name -> column, pushed down into SQL; other filters apply to the dicts.
_COLUMNS = {
    models.Network: {'id': 'id', 'name': 'name', 'project_id': 'project_id',
                     'tenant_id': 'project_id', 'router:external': 'external',
                     'shared': 'shared', 'admin_state_up': 'admin_state_up'},
    models.Subnet: {'id': 'id', 'network_id': 'network_id', 'name': 'name',
                    'project_id': 'project_id', 'tenant_id': 'project_id',
                    'cidr': 'cidr', 'ip_version': 'ip_version'},
    models.Port: {'id': 'id', 'network_id': 'network_id', 'device_id': 'device_id',
                  'device_owner': 'device_owner', 'mac_address': 'mac_address',
                  'binding:host_id': 'host', 'project_id': 'project_id',
                  'tenant_id': 'project_id', 'name': 'name', 'status': 'status'},
    models.Router: {'id': 'id', 'name': 'name', 'project_id': 'project_id',
                    'tenant_id': 'project_id'},
    models.FloatingIP: {'id': 'id', 'floating_network_id': 'floating_network_id',
                        'port_id': 'fixed_port_id', 'router_id': 'router_id',
                        'floating_ip_address': 'floating_ip_address',
                        'project_id': 'project_id', 'tenant_id': 'project_id'},
    models.Agent: {'id': 'id', 'agent_type': 'agent_type', 'host': 'host',
                   'binary': 'binary', 'topic': 'topic'},
}
_BOOL_COLUMNS = {'external', 'shared', 'admin_state_up'}


def _fixed_ip_pushdown(stmt, wanted, network_ids):
    """Ports with one of ``fixed_ips={'ip_address': [...]}`` (the metadata agent's
    lookup, Neutron's filter shape), through the allocations' (network_id,
    ip_address) index when networks are given; the exact match is still checked
    on the dicts."""
    ips = wanted.get('ip_address') if isinstance(wanted, dict) else None
    if not isinstance(ips, (list, tuple, set)) or not ips:
        return stmt
    allocations = sa.select(models.IPAllocation.port_id).where(
        models.IPAllocation.ip_address.in_([str(ip) for ip in ips]))
    if isinstance(network_ids, (list, tuple, set)) and network_ids:
        allocations = allocations.where(
            models.IPAllocation.network_id.in_([str(n) for n in network_ids]))
    return stmt.where(models.Port.id.in_(allocations))


def _pushdown(model, stmt, filters: dict | None):
    for field, wanted in (filters or {}).items():
        if model is models.Port and field == 'fixed_ips':
            stmt = _fixed_ip_pushdown(stmt, wanted, (filters or {}).get('network_id'))
            continue
        column = _COLUMNS[model].get(field)
        if column is None or isinstance(wanted, dict):
            continue
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        if column in _BOOL_COLUMNS:
            continue   # compared on the dict, which understands 'true'/'True'/'1'
        if column == 'ip_version':
            values = [int(x) for x in values if str(x).isdigit()]
        stmt = stmt.where(getattr(model, column).in_([v for v in values]))
    return stmt


def _visible(model, stmt, ctx: Context):
    if ctx.is_admin or model is models.Agent:
        return stmt
    if model is models.Network:
        return stmt.where(sa.or_(models.Network.project_id == ctx.project_id,
                                 models.Network.shared.is_(True),
                                 models.Network.external.is_(True)))
    return stmt.where(model.project_id == ctx.project_id)


def rows(txn: Txn, model, filters: dict | None):
    stmt = _visible(model, _pushdown(model, sa.select(model), filters), txn.ctx)
    if model is models.Network:
        stmt = stmt.options(orm.selectinload(models.Network.subnets))
    order = model.id
    return txn.session.scalars(stmt.order_by(order)).all()


def listing(items, filters, fields) -> list[dict]:
    return [wire.select_fields(item, fields) for item in items
            if wire.matches(item, filters)]
