"""Faults of an HA router's primary node on the test bed, each with the way back.

:data:`FAULTS` names them; :func:`inject` applies one to the primary node of a
router and returns an :class:`Injected` whose ``recover()`` puts the node back in
service (link up, the agent started again, VRRP allowed again) and waits for it:

``ha-link-down``        the primary's ``ha-`` device set down (keepalived goes to
                        FAULT and drops the addresses; the other node takes over)
``keepalived-kill``     the router's keepalived processes SIGKILLed (their
                        addresses stay behind; the agent respawns keepalived,
                        which starts as a backup and removes them)
``agent-keepalived-kill`` the L3 agent and the router's keepalived SIGKILLed
                        together: nothing respawns until the agent is started
``graceful-stop``       the L3 agent and keepalived SIGTERMed, as ``systemctl
                        stop`` of the node's services (keepalived hands over
                        with a priority-0 advertisement)
``agent-restart``       the L3 agent SIGTERMed and started again: no failover,
                        keepalived's pid unchanged
``vrrp-partition``      VRRP (IP protocol 112, VLAN-tagged or not) dropped by the
                        fabric's bridge for ``partition`` seconds, then allowed:
                        both nodes claim the router meanwhile, one afterwards
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from typing import Callable

from agent.common import names, procfs
from tests.functional.helpers.host import wait_for
from tests.functional.helpers.testbed import services
from tests.functional.helpers.testbed.ha_primary import keepalived_pids, l3_agent_pids

FAULTS = ('ha-link-down', 'keepalived-kill', 'agent-keepalived-kill', 'graceful-stop',
          'agent-restart', 'vrrp-partition')
NO_FAILOVER = ('agent-restart',)
PARTITION = 20.0            # seconds VRRP is dropped by vrrp-partition
NFT_TABLE = 'netnode_vrrp_drop'


@dataclasses.dataclass(frozen=True)
class Injected:
    fault: str
    node: str                   # the node the fault hit
    began: float                # time.time() just before the fault
    at: float                   # time.time() of the fault (for a partition: its end)
    recover: Callable[[], None]
    keepalived_before: tuple    # the node's keepalived pids before the fault


def _wait_gone(pids, timeout=30.0, what='processes') -> None:
    wait_for(lambda: not any(procfs.alive(p) for p in pids), timeout, 0.05,
             f'{what} {pids} gone')


def _kill(pids, signum) -> None:
    """Children before their parents: keepalived's VRRP process gets SIGTERM when
    its parent dies (PR_SET_PDEATHSIG) and would say goodbye (a priority-0
    advertisement) before our SIGKILL, turning a crash into a handover."""
    pids = sorted(pids, key=lambda p: procfs.parent(p) not in pids)
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def start_l3_agent(node, timeout: float = 120.0) -> int:
    """Starts the node's L3 agent and waits for its first full sync to end;
    returns its pid."""
    pid = services.start_agent(node, 'l3', os.path.join(node.base, 'l3_agent.ini')).pid
    done = f' {pid} INFO agent.reconcile.runner [-] l3-full-sync done'

    def synced():
        try:
            with open(os.path.join(node.base, 'l3-agent.log'), errors='replace') as f:
                return done in f.read()
        except FileNotFoundError:
            return False
    wait_for(synced, timeout, 0.2, f'the L3 agent of node {node.name} (pid {pid}) '
                                   'through its first full sync')
    return pid


def wait_keepalived(node, router_id: str, timeout: float = 60.0) -> tuple:
    return tuple(wait_for(lambda: keepalived_pids(node, router_id), timeout, 0.1,
                          f'keepalived of router {router_id} on node {node.name}'))


def ha_device(node, router_id: str) -> str:
    ns = names.router_namespace(router_id)
    out = node.run('ip', '-n', ns, '-o', 'link', 'show').stdout
    for line in out.splitlines():
        name = line.split(':')[1].strip().split('@')[0]
        if name.startswith(names.HA_PREFIX):
            return name
    raise AssertionError(f'node {node.name}: no ha- device in {ns}')


# -- the faults --------------------------------------------------------------------

def _ha_link_down(bed, node, router_id):
    ns = names.router_namespace(router_id)
    device = ha_device(node, router_id)
    node.run('ip', '-n', ns, 'link', 'set', device, 'down')
    at = time.time()

    def recover():
        node.run('ip', '-n', ns, 'link', 'set', device, 'up')
    return at, recover


def _keepalived_kill(bed, node, router_id):
    pids = keepalived_pids(node, router_id)
    _kill(pids, signal.SIGKILL)
    at = time.time()
    _wait_gone(pids, what='keepalived')

    def recover():
        # The agent's process monitor respawns it (check_child_processes_interval).
        wait_for(lambda: set(keepalived_pids(node, router_id)) - set(pids), 60, 0.1,
                 f'keepalived of router {router_id} respawned on {node.name}')
    return at, recover


def _stop_node_services(node, router_id, signum):
    """The L3 agent and the router's keepalived, signalled together; the agent is
    started again (and respawns keepalived) on recovery."""
    pids = l3_agent_pids(node) + keepalived_pids(node, router_id)
    _kill(pids, signum)
    at = time.time()
    _wait_gone(pids, what=f'L3 agent and keepalived ({signal.Signals(signum).name})')
    return at, lambda: _restart(node, router_id)


def _agent_keepalived_kill(bed, node, router_id):
    return _stop_node_services(node, router_id, signal.SIGKILL)


def _graceful_stop(bed, node, router_id):
    return _stop_node_services(node, router_id, signal.SIGTERM)


def _agent_restart(bed, node, router_id):
    pids = l3_agent_pids(node)
    _kill(pids, signal.SIGTERM)
    at = time.time()
    _wait_gone(pids, what='L3 agent (SIGTERM)')
    start_l3_agent(node)
    return at, lambda: None


def _restart(node, router_id):
    start_l3_agent(node)
    wait_keepalived(node, router_id)


def drop_vrrp(bed) -> None:
    """An nftables table in the fabric namespace dropping VRRP between the nodes,
    untagged and in 802.1Q frames (the HA network is a VLAN of the physical
    network)."""
    rules = (f'table bridge {NFT_TABLE} {{\n'
             '  chain forward {\n'
             '    type filter hook forward priority 0; policy accept;\n'
             '    ether type vlan vlan type ip ip protocol vrrp counter drop\n'
             '    ether type ip ip protocol vrrp counter drop\n'
             '  }\n'
             '}\n')
    subprocess.run(['ip', 'netns', 'exec', bed.fabric.ns, 'nft', '-f', '-'], input=rules,
                   text=True, check=True, capture_output=True, timeout=30)


def allow_vrrp(bed) -> None:
    subprocess.run(['ip', 'netns', 'exec', bed.fabric.ns, 'nft', 'delete', 'table',
                    'bridge', NFT_TABLE], check=False, capture_output=True, timeout=30)


def dropped_vrrp(bed) -> int:
    """Packets the table dropped so far (0 when there is no table)."""
    out = subprocess.run(['ip', 'netns', 'exec', bed.fabric.ns, 'nft', 'list', 'table',
                          'bridge', NFT_TABLE], capture_output=True, text=True).stdout
    words = out.split()
    return sum(int(words[i + 1]) for i, w in enumerate(words) if w == 'packets')


def _vrrp_partition(bed, node, router_id, seconds=PARTITION, during=None):
    drop_vrrp(bed)
    try:
        deadline = time.monotonic() + seconds
        if during is not None:
            during()
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        allow_vrrp(bed)
    return time.time(), lambda: None


INJECTORS = {'ha-link-down': _ha_link_down, 'keepalived-kill': _keepalived_kill,
             'agent-keepalived-kill': _agent_keepalived_kill,
             'graceful-stop': _graceful_stop, 'agent-restart': _agent_restart,
             'vrrp-partition': _vrrp_partition}


def inject(bed, fault: str, node_name: str, router_id: str, **kwargs) -> Injected:
    """Applies ``fault`` to node ``node_name`` (the router's primary); for
    ``vrrp-partition``, ``during`` (called once VRRP is dropped) and ``seconds``."""
    node = bed.nodes[node_name]
    before = tuple(keepalived_pids(node, router_id))
    began = time.time()
    at, recover = INJECTORS[fault](bed, node, router_id, **kwargs)
    return Injected(fault, node_name, began, at, recover, before)
