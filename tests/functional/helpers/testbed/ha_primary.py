"""Which node of the test bed is an HA router's primary, seen three ways: the node
whose router namespace holds the router's addresses (the VIPs keepalived moves),
the keepalived processes of the router on each node, and the ``ha_state`` per
agent the controller answers in ``GET /v2.0/routers/<id>/l3-agents``.

A node whose keepalived is dead but whose namespace still holds the addresses (a
keepalived killed with SIGKILL leaves them behind) does not claim the router: it
sends no VRRP advertisement and the addresses go as soon as a keepalived runs
there again.  :func:`primaries` counts the nodes that hold the addresses AND run
the router's keepalived; :func:`holders` the nodes that hold the addresses.
"""

from __future__ import annotations

import dataclasses
import os
import time

from agent.common import names
from tests.functional.helpers.host import argvs, wait_for


def processes(program: str, *markers: str) -> list[int]:
    """Pids running ``program`` (argv[0], or argv[1] of an interpreter, by base name)
    whose command line holds every marker (a node's state path, a router id, ...)."""
    return sorted(pid for pid, argv in argvs()
                  if program in (os.path.basename(a) for a in argv[:2])
                  and all(any(m in a for a in argv) for m in markers))


def keepalived_pids(node, router_id: str) -> list[int]:
    """The router's keepalived processes on ``node`` (the parent and its VRRP child)."""
    return processes('keepalived', node.state_path, router_id)


def l3_agent_pids(node) -> list[int]:
    return processes('netnode-l3-agent', os.path.join(node.base, 'l3_agent.ini'))


def router_addresses(node, router_id: str) -> set[str]:
    """IPv4 addresses (without prefix) in the node's ``qrouter-<id>`` namespace."""
    ns = names.router_namespace(router_id)
    if ns not in node.netns_list():
        return set()
    out = node.run('ip', '-n', ns, '-o', '-4', 'addr', 'show', check=False).stdout
    return {fields[3].split('/')[0] for fields in (line.split() for line in
                                                   out.splitlines()) if len(fields) > 3}


def holders(bed, router_id: str, vip: str) -> list[str]:
    """Names of the network nodes whose router namespace holds ``vip``."""
    return [name for name, node in bed.nodes.items() if node.alive()
            and vip in router_addresses(node, router_id)]


def primaries(bed, router_id: str, vip: str) -> list[str]:
    """Nodes that hold ``vip`` and run the router's keepalived."""
    return [name for name in holders(bed, router_id, vip)
            if keepalived_pids(bed.nodes[name], router_id)]


def controller_states(bed, router_id: str) -> dict[str, str]:
    """``{node name: ha_state}`` from the controller, for the agents hosting the
    router (a host the bed does not know keeps its host name)."""
    by_host = {node.host: name for name, node in bed.nodes.items()}
    agents = bed.api('GET', f'/routers/{router_id}/l3-agents')['agents']
    return {by_host.get(a['host'], a['host']): a.get('ha_state') for a in agents}


@dataclasses.dataclass(frozen=True)
class Primary:
    node: str
    at: float           # time.time() when it was seen alone


def wait_single_primary(bed, router_id: str, vip: str, timeout: float,
                        not_on: str | None = None, interval: float = 0.1) -> Primary:
    """Waits until exactly one node claims the router (and it is not ``not_on``)."""
    def alone():
        found = primaries(bed, router_id, vip)
        if len(found) == 1 and found[0] != not_on:
            return Primary(found[0], time.time())
        return None
    what = f'router {router_id}: exactly one primary' + (
        f' other than {not_on}' if not_on else '')
    return wait_for(alone, timeout, interval, what)


def wait_controller_states(bed, router_id: str, primary: str, timeout: float) -> dict:
    """Waits until the controller says ``active`` for ``primary`` and ``standby`` for
    every other agent hosting the router; returns the states."""
    def right():
        states = controller_states(bed, router_id)
        wanted = {name: 'active' if name == primary else 'standby' for name in states}
        return states if states and states == wanted and primary in states else None
    try:
        return wait_for(right, timeout, 0.3, f'router {router_id}: ha_state active on '
                                             f'{primary} only')
    except AssertionError:
        raise AssertionError(f'router {router_id}: the controller says '
                             f'{controller_states(bed, router_id)}, the primary is '
                             f'{primary}') from None


def split_brain_warnings(bed, router_id: str) -> list[str]:
    """The controller's WARNING lines saying the router is active on two agents."""
    path = os.path.join(bed.controller.base, 'server', 'server.log')
    try:
        with open(path, errors='replace') as f:
            return [line for line in f if ' WARNING ' in line
                    and f'HA router {router_id} is active on' in line]
    except FileNotFoundError:
        return []
