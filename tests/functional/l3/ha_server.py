"""A stand-in for the server's L3 RPC with HA routers in Neutron's shape, and an L3
stack that runs the real agent against it.

Until the controller schedules HA routers, the agent's HA half is tested against
the payload neutron-server sends (``sync_routers`` with ``ha``, ``ha_vr_id``,
``_ha_interface``, ``_ha_state``); the casts the agent makes
(``update_ha_routers_states``) are recorded.
"""

from __future__ import annotations

import threading
import uuid

import oslo_messaging

from agent.common import names
from agent.rpc import clients, transport
from tests.functional.helpers import bus, host
from tests.functional.l3.stack import L3Stack


def _subnet(subnet_id, cidr, gateway):
    return {'id': subnet_id, 'cidr': cidr, 'gateway_ip': gateway, 'dns_nameservers': [],
            'ipv6_ra_mode': None, 'subnetpool_id': None}


def port(network_id, mac, address, prefixlen, cidr, gateway=None, port_id=None):
    subnet_id = str(uuid.uuid5(uuid.NAMESPACE_URL, cidr))
    return {'id': port_id or str(uuid.uuid4()), 'network_id': network_id,
            'mac_address': mac, 'admin_state_up': True, 'mtu': 1500,
            'fixed_ips': [{'ip_address': address, 'subnet_id': subnet_id,
                           'prefixlen': prefixlen}],
            'subnets': [_subnet(subnet_id, cidr, gateway)], 'extra_subnets': []}


def ha_router(router_id, vr_id, ha_address, ha_mac, routes=()):
    """An HA router with one interface on 10.70.0.0/24 and a gateway on
    192.0.2.0/24 (TEST-NET-1, only on our bridges), as sync_routers gives it."""
    ext_net, int_net, ha_net = (str(uuid.uuid5(uuid.NAMESPACE_URL, n))
                                for n in ('hal-ext', 'hal-int', 'hal-ha'))
    gw = port(ext_net, 'fa:16:3e:aa:00:01', '192.0.2.10', 24, '192.0.2.0/24', '192.0.2.1',
              port_id=str(uuid.uuid5(uuid.UUID(router_id), 'gw')))
    internal = port(int_net, 'fa:16:3e:aa:00:02', '10.70.0.1', 24, '10.70.0.0/24',
                    '10.70.0.1', port_id=str(uuid.uuid5(uuid.UUID(router_id), 'qr')))
    return {'id': router_id, 'name': 'hal', 'project_id': 'p1', 'tenant_id': 'p1',
            'admin_state_up': True, 'distributed': False, 'ha': True, 'ha_vr_id': vr_id,
            'routes': [{'destination': d, 'nexthop': n} for d, n in routes],
            'external_gateway_info': {'network_id': ext_net, 'enable_snat': True},
            'gw_port': gw, '_interfaces': [internal], '_floatingips': [],
            '_ha_interface': port(ha_net, ha_mac, ha_address, 18, '169.254.192.0/18',
                                  port_id=str(uuid.uuid5(uuid.UUID(router_id), ha_mac))),
            '_ha_state': 'standby'}


class FakeL3Server:
    """q-l3-plugin and q-reports-plugin answering from ``routers`` (by host)."""

    rpc_methods = frozenset({'get_router_ids', 'sync_routers', 'update_floatingip_statuses',
                             'update_ha_routers_states', 'get_host_ha_router_count',
                             'get_service_plugin_list', 'report_state'})
    target = oslo_messaging.Target(version='1.13')

    def __init__(self):
        self.routers: dict[str, dict] = {}
        self.states: list[tuple[str, dict]] = []     # (host, states) as cast
        self.lock = threading.Lock()

    def get_router_ids(self, context, host):
        with self.lock:
            return list(self.routers)

    def sync_routers(self, context, host, router_ids=None):
        with self.lock:
            return [r for rid, r in self.routers.items()
                    if router_ids is None or rid in router_ids]

    def update_floatingip_statuses(self, context, router_id, fip_statuses):
        return None

    def update_ha_routers_states(self, context, host, states):
        with self.lock:
            self.states.append((host, dict(states)))

    def get_host_ha_router_count(self, context, host):
        return len(self.routers)

    def get_service_plugin_list(self, context):
        return ['router']

    def report_state(self, context, agent_state, time):
        return 'alive'

    def last_state(self, host_name, router_id):
        with self.lock:
            found = [s[router_id] for h, s in self.states
                     if h == host_name and router_id in s]
        return found[-1] if found else None


class ReportsEndpoint:
    target = oslo_messaging.Target(version='1.4')
    rpc_methods = frozenset({'report_state'})

    def __init__(self, server):
        self.report_state = server.report_state


class HaL3Stack(L3Stack):
    """The real L3 agent (a process) against :class:`FakeL3Server`."""

    def __init__(self, run_id, name, leaks=None, agent_conf='', **kwargs):
        super().__init__(run_id, name, leaks, agent_conf=agent_conf, **kwargs)
        self.fake = FakeL3Server()
        self._servers = []
        self._transport = None

    def start_controller(self):
        bus.add_vhost(self.vhost)
        for bridge in self.bridges:
            host.add_bridge(bridge)
        conf = bus.bus_conf(self.url, self.exchange, f'{self.host}-server', server=True)
        self._transport = transport.get_transport(conf)
        self._servers = [
            transport.start_rpc_server(self._transport, clients.L3PLUGIN_TOPIC,
                                       conf.host, [self.fake]),
            transport.start_rpc_server(self._transport, clients.REPORTS_TOPIC,
                                       conf.host, [ReportsEndpoint(self.fake)])]

    def add_router(self, router):
        self.ns(names.router_namespace(router['id']))
        with self.fake.lock:
            self.fake.routers[router['id']] = router

    def release(self):
        transport.stop_rpc_servers(self._servers, 5)
        if self._transport is not None:
            self._transport.cleanup()
