"""The agent's side of the shared metadata proxy (``metadata_proxy_mode = shared``).

One proxy process per agent (:mod:`agent.metadata.shared_proxy`) holds a
listening socket per router or network namespace.  :class:`NodeProxy` runs it
as a managed child (pid file + command line, so it survives an agent restart
and is adopted), makes each :class:`ListenerSpec`'s socket inside its namespace
(on the namespace's netlink worker: no thread, no fork) and hands it over with
``SCM_RIGHTS``.  ``current(listener)`` asks the proxy what it serves: a
restarted agent verifies and does not redo.  A watcher thread holds a
``watch`` connection: when the proxy dies it is started again at once and every
registered listener handed to it again (sockets die with their process).

Each listener's key names its namespace's inode: a namespace deleted and made
again under the same name is a different one, and its listener is made again.

Measured here (tools/bench-metadata-proxy.py, 150 routers in namespaces, load
12-16): a listener costs the agent 1.3 ms of CPU and is served 1.2 ms after
its create; the one proxy has a PSS of 9.4 MiB in all.  A haproxy per router
cost 13.6 ms of CPU to start (its launcher included), 2.7 MiB of PSS each, and
served 106 ms after its create.  In the L3 agent (tools/bench-l3.py, 150
routers with a gateway and 2 floating IPs, cold start): 8.1 s of CPU (own and
waited-for children) instead of 12.5 s.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable

from agent.common import fileutils, names, procfs
from agent.metadata import http_rewrite, proxy_control
from agent.metadata.proxy_control import ProxyError, request
from agent.process import scan as proc_scan
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

SERVICE = 'metadata-proxy'
MODES = ('haproxy', 'shared')
_NAMESPACE = uuid.UUID('6c1e9d8a-3f0b-5d2e-9a41-7b3c2f1e0d55')
IP_FREEBIND = 15
STOP_GRACE = 5.0
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'shared_proxy.py')


def _is_ours(pid: int, spec: ProcessSpec) -> bool:
    """``pid`` runs ``spec``'s program with its pid file in its command line."""
    try:
        with open(f'/proc/{int(pid)}/cmdline', 'rb') as f:
            argv = tuple(a.decode(errors='surrogateescape')
                         for a in f.read().rstrip(b'\0').split(b'\0'))
    except OSError:
        return False
    return proc_scan.names_path(proc_scan.Proc(pid, argv, None), (spec.pid_file,))


@dataclasses.dataclass(frozen=True, slots=True)
class ListenerSpec:
    """A listening socket of the shared proxy: where, and whose id it adds."""
    resource_id: str
    kind: str                   # 'router' (X-Neutron-Router-ID) or 'network'
    namespace: str
    address: str                # '::' (both families), '0.0.0.0', '169.254.169.254'
    port: int

    def __post_init__(self):
        names.validate_uuid(self.resource_id, f'metadata listener {self.kind} id')
        if self.kind not in http_rewrite.HEADERS:
            raise ValueError(f'metadata listener {self.resource_id}: kind {self.kind!r} '
                             "is not 'router' or 'network'")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f'metadata listener {self.resource_id}: port {self.port!r}')

    def key(self, netns_inode: int) -> str:
        return (f'{self.kind} {self.namespace} ino={netns_inode} '
                f'{self.address} {int(self.port)}')

    def describe(self) -> str:
        host = f'[{self.address}]' if ':' in self.address else self.address
        return (f'metadata listener {host}:{self.port} in {self.namespace} '
                f'(shared proxy, {http_rewrite.HEADERS[self.kind]} {self.resource_id})')


def netns_inode(namespace: str, netns_dir: str = '/run/netns') -> int | None:
    try:
        return os.stat(os.path.join(netns_dir, namespace)).st_ino
    except OSError:
        return None


