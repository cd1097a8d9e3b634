"""HA routers in the database: the HA network of a project, VRIDs, HA ports and the
states the L3 agents report (Neutron's ``l3_hamode_db``).

* The first HA router of a project creates its **HA network** ``HA network tenant
  <project>`` with the subnet ``HA subnet tenant <project>`` on ``l3_ha_net_cidr``
  (no DHCP, no gateway).  Both belong to no project (``project_id ''``, as in
  Neutron): the project does not see them, admins do.  The network's type comes
  from ``l3_ha_network_type`` (:func:`agent.controller.segments.for_ha_network`).
  The project's last HA router takes it away.
* Each HA router takes a **VRID** on that network (:mod:`agent.controller.ha_plan`).
* Each L3 agent hosting an HA router has an **HA port** on the network
  (``network:router_ha_interface``, device_id the router, bound to the agent's
  host, ``HA port tenant <project>``) and a binding row holding the state the
  agent reports: ``active``, ``standby`` (the default) or ``unknown``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging

import sqlalchemy as sa

from agent.controller import exceptions as exc
from agent.controller import ha_plan, networks, ports, scheduler, segments, wire
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.txn import Txn

LOG = logging.getLogger(__name__)

DEVICE_OWNER_HA_INTF = wire.DEVICE_OWNER_ROUTER_HA_INTF
HA_NETWORK_NAME = 'HA network tenant %s'
HA_SUBNET_NAME = 'HA subnet tenant %s'
HA_PORT_NAME = 'HA port tenant %s'
ACTIVE, STANDBY, UNKNOWN = 'active', 'standby', 'unknown'
STATES = (ACTIVE, STANDBY, UNKNOWN)


def check_net_cidr(cidr: str) -> None:
    """``l3_ha_net_cidr``: an IPv4 network with room for a few agents, or ValueError."""
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError as e:
        raise ValueError(f'l3_ha_net_cidr: {cidr!r} is not a network: {e}') from None
    if net.version != 4 or net.prefixlen > 29:
        raise ValueError(f'l3_ha_net_cidr: {cidr!r} is not an IPv4 network of at '
                         f'least 8 addresses')


def _admin(txn: Txn) -> Txn:
    """The same transaction acting for no project (HA resources belong to none)."""
    return dataclasses.replace(txn, ctx=Context.admin())


def ha_network_id(txn: Txn, project_id: str) -> str | None:
    row = txn.session.get(models.HARouterNetwork, project_id or '')
    return row.network_id if row is not None else None


def _create_ha_network(txn: Txn, project_id: str) -> str:
    admin = _admin(txn)
    try:
        segment = segments.for_ha_network(admin)
    except exc.NeutronError as e:
        raise exc.NoNetworkAvailable(f'Unable to create the HA network of project '
                                     f'{project_id}: {e}') from None
    net = networks.create_network(admin, {
        'name': HA_NETWORK_NAME % project_id, 'admin_state_up': True, 'shared': False,
        'provider:network_type': segment.network_type,
        'provider:physical_network': segment.physical_network,
        'provider:segmentation_id': segment.segmentation_id})
    subnet = networks.create_subnet(admin, {
        'network_id': net['id'], 'name': HA_SUBNET_NAME % project_id, 'ip_version': 4,
        'cidr': txn.conf.l3_ha_net_cidr, 'enable_dhcp': False, 'gateway_ip': None})
    txn.session.get(models.Network, net['id']).project_id = ''
    txn.session.get(models.Subnet, subnet['id']).project_id = ''
    txn.session.add(models.HARouterNetwork(project_id=project_id or '',
                                           network_id=net['id']))
    txn.session.flush()
    LOG.info('Created HA network %s (%s) for project %s', net['id'],
             segment.network_type, project_id)
    return net['id']


def setup_router(txn: Txn, router: models.Router) -> None:
    """Give a router becoming HA its project's HA network (created if needed) and a
    VRID on it."""
    network_id = ha_network_id(txn, router.project_id) or _create_ha_network(
        txn, router.project_id)
    # Lock the network row: two routers of the project draw VRIDs one after the other
    # (the primary key would refuse the second of a pair anyway).
    txn.session.get(models.Network, network_id, with_for_update=True)
    taken = txn.session.scalars(sa.select(models.HARouterVRIdAllocation.vr_id).where(
        models.HARouterVRIdAllocation.network_id == network_id))
    vrid = ha_plan.free_vrid(taken)
    if vrid is None:
        raise exc.NoVRIDAvailable(
            f'No more Virtual Router Identifier (VRID) available when creating router '
            f'{router.id}. The limit of number of HA Routers per tenant is 254.')
    txn.session.add(models.HARouterVRIdAllocation(network_id=network_id, vr_id=vrid))
    router.ha, router.ha_vr_id = True, vrid
    txn.session.flush()


def teardown_router(txn: Txn, router: models.Router) -> None:
    """Take a router's HA ports, bindings and VRID away, and its project's HA network
    when no other HA router of the project is left."""
    for port in ha_ports(txn, router.id):
        ports.delete_port_row(txn, port)
    network_id = ha_network_id(txn, router.project_id)
    if network_id is not None:
        txn.session.execute(sa.delete(models.HARouterVRIdAllocation).where(
            models.HARouterVRIdAllocation.network_id == network_id,
            models.HARouterVRIdAllocation.vr_id == router.ha_vr_id))
    router.ha, router.ha_vr_id = False, 0
    txn.session.flush()
    if network_id is not None and not txn.session.scalar(
            sa.select(sa.func.count()).select_from(models.Router).where(
                models.Router.project_id == router.project_id,
                models.Router.ha.is_(True))):
        networks.delete_network(_admin(txn), network_id)
        LOG.info('Deleted HA network %s: project %s has no HA router left', network_id,
                 router.project_id)


def ha_ports(txn: Txn, router_id: str, host: str | None = None) -> list[models.Port]:
    stmt = sa.select(models.Port).where(models.Port.device_id == router_id,
                                        models.Port.device_owner == DEVICE_OWNER_HA_INTF)
    if host is not None:
        stmt = stmt.where(models.Port.host == host)
    return list(txn.session.scalars(stmt.order_by(models.Port.id)))


def add_agent(txn: Txn, router: models.Router, agent: models.Agent) -> None:
    """Bind an HA router to an agent, with the agent's HA port."""
    network_id = ha_network_id(txn, router.project_id)
    if network_id is None:
        raise exc.NetworkNotFound(f'HA network of project {router.project_id} could '
                                  f'not be found.')
    port = ports.create_port_row(_admin(txn), {
        'network_id': network_id, 'device_owner': DEVICE_OWNER_HA_INTF,
        'device_id': router.id, 'name': HA_PORT_NAME % router.project_id,
        'binding:host_id': agent.host, 'admin_state_up': True})
    port.project_id = ''
    if not port.fixed_ips:
        raise exc.IpAddressGenerationFailure(
            f'No more IP addresses available on the HA network {network_id} '
            f'({txn.conf.l3_ha_net_cidr}) for router {router.id}.')
    txn.session.add(models.RouterL3AgentBinding(router_id=router.id, l3_agent_id=agent.id))
    txn.session.add(models.HARouterAgentPortBinding(
        port_id=port.id, router_id=router.id, l3_agent_id=agent.id, state=STANDBY))
    txn.session.flush()


