"""The controller's Notifier over oslo.messaging: casts and calls to the agents.

Shapes as Neutron's DhcpAgentNotifyAPI and L3AgentNotifyAPI (fact sheet §2, §4.1):
``dhcp_agent`` / ``l3_agent`` topics, ``server=host`` or fanout, version 1.0
unless told otherwise.  Failures are logged, never raised into the plugin: the
database already committed, and agents resync on their own.
"""

from __future__ import annotations

import logging
from typing import Any

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
import oslo_messaging

from agent.rpc.transport import admin_context, get_transport, make_rpc_client

LOG = logging.getLogger(__name__)

DHCP_AGENT_TOPIC = 'dhcp_agent'
L3_AGENT_TOPIC = 'l3_agent'
NETWORK_UPDATE_TOPIC = 'q-agent-notifier-network-update'
CALL_TIMEOUT = 10       # router_added_to_agent: short, the agent only enqueues
CALL_RETRIES = 2


class RpcNotifier:
    """Implements :class:`agent.controller.notify.Notifier` on the bus."""

    def __init__(self, conf, transport=None, call_timeout: float = CALL_TIMEOUT,
                 call_retries: int = CALL_RETRIES):
        self._own_transport = transport is None
        self.transport = transport or get_transport(conf)
        self._dhcp = make_rpc_client(self.transport, DHCP_AGENT_TOPIC)
        self._l3 = make_rpc_client(self.transport, L3_AGENT_TOPIC)
        self._network = make_rpc_client(self.transport, NETWORK_UPDATE_TOPIC)
        self.call_timeout = call_timeout
        self.call_retries = call_retries

    @staticmethod
    def _prepare(client, host: str | None, version: str, **extra):
        if host is None:
            return client.prepare(fanout=True, version=version, **extra)
        return client.prepare(server=host, version=version, **extra)

    def cast_dhcp(self, host: str | None, method: str, payload: dict,
                  version: str = '1.0') -> None:
        try:
            self._prepare(self._dhcp, host, version).cast(
                admin_context(), method, payload=payload)
        except oslo_messaging.MessagingException as e:
            LOG.error('could not cast %s to DHCP agent %s: %s', method,
                      host or '(fanout)', e)

    def cast_l3(self, host: str | None, method: str, version: str = '1.0',
                **kwargs: Any) -> None:
        try:
            self._prepare(self._l3, host, version).cast(admin_context(), method,
                                                        **kwargs)
        except oslo_messaging.MessagingException as e:
            LOG.error('could not cast %s to L3 agent %s: %s', method,
                      host or '(fanout)', e)

    def call_l3(self, host: str, method: str, version: str = '1.0',
                **kwargs: Any) -> None:
        """A call (router_added_to_agent), retried ``call_retries`` times."""
        cctxt = self._prepare(self._l3, host, version, timeout=self.call_timeout)
        for attempt in range(1 + self.call_retries):
            try:
                cctxt.call(admin_context(), method, **kwargs)
                return
            except oslo_messaging.MessagingException as e:
                LOG.warning('%s to L3 agent %s failed (attempt %d): %s', method,
                            host, attempt + 1, e)
        LOG.error('giving up %s to L3 agent %s after %d attempts', method, host,
                  1 + self.call_retries)

    def network_update(self, network: dict) -> None:
        """Fanout on ``q-agent-notifier-network-update`` (ML2's AgentNotifierApi)."""
        try:
            self._network.prepare(fanout=True, version='1.4').cast(
                admin_context(), 'network_update', network=network)
        except oslo_messaging.MessagingException as e:
            LOG.error('could not fan out network_update: %s', e)

    def close(self) -> None:
        if self._own_transport:
            self.transport.cleanup()
