"""A private RabbitMQ in the test bed's controller node: its own node name,
Erlang cookie (HOME), mnesia, log and config directories, epmd on a port of its
own (ERL_EPMD_PORT), listening on the controller's management address only."""

from __future__ import annotations

import os

from tests.functional.helpers.testbed.node import Node

RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'
EPMD_PORT = 4371
DIST_PORT = 25673
AMQP_PORT = 5672


class PrivateRabbit:
    def __init__(self, node: Node, address: str):
        self.node = node
        self.address = address
        self.dir = os.path.join(node.base, 'rabbitmq')
        self.nodename = 'netnode-testbed@localhost'
        self.url = f'rabbit://guest:guest@{address}:{AMQP_PORT}/'
        self.proc = None

    def env(self):
        d = self.dir
        return {**os.environ, 'HOME': d, 'RABBITMQ_NODENAME': self.nodename,
                'RABBITMQ_NODE_IP_ADDRESS': self.address,
                'RABBITMQ_NODE_PORT': str(AMQP_PORT), 'RABBITMQ_DIST_PORT': str(DIST_PORT),
                'ERL_EPMD_PORT': str(EPMD_PORT), 'ERL_EPMD_ADDRESS': '127.0.0.1',
                'RABBITMQ_MNESIA_BASE': f'{d}/mnesia', 'RABBITMQ_LOG_BASE': f'{d}/log',
                'RABBITMQ_CONFIG_FILE': f'{d}/rabbitmq.conf',
                'RABBITMQ_ADVANCED_CONFIG_FILE': f'{d}/advanced.config',
                'RABBITMQ_ENABLED_PLUGINS_FILE': f'{d}/enabled_plugins',
                'RABBITMQ_PLUGINS_EXPAND_DIR': f'{d}/plugins-expand',
                'RABBITMQ_PID_FILE': f'{d}/rabbitmq.pid',
                'RABBITMQ_CONF_ENV_FILE': f'{d}/rabbitmq-env.conf',
                'RABBITMQ_LOGS': f'{d}/log/rabbit.log'}

    def start(self) -> 'PrivateRabbit':
        os.makedirs(os.path.join(self.dir, 'log'), exist_ok=True)
        files = {'rabbitmq.conf': 'loopback_users = none\n'
                                  'vm_memory_high_watermark.absolute = 256MiB\n'
                                  'disk_free_limit.absolute = 10MB\n',
                 'advanced.config': '[].\n', 'enabled_plugins': '[].\n',
                 'rabbitmq-env.conf': ''}
        for name, text in files.items():
            with open(os.path.join(self.dir, name), 'w') as f:
                f.write(text)
        self.proc = self.node.spawn(RABBITMQ_SERVER, log=os.path.join(self.dir, 'server.out'),
                                    env=self.env())
        return self

    def tail(self, n=40) -> str:
        try:
            with open(os.path.join(self.dir, 'server.out'), errors='replace') as f:
                return '\n'.join(f.read().splitlines()[-n:])
        except OSError:
            return ''
