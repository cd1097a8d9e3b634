"""The queries behind the L3 agent's calls (neutron-agent-rpc.md §4.2, §4.3), in the
Plugin's transaction; the endpoint is :class:`agent.controller.rpc_server.L3RpcCallback`."""

from __future__ import annotations

import sqlalchemy as sa

from agent.controller import l3_ha, rowviews, scheduler, wire
from agent.controller.agents import agent_on_host
from agent.controller.db import models
from agent.controller.txn import Txn

ROUTER_PORT_OWNERS = wire.ROUTER_PORT_OWNERS
SYNC_PORT_OWNERS = ROUTER_PORT_OWNERS + (wire.DEVICE_OWNER_ROUTER_HA_INTF,)


def _subnet_summary(subnet) -> dict:
    return {'id': subnet.id, 'cidr': subnet.cidr, 'gateway_ip': subnet.gateway_ip,
            'dns_nameservers': list(subnet.dns_nameservers), 'ipv6_ra_mode': subnet.ipv6_ra_mode,
            'subnetpool_id': None}


class _Networks:
    """The networks of one answer by id, with their subnets' summaries and prefix
    lengths worked out once (a gateway network is shared by every router)."""

    def __init__(self, nets):
        self.nets = {n.id: n for n in nets}
        self._summaries: dict[str, dict] = {}
        self._prefixlens: dict[str, int] = {}

    def summary(self, subnet) -> dict:
        found = self._summaries.get(subnet.id)
        if found is None:
            found = self._summaries[subnet.id] = _subnet_summary(subnet)
        return dict(found, dns_nameservers=list(found['dns_nameservers']))

    def prefixlen(self, cidr: str) -> int:
        found = self._prefixlens.get(cidr)
        if found is None:
            found = self._prefixlens[cidr] = wire.prefixlen(cidr)
        return found


def enriched_port(port, networks: _Networks) -> dict | None:
    """A router port with prefixlen, subnets, extra_subnets, address_scopes and mtu."""
    if not port.fixed_ips:
        return None
    net = networks.nets[port.network_id]
    subnets = {s.id: s for s in net.subnets}
    d = wire.port_dict(port)
    for ip in d['fixed_ips']:
        ip['prefixlen'] = networks.prefixlen(subnets[ip['subnet_id']].cidr)
    own = [ip['subnet_id'] for ip in d['fixed_ips']]
    d['subnets'] = [networks.summary(subnets[s]) for s in dict.fromkeys(own)]
    d['extra_subnets'] = [networks.summary(s) for s in net.subnets if s.id not in own]
    d['address_scopes'] = {'4': None, '6': None}
    d['mtu'] = net.mtu
    # The network's provider attributes, for the tag of the port on a node linked to
    # a physical network (Neutron's router ports have none: its OVS agent tags them).
    d.update({'provider:network_type': net.network_type,
              'provider:physical_network': net.physical_network,
              'provider:segmentation_id': net.segmentation_id})
    return d


def _floatingip_summary(fip) -> dict:
    return {'id': fip.id, 'tenant_id': fip.project_id, 'project_id': fip.project_id,
            'floating_ip_address': fip.floating_ip_address,
            'floating_network_id': fip.floating_network_id, 'router_id': fip.router_id,
            'port_id': fip.fixed_port_id, 'fixed_ip_address': fip.fixed_ip_address,
            'status': fip.status, 'fixed_ip_address_scope': None,
            'description': fip.description, 'revision_number': fip.revision_number}


def router_sync_dict(router, gw, interfaces: list, floatingips: list,
                     networks: _Networks, ha_port=None, ha_state: str | None = None) -> dict:
    """The §4.3 dict of ``router`` (rows of agent.controller.rowviews or models).

    An HA router also has ``_ha_interface``, this host's HA port enriched as one
    of ``_interfaces`` (with the HA network's provider attributes), and
    ``_ha_state``, what this host's agent last reported (``standby`` before).
    """
    d = wire.router_dict(router, gw)
    d.update({'gw_port_id': router.gw_port_id, 'ha_vr_id': router.ha_vr_id or 0,
              'enable_default_route_ecmp': False, 'enable_default_route_bfd': False})
    if router.ha:
        d['_ha_interface'] = enriched_port(ha_port, networks)
        d['_ha_state'] = ha_state
    if gw is not None:
        d['gw_port'] = enriched_port(gw, networks)
        d['enable_snat'] = router.enable_snat
    d['_interfaces'] = [p for p in (enriched_port(port, networks) for port in interfaces)
                        if p is not None]
    d['_floatingips'] = [_floatingip_summary(f) for f in floatingips]
    return d


