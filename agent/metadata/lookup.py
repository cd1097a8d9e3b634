"""Which instance is asking: Neutron's port lookup over ``q-plugin``, with a TTL cache.

As Neutron's metadata agent does (``MetadataProxyHandler``):

* a router id (``X-Neutron-Router-ID``) becomes the networks of the router's
  interfaces: ``get_ports(filters={'device_id': [router], 'device_owner':
  [router interface owners]})``;
* the port is then ``get_ports(filters={'network_id': networks, 'fixed_ips':
  {'ip_address': [source address]}})`` (for an IPv6 link-local EUI-64 source,
  ``{'mac_address': [its MAC]}`` instead), keeping ports that belong to an
  instance (a device_id, and an owner that is not ``network:*``); exactly one
  must match, otherwise nobody is answered (overlapping addresses on the
  router's networks are ambiguous).

The instance's data comes from our ``get_instance_metadata`` (see
:mod:`agent.controller.metadata_rpc`).  Calls use a short timeout and no
connection retries: when the controller or the broker is away the instance gets
a 503 at once and cloud-init retries, instead of a request hanging for minutes.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import oslo_messaging

from agent.model.instance import InstanceView
from agent.model.network import Port
from agent.rpc.codec import WireError, instance_view_from_wire, ports_from_wire
from agent.rpc.transport import admin_context, make_rpc_client

LOG = logging.getLogger(__name__)

PLUGIN_TOPIC = 'q-plugin'
ROUTER_INTERFACE_OWNERS = ('network:router_interface',
                           'network:ha_router_replicated_interface',
                           'network:router_interface_distributed')
K = TypeVar('K')
V = TypeVar('V')


class ControllerUnavailable(Exception):
    """The controller did not answer (timeout, broker down): answer 503."""


class TtlCache(Generic[K, V]):
    """A small thread-safe cache whose entries expire ``ttl`` seconds after being set."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 10000):
        self.ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._data: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        if self.ttl <= 0:
            return load()
        now = self._clock()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()                       # outside the lock: calls may be slow
        with self._lock:
            if len(self._data) >= self._max:
                self._data = {k: v for k, v in self._data.items() if v[0] > now}
                if len(self._data) >= self._max:
                    self._data.clear()
            self._data[key] = (self._clock() + self.ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class MetadataPluginApi:
    """The metadata agent's calls on ``q-plugin`` (no back-off, short timeout)."""

    def __init__(self, transport, timeout: float):
        self._client = make_rpc_client(transport, PLUGIN_TOPIC, '1.0')
        self.timeout = timeout

    def _call(self, method: str, **kwargs):
        cctxt = self._client.prepare(timeout=self.timeout, retry=0)
        try:
            return cctxt.call(admin_context(), method, **kwargs)
        except oslo_messaging.MessagingTimeout:
            raise ControllerUnavailable(
                f'{method}: no answer from the controller within {self.timeout:g} s'
            ) from None
        except (oslo_messaging.MessageDeliveryFailure,
                oslo_messaging.MessagingServerError) as exc:
            raise ControllerUnavailable(f'{method}: {exc}') from None
        except OSError as exc:
            raise ControllerUnavailable(f'{method}: broker unreachable: {exc}') from None

    def get_ports(self, filters: dict) -> tuple[Port, ...]:
        return ports_from_wire(self._call('get_ports', filters=filters))

    def get_instance_metadata(self, device_id: str) -> dict:
        result = self._call('get_instance_metadata', device_id=device_id)
        if not isinstance(result, dict):
            raise WireError('get_instance_metadata reply', '(result)',
                            f'{type(result).__name__} is not an object')
        return result


def mac_from_eui64(address: str) -> str | None:
    """The MAC an IPv6 link-local EUI-64 address was made from, else None.

    A request over IPv6 (``fe80::a9fe:a9fe``) comes from a link-local address no
    port lists in its fixed IPs; Neutron then finds the port by this MAC.
    """
    ip = ipaddress.ip_address(address)
    if ip.version != 6 or not ip.is_link_local:
        return None
    b = ip.packed
    if b[11:13] != b'\xff\xfe':
        return None
    mac = bytes([b[8] ^ 0x02, b[9], b[10], b[13], b[14], b[15]])
    return ':'.join(f'{x:02x}' for x in mac)


def is_instance_port(port: Port) -> bool:
    return bool(port.device_id) and not port.device_owner.startswith('network:')


class InstanceLookup:
    """``view(remote_ip, network_id=… | router_id=…)`` → the asking instance, or None."""

    def __init__(self, api: MetadataPluginApi, cache_ttl: float,
                 clock: Callable[[], float] = time.monotonic):
        self.api = api
        self._router_networks: TtlCache = TtlCache(cache_ttl, clock)
        self._ports: TtlCache = TtlCache(cache_ttl, clock)
        self._instances: TtlCache = TtlCache(cache_ttl, clock)

    def clear(self) -> None:
        for cache in (self._router_networks, self._ports, self._instances):
            cache.clear()

    def router_networks(self, router_id: str) -> tuple[str, ...]:
        def load():
            ports = self.api.get_ports({'device_id': [router_id],
                                        'device_owner': list(ROUTER_INTERFACE_OWNERS)})
            return tuple(sorted({p.network_id for p in ports}))
        return self._router_networks.get_or_load(router_id, load)

    def port(self, remote_ip: str, network_id: str | None = None,
             router_id: str | None = None) -> Port | None:
        networks = (network_id,) if network_id else self.router_networks(router_id or '')
        if not networks:
            return None

        mac = mac_from_eui64(remote_ip)
        address = ipaddress.ip_address(remote_ip)
        if mac is None:
            filters = {'network_id': list(networks),
                       'fixed_ips': {'ip_address': [remote_ip]}}
        else:
            filters = {'network_id': list(networks), 'mac_address': [mac]}

        def matches(port: Port) -> bool:
            if mac is not None:
                return port.mac_address.lower() == mac
            return any(ip.ip_address == address for ip in port.fixed_ips)
        found = self._ports.get_or_load(
            (networks, remote_ip), lambda: tuple(self.api.get_ports(filters)))
        candidates = [p for p in found if is_instance_port(p) and matches(p)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            LOG.warning('%d instance ports have %s on networks %s: not answering',
                        len(candidates), remote_ip, ', '.join(networks))
        return None

    def view(self, remote_ip: str, network_id: str | None = None,
             router_id: str | None = None) -> InstanceView | None:
        port = self.port(remote_ip, network_id, router_id)
        if port is None:
            return None
        answer = self._instances.get_or_load(
            port.device_id, lambda: self.api.get_instance_metadata(port.device_id))
        return instance_view_from_wire(answer, port, remote_ip)
