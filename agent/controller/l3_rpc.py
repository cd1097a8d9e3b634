"""What the server answers the L3 agent (neutron-agent-rpc.md §4.2, §4.3)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller import routers, scheduler, wire
from agent.controller.agents import agent_on_host
from agent.controller.db import models
from agent.controller.txn import Txn

SYNC_SUBNET_KEYS = ('id', 'cidr', 'gateway_ip', 'dns_nameservers', 'ipv6_ra_mode',
                    'subnetpool_id')


def _subnet_summary(subnet: models.Subnet) -> dict:
    d = wire.subnet_dict(subnet)
    return {k: d[k] for k in SYNC_SUBNET_KEYS}


def enriched_port(session, port: models.Port) -> dict | None:
    """A router port with prefixlen, subnets, extra_subnets, address_scopes and mtu."""
    if not port.fixed_ips:
        return None
    net = session.get(models.Network, port.network_id)
    subnets = {s.id: s for s in net.subnets}
    d = wire.port_dict(port)
    for ip in d['fixed_ips']:
        ip['prefixlen'] = wire.prefixlen(subnets[ip['subnet_id']].cidr)
    own = [ip['subnet_id'] for ip in d['fixed_ips']]
    d['subnets'] = [_subnet_summary(subnets[s]) for s in dict.fromkeys(own)]
    d['extra_subnets'] = [_subnet_summary(s) for s in net.subnets if s.id not in own]
    d['address_scopes'] = {'4': None, '6': None}
    d['mtu'] = net.mtu
    # The network's provider attributes, for the tag of the port on a node linked to
    # a physical network (Neutron's router ports have none: its OVS agent tags them).
    d.update({'provider:network_type': net.network_type,
              'provider:physical_network': net.physical_network,
              'provider:segmentation_id': net.segmentation_id})
    return d


def _floatingip_summary(fip: models.FloatingIP) -> dict:
    return {'id': fip.id, 'tenant_id': fip.project_id, 'project_id': fip.project_id,
            'floating_ip_address': fip.floating_ip_address,
            'floating_network_id': fip.floating_network_id, 'router_id': fip.router_id,
            'port_id': fip.fixed_port_id, 'fixed_ip_address': fip.fixed_ip_address,
            'status': fip.status, 'fixed_ip_address_scope': None,
            'description': fip.description, 'revision_number': fip.revision_number}


def router_sync_dict(txn: Txn, router: models.Router,
                     interfaces: list[models.Port] | None = None,
                     floatingips: list[models.FloatingIP] | None = None) -> dict:
    """The §4.3 dict; ``interfaces`` and ``floatingips`` of the router, if preloaded."""
    d = routers.router_dict(txn, router)
    d.update({'gw_port_id': router.gw_port_id, 'ha_vr_id': 0,
              'enable_default_route_ecmp': False, 'enable_default_route_bfd': False})
    gw = routers.gateway_port(txn, router)
    if gw is not None:
        d['gw_port'] = enriched_port(txn.session, gw)
        d['enable_snat'] = router.enable_snat
    if interfaces is None:
        interfaces = routers.interface_ports(txn, router.id)
    d['_interfaces'] = [p for p in (enriched_port(txn.session, port) for port in interfaces)
                        if p is not None]
    if floatingips is None:
        floatingips = _floatingips_of(txn, [router.id]).get(router.id, [])
    d['_floatingips'] = [_floatingip_summary(f) for f in floatingips]
    return d


def router_ids(txn: Txn, host: str) -> list[str]:
    """Routers on this host's L3 agent; unhosted ones are scheduled to it first."""
    agent = agent_on_host(txn, scheduler.L3_AGENT, host)
    if agent is None:
        return []
    if agent.admin_state_up and scheduler.is_alive(agent, txn.conf.agent_down_time):
        for router_id in scheduler.unhosted_routers(txn.session):
            scheduler.schedule_router(txn.session, router_id, txn.conf, [agent])
    return list(txn.session.scalars(
        sa.select(models.RouterL3AgentBinding.router_id)
        .where(models.RouterL3AgentBinding.l3_agent_id == agent.id)
        .order_by(models.RouterL3AgentBinding.router_id)))


def _routers_of(txn: Txn, host: str, ids=None):
    """The admin-up routers bound to this host's admin-up L3 agent (a select)."""
    agent = agent_on_host(txn, scheduler.L3_AGENT, host)
    if agent is None or not agent.admin_state_up:
        return None
    stmt = (sa.select(models.Router)
            .join(models.RouterL3AgentBinding,
                  models.RouterL3AgentBinding.router_id == models.Router.id)
            .where(models.RouterL3AgentBinding.l3_agent_id == agent.id,
                   models.Router.admin_state_up.is_(True))
            .order_by(models.Router.id))
    if ids is not None:
        stmt = stmt.where(models.Router.id.in_(list(ids)))
    return stmt


