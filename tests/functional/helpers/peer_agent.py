"""A second agent of a stack's kind on the stack's controller, as another node would
run it: its own host name, state path, config, log and bridges; each bridge is
joined to the stack's by a pair of OVS patch ports (the wire between two nodes).

Its own bridges matter: an agent prunes the namespaces that hold a port of its
bridge and serve nothing assigned to it, so two agents on one bridge would tear
down each other's namespaces.  Everything of the peer lives under the
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


# The stack attributes that name a bridge its agent uses (DHCP: one, L3: two).
BRIDGE_ATTRIBUTES = ('bridge', 'int_bridge', 'ext_bridge')


def peer_agent(stack, name: str):
    """The config of an agent of the stack's kind on host ``<stack.host>-<name>``,
    written, with bridges of its own (each of the stack's + ``name[0]``, patched to
    it); start it with ``start_agent()``, stop it with ``stop_agent()`` (not
    ``close()``: all else is the stack's)."""
    peer = copy.copy(stack)
    peer.host = f'{stack.host}-{name}'
    peer.state_path = os.path.join(stack.base, f'{name}-state')
    peer.agent_conf_path = os.path.join(stack.base, f'{name}_{stack.AGENT_FILES}_agent.ini')
    peer.agent_log = os.path.join(stack.base, f'{name}-{stack.AGENT_FILES}-agent.log')
    peer.agent = None
    for attribute in BRIDGE_ATTRIBUTES:
        theirs = getattr(stack, attribute, None)
        if theirs is None:
            continue
        ours = theirs + name[:1]
        setattr(peer, attribute, ours)
        stack.bridges += (ours,)                  # deleted by stack.close()
        if stack.leaks is not None:
            stack.leaks.bridge(ours)
        host.add_bridge(ours)
        _patch(theirs, f'{theirs}-{name[:1]}', f'{ours}-{name[:1]}')
        _patch(ours, f'{ours}-{name[:1]}', f'{theirs}-{name[:1]}')
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
