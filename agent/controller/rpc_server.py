"""Controller side of the agent RPC: Neutron's server endpoints over the Plugin.

Thin adapters: they accept exactly what Neutron's agents send (kwargs names,
nested ``agent_state``, ``port_ids`` as a list), check the types of what they pass
on, and call :class:`agent.controller.plugin.Plugin`.  A malformed call is logged
with the offending field and answered with an error; the server keeps serving.
"""

from __future__ import annotations

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
import oslo_messaging

from agent.common.names import is_uuid
from agent.controller import rpc_bounds
from agent.controller.context import Context
from agent.controller.metadata_rpc import MetadataRpcCallback
from agent.controller.rpc_endpoint import call_args, rpc_method
from agent.rpc.codec import Fields
from agent.rpc import transport as rpc_transport
from agent.rpc.transport import get_transport, start_rpc_server

PLUGIN_TOPIC = 'q-plugin'
L3PLUGIN_TOPIC = 'q-l3-plugin'
REPORTS_TOPIC = 'q-reports-plugin'


class DhcpRpcCallback:
    """``q-plugin``, version 1.10: what a DHCP agent asks (fact sheet §3)."""

    target = oslo_messaging.Target(version='1.10')
    rpc_methods = frozenset({
        'get_active_networks_info', 'get_network_info', 'create_dhcp_port',
        'update_dhcp_port', 'release_dhcp_port', 'get_dhcp_port',
        'dhcp_ready_on_ports', 'get_networks', 'get_ports'})

    def __init__(self, plugin):
        self.plugin = plugin

    @rpc_method
    def get_active_networks_info(self, context, **kwargs):
        f = call_args('get_active_networks_info', kwargs)
        return self.plugin.get_active_networks_info(
            f.str('host'), enable_dhcp_filter=f.bool('enable_dhcp_filter', True))

    @rpc_method
    def get_network_info(self, context, **kwargs):
        f = call_args('get_network_info', kwargs)
        return self.plugin.get_network_info(f.uuid('network_id'), f.str('host'))

    @rpc_method
    def create_dhcp_port(self, context, **kwargs):
        f = call_args('create_dhcp_port', kwargs)
        port = _port_body(f)
        return self.plugin.create_dhcp_port(port, f.str('host'))

    @rpc_method
    def update_dhcp_port(self, context, **kwargs):
        f = call_args('update_dhcp_port', kwargs)
        port = _port_body(f)
        return self.plugin.update_dhcp_port(f.uuid('port_id'), port, f.str('host'))

    @rpc_method
    def release_dhcp_port(self, context, **kwargs):
        f = call_args('release_dhcp_port', kwargs)
        return self.plugin.release_dhcp_port(f.uuid('network_id'),
                                             f.str('device_id'), f.str('host'))

    @rpc_method
    def get_dhcp_port(self, context, **kwargs):
        f = call_args('get_dhcp_port', kwargs)
        return self.plugin.get_dhcp_port(f.uuid('port_id'))

    @rpc_method
    def dhcp_ready_on_ports(self, context, **kwargs):
        f = call_args('dhcp_ready_on_ports', kwargs)
        return self.plugin.dhcp_ready_on_ports(list(f.uuids('port_ids')))

    @rpc_method
    def get_networks(self, context, **kwargs):
        f = call_args('get_networks', kwargs)
        return self.plugin.get_networks(Context.admin(), filters=rpc_bounds.filters(f),
                                        fields=rpc_bounds.fields(f))

    @rpc_method
    def get_ports(self, context, **kwargs):
        """MetadataRpcCallback's method; Neutron's DHCP driver asks it often."""
        f = call_args('get_ports', kwargs)
        return self.plugin.get_ports(Context.admin(), filters=rpc_bounds.filters(f))


def _port_body(f: Fields) -> dict:
    """``port`` is ``{'port': {...}}`` on the wire; passed on as received."""
    port = f.raw('port')
    inner = Fields(f.obj, port, 'port.').raw('port')
    Fields(f.obj, inner, 'port.port.')
    return port