def _unbound_ports(txn: Txn, host: str, ids=None):
    """Where-clauses of the routers' ports not yet bound to ``host`` (None: no agent)."""
    stmt = _routers_of(txn, host, ids)
    if stmt is None:
        return None
    router_ids = stmt.with_only_columns(models.Router.id).order_by(None)
    return (models.Port.device_id.in_(router_ids),
            models.Port.device_owner.in_([wire.DEVICE_OWNER_ROUTER_INTF,
                                          wire.DEVICE_OWNER_ROUTER_GW]),
            sa.or_(models.Port.host != host, models.Port.status != 'ACTIVE'))


def ports_need_binding(txn: Txn, host: str, ids=None) -> bool:
    where = _unbound_ports(txn, host, ids)
    return where is not None and txn.session.scalar(
        sa.select(sa.func.count()).select_from(models.Port).where(*where)) > 0


def bind_router_ports(txn: Txn, host: str, ids=None) -> None:
    """Bind the routers' gateway and interface ports to ``host``, ACTIVE."""
    where = _unbound_ports(txn, host, ids)
    if where is not None:
        txn.session.execute(sa.update(models.Port).where(*where)
                            .values(host=host, status='ACTIVE')
                            .execution_options(synchronize_session=False))


def sync_routers(txn: Txn, host: str, ids=None) -> list[dict]:
    """The §4.3 dicts of the admin-up routers bound to this host's agent (read only)."""
    stmt = _routers_of(txn, host, ids)
    if stmt is None:
        return []
    rows = txn.session.scalars(stmt).all()
    ids = [r.id for r in rows]
    interfaces, loaded = _preload(txn, ids)
    floatingips = _floatingips_of(txn, ids)
    return [router_sync_dict(txn, r, interfaces.get(r.id, []), floatingips.get(r.id, []))
            for r in rows]


def _floatingips_of(txn: Txn, router_ids: list[str]) -> dict[str, list[models.FloatingIP]]:
    by_router: dict[str, list[models.FloatingIP]] = {}
    for chunk in range(0, len(router_ids), 500):
        for fip in txn.session.scalars(sa.select(models.FloatingIP).where(
                models.FloatingIP.router_id.in_(router_ids[chunk:chunk + 500]),
                models.FloatingIP.fixed_port_id.is_not(None)).order_by(models.FloatingIP.id)):
            by_router.setdefault(fip.router_id, []).append(fip)
    return by_router


def _preload(txn: Txn, router_ids: list[str]) -> tuple[dict[str, list[models.Port]], list]:
    """Load the routers' ports, networks and subnets in a few queries (not per router).

    Returns the interface ports by router, and every loaded row: holding them keeps
    them in the session's (weak) identity map, where ``session.get`` finds them.
    """
    by_router: dict[str, list[models.Port]] = {}
    loaded: list = []
    network_ids = set()
    for chunk in range(0, len(router_ids), 500):
        ports = txn.session.scalars(
            sa.select(models.Port)
            .where(models.Port.device_id.in_(router_ids[chunk:chunk + 500]),
                   models.Port.device_owner.in_([wire.DEVICE_OWNER_ROUTER_INTF,
                                                 wire.DEVICE_OWNER_ROUTER_GW]))
            .order_by(models.Port.id)).all()
        loaded += ports
        for port in ports:
            network_ids.add(port.network_id)
            if port.device_owner == wire.DEVICE_OWNER_ROUTER_INTF:
                by_router.setdefault(port.device_id, []).append(port)
    ids = sorted(network_ids)
    for chunk in range(0, len(ids), 500):
        loaded += txn.session.scalars(
            sa.select(models.Network).where(models.Network.id.in_(ids[chunk:chunk + 500]))
            .options(orm.selectinload(models.Network.subnets))).all()
    return by_router, loaded


def update_floatingip_statuses(txn: Txn, router_id: str, statuses: dict) -> None:
    for fip_id, status in (statuses or {}).items():
        fip = txn.session.get(models.FloatingIP, fip_id)
        if fip is not None and status in ('ACTIVE', 'DOWN', 'ERROR'):
            fip.status = status
    txn.session.execute(sa.update(models.FloatingIP).where(
        models.FloatingIP.last_known_router_id == router_id,
        models.FloatingIP.router_id.is_(None)).values(status='DOWN'))
