"""Agents: heartbeats (report_state, §5), the agents API, manual scheduling and the
automatic failover of failed agents."""

from __future__ import annotations

import datetime
import logging

import sqlalchemy as sa

from agent.common import names
from agent.controller import events
from agent.controller import exceptions as exc
from agent.controller import failover
from agent.controller import l3_ha
from agent.controller import scheduler
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.db.models import utcnow
from agent.controller.names_util import new_id
from agent.controller.segments import is_node_local
from agent.controller.txn import Txn, bump

LOG = logging.getLogger(__name__)
TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%f'
NEW, ALIVE, REVIVED = 'new', 'alive', 'revived'
REQUIRED_KEYS = ('agent_type', 'binary', 'host', 'topic')
RESERVED_DHCP_PORT = 'reserved_dhcp_port'      # Neutron's DEVICE_ID_RESERVED_DHCP_PORT


def parse_time(value: str) -> datetime.datetime:
    for fmt in (TIME_FORMAT, '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S.%f'):
        try:
            return datetime.datetime.strptime(value, fmt)
        except (TypeError, ValueError):
            continue
    raise v.invalid('time', f'{value!r} is not a UTC time like 2026-01-31T12:00:00.000000')


def report_state(txn: Txn, agent_state: dict, time: str,
                 server_started: datetime.datetime) -> str | None:
    """Upsert the agent row keyed by (agent_type, host); Neutron's return values."""
    state = agent_state.get('agent_state', agent_state)
    missing = [k for k in REQUIRED_KEYS if not state.get(k)]
    if missing:
        raise v.invalid('agent_state', f'missing {", ".join(missing)}')
    sent = parse_time(time)
    if sent < server_started:
        LOG.debug('Stale report_state from %s sent at %s: ignored', state['host'], time)
        return None
    now = utcnow()
    down_time = txn.conf.agent_down_time
    if state.get('start_flag') and abs((now - sent).total_seconds()) > down_time:
        LOG.error('Clock of agent %s on %s differs from the server\'s by more than '
                  'agent_down_time (%ss)', state['agent_type'], state['host'], down_time)
    configurations = state.get('configurations') or {}
    agent = txn.session.scalar(sa.select(models.Agent).where(
        models.Agent.agent_type == state['agent_type'],
        models.Agent.host == state['host']).with_for_update())
    if agent is None:
        agent = models.Agent(id=new_id({}), agent_type=state['agent_type'],
                             host=state['host'], admin_state_up=True, created_at=now,
                             started_at=now)
        txn.session.add(agent)
        result = NEW
    else:
        result = ALIVE if scheduler.is_alive(agent, down_time, now) else REVIVED
    agent.binary = state['binary']
    agent.topic = state['topic']
    agent.availability_zone = state.get('availability_zone')
    agent.configurations = configurations
    agent.resource_versions = state.get('resource_versions')
    load = configurations.get('networks', 0) if agent.agent_type == scheduler.DHCP_AGENT else 0
    agent.load = load if isinstance(load, int) else 0
    agent.heartbeat_timestamp = now
    if state.get('start_flag'):
        agent.started_at = now
    txn.session.flush()
    return result


def agent_dict(agent: models.Agent, conf) -> dict:
    return wire.agent_dict(agent, scheduler.is_alive(agent, conf.agent_down_time))


def update_agent(txn: Txn, agent_id: str, body: dict) -> dict:
    v.check_known_fields(body, frozenset({'admin_state_up', 'description'}), 'agent')
    agent = txn.load(models.Agent, agent_id, lock=True)
    notify = False
    if 'admin_state_up' in body:
        up = v.parse_bool(body['admin_state_up'], 'admin_state_up')
        notify = up != agent.admin_state_up
        agent.admin_state_up = up
    if 'description' in body:
        agent.description = v.parse_string(body['description'], 'description')
    txn.session.flush()
    if notify:
        payload = {'admin_state_up': agent.admin_state_up}
        if agent.agent_type == scheduler.DHCP_AGENT:
            txn.outbox.cast_dhcp(agent.host, 'agent_updated', payload)
        elif agent.agent_type == scheduler.L3_AGENT:
            txn.outbox.cast_l3(agent.host, 'agent_updated', payload=payload)
    return agent_dict(agent, txn.conf)