def router_ids(txn: Txn, host: str) -> list[str]:
    """Routers on this host's L3 agent; unhosted ones are scheduled to it first."""
    agent = agent_on_host(txn, scheduler.L3_AGENT, host)
    if agent is None:
        return []
    if agent.admin_state_up and scheduler.is_alive(agent, txn.conf.agent_down_time):
        for router_id in scheduler.unhosted_routers(txn.session):
            router = txn.session.get(models.Router, router_id)
            if not router.ha:
                scheduler.schedule_router(txn.session, router_id, txn.conf, [agent])
        # HA routers with fewer agents than they want (this one may be new or back).
        for router_id in l3_ha.under_scheduled(txn):
            l3_ha.schedule(txn, txn.session.get(models.Router, router_id), [agent])
    return list(txn.session.scalars(
        sa.select(models.RouterL3AgentBinding.router_id)
        .where(models.RouterL3AgentBinding.l3_agent_id == agent.id)
        .order_by(models.RouterL3AgentBinding.router_id)))


def _admin_up_agent(txn: Txn, host: str):
    agent = agent_on_host(txn, scheduler.L3_AGENT, host)
    return agent if agent is not None and agent.admin_state_up else None


def _routers_of(txn: Txn, host: str, ids=None):
    """The admin-up routers bound to this host's admin-up L3 agent (a select)."""
    agent = _admin_up_agent(txn, host)
    if agent is None:
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
    # An HA router's ports follow its active agent (update_ha_routers_states).
    router_ids = (stmt.with_only_columns(models.Router.id).order_by(None)
                  .where(models.Router.ha.is_(False)))
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
    """The §4.3 dicts of the admin-up routers bound to this host's agent (read only).

    Read as Core rows in one query per table (agent.controller.rowviews), not as
    ORM objects: 1000 routers are ~7000 rows.
    """
    stmt = _routers_of(txn, host, ids)
    if stmt is None:
        return []
    rows = rowviews.select(txn.session, stmt.with_only_columns(*models.Router.__table__.c))
    ids = [r.id for r in rows]
    ports = rowviews.ports_of_devices(txn.session, ids, SYNC_PORT_OWNERS)
    by_id = {p.id: p for device_ports in ports.values() for p in device_ports}
    for r in rows:     # a gateway port is the router's device; if not, read it alone
        if r.gw_port_id and r.gw_port_id not in by_id:
            gw = txn.session.get(models.Port, r.gw_port_id)
            if gw is not None:
                by_id[gw.id] = gw
    networks = _Networks(rowviews.networks(txn.session, sorted({p.network_id
                                                                for p in by_id.values()})))
    floatingips = rowviews.floatingips_of_routers(txn.session, ids)
    ha = _ha_bindings(txn, host, [r.id for r in rows if r.ha])
    result = []
    for r in rows:
        binding = ha.get(r.id)
        ha_port = by_id.get(binding.port_id) if binding is not None else None
        if r.ha and (ha_port is None or not ha_port.fixed_ips):
            continue     # no HA port on this host: nothing to run (Neutron drops it too)
        result.append(router_sync_dict(
            r, by_id.get(r.gw_port_id) if r.gw_port_id else None,
            [p for p in ports.get(r.id, []) if p.device_owner == wire.DEVICE_OWNER_ROUTER_INTF],
            floatingips.get(r.id, []), networks, ha_port,
            binding.state if binding is not None else None))
    return result


def _ha_bindings(txn: Txn, host: str, router_ids: list[str]) -> dict:
    """router id -> the HA binding of this host's agent, for these HA routers."""
    agent = _admin_up_agent(txn, host)
    if agent is None or not router_ids:
        return {}
    return {b.router_id: b for b in l3_ha.bindings_of(txn, router_ids, agent.id)}


def update_floatingip_statuses(txn: Txn, router_id: str, statuses: dict) -> None:
    for fip_id, status in (statuses or {}).items():
        fip = txn.session.get(models.FloatingIP, fip_id)
        if fip is not None and status in ('ACTIVE', 'DOWN', 'ERROR'):
            fip.status = status
    txn.session.execute(sa.update(models.FloatingIP).where(
        models.FloatingIP.last_known_router_id == router_id,
        models.FloatingIP.router_id.is_(None)).values(status='DOWN'))
