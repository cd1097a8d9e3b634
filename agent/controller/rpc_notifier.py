"""The controller's Notifier over oslo.messaging: casts to the agents.

Shapes as Neutron's DhcpAgentNotifyAPI and L3AgentNotifyAPI (fact sheet §2, §4.1):
``dhcp_agent`` / ``l3_agent`` topics, ``server=host`` or fanout, version 1.0
unless told otherwise.  Every cast gives up after ``retry`` reconnection
attempts (oslo.messaging's own default retries forever) and then raises
:class:`~agent.controller.delivery.DeliveryFailed`: the queue worker of
:mod:`agent.controller.delivery` that sends them learns of the outage and has
the agents concerned resync once the bus is back (:meth:`RpcNotifier.resync`).
No request thread ever sends through this class directly.
"""

from __future__ import annotations

import logging
from typing import Any

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
import oslo_messaging

from agent.controller.delivery import DeliveryFailed
from agent.rpc.transport import admin_context, get_transport, make_rpc_client

LOG = logging.getLogger(__name__)

DHCP_AGENT_TOPIC = 'dhcp_agent'
L3_AGENT_TOPIC = 'l3_agent'
NETWORK_UPDATE_TOPIC = 'q-agent-notifier-network-update'
# Reconnection attempts per cast (rabbit_retry_interval apart, backing off):
# a down broker is noticed within a few seconds.
CAST_RETRY = 2


class RpcNotifier:
    """Implements :class:`agent.controller.notify.Notifier` on the bus; raises
    :class:`DeliveryFailed` when the broker does not take a message."""

    def __init__(self, conf, transport=None, retry: int = CAST_RETRY):
        self._own_transport = transport is None
        self.transport = transport or get_transport(conf)
        self._clients = {'dhcp': make_rpc_client(self.transport, DHCP_AGENT_TOPIC),
                         'l3': make_rpc_client(self.transport, L3_AGENT_TOPIC)}
        self._network = make_rpc_client(self.transport, NETWORK_UPDATE_TOPIC)
        self.retry = retry

    def _cast(self, client, host: str | None, version: str, method: str,
              **kwargs: Any) -> None:
        where = {'fanout': True} if host is None else {'server': host}
        try:
            client.prepare(version=version, retry=self.retry, **where).cast(
                admin_context(), method, **kwargs)
        except oslo_messaging.MessagingException as e:
            raise DeliveryFailed(f'{method} to {client.target.topic} '
                                 f'{host or "(fanout)"}: {e}') from e

    def cast_dhcp(self, host: str | None, method: str, payload: dict,
                  version: str = '1.0') -> None:
        self._cast(self._clients['dhcp'], host, version, method, payload=payload)

    def cast_l3(self, host: str | None, method: str, version: str = '1.0',
                **kwargs: Any) -> None:
        self._cast(self._clients['l3'], host, version, method, **kwargs)

    def call_l3(self, host: str, method: str, version: str = '1.0',
                **kwargs: Any) -> None:
        """router_added_to_agent.  Neutron calls it, to know the agent got it; a
        bounded cast tells as much (taken by the broker into the agent's queue,
        or failed and so followed by a resync), and an oslo.messaging call would
        block on creating its reply queue while the broker is down."""
        self.cast_l3(host, method, version, **kwargs)

    def network_update(self, network: dict) -> None:
        """Fanout on ``q-agent-notifier-network-update`` (ML2's AgentNotifierApi)."""
        self._cast(self._network, None, '1.4', 'network_update', network=network)

    def resync(self, topic: str, host: str | None) -> None:
        """``agent_updated`` to the ``topic`` ('dhcp' or 'l3') agent on ``host``
        (None: all of them): Neutron's agents and ours resync in full on it."""
        self._cast(self._clients[topic], host, '1.0', 'agent_updated',
                   payload={'admin_state_up': True})

    def close(self) -> None:
        if self._own_transport:
            self._own_transport = False      # once (the plugin closes it too)
            self.transport.cleanup()
