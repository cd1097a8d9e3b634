"""A second agent of a stack's kind on the stack's controller and bridges, as
another node would run it: its own host name, state path, config and log.

Everything of it lives under the stack's base directory, so the stack's
:meth:`close` kills what it left (its children carry its state path in their
command line) and removes its files; its namespaces are the stack's to register.
"""

from __future__ import annotations

import copy
import os


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