def _listen(_ipr, address: str, port: int) -> socket.socket:
    """Inside the namespace (its netlink worker): a listening TCP socket."""
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        else:   # 169.254.169.254 may not be on the tap yet
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        sock.bind((address, int(port)))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_in_namespace(namespace: str, address: str, port: int) -> socket.socket:
    from agent.drivers import netns       # only agents with namespaces load pyroute2
    return netns.call_netlink(namespace, _listen, address, port)


def proxy_uuid(agent: str, host: str) -> str:
    """The shared proxy's id: one per agent kind and host (in its command line)."""
    return str(uuid.uuid5(_NAMESPACE, f'{agent}:{host}'))


def process_spec(state_path: str, agent: str, host: str, upstream: str, user: str,
                 group: str, debug: bool = False, rate_limit=None,
                 python: str = sys.executable) -> ProcessSpec:
    """``python3 -I shared_proxy.py --control <state>/metadata-proxy/<uuid>.ctl
    --pid-file <state>/metadata-proxy/<uuid>.pid --upstream <socket> ...``."""
    ident = proxy_uuid(agent, host)
    base = os.path.join(state_path, 'metadata-proxy')
    argv = [python, '-I', SCRIPT, '--control', os.path.join(base, f'{ident}.ctl'),
            '--pid-file', os.path.join(base, f'{ident}.pid'), '--upstream', upstream,
            '--user', user, '--group', group]
    if rate_limit is not None:
        argv += ['--rate-limit', f'{rate_limit.base_window},{rate_limit.base_limit},'
                 f'{rate_limit.burst_window},{rate_limit.burst_limit},'
                 f'{rate_limit.ip_version}']
    if debug:
        argv.append('--debug')
    return ProcessSpec(service=SERVICE, uuid=ident, namespace=None, argv=tuple(argv),
                       pid_file=os.path.join(base, f'{ident}.pid'))


def control_path(spec: ProcessSpec) -> str:
    return spec.argv[spec.argv.index('--control') + 1]


def from_conf(conf, processes, agent: str, user: str, group: str, rate_limit=None
              ) -> NodeProxy:
    """The shared proxy of this agent (``agent``: 'l3' or 'dhcp'), whatever the
    mode: in haproxy mode it only finds and stops one left by shared mode."""
    spec = process_spec(conf.state_path, agent, conf.host,
                        getattr(conf, 'metadata_proxy_socket', None)
                        or os.path.join(conf.state_path, 'metadata_proxy'),
                        user, group, debug=bool(getattr(conf, 'debug', False)),
                        rate_limit=rate_limit)
    return NodeProxy(processes, spec,
                     respawn=conf.AGENT.check_child_processes_action != 'exit')


def shared(conf) -> bool:
    return getattr(conf, 'metadata_proxy_mode', 'haproxy') == 'shared'


