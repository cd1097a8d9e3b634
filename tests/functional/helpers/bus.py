"""A private corner of the shared RabbitMQ for one test run.

oslo.messaging names topic queues after the topic alone (``q-plugin``,
``dhcp_agent``), whatever the exchange: two runs on one vhost with different
``control_exchange`` values would still share those queues and steal each
other's messages.  So a run gets its own vhost (deleted at teardown, with
everything in it) *and* its own exchange.
"""

from __future__ import annotations

import contextlib
import subprocess

from agent.conf.service import AGENT_GROUPS, SERVER_GROUPS, make_conf

BROKER = '127.0.0.1:5672'


def _rabbitmqctl(*args, check=True) -> None:
    subprocess.run(['rabbitmqctl', '-q', *args], check=check, capture_output=True,
                   timeout=60)


def vhost_url(name: str) -> str:
    return f'rabbit://guest:guest@{BROKER}/{name}'


def add_vhost(name: str) -> str:
    """Create vhost ``name`` with guest's permissions; returns its transport URL."""
    _rabbitmqctl('add_vhost', name)
    _rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*')
    return vhost_url(name)


def delete_vhost(name: str, check=True) -> None:
    _rabbitmqctl('delete_vhost', name, check=check)


@contextlib.contextmanager
def private_vhost(name: str):
    _rabbitmqctl('add_vhost', name)
    try:
        _rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*')
        yield vhost_url(name)
    finally:
        delete_vhost(name)


def bus_conf(url: str, exchange: str, host: str, server: bool = False,
             rpc_timeout: int = 5):
    groups = SERVER_GROUPS + AGENT_GROUPS[1:] if server else AGENT_GROUPS
    conf = make_conf([], groups=groups)
    conf.set_override('transport_url', url)
    conf.set_override('control_exchange', exchange)
    conf.set_override('rpc_response_timeout', rpc_timeout)
    conf.set_override('host', host)
    return conf
