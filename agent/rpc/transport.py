"""oslo.messaging plumbing: transport, RPC servers and clients, admin context.

Servers use the **threading** executor and an access policy that exposes only the
methods an endpoint declares in ``rpc_methods`` (or, without it, its public
methods).  Reconnecting to the broker is oslo.messaging's job; an agent learns
that the bus was lost and came back through :class:`BusHealth`, which the
heartbeat feeds (a failed report followed by a successful one).
"""

from __future__ import annotations

import datetime
import importlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable

from oslo_config import cfg
import oslo_messaging
from oslo_messaging.rpc import dispatcher

LOG = logging.getLogger(__name__)

rpc_opts = [
    cfg.IntOpt('rpc_response_max_timeout', default=600, min=1,
               help='Longest timeout (seconds) a backed-off RPC call may reach: '
                    'each MessagingTimeout doubles the method\'s timeout up to '
                    'this (Neutron\'s BackingOffClient).'),
]


def register_rpc_opts(conf: cfg.ConfigOpts) -> None:
    """Register what an RPC call needs on a private ConfigOpts.

    oslo.messaging registers its ``oslo_messaging_tracing`` and
    ``oslo_messaging_metrics`` groups on the global ``cfg.CONF`` only; an RPC
    server or call through a transport made from another ConfigOpts then fails
    with NoSuchOptError.  Register those groups here too (tracing exists from
    oslo.messaging 18.3 on; 18.2, in OpenStack's upper constraints, has none).
    """
    groups: list[tuple[str | None, list]] = [(None, rpc_opts)]
    for group in ('oslo_messaging_tracing', 'oslo_messaging_metrics'):
        module = group.removeprefix('oslo_messaging')
        try:
            client = importlib.import_module(f'oslo_messaging.{module}.client')
        except ImportError:
            continue
        groups.append((group, getattr(client, group)))
    for group, opts in groups:
        for opt in opts:
            try:
                conf.register_opt(opt, group=group)
            except cfg.DuplicateOptError:
                pass


def get_transport(conf: cfg.ConfigOpts) -> oslo_messaging.Transport:
    """An RPC transport for ``conf.transport_url`` (exchange: control_exchange)."""
    register_rpc_opts(conf)
    return oslo_messaging.get_rpc_transport(conf)


class DeclaredMethodsPolicy(dispatcher.RPCAccessPolicyBase):
    """Only methods an endpoint declares in ``rpc_methods`` may be invoked.

    An endpoint without ``rpc_methods`` exposes its public callables (not the
    ``target`` attribute, not anything starting with ``_``).
    """

    def is_allowed(self, endpoint, method):
        declared = getattr(endpoint, 'rpc_methods', None)
        if declared is not None:
            return method in declared
        return (not method.startswith('_') and method != 'target'
                and callable(getattr(endpoint, method, None)))


def make_rpc_server(transport, topic: str, host: str, endpoints: Iterable,
                    ) -> oslo_messaging.MessageHandlingServer:
    """An RPC server on ``topic`` with ``server=host``; not started.

    On RabbitMQ it consumes ``topic``, ``topic.host`` and the fanout exchange
    ``topic_fanout``.
    """
    target = oslo_messaging.Target(topic=topic, server=host)
    # No executor argument (deprecated): without eventlet monkey patching, which
    # nothing here does, oslo.messaging picks the threading executor.
    return oslo_messaging.get_rpc_server(
        transport, target, list(endpoints), access_policy=DeclaredMethodsPolicy)


def start_rpc_server(transport, topic: str, host: str, endpoints: Iterable,
                     threads: int | None = None):
    """Make and start an RPC server.

    ``threads`` bounds the executor's pool, which oslo.messaging grows by one thread
    per message received until ``executor_thread_pool_size`` (64 by default; None
    keeps that option).  Messages beyond it wait in the executor's queue.
    """
    server = make_rpc_server(transport, topic, host, endpoints)
    server.start(override_pool_size=threads)
    LOG.info('RPC server listening on topic %s as %s', topic, host)
    return server


def stop_rpc_server(server, timeout: float | None = None) -> None:
    """Stop consuming, then wait for in-flight messages to finish."""
    stop_rpc_servers([server], timeout)


