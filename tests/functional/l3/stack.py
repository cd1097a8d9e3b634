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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from agent.common import names
from agent.dataplane import device as dev
from agent.dataplane import executor
from agent.drivers import netns as netns_mod
from agent.drivers.link import LinkDriver
from agent.drivers.netns import NetnsDriver
from agent.drivers.ovs import OvsDriver
from agent.drivers.state import PortSpec
from tests.functional.controller_api.server_process import ServerProcess

BIN = os.path.dirname(sys.executable)
AGENT_BIN = os.path.join(BIN, 'netnode-l3-agent')
BROKER = '127.0.0.1:5672'
OVSDB = 'unix:/var/run/openvswitch/db.sock'


def sh(*args, check=True, timeout=60, input=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          check=check, timeout=timeout, input=input)


def wait_for(predicate, timeout=10.0, interval=0.02, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(interval)


def pids_with(marker):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if marker in cmd:
            found.append(int(entry))
    return found


def netns_list():
    return set(netns_mod.list_namespaces())


def in_ns(ns, *argv, check=True, timeout=30, input=None):
    return sh('ip', 'netns', 'exec', ns, *argv, check=check, timeout=timeout, input=input)


def iptables_rules(ns, version=4):
    """iptables-save of a namespace without counters and comment/COMMIT noise: a set
    of (table, line) for chain declarations (policy only) and rules."""
    out = in_ns(ns, 'iptables-save' if version == 4 else 'ip6tables-save').stdout
    table, found = None, set()
    for line in out.splitlines():
        if line.startswith('*'):
            table = line[1:]
        elif line.startswith(':'):
            found.add((table, ' '.join(line.split()[:2])))
        elif line.startswith('-A'):
            found.add((table, line))
    return found


class L3Stack:
    def __init__(self, run_id: str, name: str, leaks=None, agent_conf: str = '',
                 report_interval: float = 2, resync_interval: int = 3,
                 workers: int = 4):
        self.run_id = run_id
        self.name = name
        self.leaks = leaks
        self.base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-{name}-')
        os.chmod(self.base, 0o755)
        self.state_path = os.path.join(self.base, 'agent-state')
        tag = name[:1]
        self.int_bridge = f'br-{run_id}{tag}-i'
        self.ext_bridge = f'br-{run_id}{tag}-e'
        self.host = f'{run_id}-{name}-l3host'
        self.vhost = f'netnode-{run_id}-{name}-l3'
        self.exchange = f'netnode-{run_id}-{name}-l3'
        self.url = f'rabbit://guest:guest@{BROKER}/{self.vhost}'
        self.agent_conf_path = os.path.join(self.base, 'l3_agent.ini')
        self.agent_log = os.path.join(self.base, 'l3-agent.log')
        self.extra_agent_conf = agent_conf
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.workers = workers
        self.server: ServerProcess | None = None
        self.agent: subprocess.Popen | None = None
        self.namespaces: set[str] = set()
        self.routers: set[str] = set()
        self._log_mark = 0
        self._ovs = None
        if leaks is not None:
            leaks.bridge(self.int_bridge)
            leaks.bridge(self.ext_bridge)
            leaks.process_marker(self.base)

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
            sh('rabbitmqctl', '-q', 'add_vhost', self.vhost)
            sh('rabbitmqctl', '-q', 'set_permissions', '-p', self.vhost, 'guest',
               '.*', '.*', '.*')
            for bridge in (self.int_bridge, self.ext_bridge):
                self.ovs.ensure_bridge(bridge, 'netdev')
            self.server = ServerProcess(
                os.path.join(self.base, 'server'), debug=False,
                extra_conf='\n'.join(['enable_rpc = true', f'transport_url = {self.url}',
                                      f'control_exchange = {self.exchange}',
                                      'rpc_response_timeout = 20']))
            os.makedirs(self.server.base_dir, exist_ok=True)
            if self.leaks is not None:
                self.leaks.process_marker(self.server.marker)
            self.server.start()
            self.write_agent_conf()
            if agent:
                self.start_agent()
        except BaseException:
            self.close()
            raise
        return self

    def write_agent_conf(self):
        with open(self.agent_conf_path, 'w') as f:
            f.write('\n'.join([
                '[DEFAULT]', f'host = {self.host}', f'state_path = {self.state_path}',
                f'transport_url = {self.url}', f'control_exchange = {self.exchange}',
                'rpc_response_timeout = 20', 'debug = true',
                f'log_file = {self.agent_log}', self.extra_agent_conf,
                '[AGENT]', f'report_interval = {self.report_interval}',
                'check_child_processes_interval = 1',
                f'num_sync_threads = {self.workers}',
                f'resync_interval = {self.resync_interval}', 'resync_throttle = 0.5',
                '[ovs]', f'integration_bridge = {self.int_bridge}',
                f'external_bridge = {self.ext_bridge}', 'datapath_type = netdev', '']))

    def start_agent(self, wait=True, timeout=60.0):
        self._log_mark = os.path.getsize(self.agent_log) if os.path.exists(
            self.agent_log) else 0
        self.agent = subprocess.Popen(
            [AGENT_BIN, '--config-file', self.agent_conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.agent_log + '.stderr', 'ab'))
        if wait:
            wait_for(self._agent_in_sync, timeout, 0.05, 'the L3 agent in sync')
        return self.agent

    def agent_log_text(self, since_start=True):
        try:
            with open(self.agent_log, errors='replace') as f:
                if since_start:
                    f.seek(self._log_mark)
                return f.read()
        except FileNotFoundError:
            return ''

    def _agent_in_sync(self):
        if self.agent.poll() is not None:
            raise AssertionError(f'L3 agent exited with {self.agent.returncode}: '
                                 f'{self.agent_log_text()[-3000:]}')
        return 'in sync' in self.agent_log_text()

    def stop_agent(self, sig=signal.SIGTERM, timeout=30.0):
        if self.agent is None or self.agent.poll() is not None:
            return None
        self.agent.send_signal(sig)
        try:
            return self.agent.wait(timeout)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            return self.agent.wait()

    # -- REST -----------------------------------------------------------------------

    def api(self, method, path, body=None):
        status, data = self.server.call(method, '/v2.0' + path, body)
        if status >= 300:
            raise AssertionError(f'{method} {path}: {status} {data}')
        return data

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

    def ns(self, name):
        self.namespaces.add(name)
        if self.leaks is not None:
            self.leaks.namespace(name)
        return name

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

    def vm(self, network_id, subnet, name='vm'):
        """A test VM: ``netnode probe-create`` (a REST port plugged into its own
        namespace on the integration bridge), given its fixed IP and a default
        route via the router (the tenant subnets here run no DHCP)."""
        code, out, err = self.server.cli('-f', 'json', 'probe-create', network_id,
                                         '--config-file', self.agent_conf_path,
                                         '--name', name)
        if code != 0:
            raise AssertionError(f'probe-create failed: {err}')
        probe = json.loads(out)
        ns_name = self.ns(probe['namespace'])
        port = self.api('GET', f'/ports/{probe["id"]}')['port']
        ip = port['fixed_ips'][0]['ip_address']
        prefix = ipaddress.ip_network(subnet['cidr']).prefixlen
        in_ns(ns_name, 'ip', 'addr', 'add', f'{ip}/{prefix}', 'brd', '+', 'dev',
              probe['device'])
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

    # -- teardown -------------------------------------------------------------------

    def close(self):
        self.stop_agent()
        if self.server is not None:
            self.server.stop()
        for pid in pids_with(self.base):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for ns_name in sorted(self.namespaces):
            if ns_name in netns_list():
                try:
                    netns_mod.delete(ns_name, force=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass
        for bridge in (self.int_bridge, self.ext_bridge):
            try:
                self.ovs.delete_bridge(bridge)
            except Exception:  # noqa: BLE001
                pass
        sh('rabbitmqctl', '-q', 'delete_vhost', self.vhost, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