class NodeProxy:
    """The shared proxy of one agent: ``ensure``/``current``/``remove`` listeners,
    ``served()`` for the prune, ``start()``/``stop()`` of its watcher."""

    def __init__(self, processes, spec: ProcessSpec,
                 listen: Callable[[str, str, int], socket.socket] = listen_in_namespace,
                 netns_dir: str = '/run/netns', respawn: bool = True):
        self.processes = processes
        self.spec = spec
        self.control = control_path(spec)
        self._listen = listen
        self._netns_dir = netns_dir
        self._respawn = respawn
        self._wanted: dict[str, ListenerSpec] = {}
        self._lock = threading.RLock()
        self._served_pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch_sock: socket.socket | None = None
        self.respawns = 0

    # -- observing ------------------------------------------------------------------

    def running(self) -> bool:
        return self.processes.observe(self.spec).running

    def _key(self, listener: ListenerSpec) -> str | None:
        inode = netns_inode(listener.namespace, self._netns_dir)
        return None if inode is None else listener.key(inode)

    def current(self, listener: ListenerSpec) -> bool:
        """The proxy serves ``listener`` in today's namespace of that name."""
        key = self._key(listener)
        if key is None or not os.path.exists(self.control):
            return False
        try:
            reply = request(self.control, {'op': 'get', 'id': listener.resource_id})
        except (OSError, ProxyError, ValueError):
            return False
        return reply.get('key') == key

    def serves(self, resource_id: str) -> bool:
        """The proxy holds a listener of ``resource_id`` (in whatever namespace)."""
        if not os.path.exists(self.control):
            return False
        try:
            return request(self.control, {'op': 'get', 'id': resource_id}).get(
                'key') is not None
        except (OSError, ProxyError, ValueError):
            return False

    def served(self) -> dict[str, str]:
        """resource id -> key of every listener the proxy holds (none if not running)."""
        if not os.path.exists(self.control):
            return {}
        try:
            return dict(request(self.control, {'op': 'list'})['listeners'])
        except (OSError, ProxyError, ValueError):
            return {}

    def wanted(self) -> dict[str, ListenerSpec]:
        with self._lock:
            return dict(self._wanted)

    # -- acting ---------------------------------------------------------------------

    def register(self, listener: ListenerSpec) -> None:
        """Remember ``listener`` (handed again to a respawned proxy)."""
        with self._lock:
            self._wanted[listener.resource_id] = listener

    def ensure(self, listener: ListenerSpec) -> None:
        """Make the proxy serve ``listener`` (start the proxy first if needed)."""
        with self._lock:
            self._ensure_running()          # (a replay does not hand this one over)
            self._wanted[listener.resource_id] = listener
            self._add(listener)

    def remove(self, resource_id: str) -> bool:
        """Stop serving ``resource_id``; True if the proxy served it."""
        with self._lock:
            self._wanted.pop(resource_id, None)
            if not os.path.exists(self.control):
                return False
            try:
                removed = bool(request(self.control, {'op': 'remove',
                                                      'id': resource_id})['removed'])
            except (OSError, ProxyError, ValueError) as exc:
                if self.running():
                    raise ProxyError(f'metadata proxy: removing {resource_id}: '
                                     f'{exc}') from exc
                return False
        if removed:
            LOG.info('metadata: shared proxy no longer serves %s', resource_id)
        return removed

    def stop_process(self) -> bool:
        """Stop the proxy (it is not wanted: haproxy mode, or nothing to serve)."""
        with self._lock:
            self._served_pid = None
            return self.processes.stop(self.spec)

    def start_for(self, shared: bool) -> None:
        """At the agent's start: watch the proxy (shared mode), or stop one left by
        shared mode at once, before the haproxies that need its ports start."""
        if shared:
            self.start()
        elif self.running():
            LOG.warning('%s: left by metadata_proxy_mode = shared, stopping it',
                        self.spec.describe())
            self.stop_process()

    def _add(self, listener: ListenerSpec) -> None:
        inode = netns_inode(listener.namespace, self._netns_dir)
        if inode is None:
            raise ProxyError(f'{listener.describe()}: namespace {listener.namespace} '
                             'does not exist')
        try:
            sock = self._listen(listener.namespace, listener.address, listener.port)
        except OSError as exc:
            # The proxy's listener of another key (an address changed) holds the
            # port: that one goes first.
            if exc.errno != errno.EADDRINUSE or not self.serves(listener.resource_id):
                raise
            request(self.control, {'op': 'remove', 'id': listener.resource_id})
            sock = self._listen(listener.namespace, listener.address, listener.port)
        try:
            request(self.control, {'op': 'add', 'id': listener.resource_id,
                                   'kind': listener.kind, 'key': listener.key(inode)},
                    fd=sock.fileno())
        finally:
            sock.close()            # the proxy holds its own copy
        LOG.info('%s: serving', listener.describe())

    def _ensure_running(self) -> int:
        """Start the proxy if it is not running; a proxy this agent has not talked
        to yet (started now, respawned, or left by the previous agent) gets every
        registered listener it does not serve yet."""
        if not self.running():
            self._adopt()
        outcome = self.processes.ensure(self.spec)
        pid = self.processes.observe(self.spec).pid
        if pid is None:
            raise ProxyError(f'{self.spec.describe()}: not running after {outcome}')
        if pid != self._served_pid:
            self._replay(pid)
        return pid

    def _replay(self, pid: int) -> None:
        served = {}
        try:
            served = request(self.control, {'op': 'list'})['listeners']
        except (OSError, ProxyError, ValueError) as exc:
            LOG.warning('%s: listing its listeners failed: %s', self.spec.describe(), exc)
        added = 0
        for listener in list(self._wanted.values()):
            if served.get(listener.resource_id) == self._key(listener):
                continue
            try:
                self._add(listener)
                added += 1
            except (OSError, ProxyError) as exc:
                LOG.warning('%s: %s', listener.describe(), exc)
        self._served_pid = pid
        if added:
            LOG.info('%s (pid %d): %d listeners handed over', self.spec.describe(), pid,
                     added)

    # -- the watcher ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name='metadata-proxy-watch',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching; the proxy keeps serving."""
        self._stop.set()
        sock = self._watch_sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    if not self._wanted and not self.running():
                        pid = None
                    elif not self.running() and not self._respawn:
                        LOG.error('%s died (check_child_processes_action = exit)',
                                  self.spec.describe())
                        os.kill(os.getpid(), 15)
                        return
                    else:
                        if not self.running() and self._served_pid is not None:
                            LOG.warning('%s died: starting it again',
                                        self.spec.describe())
                            self.respawns += 1
                        pid = self._ensure_running()
                if pid is None:
                    self._stop.wait(1.0)
                    continue
                self._hold_watch()
            except Exception as exc:  # noqa: BLE001 - try again in a second
                LOG.warning('%s: %s', self.spec.describe(), exc)
                self._stop.wait(1.0)

    def _hold_watch(self) -> None:
        """Block until the proxy closes its end (it died) or we stop."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._watch_sock = sock
        try:
            sock.settimeout(proxy_control.TIMEOUT)
            sock.connect(self.control)
            sock.sendall(proxy_control.frame({'op': 'watch'}))
            sock.settimeout(None)
            while not self._stop.is_set():
                try:
                    if not sock.recv(4096):
                        return
                except OSError as exc:
                    if exc.errno != errno.EINTR:
                        return
        finally:
            self._watch_sock = None
            sock.close()

    def _adopt(self) -> int | None:
        """The pid of the proxy answering on the control socket; written to the pid
        file when that names another (a lost pid file: the proxy is adopted, not
        started beside it)."""
        if not os.path.exists(self.control):
            return None
        try:
            live = int(request(self.control, {'op': 'hello'}, timeout=1.0)['pid'])
        except (OSError, ProxyError, ValueError, KeyError):
            return None
        if self.processes.observe(self.spec).pid != live and _is_ours(live, self.spec):
            LOG.warning('%s: adopting pid %d, which its pid file %s did not name',
                        self.spec.describe(), live, self.spec.pid_file)
            fileutils.write_atomic(self.spec.pid_file, f'{live}\n')
        return live

    def sweep(self, scan, wanted: bool) -> int:
        """Settle the proxies of ours a /proc walk found: keep (and adopt) the one
        that answers on the control socket, stop the others (they serve nothing,
        but may hold ports); stop all when not ``wanted`` (haproxy mode).

        Not ProcessManager.settle: the proxy to keep is the one that answers on
        the control socket, which its pid file may not name."""
        procs = self.processes.children(self.spec, scan)
        if not procs:
            return 0
        with self._lock:
            keep = self._adopt() if wanted else None
            if not wanted:
                LOG.info('%s: not wanted (metadata_proxy_mode = haproxy), stopping it',
                         self.spec.describe())
                self.processes.stop(self.spec)
                self._served_pid = None
            stray = [p.pid for p in procs if p.pid != keep and proc_scan.still(p)]
            for pid in stray:
                LOG.warning('%s: stopping pid %d: a duplicate', self.spec.describe(), pid)
            procfs.terminate(stray, STOP_GRACE)
        return len(stray)