def remove_agent(txn: Txn, router_id: str, agent: models.Agent) -> None:
    """Unbind an HA router from an agent and delete the agent's HA port."""
    for binding in txn.session.scalars(sa.select(models.HARouterAgentPortBinding).where(
            models.HARouterAgentPortBinding.router_id == router_id,
            models.HARouterAgentPortBinding.l3_agent_id == agent.id)):
        port = txn.session.get(models.Port, binding.port_id)
        if port is not None:
            ports.delete_port_row(txn, port)
    txn.session.execute(sa.delete(models.RouterL3AgentBinding).where(
        models.RouterL3AgentBinding.router_id == router_id,
        models.RouterL3AgentBinding.l3_agent_id == agent.id))
    txn.session.flush()


def schedule(txn: Txn, router: models.Router,
             candidates: list[models.Agent] | None = None) -> list[models.Agent]:
    """Add live agents to an HA router until it has max_l3_agents_per_router of
    them (or every live one); return the new ones."""
    live = scheduler.live_agents(txn.session, scheduler.L3_AGENT, txn.conf.agent_down_time)
    if candidates is None:
        candidates = live
    hosting = set(txn.session.scalars(sa.select(models.RouterL3AgentBinding.l3_agent_id)
                                      .where(models.RouterL3AgentBinding.router_id
                                             == router.id)))
    wanted = ha_plan.agents_wanted(txn.conf.max_l3_agents_per_router, len(live))
    load = scheduler.l3_load(txn.session, [a.id for a in candidates])
    chosen = ha_plan.agents_to_add(
        wanted, [ha_plan.Candidate(a.id, a.host, load.get(a.id, 0)) for a in candidates],
        hosting)
    by_id = {a.id: a for a in candidates}
    for agent_id in chosen:
        add_agent(txn, router, by_id[agent_id])
    return [by_id[i] for i in chosen]


def under_scheduled(txn: Txn) -> list[str]:
    """Ids of the HA routers with fewer agents than they want now
    (min(max_l3_agents_per_router, live agents)): one query, so that an agent's
    full sync costs nothing more while every HA router has its agents."""
    live = len(scheduler.live_agents(txn.session, scheduler.L3_AGENT,
                                     txn.conf.agent_down_time))
    wanted = ha_plan.agents_wanted(txn.conf.max_l3_agents_per_router, live)
    count = (sa.select(sa.func.count()).select_from(models.RouterL3AgentBinding)
             .where(models.RouterL3AgentBinding.router_id == models.Router.id)
             .scalar_subquery())
    return list(txn.session.scalars(
        sa.select(models.Router.id).where(models.Router.ha.is_(True), count < wanted)
        .order_by(models.Router.id)))