def stop_rpc_servers(servers, timeout: float | None = None) -> None:
    """Stop several servers in parallel, each then finishing its messages.

    A listener notices ``stop()`` only at the end of its current poll (up to
    a few seconds), so servers are stopped in threads of their own.
    """
    def stop_and_wait(server):
        server.stop()
        server.wait()

    threads = [threading.Thread(target=stop_and_wait, args=(server,), daemon=True,
                                name='rpc-server-stop') for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            LOG.warning('an RPC server did not stop within %s s', timeout)


def watch_reconnects(server, callback: Callable[[], None]) -> bool:
    """Call ``callback`` whenever ``server``'s broker connection is re-established.

    oslo.messaging reconnects on its own and re-declares the consumers, but
    messages cast meanwhile may be lost: the agent should resync in full.  The
    RabbitMQ driver has no public hook, so this wraps the listener connection's
    channel switch (kombu's ``on_revive`` lands there).  Call it after
    ``server.start()``; returns False (and logs) if the driver is not the one
    this was written for, in which case the heartbeat's BusHealth still notices
    long outages.
    """
    listener = getattr(getattr(server, 'listener', None), '_poll_style_listener',
                       None)
    conn = getattr(listener, 'conn', None)
    # The listener holds a pool ConnectionContext proxying the rabbit Connection.
    conn = getattr(conn, 'connection', conn)
    switch = getattr(conn, '_set_current_channel', None)
    if switch is None or not hasattr(conn, 'channel'):
        LOG.warning('cannot watch reconnects of %r: unknown driver', server)
        return False
    seen_channel = [conn.channel is not None]

    def set_channel_and_notice(new_channel):
        old = conn.channel
        switch(new_channel)
        if new_channel is None or new_channel is old:
            return
        if seen_channel[0]:
            LOG.info('RPC server reconnected to the broker')
            try:
                callback()
            except Exception:
                LOG.exception('reconnect callback failed')
        seen_channel[0] = True

    conn._set_current_channel = set_channel_and_notice
    return True


def make_rpc_client(transport, topic: str, version: str = '1.0',
                    timeout: float | None = None) -> oslo_messaging.RPCClient:
    target = oslo_messaging.Target(topic=topic, version=version)
    return oslo_messaging.get_rpc_client(transport, target, timeout=timeout)


def admin_context(request_id: str | None = None) -> dict:
    """The context a Neutron agent sends (neutron_lib admin context, elevated).

    oslo.messaging flattens it into ``_context_<key>`` fields of the message.
    """
    rid = request_id or 'req-' + str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return {
        'user_id': None, 'project_id': None, 'tenant_id': None,
        'user': None, 'project': None, 'tenant': None,
        'domain': None, 'user_domain': None, 'project_domain': None,
        'system_scope': None,
        'is_admin': True, 'is_admin_project': True, 'is_advsvc': False,
        'read_only': False, 'show_deleted': False,
        'auth_token': None, 'request_id': rid, 'global_request_id': None,
        'resource_uuid': None, 'roles': ['admin', 'member', 'reader'],
        'user_identity': '- - - - -',
        'timestamp': now.strftime('%Y-%m-%d %H:%M:%S.%f'),
        'tenant_name': None, 'project_name': None, 'user_name': None,
        'has_global_access': True, 'can_set_project_id': True,
    }


class BusHealth:
    """Tracks whether the last exchange with the broker worked.

    ``failed()`` after a failure, ``succeeded()`` after a success; the first
    success after a failure (once the bus had worked before) calls every
    registered reconnect listener, so the agent can resync in full.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._ever_ok = False
        self._down = False
        self._listeners: list[Callable[[], None]] = []

    def add_reconnect_listener(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    @property
    def down(self) -> bool:
        return self._down

    def failed(self) -> None:
        with self._lock:
            self._down = True

    def succeeded(self) -> bool:
        """Record a success; True (and listeners called) if it ends an outage."""
        with self._lock:
            revived = self._down and self._ever_ok
            self._down = False
            self._ever_ok = True
            listeners = list(self._listeners) if revived else []
        for callback in listeners:
            try:
                callback()
            except Exception:
                LOG.exception('reconnect listener %r failed', callback)
        return revived
