"""A private Open vSwitch in a test bed node: its own ovsdb-server and
ovs-vswitchd (no ``--mlockall``), database, sockets, pid files and logs under
``<node>/ovs``, bridges of the netdev (userspace) datapath."""

from __future__ import annotations

import os
import time

from tests.functional.helpers.testbed.node import Node

SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'


class PrivateOvs:
    def __init__(self, node: Node):
        self.node = node
        self.dir = os.path.join(node.base, 'ovs')
        self.db = os.path.join(self.dir, 'conf.db')
        self.sock = os.path.join(self.dir, 'db.sock')
        self.connection = f'unix:{self.sock}'

    def _env(self):
        return {**os.environ, 'OVS_RUNDIR': self.dir, 'OVS_LOGDIR': self.dir,
                'OVS_DBDIR': self.dir, 'OVS_SYSCONFDIR': self.dir}

    def _daemon(self, name, *args):
        return (f'--pidfile={self.dir}/{name}.pid', f'--unixctl={self.dir}/{name}.ctl',
                f'--log-file={self.dir}/{name}.log', '--detach', '--no-chdir', *args)

    def start(self, timeout: float = 60.0) -> 'PrivateOvs':
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        env = self._env()
        self.node.run('ovsdb-tool', 'create', self.db, SCHEMA, env=env)
        self.node.run('ovsdb-server', self.db, f'--remote=punix:{self.sock}',
                      *self._daemon('ovsdb-server'), env=env, timeout=timeout)
        self.vsctl('--no-wait', 'init')
        self.node.run('ovs-vswitchd', self.connection, *self._daemon('ovs-vswitchd'),
                      env=env, timeout=timeout)
        return self

    def vsctl(self, *args, check=True) -> str:
        return self.node.run('ovs-vsctl', f'--db={self.connection}', '--timeout=30',
                             *args, check=check, env=self._env()).stdout

    def add_bridge(self, name: str) -> None:
        self.vsctl('--may-exist', 'add-br', name, '--', 'set', 'Bridge', name,
                   'datapath_type=netdev')

    def add_port(self, bridge: str, port: str) -> None:
        self.vsctl('--may-exist', 'add-port', bridge, port)

    def wait_port_up(self, port: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while 'up' not in self.vsctl('get', 'Interface', port, 'link_state', check=False):
            if time.monotonic() > deadline:
                raise RuntimeError(f'node {self.node.name}: OVS port {port} not up')
            time.sleep(0.1)
