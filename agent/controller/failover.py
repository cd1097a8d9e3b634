"""Which networks or routers leave failed agents, and for which live agents.

The choice is a pure function of the agents of one type (how long each has been
silent, its admin state) and the current bindings; the database side and the
notifications are in :func:`agent.controller.agents.fail_over`.  As Neutron's
``allow_automatic_dhcp_failover`` and ``allow_automatic_l3agent_failover``:

* an agent has **failed** when it is admin-up and has been dead for longer than
  ``agent_down_time`` (no heartbeat for ``2 * agent_down_time``, Neutron's
  ``agent_dead_limit``); an admin-down agent keeps what it hosts;
* each of its bindings moves to the least-loaded live, admin-up agent of the same
  type that does not host that resource yet (so a network keeps its
  ``dhcp_agents_per_network`` agents); when there is none the binding stays
  (nothing is unscheduled to no one);
* an HA router is a resource hosted by several agents like a network of
  ``dhcp_agents_per_network``: only the failed agent's binding moves (with its
  HA port, :func:`agent.controller.agents.add_router`), and its live agents keep
  it, so the move interrupts nothing (Neutron unbinds and reschedules all);
* nothing moves while more than half of the agents that count look dead at
  once: a broker, network or controller outage silences every agent together,
  and moving everything then would only make the agents flap when it ends.  The
  agents that count are the admin-up ones that are alive or host something (a
  long-gone agent whose work has moved away does not).  With two agents, one
  failed one is not more than half: its work moves.  Such a round is an
  ``outage``: the periodic check then waits ``2 * agent_down_time`` more before
  moving anything, so agents that come back one by one after it have all
  reported (:mod:`agent.controller.failover_loop`).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable


@dataclasses.dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    host: str
    admin_state_up: bool
    silent_for: float          # seconds since its last heartbeat


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    resource_id: str           # a network (DHCP) or a router (L3)
    agent_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Move:
    resource_id: str
    from_agent: str
    to_agent: str


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    moves: tuple[Move, ...] = ()
    failed: tuple[str, ...] = ()       # ids of the failed agents hosting something
    skipped: str = ''                  # why nothing moves although some agent failed
    outage: bool = False               # skipped because too many agents look dead


def may_have_failed(agent: AgentView, down_time: float) -> bool:
    """Admin-up and dead for longer than ``down_time`` (failed, if it hosts something)."""
    return agent.admin_state_up and agent.silent_for >= 2 * down_time


def plan(agents: Iterable[AgentView], bindings: Iterable[Binding],
         down_time: float) -> Decision:
    agents = sorted(agents, key=lambda a: (a.host, a.id))
    bindings = list(bindings)
    hosting_agents = {b.agent_id for b in bindings}
    failed = [a for a in agents if may_have_failed(a, down_time) and a.id in hosting_agents]
    if not failed:
        return Decision()
    failed_ids = tuple(a.id for a in failed)
    live = [a for a in agents if a.admin_state_up and a.silent_for < down_time]
    if not live:
        return Decision(failed=failed_ids, skipped='no live agent to take over', outage=True)
    counted = [a for a in agents if a.admin_state_up
               and (a.silent_for < down_time or a.id in hosting_agents)]
    dead = len(counted) - len(live)
    if dead * 2 > len(counted):
        return Decision(failed=failed_ids, outage=True, skipped=(
            f'{dead} of {len(counted)} agents look dead at once (an outage of the bus or '
            'the controller more likely than of the nodes)'))
    load = {a.id: 0 for a in live}
    hosts: dict[str, set[str]] = {}
    for b in bindings:
        hosts.setdefault(b.resource_id, set()).add(b.agent_id)
        if b.agent_id in load:
            load[b.agent_id] += 1
    moves = []
    for b in sorted(bindings, key=lambda b: (b.agent_id, b.resource_id)):
        if b.agent_id not in failed_ids:
            continue
        candidates = [a for a in live if a.id not in hosts[b.resource_id]]
        if not candidates:
            continue
        target = min(candidates, key=lambda a: load[a.id])   # ties: by host
        moves.append(Move(b.resource_id, b.agent_id, target.id))
        hosts[b.resource_id].add(target.id)
        load[target.id] += 1
    return Decision(moves=tuple(moves), failed=failed_ids,
                    skipped='' if moves else 'no live agent can take what they host')
