"""The multi-node test bed: a controller node (private RabbitMQ, netnode-server on
SQLite), network nodes (private Open vSwitch, DHCP and L3 agents), a fabric, the
outside world and probes.  :meth:`TestBed.up` builds it, :meth:`TestBed.down`
removes everything; ``testbed.json`` in its directory lets ``tools/testbed.sh``
find it again from another process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

from tests.functional.controller_api.server_process import json_call
from tests.functional.helpers.testbed import services
from tests.functional.helpers.testbed.broker import AMQP_PORT, PrivateRabbit
from tests.functional.helpers.testbed.fabric import MGMT_PREFIX, Fabric, ip
from tests.functional.helpers.testbed.netns_call import NetnsThread
from tests.functional.helpers.testbed.node import Node
from tests.functional.helpers.testbed.ovs import PrivateOvs

STATE_FILE = 'testbed.json'


def _wait(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f'test bed: {what} not within {timeout} s')
        time.sleep(interval)


class TestBed:
    __test__ = False        # not a pytest class

    def __init__(self, base: str, prefix: str, network_nodes=('net1', 'net2'),
                 agents=('dhcp', 'l3'), server_conf: str = '', agent_conf: str = '',
                 compute_node: str = 'cmp'):
        self.base = base
        self.prefix = prefix            # names of root-namespace objects: <prefix>-fab
        self.fabric = Fabric(f'{prefix}-fab')
        self.controller = Node('ctl', f'{prefix}-ctl', os.path.join(base, 'ctl'))
        self.nodes = {n: Node(n, f'{prefix}-{n}', os.path.join(base, n))
                      for n in network_nodes}
        # A "compute" node: Open vSwitch and its physical bridge, no agents; the
        # probes ("VMs") are its ports, tagged with their network's VLAN (this
        # kernel may have no 802.1Q devices).
        self.compute = Node(compute_node, f'{prefix}-{compute_node}',
                            os.path.join(base, compute_node))
        self.agents = tuple(agents)
        self.server_conf = server_conf
        self.agent_conf = agent_conf
        self.probes: list[str] = []         # namespaces on the fabric (outside, VMs)
        self.outside = f'{prefix}-out'
        self.ctl_address = f'{MGMT_PREFIX}10'
        self.timings: dict[str, float] = {}
        self._api_thread: NetnsThread | None = None

    # -- building ---------------------------------------------------------------------

    @property
    def transport_url(self):
        return f'rabbit://guest:guest@{self.ctl_address}:{AMQP_PORT}/'

    def up(self, timeout: float = 120.0) -> 'TestBed':
        start = time.monotonic()
        try:
            self._up(timeout)
        except BaseException:
            self.down()
            raise
        self.timings['up'] = time.monotonic() - start
        self.save()
        return self

    def _up(self, timeout):
        os.makedirs(self.base, mode=0o755, exist_ok=True)
        os.chmod(self.base, 0o755)          # dnsmasq re-reads its files as nobody
        self.save()
        self.fabric.create()
        self.controller.start()
        self.save()
        self.fabric.attach_node(self.controller, 0)
        rabbit = PrivateRabbit(self.controller, self.ctl_address).start()
        for index, node in enumerate((*self.nodes.values(), self.compute), 1):
            node.start()
            self.save()
            self.fabric.attach_node(node, index)
            ovs = PrivateOvs(node).start()
            bridges = ((services.PHYS_BRIDGE,) if node is self.compute else
                       (services.INT_BRIDGE, services.PHYS_BRIDGE, services.EX_BRIDGE))
            for bridge in bridges:
                ovs.add_bridge(bridge)
            ovs.add_port(services.PHYS_BRIDGE, 'eth1')
        ip('netns', 'add', self.outside)
        self.probes.append(self.outside)
        self.fabric.attach_namespace(self.outside, 'out')
        self.save()
        ctl = self.ctl_thread()
        _wait(lambda: ctl.call(_connects, self.ctl_address, AMQP_PORT), timeout,
              f'RabbitMQ on {self.ctl_address}:{AMQP_PORT} ({rabbit.tail()})', 0.5)
        services.start_server(self.controller, self.ctl_address, self.transport_url,
                              self.server_conf)
        _wait(lambda: self._api_answers(), timeout, 'the controller\'s REST API')
        for node in self.nodes.values():
            ovsdb = PrivateOvs(node).connection
            for kind in self.agents:
                conf = services.agent_conf(node, kind, self.transport_url, ovsdb,
                                           self.agent_conf)
                services.start_agent(node, kind, conf)
        self.wait_agents_alive(timeout)

    def wait_agents_alive(self, timeout=60.0, nodes=None):
        wanted = {(self.nodes[n].host, kind) for n in (nodes or self.nodes)
                  for kind in self.agents}
        names = {'dhcp': 'DHCP agent', 'l3': 'L3 agent'}

        def alive():
            agents = self.api('GET', '/agents')['agents']
            have = {(a['host'], a['agent_type']) for a in agents if a['alive']}
            return all((host, names[kind]) in have for host, kind in wanted)
        _wait(alive, timeout, 'every agent reporting', 0.3)

    # -- state file -------------------------------------------------------------------

    def save(self) -> None:
        data = {'base': self.base, 'prefix': self.prefix, 'agents': list(self.agents),
                'controller': self.controller.holder, 'probes': self.probes,
                'compute': [self.compute.name, self.compute.holder],
                'nodes': {n: node.holder for n, node in self.nodes.items()},
                'timings': self.timings}
        tmp = os.path.join(self.base, STATE_FILE + '.tmp')
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, os.path.join(self.base, STATE_FILE))

    @classmethod
    def load(cls, base: str) -> 'TestBed':
        with open(os.path.join(base, STATE_FILE)) as f:
            data = json.load(f)
        bed = cls(data['base'], data['prefix'], tuple(data['nodes']), data['agents'])
        bed.controller.holder = data['controller']
        bed.compute = Node(data['compute'][0], f'{bed.prefix}-{data["compute"][0]}',
                           os.path.join(base, data['compute'][0]), data['compute'][1])
        for name, holder in data['nodes'].items():
            bed.nodes[name].holder = holder
        bed.probes = data['probes']
        bed.timings = data.get('timings', {})
        return bed

    # -- using it ---------------------------------------------------------------------

    def ctl_thread(self) -> NetnsThread:
        if self._api_thread is None:
            self._api_thread = NetnsThread(f'/proc/{self.controller.holder}/ns/net')
        return self._api_thread

    def api(self, method, path, body=None, expect_error=False):
        status, data = self.ctl_thread().call(
            json_call, f'http://{self.ctl_address}:{services.API_PORT}/v2.0{path}', method,
            body)
        if status >= 300 and not expect_error:
            raise AssertionError(f'{method} {path}: {status} {data}')
        return (status, data) if expect_error else data

    def _api_answers(self):
        try:
            return self.api('GET', '/agents') is not None
        except (AssertionError, OSError):
            return False

    def add_probe(self, name: str, mac: str, vlan: int | None = None) -> str:
        """A "VM" on the physical network: namespace ``name`` in the compute node with
        device ``name`` (an OVS port of its physical bridge with MAC ``mac``, on
        VLAN ``vlan`` or untagged: VLAN 0); returns the device name."""
        ovs = PrivateOvs(self.compute)
        ovs.vsctl('add-port', services.PHYS_BRIDGE, name, f'tag={vlan or 0}', '--', 'set',
                  'Interface', name, 'type=internal', f'mac="{mac}"')
        _wait(lambda: self.compute.run('ip', 'link', 'show', name, check=False
                                       ).returncode == 0, 30, f'probe device {name}')
        self.compute.run('ip', 'netns', 'add', name)
        self.compute.run('ip', 'link', 'set', name, 'netns', name)
        for argv in (('link', 'set', 'lo', 'up'), ('link', 'set', name, 'address', mac),
                     ('link', 'set', name, 'up')):
            self.compute.run('ip', '-n', name, *argv)
        return name

    def in_probe(self, probe: str, *argv) -> list[str]:
        """The argv running ``argv`` in a probe (of the compute node)."""
        return self.compute.argv('ip', 'netns', 'exec', probe, *argv)

    def status(self) -> dict:
        return {'base': self.base, 'fabric': self.fabric.ns, 'probes': self.probes,
                'nodes': {n.name: {'host': n.host, 'holder': n.holder, 'alive': n.alive(),
                                   'namespaces': n.netns_list()}
                          for n in (self.controller, *self.nodes.values(), self.compute)},
                'timings': self.timings}

    # -- removing ---------------------------------------------------------------------

    def kill_node(self, name: str) -> int:
        return self.nodes[name].kill()

    def down(self) -> float:
        start = time.monotonic()
        if self._api_thread is not None:
            self._api_thread.close()
            self._api_thread = None
        for node in (*self.nodes.values(), self.compute, self.controller):
            if node.holder is not None:
                node.kill()
        for ns in self.probes:
            ip('netns', 'del', ns, check=False)
            shutil.rmtree(f'/etc/netns/{ns}', ignore_errors=True)
        self.fabric.delete()
        shutil.rmtree(self.base, ignore_errors=True)
        self.timings['down'] = time.monotonic() - start
        return self.timings['down']


def _connects(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False

