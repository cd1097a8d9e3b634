"""Which agent hosts which network (DHCP) and router (L3).

DHCP: a network with a DHCP-enabled subnet goes to ``dhcp_agents_per_network``
live, admin-up DHCP agents, those with the fewest networks first.  L3: a router
goes to the live, admin-up L3 agent with the fewest routers.  A dead agent keeps
what it had and is listed as not alive, until the automatic failover moves it
(:mod:`agent.controller.failover`).
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller.db import models
from agent.controller.db.models import utcnow
from agent.controller.segments import is_node_local

DHCP_AGENT = 'DHCP agent'
L3_AGENT = 'L3 agent'


def is_alive(agent: models.Agent, down_time: int, now: datetime.datetime | None = None) -> bool:
    now = now or utcnow()
    return (now - agent.heartbeat_timestamp).total_seconds() < down_time


def live_agents(session: orm.Session, agent_type: str, down_time: int) -> list[models.Agent]:
    cutoff = utcnow() - datetime.timedelta(seconds=down_time)
    return list(session.scalars(
        sa.select(models.Agent).where(models.Agent.agent_type == agent_type,
                                      models.Agent.admin_state_up.is_(True),
                                      models.Agent.heartbeat_timestamp > cutoff)
        .order_by(models.Agent.host)))


# Built once (on every port create and notification): building costs more than running.
_DHCP_AGENTS_OF_NETWORK = (
    sa.select(models.Agent)
    .join(models.NetworkDhcpAgentBinding,
          models.NetworkDhcpAgentBinding.dhcp_agent_id == models.Agent.id)
    .where(models.NetworkDhcpAgentBinding.network_id == sa.bindparam('network_id'))
    .order_by(models.Agent.host))
_ADMIN_UP_DHCP_AGENTS_OF_NETWORK = _DHCP_AGENTS_OF_NETWORK.where(
    models.Agent.admin_state_up.is_(True))


def dhcp_agents_of_network(session: orm.Session, network_id: str,
                           admin_up_only: bool = True) -> list[models.Agent]:
    stmt = _ADMIN_UP_DHCP_AGENTS_OF_NETWORK if admin_up_only else _DHCP_AGENTS_OF_NETWORK
    return list(session.scalars(stmt, {'network_id': network_id}))


def agent_of_host(session: orm.Session, agent_type: str, host: str) -> models.Agent | None:
    return session.scalar(sa.select(models.Agent).where(
        models.Agent.agent_type == agent_type, models.Agent.host == host))


def l3_agents_of_router(session: orm.Session, router_id: str) -> list[models.Agent]:
    """The L3 agents hosting a router (several for an HA router), by host."""
    return list(session.scalars(
        sa.select(models.Agent)
        .join(models.RouterL3AgentBinding,
              models.RouterL3AgentBinding.l3_agent_id == models.Agent.id)
        .where(models.RouterL3AgentBinding.router_id == router_id)
        .order_by(models.Agent.host)))


def l3_agent_of_router(session: orm.Session, router_id: str) -> models.Agent | None:
    """The L3 agent of a legacy router (the first by host of an HA router's)."""
    agents = l3_agents_of_router(session, router_id)
    return agents[0] if agents else None


_DHCP_SUBNET_OF_NETWORK = (sa.select(models.Subnet.id)
                           .where(models.Subnet.network_id == sa.bindparam('network_id'),
                                  models.Subnet.enable_dhcp.is_(True))
                           .limit(1))


def network_needs_dhcp(session: orm.Session, network_id: str) -> bool:
    return session.scalar(_DHCP_SUBNET_OF_NETWORK, {'network_id': network_id}) is not None


def _load_by_agent(session, column, agent_ids) -> dict[str, int]:
    rows = session.execute(sa.select(column, sa.func.count()).where(column.in_(agent_ids))
                           .group_by(column))
    return {agent_id: n for agent_id, n in rows}


def l3_load(session: orm.Session, agent_ids) -> dict[str, int]:
    """Routers per L3 agent (agents hosting none are missing)."""
    return _load_by_agent(session, models.RouterL3AgentBinding.l3_agent_id, agent_ids)


def dhcp_agents_wanted(session: orm.Session, network_id: str, conf) -> int:
    """``dhcp_agents_per_network``, or 1 for a network without a physical network
    (type local): it exists on one node only, so a second DHCP agent elsewhere could
    serve none of its ports."""
    net = session.get(models.Network, network_id)
    if net is not None and is_node_local(conf, net.network_type, net.physical_network):
        return 1
    return conf.dhcp_agents_per_network


def schedule_network(session: orm.Session, network_id: str, conf,
                     candidates: list[models.Agent] | None = None,
                     hosting: list[models.Agent] | None = None) -> list[models.Agent]:
    """Bind the network to more DHCP agents if it has too few; return the new ones.

    ``hosting``: the agents already hosting it, when the caller has them at hand.
    """
    if hosting is None:
        hosting = dhcp_agents_of_network(session, network_id, False)
    wanted = dhcp_agents_wanted(session, network_id, conf) - len(hosting)
    if wanted <= 0 or not network_needs_dhcp(session, network_id):
        return []
    if candidates is None:
        candidates = live_agents(session, DHCP_AGENT, conf.agent_down_time)
    hosting_ids = {a.id for a in hosting}
    candidates = [a for a in candidates if a.id not in hosting_ids]
    if not candidates:
        return []
    load = _load_by_agent(session, models.NetworkDhcpAgentBinding.dhcp_agent_id,
                          [a.id for a in candidates])
    chosen = sorted(candidates, key=lambda a: (load.get(a.id, 0), a.host))[:wanted]
    for agent in chosen:
        session.add(models.NetworkDhcpAgentBinding(network_id=network_id,
                                                   dhcp_agent_id=agent.id))
    session.flush()
    return chosen


def schedule_router(session: orm.Session, router_id: str, conf,
                    candidates: list[models.Agent] | None = None) -> models.Agent | None:
    """Bind an unhosted router to the least-loaded live L3 agent; return it if new."""
    if l3_agent_of_router(session, router_id) is not None:
        return None
    if candidates is None:
        candidates = live_agents(session, L3_AGENT, conf.agent_down_time)
    if not candidates:
        return None
    load = l3_load(session, [a.id for a in candidates])
    agent = min(candidates, key=lambda a: (load.get(a.id, 0), a.host))
    session.add(models.RouterL3AgentBinding(router_id=router_id, l3_agent_id=agent.id))
    session.flush()
    return agent


def unhosted_dhcp_networks(session: orm.Session) -> list[str]:
    bound = sa.select(models.NetworkDhcpAgentBinding.network_id)
    return list(session.scalars(
        sa.select(models.Subnet.network_id).distinct()
        .where(models.Subnet.enable_dhcp.is_(True),
               models.Subnet.network_id.not_in(bound))))


def unhosted_routers(session: orm.Session) -> list[str]:
    bound = sa.select(models.RouterL3AgentBinding.router_id)
    return list(session.scalars(
        sa.select(models.Router.id).where(models.Router.id.not_in(bound))
        .order_by(models.Router.id)))
