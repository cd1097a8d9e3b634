"""Typed desired state: frozen dataclasses built once from wire payloads.

Nothing below the RPC layer handles dicts; ``agent.rpc.codec`` is the one place that
knows the wire field names and builds these.
"""

from agent.model.network import DhcpOpt, FixedIP, HostRoute, Network, Port, Subnet  # noqa
from agent.model.router import FloatingIP, Route, Router, RouterPort  # noqa
