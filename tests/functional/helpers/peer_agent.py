"""A second agent of a stack's kind on the stack's controller and bridges, as
another node would run it: its own host name, state path, config and log.

Everything of it lives under the stack's base directory, so the stack's
:meth:`close` kills what it left (its children carry its state path in their
command line) and removes its files; its namespaces are the stack's to register.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys


def peer_agent(stack, name: str):
    """The stack's agent configuration for host ``<stack.host>-<name>``, written; start
    it with ``start_agent()``, stop it with ``stop_agent()`` (not ``close()``: the
    controller, bridges and vhost are the stack's)."""
    peer = copy.copy(stack)
    peer.host = f'{stack.host}-{name}'
    peer.state_path = os.path.join(stack.base, f'{name}-state')
    peer.agent_conf_path = os.path.join(stack.base, f'{name}_{stack.AGENT_FILES}_agent.ini')
    peer.agent_log = os.path.join(stack.base, f'{name}-{stack.AGENT_FILES}-agent.log')
    peer.agent = None
    peer.write_agent_conf()
    return peer


def forget_node(stack, namespaces, timeout=60):
    """What a dead node would no longer have, removed as netnode-netns-cleanup --force
    removes it: the namespaces of the stack's (stopped) agent, their taps and
    children.  Two agents on one machine share the namespace names."""
    only = [arg for ns in namespaces for arg in ('--only', ns)]
    res = subprocess.run([sys.executable, '-m', 'agent.cmd.netns_cleanup', '--force',
                          '--delay', '0', *only, '--config-file', stack.agent_conf_path],
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(f'netns-cleanup failed: {res.stderr[-2000:]}')
