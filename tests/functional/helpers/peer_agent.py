"""A second DHCP agent on a stack's controller, as another node would run it: its
own host name, state path, config, log and integration bridge; the bridge is
joined to the stack's by a pair of OVS patch ports (the wire between two nodes).

Its own bridge matters: an agent prunes the ``qdhcp-`` namespaces that hold a tap
of its bridge and serve nothing assigned to it, so two agents on one bridge would
tear down each other's namespaces.  Everything of the peer lives under the
stack's base directory or in the stack's bridges, so the stack's :meth:`close`
kills what it left (its children carry its state path in their command line),
removes its files and deletes its bridge; namespaces are the stack's to register.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

from tests.functional.helpers import host


def _patch(bridge, port, peer_port):
    host.sh('ovs-vsctl', 'add-port', bridge, port, '--', 'set', 'interface', port,
            'type=patch', f'options:peer={peer_port}')


def peer_agent(stack, name: str):
    """The config of a DHCP agent on host ``<stack.host>-<name>`` with bridge
    ``<stack.bridge>`` + ``name[0]``, written; start it with ``start_agent()``, stop
    it with ``stop_agent()`` (not ``close()``: all else is the stack's)."""
    peer = copy.copy(stack)
    peer.host = f'{stack.host}-{name}'
    peer.state_path = os.path.join(stack.base, f'{name}-state')
    peer.agent_conf_path = os.path.join(stack.base, f'{name}_{stack.AGENT_FILES}_agent.ini')
    peer.agent_log = os.path.join(stack.base, f'{name}-{stack.AGENT_FILES}-agent.log')
    peer.agent = None
    peer.bridge = stack.bridge + name[:1]
    stack.bridges += (peer.bridge,)              # deleted by stack.close()
    if stack.leaks is not None:
        stack.leaks.bridge(peer.bridge)
    host.add_bridge(peer.bridge)
    _patch(stack.bridge, f'{stack.bridge}-{name[:1]}', f'{peer.bridge}-{name[:1]}')
    _patch(peer.bridge, f'{peer.bridge}-{name[:1]}', f'{stack.bridge}-{name[:1]}')
    peer.write_agent_conf()
    return peer


def forget_node(stack, namespaces, timeout=60):
    """What a dead node would no longer have, removed as netnode-netns-cleanup --force
    removes it: the namespaces of the stack's (stopped) agent, their taps and
    children.  Two agents on one machine share the namespace names."""
    only = [arg for ns in namespaces for arg in ('--only', ns)]
    log = os.path.join(stack.base, 'netns-cleanup.log')
    res = subprocess.run([sys.executable, '-m', 'agent.cmd.netns_cleanup', '--force',
                          '--delay', '0', *only, '--config-file', stack.agent_conf_path,
                          '--log-file', log], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        with open(log, errors='replace') as f:
            said = [line for line in f if ' WARNING ' in line or ' ERROR ' in line]
        raise AssertionError(f'netns-cleanup failed: {"".join(said)[-3000:]}')
