"""The notifications of Neutron's agent protocol (§2, §4.1), put in a transaction's outbox.

They are sent only after the commit (see :class:`agent.controller.notify.Outbox`).
"""

from __future__ import annotations

import random

from agent.controller import l3_ha, scheduler
from agent.controller.db import models
from agent.controller.txn import Txn

PRIORITY = {
    'network_create_end': 0, 'network_update_end': 1, 'network_delete_end': 2,
    'subnet_create_end': 3, 'subnet_update_end': 3, 'subnet_delete_end': 4,
    'port_update_end': 6, 'port_delete_end': 6,
}
PORT_CREATE_FIRST, PORT_CREATE_OTHERS = 5, 6


def network_scheduled(txn: Txn, network_id: str, agents) -> None:
    """Newly bound DHCP agents learn about the network first."""
    for agent in agents:
        txn.outbox.cast_dhcp(agent.host, 'network_create_end',
                             {'network': {'id': network_id}, 'priority': 0})


def schedule_network(txn: Txn, network_id: str) -> None:
    network_scheduled(txn, network_id,
                      scheduler.schedule_network(txn.session, network_id, txn.conf))


def to_dhcp_agents(txn: Txn, network_id: str, method: str, payload: dict) -> None:
    payload = dict(payload, priority=PRIORITY[method])
    for agent in scheduler.dhcp_agents_of_network(txn.session, network_id):
        txn.outbox.cast_dhcp(agent.host, method, payload)


def network_deleted(txn: Txn, network_id: str) -> None:
    txn.outbox.cast_dhcp(None, 'network_delete_end',
                         {'network_id': network_id, 'priority': PRIORITY['network_delete_end']})


def port_create_targets(txn: Txn, network_id: str, device_id: str | None,
                        creator: str | None = None) -> list:
    """The DHCP agents to tell about a new port of ``network_id``; an unreserved
    port schedules its network first (Neutron's rule).

    A port create asks before it allocates (agent.controller.ports.create_port):
    these reads and the scheduling are then not done under the subnet's lock.
    """
    hosting = scheduler.dhcp_agents_of_network(txn.session, network_id, False)
    if device_id != 'reserved_dhcp_port':
        new = scheduler.schedule_network(txn.session, network_id, txn.conf, hosting=hosting)
        network_scheduled(txn, network_id, new)
        hosting = hosting + new
    return [a for a in hosting if a.admin_state_up and a.host != creator]


def port_created(txn: Txn, port: dict, creator: str | None = None,
                 agents: list | None = None) -> None:
    """One random hosting agent gets priority 5, the others 6 (Neutron's rule).

    ``creator``, the host of the DHCP agent that asked for the port with
    create_dhcp_port, has it from the reply and is not told again.  ``agents``:
    :func:`port_create_targets`, if the caller asked already.
    """
    if agents is None:
        agents = port_create_targets(txn, port['network_id'], port.get('device_id'), creator)
    if not agents:
        return
    first = random.choice(agents)
    for agent in agents:
        priority = PORT_CREATE_FIRST if agent is first else PORT_CREATE_OTHERS
        txn.outbox.cast_dhcp(agent.host, 'port_create_end',
                             {'port': port, 'priority': priority})


def port_deleted(txn: Txn, port: dict) -> None:
    to_dhcp_agents(txn, port['network_id'], 'port_delete_end',
                   {'port_id': port['id'], 'network_id': port['network_id'],
                    'fixed_ips': port['fixed_ips']})


def routers_updated(txn: Txn, router_id: str | None, but=()) -> None:
    """Tell the router's L3 agents (several for an HA router), except those in ``but``."""
    if router_id is None:
        return
    for agent in scheduler.l3_agents_of_router(txn.session, router_id):
        if agent not in but:
            txn.outbox.cast_l3(agent.host, 'routers_updated', routers=[router_id])


def router_added(txn: Txn, router_id: str, agents) -> None:
    for agent in agents:
        txn.outbox.call_l3(agent.host, 'router_added_to_agent', payload=[router_id])


def router_needs_agent(txn: Txn, router_id: str) -> None:
    """A router got an interface or gateway (or is HA): schedule it, tell its agents."""
    router = txn.session.get(models.Router, router_id)
    if router is not None and router.ha:
        new = l3_ha.schedule(txn, router)
    else:
        new = [a for a in [scheduler.schedule_router(txn.session, router_id, txn.conf)]
               if a is not None]
    router_added(txn, router_id, new)
    routers_updated(txn, router_id, but=new)


def router_deleted(txn: Txn, router_id: str) -> None:
    txn.outbox.cast_l3(None, 'router_deleted', router_id=router_id)