def delete_agent(txn: Txn, agent_id: str) -> None:
    agent = txn.load(models.Agent, agent_id, lock=True)
    txn.session.delete(agent)
    txn.session.flush()


# Per agent type: (the resource id column of its bindings, their agent id column, its name).
_BINDINGS = {
    scheduler.DHCP_AGENT: (models.NetworkDhcpAgentBinding.network_id,
                           models.NetworkDhcpAgentBinding.dhcp_agent_id, 'a DHCP agent'),
    scheduler.L3_AGENT: (models.RouterL3AgentBinding.router_id,
                         models.RouterL3AgentBinding.l3_agent_id, 'an L3 agent'),
}


def _load_agent(txn: Txn, agent_id: str, agent_type: str, lock: bool = False) -> models.Agent:
    agent = txn.load(models.Agent, agent_id, lock=lock)
    if agent.agent_type != agent_type:
        raise exc.BadRequest(f'Bad request: agent {agent_id} is not '
                             f'{_BINDINGS[agent_type][2]}')
    return agent


def _hosted_by(txn: Txn, agent_id: str, agent_type: str) -> list[str]:
    _load_agent(txn, agent_id, agent_type)
    resource, owner, _name = _BINDINGS[agent_type]
    return list(txn.session.scalars(
        sa.select(resource).where(owner == agent_id).order_by(resource)))


def networks_of_agent(txn: Txn, agent_id: str) -> list[str]:
    return _hosted_by(txn, agent_id, scheduler.DHCP_AGENT)


def routers_of_agent(txn: Txn, agent_id: str) -> list[str]:
    return _hosted_by(txn, agent_id, scheduler.L3_AGENT)


def agent_on_host(txn: Txn, agent_type: str, host: str) -> models.Agent | None:
    return scheduler.agent_of_host(txn.session, agent_type, host)


# Manual scheduling (the agent scheduler extension) -----------------------------------------

def add_network(txn: Txn, agent_id: str, network_id: str) -> None:
    agent = _load_agent(txn, agent_id, scheduler.DHCP_AGENT, lock=True)
    txn.load(models.Network, network_id)
    if txn.session.get(models.NetworkDhcpAgentBinding, (network_id, agent_id)) is not None:
        raise exc.AgentAlreadyHosting(
            f'The network {network_id} has been already hosted by the DHCP Agent {agent_id}.')
    net = txn.session.get(models.Network, network_id)
    hosts = scheduler.dhcp_agents_of_network(txn.session, network_id, False)
    if hosts and is_node_local(txn.conf, net.network_type, net.physical_network):
        raise exc.NetworkIsNodeLocal(
            f'The network {network_id} has no physical network (type local): it exists '
            f'on the node of DHCP agent {hosts[0].id} only and cannot be hosted by a '
            f'second DHCP agent.')
    txn.session.add(models.NetworkDhcpAgentBinding(network_id=network_id,
                                                   dhcp_agent_id=agent_id))
    txn.session.flush()
    txn.outbox.cast_dhcp(agent.host, 'network_create_end',
                         {'network': {'id': network_id}, 'priority': 0})


def remove_network(txn: Txn, agent_id: str, network_id: str) -> None:
    agent = txn.load(models.Agent, agent_id, lock=True)
    binding = txn.session.get(models.NetworkDhcpAgentBinding, (network_id, agent_id))
    if binding is None:
        raise exc.NotFound(f'The network {network_id} is not hosted by the DHCP agent '
                           f'{agent_id}.')
    txn.session.delete(binding)
    _reserve_dhcp_ports(txn, network_id, agent.host)
    txn.session.flush()
    txn.outbox.cast_dhcp(agent.host, 'network_delete_end',
                         {'network_id': network_id, 'priority': 2})


def _reserve_dhcp_ports(txn: Txn, network_id: str, host: str) -> None:
    """Neutron's rule: the DHCP port of an agent leaving a network is kept for the
    next agent (device_id ``reserved_dhcp_port``), which adopts it with its address
    and MAC, so clients renew with the server they know."""
    device_id = names.dhcp_port_device_id(host, network_id)
    for row in txn.session.scalars(sa.select(models.Port).where(
            models.Port.network_id == network_id, models.Port.device_id == device_id)):
        row.device_id = RESERVED_DHCP_PORT
        bump(row)
        events.to_dhcp_agents(txn, network_id, 'port_update_end',
                              {'port': wire.port_dict(row)})