# States ------------------------------------------------------------------------------

def bindings_of(txn: Txn, router_ids, agent_id: str | None = None
                ) -> list[models.HARouterAgentPortBinding]:
    stmt = sa.select(models.HARouterAgentPortBinding).where(
        models.HARouterAgentPortBinding.router_id.in_(list(router_ids)))
    if agent_id is not None:
        stmt = stmt.where(models.HARouterAgentPortBinding.l3_agent_id == agent_id)
    return list(txn.session.scalars(stmt))


def states_with_dead_agents(txn: Txn, router_id: str) -> dict[str, str]:
    """agent id -> ha_state of an HA router, as Neutron shows them: an ``active``
    reported by an agent now dead (or admin-down) becomes ``standby`` while some
    other agent lives (one of them takes over), ``unknown`` when all are dead
    (more likely a broken bus than routers down).  The change is recorded."""
    bindings = [b for b in bindings_of(txn, [router_id]) if b.l3_agent_id]
    down_time = txn.conf.agent_down_time
    agents = {b.l3_agent_id: txn.session.get(models.Agent, b.l3_agent_id) for b in bindings}
    dead = {i for i, a in agents.items()
            if not (a.admin_state_up and scheduler.is_alive(a, down_time))}
    dead_active = [b for b in bindings if b.l3_agent_id in dead and b.state == ACTIVE]
    if dead_active:
        all_dead = all(b.l3_agent_id in dead for b in bindings
                       if b.state in (ACTIVE, STANDBY))
        for b in dead_active:
            b.state = UNKNOWN if all_dead else STANDBY
        txn.session.flush()
    return {b.l3_agent_id: b.state for b in bindings}


@dataclasses.dataclass(frozen=True, slots=True)
class StatesUpdate:
    recorded: tuple[str, ...] = ()     # router ids whose state was recorded
    unknown: tuple[str, ...] = ()      # router ids not HA on this host's agent
    # (router id, hosts) of routers now active on this host AND on other live agents:
    # VRRP does not get through between them (a split brain)
    contested: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _also_active(txn: Txn, router_ids, agent_id: str) -> tuple:
    """(router id, hosts of the other live agents that have it active)."""
    found = []
    down_time = txn.conf.agent_down_time
    for router_id in sorted(router_ids):
        hosts = []
        for b in bindings_of(txn, [router_id]):
            if b.l3_agent_id in (None, agent_id) or b.state != ACTIVE:
                continue
            agent = txn.session.get(models.Agent, b.l3_agent_id)
            if agent is not None and scheduler.is_alive(agent, down_time):
                hosts.append(agent.host)
        if hosts:
            found.append((router_id, tuple(sorted(hosts))))
    return tuple(found)


def update_states(txn: Txn, host: str, states: dict[str, str]) -> StatesUpdate:
    """Record the states an L3 agent reports (update_ha_routers_states).  A router
    becoming active there has its gateway and interface ports bound to the host
    (Neutron's _update_router_port_bindings), and the agent's HA ports are ACTIVE:
    its keepalived runs on them."""
    agent = scheduler.agent_of_host(txn.session, scheduler.L3_AGENT, host)
    if agent is None:
        return StatesUpdate(unknown=tuple(sorted(states)))
    bindings = {b.router_id: b for b in bindings_of(txn, states, agent.id)}
    for router_id, binding in bindings.items():
        binding.state = states[router_id]
        port = txn.session.get(models.Port, binding.port_id)
        if port is not None:
            port.status = 'ACTIVE'
    active = [r for r in bindings if states[r] == ACTIVE]
    if active:
        txn.session.execute(sa.update(models.Port).where(
            models.Port.device_id.in_(active),
            models.Port.device_owner.in_(wire.ROUTER_PORT_OWNERS))
            .values(host=host, status='ACTIVE')
            .execution_options(synchronize_session=False))
    txn.session.flush()
    return StatesUpdate(tuple(sorted(bindings)),
                        tuple(sorted(set(states) - set(bindings))),
                        _also_active(txn, active, agent.id))


def host_ha_router_count(txn: Txn, host: str) -> int:
    """HA routers bound to this host's L3 agent (get_host_ha_router_count)."""
    agent = scheduler.agent_of_host(txn.session, scheduler.L3_AGENT, host)
    if agent is None:
        return 0
    return txn.session.scalar(sa.select(sa.func.count()).select_from(
        models.HARouterAgentPortBinding).where(
        models.HARouterAgentPortBinding.l3_agent_id == agent.id))


def set_host_ha_ports_down(txn: Txn, host: str) -> int:
    """This host's ACTIVE HA ports become DOWN (update_all_ha_network_port_statuses:
    the agent restarted without its namespaces, i.e. the node rebooted)."""
    result = txn.session.execute(sa.update(models.Port).where(
        models.Port.device_owner == DEVICE_OWNER_HA_INTF, models.Port.host == host,
        models.Port.status == 'ACTIVE').values(status='DOWN')
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
