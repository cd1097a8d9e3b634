"""The agents' RPC servers and endpoints: server → agent notifications.

Endpoints only decode and enqueue: each message becomes a small typed event
(:mod:`agent.rpc.events`) handed to ``handler.enqueue(event)``.  A malformed
message is logged with the offending field and dropped; the server keeps serving.

    endpoint = DhcpAgentEndpoint(handler)
    server = start_agent_server(transport, DHCP_AGENT_TOPIC, host, [endpoint])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import oslo_messaging

from agent.rpc import events
from agent.rpc.codec import WireError
from agent.rpc.transport import start_rpc_server, watch_reconnects

LOG = logging.getLogger(__name__)

DHCP_AGENT_TOPIC = 'dhcp_agent'
L3_AGENT_TOPIC = 'l3_agent'
NETWORK_UPDATE_TOPIC = 'q-agent-notifier-network-update'
# Endpoints return at once (decode, enqueue): a few executor threads serve any
# burst, instead of oslo.messaging's 64 kept for good after one.
ENDPOINT_THREADS = 4


class EventHandler(Protocol):
    def enqueue(self, event) -> None: ...


class _Endpoint:
    """Shared decode → enqueue → log-and-drop logic."""

    def __init__(self, handler: EventHandler):
        self.handler = handler
        self.dropped = 0      # malformed messages seen (for report_state)

    def _deliver(self, method: str, decode, *args) -> None:
        try:
            event = decode(method, *args)
        except WireError as e:
            self.dropped += 1
            LOG.error('dropped malformed %s message: %s', method, e)
            return
        try:
            self.handler.enqueue(event)
        except Exception:
            LOG.exception('handler failed to enqueue %s', event)


class DhcpAgentEndpoint(_Endpoint):
    """Neutron's DHCP agent RPC surface (Target version 1.0, fact sheet §2)."""

    target = oslo_messaging.Target(version='1.0')
    rpc_methods = frozenset(events.DHCP_METHODS)

    def _dhcp(self, method, payload):
        self._deliver(method, events.dhcp_event_from_wire, payload)

    def network_create_end(self, context, payload=None, **_):
        self._dhcp('network_create_end', payload)

    def network_update_end(self, context, payload=None, **_):
        self._dhcp('network_update_end', payload)

    def network_delete_end(self, context, payload=None, **_):
        self._dhcp('network_delete_end', payload)

    def subnet_create_end(self, context, payload=None, **_):
        self._dhcp('subnet_create_end', payload)

    def subnet_update_end(self, context, payload=None, **_):
        self._dhcp('subnet_update_end', payload)

    def subnet_delete_end(self, context, payload=None, **_):
        self._dhcp('subnet_delete_end', payload)

    def port_create_end(self, context, payload=None, **_):
        self._dhcp('port_create_end', payload)

    def port_update_end(self, context, payload=None, **_):
        self._dhcp('port_update_end', payload)

    def port_delete_end(self, context, payload=None, **_):
        self._dhcp('port_delete_end', payload)

    def agent_updated(self, context, payload=None, **_):
        self._dhcp('agent_updated', {} if payload is None else payload)


class L3AgentEndpoint(_Endpoint):
    """Neutron's L3 agent RPC surface (Target version 1.4, fact sheet §4.1)."""

    target = oslo_messaging.Target(version='1.4')
    rpc_methods = frozenset(events.L3_METHODS)

    def _l3(self, method, kwargs):
        self._deliver(method, events.l3_event_from_wire, kwargs)

    def routers_updated(self, context, **kwargs):
        self._l3('routers_updated', kwargs)

    def router_deleted(self, context, **kwargs):
        self._l3('router_deleted', kwargs)

    def router_added_to_agent(self, context, **kwargs):
        """A call from the server: the reply (None) must be sent promptly."""
        self._l3('router_added_to_agent', kwargs)
        return None

    def router_removed_from_agent(self, context, **kwargs):
        self._l3('router_removed_from_agent', kwargs)

    def agent_updated(self, context, **kwargs):
        self._l3('agent_updated', kwargs)

    def network_update(self, context, **kwargs):
        self._l3('network_update', kwargs)


def start_agent_server(transport, topic: str, host: str, endpoints,
                       on_reconnect: Callable[[], None] | None = None):
    """Start an agent's server on ``topic`` as ``host`` (also its fanout).

    ``on_reconnect`` is called after the broker connection came back (messages
    may have been missed: resync in full).
    """
    server = start_rpc_server(transport, topic, host, endpoints, threads=ENDPOINT_THREADS)
    if on_reconnect is not None:
        watch_reconnects(server, on_reconnect)
    return server


def start_dhcp_agent_server(transport, host: str, handler: EventHandler,
                            on_reconnect: Callable[[], None] | None = None):
    return start_agent_server(transport, DHCP_AGENT_TOPIC, host,
                              [DhcpAgentEndpoint(handler)], on_reconnect)


def start_l3_agent_servers(transport, host: str, handler: EventHandler,
                           on_reconnect: Callable[[], None] | None = None) -> list:
    """The L3 agent listens on ``l3_agent`` and on the network-update fanout."""
    endpoint = L3AgentEndpoint(handler)
    return [start_agent_server(transport, L3_AGENT_TOPIC, host, [endpoint],
                               on_reconnect),
            start_agent_server(transport, NETWORK_UPDATE_TOPIC, host, [endpoint])]
