"""The metadata agent: answers the proxies' requests from the controller's data.

Wiring only: the unix-socket server (:mod:`agent.metadata.server`), the port and
instance lookup over ``q-plugin`` (:mod:`agent.metadata.lookup`), the documents
(:mod:`agent.metadata.documents`) or, with ``metadata_backend = nova``, the
forwarding to Nova (:mod:`agent.metadata.nova`; then only Neutron's
``get_ports`` is asked, so a real neutron-server can answer), and the heartbeat (Neutron's
metadata agent reports as ``Metadata agent`` with topic ``N/A``).

Answers: the document (200), 404 for an address no instance port has on the
proxy's network or router (and for unknown paths), 503 when the controller does
not answer within ``metadata_rpc_timeout``.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import threading

from agent.conf import neutron_compat
from agent.metadata import documents, haproxy, nova
from agent.metadata.documents import Document
from agent.metadata.lookup import ControllerUnavailable, InstanceLookup, MetadataPluginApi
from agent.metadata.server import Caller, MetadataServer
from agent.rpc import clients, heartbeat
from agent.rpc.transport import get_transport

LOG = logging.getLogger(__name__)

BINARY = 'neutron-metadata-agent'      # what Neutron's server expects in report_state
AGENT_TYPE = 'Metadata agent'
TOPIC = 'N/A'
# Connecting to a unix socket needs write permission on it: 'user' lets only the
# agent's user (and root) in, 'group' the proxies' group too; only an explicit
# 'all' lets every local user forge requests (Neutron maps deduce to it when the
# proxies run as another user: we give the socket their group instead).
SOCKET_MODES = {'user': 0o600, 'group': 0o660, 'all': 0o666}
UNAVAILABLE = Document(503, 'text/plain',
                       b'503 Service Unavailable\n\nThe metadata service is not '
                       b'available right now; retry later.\n')
NOT_ALLOWED = Document(405, 'text/plain', b'405 Method Not Allowed\n')


def _is_self_user(user: str) -> bool:
    if user.isdigit():
        return int(user) == os.geteuid()
    try:
        return pwd.getpwnam(user).pw_uid == os.geteuid()
    except KeyError:
        return False


def _is_self_group(group: str) -> bool:
    if group.isdigit():
        return int(group) == os.getegid()
    try:
        return grp.getgrnam(group).gr_gid == os.getegid()
    except KeyError:
        return False


def socket_mode(conf) -> int:
    """``metadata_proxy_socket_mode``, ``deduce`` resolved: ``user`` when the proxies
    run as root or as our user, ``group`` otherwise (never ``all``)."""
    mode = conf.metadata_proxy_socket_mode
    if mode == 'deduce':
        user = conf.metadata_proxy_user
        mode = 'user' if not user or user in ('0', 'root') or _is_self_user(user) \
            else 'group'
    return SOCKET_MODES[mode]


def socket_group(conf) -> int | None:
    """The group the socket is given in ``group`` mode: ``metadata_proxy_group``
    when it is not ours (None: leave it).  ValueError names a missing group."""
    group = conf.metadata_proxy_group
    if socket_mode(conf) != SOCKET_MODES['group'] or not group or _is_self_group(group):
        return None
    return int(group) if group.isdigit() else haproxy.group_entry(group).gr_gid


class MetadataAgent:
    def __init__(self, conf, transport=None):
        self.conf = conf
        self.transport = transport if transport is not None else get_transport(conf)
        self.lookup = InstanceLookup(
            MetadataPluginApi(self.transport, conf.metadata_rpc_timeout),
            conf.metadata_cache_ttl)
        self.backend = neutron_compat.metadata_backend(conf)
        self.nova = nova.NovaEndpoint.from_conf(conf) if self.backend == 'nova' else None
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = MetadataServer(conf.metadata_proxy_socket, self.answer,
                                     socket_mode(conf), conf.metadata_backlog,
                                     group=socket_group(conf))
        self.heartbeat = heartbeat.Heartbeat(
            clients.ReportStateApi(self.transport,
                                   timeout=conf.AGENT.report_interval or None),
            heartbeat.AgentIdentity(BINARY, TOPIC, AGENT_TYPE, conf.host,
                                    conf.AGENT.availability_zone),
            self.configurations, conf.AGENT.report_interval,
            log_heartbeats=conf.AGENT.log_agent_heartbeats)

    def request_counts(self) -> dict[str, int]:
        """Requests answered so far, by result (report_state, metrics)."""
        with self._lock:
            return dict(self.counts)

    def configurations(self) -> dict:
        conf = self.conf
        counts = self.request_counts()
        return {'metadata_proxy_socket': conf.metadata_proxy_socket,
                'metadata_backend': self.backend,
                'nova_metadata_host': conf.nova_metadata_host,
                'nova_metadata_port': conf.nova_metadata_port,
                'log_agent_heartbeats': conf.AGENT.log_agent_heartbeats,
                'requests': counts}

    def _count(self, doc: Document) -> Document:
        key = {200: 'ok', 404: 'not_found', 503: 'unavailable'}.get(doc.status, 'other')
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        return doc

    def answer(self, method: str, path: str, caller: Caller,
               body: bytes | None) -> Document:
        return self._count(self._answer(method, path, caller, body))

    def _answer(self, method: str, path: str, caller: Caller,
                body: bytes | None) -> Document:
        if self.nova is None and method != 'GET':
            return NOT_ALLOWED
        try:
            if self.nova is not None:
                # Only Neutron's get_ports: works against a real neutron-server too.
                port = self.lookup.port(caller.remote_ip, caller.network_id,
                                        caller.router_id)
                found = port is not None
            else:
                view = self.lookup.view(caller.remote_ip, caller.network_id,
                                        caller.router_id)
                found = view is not None
        except ControllerUnavailable as exc:
            LOG.warning('metadata for %s: %s', caller.remote_ip, exc)
            return UNAVAILABLE
        if not found:
            LOG.info('no instance port with %s on %s %s', caller.remote_ip,
                     'network' if caller.network_id else 'router',
                     caller.network_id or caller.router_id)
            return documents.NOT_FOUND
        if self.nova is not None:
            return nova.forward(self.nova, method, path, body, caller.remote_ip,
                                port.device_id, port.project_id)
        return documents.lookup(view, path)

    def start(self) -> None:
        self.server.start()
        self.heartbeat.start()

    def reload(self) -> None:
        """SIGHUP: re-read the mutable options (log level) and forget cached lookups."""
        try:
            self.conf.mutate_config_files()
        except Exception:  # noqa: BLE001 - a bad file must not stop the agent
            LOG.exception('reloading the configuration files failed')
        self.lookup.clear()
        LOG.info('SIGHUP: configuration re-read, lookup cache cleared')

    def stop(self) -> None:
        self.server.stop()
        self.heartbeat.stop()
        self.heartbeat.join(5.0)
        self.transport.cleanup()
