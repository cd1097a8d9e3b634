"""A controller and an L3 agent as separate processes, on a private vhost and bridges.

Used by the functional L3 tests and by ``tools/bench-l3.py``.  Everything it
creates is named from the run id and removed by :meth:`L3Stack.close`: the vhost
(with its exchange and queues), the integration and external bridges, the state
directory (children carry it in their command line), the router namespaces and
the test VM / outside namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import uuid

from agent.common import names
from agent.dataplane import device as dev
from agent.dataplane import executor
from agent.drivers.link import LinkDriver
from agent.drivers.netns import NetnsDriver
from agent.drivers.ovs import OvsDriver
from agent.drivers.state import PortSpec
from tests.functional.helpers.host import in_ns
from tests.functional.helpers.stack_base import BIN, AgentStack

OVSDB = 'unix:/var/run/openvswitch/db.sock'


class L3Stack(AgentStack):
    AGENT_BIN = os.path.join(BIN, 'netnode-l3-agent')
    AGENT_LABEL = 'L3 agent'
    AGENT_FILES = 'l3'
    START_TIMEOUT = 60.0
    STOP_TIMEOUT = 30.0
    SERVER_DEBUG = False
    RPC_TIMEOUT = 20

    def __init__(self, run_id: str, name: str, leaks=None, agent_conf: str = '',
                 report_interval: float = 2, resync_interval: int = 3,
                 workers: int = 4):
        tag = name[:1]
        self.int_bridge = f'br-{run_id}{tag}-i'
        self.ext_bridge = f'br-{run_id}{tag}-e'
        super().__init__(run_id, leaks, prefix=f'netnode-{run_id}-{name}-',
                         vhost=f'netnode-{run_id}-{name}-l3',
                         exchange=f'netnode-{run_id}-{name}-l3',
                         host_name=f'{run_id}-{name}-l3host',
                         bridges=(self.int_bridge, self.ext_bridge), agent_conf=agent_conf,
                         report_interval=report_interval, resync_interval=resync_interval)
        self.name = name
        self.workers = workers
        self.routers: set[str] = set()
        self._ovs = None

    @property
    def ovs(self):
        if self._ovs is None:
            self._ovs = OvsDriver(OVSDB, timeout=10)
        return self._ovs

    @property
    def drivers(self):
        return executor.HostDrivers(NetnsDriver(), LinkDriver(), self.ovs)

    # -- setup ----------------------------------------------------------------------

    def start(self, agent=True):
        try:
            self.start_controller()
            self.write_agent_conf()
            if agent:
                self.start_agent()
        except BaseException:
            self.close()
            raise
        return self

    def agent_options(self):
        return ((f'num_sync_threads = {self.workers}',), (),
                (f'integration_bridge = {self.int_bridge}',
                 f'external_bridge = {self.ext_bridge}'))

    # -- REST -----------------------------------------------------------------------

    def network(self, name, cidr, gateway, external=False, enable_dhcp=False):
        body = {'name': name}
        if external:
            body['router:external'] = True
        net = self.api('POST', '/networks', {'network': body})['network']
        subnet = self.api('POST', '/subnets', {'subnet': {
            'network_id': net['id'], 'cidr': cidr, 'ip_version': 4,
            'gateway_ip': gateway, 'enable_dhcp': enable_dhcp,
            'name': f'{name}-subnet'}})['subnet']
        return net, subnet

    def router(self, name='router'):
        router = self.api('POST', '/routers', {'router': {'name': name}})['router']
        self.routers.add(router['id'])
        self.ns(names.router_namespace(router['id']))
        return router

    def add_interface(self, router_id, subnet_id):
        return self.api('PUT', f'/routers/{router_id}/add_router_interface',
                        {'subnet_id': subnet_id})

    def set_gateway(self, router_id, network_id):
        return self.api('PUT', f'/routers/{router_id}', {'router': {
            'external_gateway_info': {'network_id': network_id}}})['router']

    def port(self, network_id, name='vm'):
        return self.api('POST', '/ports', {'port': {'network_id': network_id,
                                                    'name': name}})['port']

    def floatingip(self, network_id, port_id=None):
        body = {'floating_network_id': network_id}
        if port_id:
            body['port_id'] = port_id
        return self.api('POST', '/floatingips', {'floatingip': body})['floatingip']

    def associate(self, fip_id, port_id):
        return self.api('PUT', f'/floatingips/{fip_id}', {'floatingip': {
            'port_id': port_id}})['floatingip']

    # -- test namespaces on our bridges ------------------------------------------------

    def plug_namespace(self, ns_name, bridge, port_id, mac, cidr, gateway=None,
                       tag=None, dev_name=None):
        """A namespace with one internal port on ``bridge`` (a test VM or 'outside')."""
        self.ns(ns_name)
        spec = PortSpec(dev_name or names.tap_name(port_id), port_id, mac, tag)
        desired = dev.DesiredDevice(ns_name, bridge, spec, None,
                                    frozenset({ipaddress.ip_interface(cidr)}),
                                    (ipaddress.ip_address(gateway),) if gateway else ())
        plan = dev.diff(desired, executor.observe(self.drivers, desired))
        for action in plan:
            executor.apply(self.drivers, action)
        return ns_name

    def probe(self, network_id, name='vm'):
        """``netnode probe-create``: a REST port plugged into its own namespace on
        the integration bridge, without addresses; (namespace, port, device)."""
        code, out, err = self.server.cli('-f', 'json', 'probe-create', network_id,
                                         '--config-file', self.agent_conf_path,
                                         '--name', name)
        if code != 0:
            raise AssertionError(f'probe-create failed: {err}')
        probe = json.loads(out)
        ns_name = self.ns(probe['namespace'])
        port = self.api('GET', f'/ports/{probe["id"]}')['port']
        return ns_name, port, probe['device']

    def vm(self, network_id, subnet, name='vm'):
        """A test VM: a probe given its fixed IP and a default route via the
        router (the tenant subnets here run no DHCP)."""
        ns_name, port, device = self.probe(network_id, name)
        ip = port['fixed_ips'][0]['ip_address']
        prefix = ipaddress.ip_network(subnet['cidr']).prefixlen
        in_ns(ns_name, 'ip', 'addr', 'add', f'{ip}/{prefix}', 'brd', '+', 'dev', device)
        in_ns(ns_name, 'ip', 'route', 'replace', 'default', 'via', subnet['gateway_ip'])
        return ns_name, port, ip

    def outside(self, cidr='198.51.100.1/24'):
        """An 'outside' namespace on the external bridge (the external gateway)."""
        ns_name = f'out-{self.run_id}-{uuid.uuid4().hex[:8]}'
        port_id = str(uuid.uuid4())
        mac = 'fa:16:3e:%02x:%02x:%02x' % tuple(os.urandom(3))
        self.plug_namespace(ns_name, self.ext_bridge, port_id, mac, cidr)
        return ns_name

    def ping(self, ns_name, ip, count=1, timeout=2):
        res = in_ns(ns_name, 'ping', '-c', count, '-W', timeout, '-i', '0.2', ip,
                    check=False, timeout=count * timeout + 10)
        return res.returncode == 0