def add_router(txn: Txn, agent_id: str, router_id: str) -> None:
    """Bind a router to an L3 agent.  An HA router takes any number of agents (an HA
    port for each; adding one that hosts it already does nothing, as in Neutron); a
    legacy router one."""
    agent = _load_agent(txn, agent_id, scheduler.L3_AGENT, lock=True)
    router = txn.load(models.Router, router_id)
    if router.ha:
        if txn.session.get(models.RouterL3AgentBinding, (router_id, agent_id)) is not None:
            return
        l3_ha.add_agent(txn, router, agent)
    else:
        current = scheduler.l3_agent_of_router(txn.session, router_id)
        if current is not None:
            raise exc.AgentAlreadyHosting(f'The router {router_id} has been already hosted '
                                          f'by the L3 Agent {current.id}.')
        txn.session.add(models.RouterL3AgentBinding(router_id=router_id,
                                                    l3_agent_id=agent_id))
        txn.session.flush()
    txn.outbox.call_l3(agent.host, 'router_added_to_agent', payload=[router_id])


def remove_router(txn: Txn, agent_id: str, router_id: str) -> None:
    """Unbind a router from an L3 agent (an HA router's HA port there goes too)."""
    agent = txn.load(models.Agent, agent_id, lock=True)
    binding = txn.session.get(models.RouterL3AgentBinding, (router_id, agent_id))
    if binding is None:
        raise exc.NotFound(f'The router {router_id} is not hosted by L3 agent {agent_id}.')
    router = txn.session.get(models.Router, router_id)
    if router is not None and router.ha:
        l3_ha.remove_agent(txn, router_id, agent)
    else:
        txn.session.delete(binding)
        txn.session.flush()
    txn.outbox.cast_l3(agent.host, 'router_removed_from_agent',
                       payload={'router_id': router_id})


# Automatic failover (agent/controller/failover.py decides) -----------------------------------

_FAILOVER = {scheduler.DHCP_AGENT: (remove_network, add_network),
             scheduler.L3_AGENT: (remove_router, add_router)}


def failover_decision(txn: Txn, agent_type: str, lock: bool = False) -> failover.Decision:
    """What :func:`failover.plan` says for the agents of ``agent_type`` now;
    ``lock``: with their rows locked (no heartbeat lands in between)."""
    stmt = sa.select(models.Agent).where(models.Agent.agent_type == agent_type)
    rows = list(txn.session.scalars(stmt.with_for_update() if lock else stmt))
    now = utcnow()
    views = [failover.AgentView(a.id, a.host, a.admin_state_up,
                                (now - a.heartbeat_timestamp).total_seconds()) for a in rows]
    down_time = txn.conf.agent_down_time
    if not any(failover.may_have_failed(view, down_time) for view in views):
        return failover.Decision()            # the usual case: no bindings to read
    resource, owner, _name = _BINDINGS[agent_type]
    bindings = [failover.Binding(resource_id, agent_id)
                for resource_id, agent_id in txn.session.execute(sa.select(resource, owner))]
    return failover.plan(views, bindings, down_time)


def fail_over(txn: Txn, agent_type: str) -> failover.Decision:
    """Move what failed agents of ``agent_type`` host to live ones, as the manual
    remove/add do (bindings and the agents' notifications: the failed agent is
    told too, so it lets go when it comes back); decided again under the lock."""
    decision = failover_decision(txn, agent_type, lock=True)
    remove, add = _FAILOVER[agent_type]
    kind = 'network' if agent_type == scheduler.DHCP_AGENT else 'router'
    for move in decision.moves:
        LOG.warning('Moving %s %s from failed %s %s on %s to %s on %s', kind,
                    move.resource_id, agent_type, move.from_agent,
                    txn.session.get(models.Agent, move.from_agent).host, move.to_agent,
                    txn.session.get(models.Agent, move.to_agent).host)
        remove(txn, move.from_agent, move.resource_id)
        add(txn, move.to_agent, move.resource_id)
    return decision