class L3RpcCallback:
    """``q-l3-plugin``, version 1.13: what an L3 agent asks (fact sheet §4.2)."""

    target = oslo_messaging.Target(version='1.13')
    rpc_methods = frozenset({
        'get_router_ids', 'sync_routers', 'update_floatingip_statuses',
        'get_host_ha_router_count', 'update_all_ha_network_port_statuses',
        'update_ha_routers_states', 'get_service_plugin_list', 'get_networks'})

    def __init__(self, plugin):
        self.plugin = plugin

    @rpc_method
    def get_router_ids(self, context, **kwargs):
        return self.plugin.get_router_ids(call_args('get_router_ids', kwargs).str('host'))

    @rpc_method
    def sync_routers(self, context, **kwargs):
        f = call_args('sync_routers', kwargs)
        ids = kwargs.get('router_ids')
        router_ids = None if ids is None else list(f.uuids('router_ids'))
        return self.plugin.sync_routers(f.str('host'), router_ids=router_ids)

    @rpc_method
    def update_floatingip_statuses(self, context, **kwargs):
        f = call_args('update_floatingip_statuses', kwargs)
        statuses = _status_map(f, 'fip_statuses', ('ACTIVE', 'DOWN', 'ERROR'))
        return self.plugin.update_floatingip_statuses(f.uuid('router_id'), statuses)

    @rpc_method
    def get_host_ha_router_count(self, context, **kwargs):
        """The first call of Neutron's L3 agent: how many HA routers it hosts."""
        return self.plugin.get_host_ha_router_count(
            call_args('get_host_ha_router_count', kwargs).str('host'))

    @rpc_method
    def update_all_ha_network_port_statuses(self, context, **kwargs):
        """The agent restarted without its namespaces: its HA ports go DOWN."""
        return self.plugin.update_all_ha_network_port_statuses(
            call_args('update_all_ha_network_port_statuses', kwargs).str('host'))

    @rpc_method
    def update_ha_routers_states(self, context, **kwargs):
        """``host``, ``states={router_id: 'active'|'standby'|'unknown'}`` (a cast
        since version 1.5); a malformed payload is refused whole."""
        f = call_args('update_ha_routers_states', kwargs)
        states = _status_map(f, 'states', ('active', 'standby', 'unknown'))
        return self.plugin.update_ha_routers_states(f.str('host'), states)

    @rpc_method
    def get_service_plugin_list(self, context, **kwargs):
        return ['router']

    @rpc_method
    def get_networks(self, context, **kwargs):
        f = call_args('get_networks', kwargs)
        return self.plugin.get_networks(Context.admin(), filters=rpc_bounds.filters(f),
                                        fields=rpc_bounds.fields(f))


def _status_map(f: Fields, field: str, allowed: tuple[str, ...]) -> dict:
    """``{uuid: one of allowed}``, or an error naming the field (and the key)."""
    value = f.raw(field)
    if not isinstance(value, dict):
        raise f.error(field, f'{value!r} is not an object')
    for key, status in value.items():
        if not is_uuid(key):
            raise f.error(field, f'key {key!r} is not a UUID')
        if status not in allowed:
            raise f.error(f'{field}.{key}',
                          f'{status!r} is not {", ".join(allowed[:-1])} or {allowed[-1]}')
    return value


class AgentExtRpcCallback:
    """``q-reports-plugin`` (and ``q-plugin``), version 1.4: heartbeats."""

    target = oslo_messaging.Target(version='1.4')
    rpc_methods = frozenset({'report_state', 'has_alive_neutron_server'})

    def __init__(self, plugin):
        self.plugin = plugin

    @rpc_method
    def report_state(self, context, **kwargs):
        f = call_args('report_state', kwargs)
        outer = Fields(f.obj, f.raw('agent_state'), 'agent_state.')
        state = Fields(f.obj, outer.raw('agent_state'), 'agent_state.agent_state.')
        rpc_bounds.check_agent_state(state)
        return self.plugin.report_state(dict(state.data), f.str('time'))

    @rpc_method
    def has_alive_neutron_server(self, context, **kwargs):
        return True


class RpcServers(list):
    """The controller's started RPC servers (a list) and their transport."""

    def __init__(self, transport, servers=()):
        super().__init__(servers)
        self.transport = transport

    def stop(self, timeout: float | None = 10) -> None:
        rpc_transport.stop_rpc_servers(list(self), timeout)
        self.clear()
        self.transport.cleanup()


def start_rpc_servers(conf, plugin, transport=None) -> RpcServers:
    """Serve ``q-plugin``, ``q-l3-plugin`` and ``q-reports-plugin`` as conf.host."""
    transport = transport or get_transport(conf)
    dhcp, l3, reports = (DhcpRpcCallback(plugin), L3RpcCallback(plugin),
                         AgentExtRpcCallback(plugin))
    servers = RpcServers(transport)
    try:
        servers.append(start_rpc_server(transport, PLUGIN_TOPIC, conf.host,
                                        [dhcp, reports, MetadataRpcCallback(plugin)]))
        servers.append(start_rpc_server(transport, L3PLUGIN_TOPIC, conf.host, [l3]))
        servers.append(start_rpc_server(transport, REPORTS_TOPIC, conf.host,
                                        [reports]))
    except Exception:
        servers.stop()
        raise
    return servers


def stop_rpc_servers(servers: RpcServers, timeout: float | None = 10) -> None:
    servers.stop(timeout)
