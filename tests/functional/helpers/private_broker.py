"""A RabbitMQ node of our own, to stop and start: a broker outage without touching
the machine's shared broker.

Its own node name, AMQP and distribution ports (on loopback), data, logs, cookie
and config, all under one directory; the shared epmd is used for the node name.
Stopping it kills its process group (a crash, as an outage is); starting it again
keeps its data (the guest user, the default vhost).

    broker = PrivateBroker(base_dir, 'netnode-<run id>')
    broker.start(); url = broker.url; broker.stop(); broker.start(); broker.close()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


class PrivateBroker:
    def __init__(self, base: str, name: str):
        self.base = base
        self.node = f'{name}@localhost'
        self.port = free_port()
        self.dist_port = free_port()
        self.proc: subprocess.Popen | None = None
        os.makedirs(base, mode=0o700, exist_ok=True)
        with open(os.path.join(base, 'rabbitmq.conf'), 'w') as f:
            f.write(f'listeners.tcp.local = 127.0.0.1:{self.port}\n')
        open(os.path.join(base, 'enabled_plugins'), 'w').close()

    @property
    def url(self) -> str:
        return f'rabbit://guest:guest@127.0.0.1:{self.port}/'

    def _env(self) -> dict:
        b = self.base
        return {**os.environ, 'HOME': b, 'RABBITMQ_NODENAME': self.node,
                'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
                'RABBITMQ_NODE_PORT': str(self.port),
                'RABBITMQ_DIST_PORT': str(self.dist_port),
                'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                    '-kernel inet_dist_use_interface {127,0,0,1}',
                'RABBITMQ_CONFIG_FILE': os.path.join(b, 'rabbitmq'),
                'RABBITMQ_CONF_ENV_FILE': os.path.join(b, 'rabbitmq-env.conf'),
                'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(b, 'enabled_plugins'),
                'RABBITMQ_MNESIA_BASE': os.path.join(b, 'mnesia'),
                'RABBITMQ_LOG_BASE': os.path.join(b, 'log'),
                'RABBITMQ_PID_FILE': os.path.join(b, 'pid')}

    def start(self, timeout: float = 180.0) -> None:
        log = open(os.path.join(self.base, 'server.out'), 'ab')
        self.proc = subprocess.Popen([SERVER], env=self._env(), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                raise AssertionError(f'private RabbitMQ exited: {self.tail()}')
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f'private RabbitMQ not up in {timeout} s: '
                                     f'{self.tail()}')
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill the node (its whole process group) and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)
        deadline = time.monotonic() + 30
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def tail(self, n: int = 20) -> str:
        try:
            with open(os.path.join(self.base, 'server.out'), errors='replace') as f:
                return '\n'.join(f.read().splitlines()[-n:])
        except FileNotFoundError:
            return ''

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
