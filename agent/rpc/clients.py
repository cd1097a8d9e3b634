"""Typed agent → server RPC clients, with Neutron's topics, versions and kwargs.

Calls carry a fresh admin context and back off on MessagingTimeout the way
Neutron's BackingOffClient does: the method's timeout doubles (up to
``rpc_response_max_timeout``), the caller sleeps a random time and the timeout is
re-raised.  Results become :mod:`agent.model` objects through the codec; a
malformed result raises :class:`agent.rpc.codec.WireError` (treat it as a failed
fetch: never prune on it).
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import oslo_messaging

from agent.model.network import Network, Port
from agent.model.router import Router
from agent.rpc import codec
from agent.rpc.transport import admin_context, make_rpc_client

LOG = logging.getLogger(__name__)

PLUGIN_TOPIC = 'q-plugin'
L3PLUGIN_TOPIC = 'q-l3-plugin'
REPORTS_TOPIC = 'q-reports-plugin'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%f'

SYNC_ROUTERS_MAX_CHUNK = 256
SYNC_ROUTERS_MIN_CHUNK = 32


class BackingOffCaller:
    """``call(method, version, **kwargs)`` with per-method timeout back-off."""

    def __init__(self, client: oslo_messaging.RPCClient, timeout: float,
                 max_timeout: float, sleep: Callable[[float], None] = time.sleep):
        self._client = client
        self._default = timeout
        self._max = max_timeout
        self._timeouts: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sleep = sleep

    def timeout_for(self, method: str) -> float:
        with self._lock:
            return self._timeouts.get(method, self._default)

    def call(self, method: str, version: str = '1.0', **kwargs):
        timeout = self.timeout_for(method)
        cctxt = self._client.prepare(version=version, timeout=timeout)
        try:
            return cctxt.call(admin_context(), method, **kwargs)
        except oslo_messaging.MessagingTimeout:
            with self._lock:
                self._timeouts[method] = min(timeout * 2, self._max)
            LOG.warning('RPC %s timed out after %s s; next timeout %s s', method,
                        timeout, self.timeout_for(method))
            self._sleep(random.uniform(0, min(timeout, self._default)))
            raise

    def cast(self, method: str, version: str = '1.0', **kwargs) -> None:
        self._client.prepare(version=version).cast(admin_context(), method, **kwargs)


def _caller(conf, transport, topic: str, sleep=time.sleep) -> BackingOffCaller:
    client = make_rpc_client(transport, topic)
    return BackingOffCaller(client, float(conf.rpc_response_timeout),
                            float(conf.rpc_response_max_timeout), sleep=sleep)


def _networks(result) -> list[Network]:
    if not isinstance(result, list):
        raise codec.WireError('get_active_networks_info reply', '(result)',
                              f'{type(result).__name__} is not a list')
    return [codec.network_from_wire(item) for item in result]


class DhcpPluginApi:
    """DHCP agent → server, topic ``q-plugin`` (fact sheet §3)."""

    def __init__(self, conf, transport, host: str, sleep=time.sleep):
        self.host = host
        self._rpc = _caller(conf, transport, PLUGIN_TOPIC, sleep)

    def get_active_networks_info(self) -> list[Network]:
        return _networks(self._rpc.call('get_active_networks_info', '1.1',
                                        host=self.host, enable_dhcp_filter=False))

    def get_network_info(self, network_id: str) -> Network | None:
        result = self._rpc.call('get_network_info', network_id=network_id,
                                host=self.host)
        return None if result is None else codec.network_from_wire(result)

    def create_dhcp_port(self, port: dict) -> Port | None:
        """``port`` is the inner port dict; it is sent as ``{'port': port}``."""
        result = self._rpc.call('create_dhcp_port', '1.1', port={'port': port},
                                host=self.host)
        return None if result is None else codec.port_from_wire(result)

    def update_dhcp_port(self, port_id: str, port: dict) -> Port | None:
        result = self._rpc.call('update_dhcp_port', '1.1', port_id=port_id,
                                port={'port': port}, host=self.host)
        return None if result is None else codec.port_from_wire(result)

    def release_dhcp_port(self, network_id: str, device_id: str) -> None:
        self._rpc.call('release_dhcp_port', network_id=network_id,
                       device_id=device_id, host=self.host)

    def get_dhcp_port(self, port_id: str) -> Port | None:
        result = self._rpc.call('get_dhcp_port', '1.8', port_id=port_id)
        return None if result is None else codec.port_from_wire(result)

    def dhcp_ready_on_ports(self, port_ids: Iterable[str]) -> None:
        self._rpc.call('dhcp_ready_on_ports', '1.5', port_ids=list(port_ids))


class L3PluginApi:
    """L3 agent → server, topic ``q-l3-plugin`` (fact sheet §4.2)."""

    def __init__(self, conf, transport, host: str, sleep=time.sleep):
        self.host = host
        self._rpc = _caller(conf, transport, L3PLUGIN_TOPIC, sleep)
        self.chunk_size = SYNC_ROUTERS_MAX_CHUNK

    def get_router_ids(self) -> list[str]:
        result = self._rpc.call('get_router_ids', '1.9', host=self.host)
        f = codec.Fields('get_router_ids reply', {'result': result})
        return list(f.uuids('result'))

    def sync_routers(self, router_ids: Iterable[str] | None = None) -> list[Router]:
        """One call; ``None`` asks for every router of this host."""
        ids = None if router_ids is None else list(router_ids)
        result = self._rpc.call('sync_routers', host=self.host, router_ids=ids)
        if not isinstance(result, list):
            raise codec.WireError('sync_routers reply', '(result)',
                                  f'{type(result).__name__} is not a list')
        return [codec.router_from_wire(item) for item in result]

    def sync_routers_chunked(self, router_ids: Iterable[str]) -> list[Router]:
        """Fetch routers in chunks, as Neutron's full sync does.

        A chunk that times out is retried at half the size (down to 32; a
        timeout at 32 is raised); after a success the size grows back by 32
        (up to 256).  The size is kept across calls.
        """
        ids = list(router_ids)
        routers: list[Router] = []
        start = 0
        while start < len(ids):
            chunk = ids[start:start + self.chunk_size]
            try:
                routers += self.sync_routers(chunk)
            except oslo_messaging.MessagingTimeout:
                if self.chunk_size <= SYNC_ROUTERS_MIN_CHUNK:
                    raise
                self.chunk_size = max(self.chunk_size // 2, SYNC_ROUTERS_MIN_CHUNK)
                LOG.warning('sync_routers timed out; chunk size now %d',
                            self.chunk_size)
                continue
            start += len(chunk)
            self.chunk_size = min(self.chunk_size + SYNC_ROUTERS_MIN_CHUNK,
                                  SYNC_ROUTERS_MAX_CHUNK)
        return routers

    def update_floatingip_statuses(self, router_id: str,
                                   fip_statuses: dict[str, str]) -> None:
        self._rpc.call('update_floatingip_statuses', '1.1', router_id=router_id,
                       fip_statuses=dict(fip_statuses))

    def update_ha_routers_states(self, states: dict[str, str]) -> None:
        """Cast ``{router id: active|standby}`` of this host's HA routers."""
        self._rpc.cast('update_ha_routers_states', '1.5', host=self.host,
                       states=dict(states))

    def get_host_ha_router_count(self) -> int:
        return self._rpc.call('get_host_ha_router_count', '1.11', host=self.host)


def utc_timestamp(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime(TIME_FORMAT)


class ReportStateApi:
    """Heartbeats: a call to ``q-reports-plugin`` 1.4, timeout = report interval."""

    def __init__(self, transport, timeout: float | None = None):
        self._client = make_rpc_client(transport, REPORTS_TOPIC, '1.4')
        self.timeout = timeout

    def report_state(self, agent_state: dict) -> str | None:
        """Send one report (a fresh ``uuid`` is added); return the server's verdict."""
        state = dict(agent_state, uuid=str(uuid.uuid4()))
        cctxt = self._client.prepare(timeout=self.timeout)
        return cctxt.call(admin_context(), 'report_state',
                          agent_state={'agent_state': state},
                          time=utc_timestamp())
