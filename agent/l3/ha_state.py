"""HA routers' states: the state files, the watcher's messages, the reports.

The HA state watcher (:mod:`agent.l3.ha_watcher`, one child per agent) writes
``<ha_confs_path>/<router>/state`` (``primary`` or ``backup``, Neutron's file)
and sends ``"<router id> <state>"`` datagrams to the agent's unix socket
``<state_path>/ha-state.sock``.  :class:`HaStates` receives them, batches them
and casts ``update_ha_routers_states(host, states)`` to the server every
``ha_vrrp_advert_int`` seconds with Neutron's translation (primary -> active,
backup or fault -> standby).  A router that flips and flops within one interval
is not reported at all (Neutron drops such a transition too), and a router whose
state changed is reconciled again: its metadata proxy follows the primary.

On start the agent does not know what it reported before: the first reconcile
of each HA router compares the state file with the ``_ha_state`` the server
sent for this host and reports the difference.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable

from agent.common import fileutils, names
from agent.l3 import keepalived
from agent.process.children import Children
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

PRIMARY = 'primary'
BACKUP = 'backup'
FAULT = 'fault'
STATES = (PRIMARY, BACKUP, FAULT)
WIRE = {PRIMARY: 'active', BACKUP: 'standby', FAULT: 'standby'}
SOCKET_NAME = 'ha-state.sock'
MAX_MESSAGE = 128
WATCHER = 'ha-watcher'


def socket_path(state_path: str) -> str:
    return os.path.join(state_path, SOCKET_NAME)


def watcher_spec(state_path: str, host: str, ha: keepalived.HaSettings,
                 debug: bool = False) -> ProcessSpec:
    """The agent's HA state watcher (:mod:`agent.l3.ha_watcher`); its uuid is
    derived from the host and state path, so a restarted agent finds it again."""
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f'netnode-ha-watcher:{host}:{state_path}'))
    pid_file = os.path.join(state_path, 'external', 'pids', f'{ident}.pid.{WATCHER}')
    argv = (sys.executable, '-m', 'agent.l3.ha_watcher', '--ha-confs', ha.confs_path,
            '--notify-socket', socket_path(state_path), '--pid-file', pid_file,
            '--log-file', os.path.join(ha.confs_path, 'watcher.log'),
            *(('--debug',) if debug else ()))
    return ProcessSpec(service=WATCHER, uuid=ident, namespace=None, argv=argv,
                       pid_file=pid_file)


def read(ha: keepalived.HaSettings, router_id: str) -> str | None:
    """The state the watcher last wrote for ``router_id`` (None: none yet)."""
    text = fileutils.read_lenient(keepalived.state_path(ha, router_id))
    state = (text or '').strip()
    return state if state in STATES else None


def write(ha: keepalived.HaSettings, router_id: str, state: str) -> bool:
    """Write the state file atomically (False: the router's directory is gone)."""
    path = keepalived.state_path(ha, router_id)
    if not os.path.isdir(os.path.dirname(path)):
        return False
    try:
        fileutils.write_atomic(path, state, mode=0o600)
    except FileNotFoundError:       # the router was removed meanwhile
        return False
    return True


def parse(message: bytes) -> tuple[str, str]:
    """``b'<router id> <state>'`` -> (router id, state); ValueError if malformed."""
    try:
        router_id, state = message.decode('ascii').split()
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f'malformed HA state message {message[:64]!r}') from None
    names.validate_uuid(router_id, 'router id')
    if state not in STATES:
        raise ValueError(f'router {router_id}: unknown HA state {state!r}')
    return router_id, state


def message(router_id: str, state: str) -> bytes:
    return f'{router_id} {state}'.encode('ascii')


class StateBatch:
    """Pending states by router against what the server was last told (pure)."""

    def __init__(self):
        self._reported: dict[str, str] = {}       # router -> wire state told/known
        self._pending: dict[str, str] = {}        # router -> latest wire state

    def known(self, router_id: str, server_state: str) -> None:
        """What the server holds, when nothing was reported since the start."""
        self._reported.setdefault(router_id, server_state)

    def add(self, router_id: str, state: str) -> None:
        self._pending[router_id] = WIRE[state]

    def forget(self, router_id: str) -> None:
        self._reported.pop(router_id, None)
        self._pending.pop(router_id, None)

    def take(self) -> dict[str, str]:
        """The states to report now: latest of each router, unless unchanged."""
        due = {r: s for r, s in self._pending.items() if self._reported.get(r) != s}
        self._pending.clear()
        self._reported.update(due)
        return due

    def failed(self, states: dict[str, str]) -> None:
        """A report that did not reach the server: retried with the next batch."""
        for router_id, wire in states.items():
            self._reported.pop(router_id, None)
            self._pending.setdefault(router_id, wire)     # unless a newer one came


class HaStates:
    """The agent's end: the socket, the batch and the report thread."""

    def __init__(self, state_path: str, interval: float,
                 report: Callable[[dict[str, str]], None],
                 changed: Callable[[str], None],
                 hosted: Callable[[str], bool],
                 watcher: ProcessSpec | None = None, children: Children | None = None):
        self.path = socket_path(state_path)
        self.watcher = watcher
        self._children = children
        self._watching = False
        self.interval = interval
        self._report = report
        self._changed = changed
        self._hosted = hosted
        self._batch = StateBatch()
        self._moved: set[str] = set()        # told by the watcher since the last flush
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.reports = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        fileutils.ensure_dir(os.path.dirname(self.path))
        try:
            os.unlink(self.path)       # a previous agent's: nobody reads it any more
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)          # the socket 0600 from the start
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.settimeout(0.5)
        self._sock = sock
        self._stop.clear()
        for target, name in ((self._receive, 'ha-state-socket'),
                             (self._run_reports, 'ha-state-reports')):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake_receiver()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _wake_receiver(self) -> None:
        """An empty datagram ends the receiver's recv() at once (its 0.5 s timeout
        was most of the L3 agent's stop: 0.51 s idle)."""
        if self._sock is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker:
                waker.sendto(b'', self.path)
        except OSError:
            pass        # its timeout ends it anyway

    # -- the reconciler's side -------------------------------------------------------

    def ensure_watcher(self) -> None:
        """Start (or adopt) the watcher with the first HA router; the process
        monitor respawns it from then on."""
        if self._watching or self.watcher is None or self._children is None:
            return
        fileutils.ensure_dir(self._ha_confs())    # the log file's directory
        self._children.run(self._children.plan(self.watcher), 'the HA state watcher', LOG)
        self._watching = True

    def _ha_confs(self) -> str:
        argv = self.watcher.argv
        return argv[argv.index('--ha-confs') + 1]

    def observed(self, router_id: str, state: str | None, server_state: str) -> None:
        """An HA router was reconciled: report its state if the server's differs."""
        with self._lock:
            self._batch.known(router_id, server_state)
            self._batch.add(router_id, state or BACKUP)

    def forget(self, router_id: str) -> None:
        with self._lock:
            self._batch.forget(router_id)
            self._moved.discard(router_id)

    # -- threads ---------------------------------------------------------------------

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(MAX_MESSAGE)
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    LOG.error('HA state socket %s: %s', self.path, exc)
                return
            if self._stop.is_set():
                return
            try:
                router_id, state = parse(data)
            except ValueError as exc:
                LOG.warning('HA state socket %s: %s', self.path, exc)
                continue
            LOG.info('router %s: keepalived is %s here', router_id, state)
            with self._lock:
                self._batch.add(router_id, state)
                self._moved.add(router_id)

    def _run_reports(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> dict[str, str]:
        """Report what changed since the last batch; reconcile the routers the
        watcher told about (their metadata proxy follows the primary)."""
        with self._lock:
            due = {r: s for r, s in self._batch.take().items() if self._hosted(r)}
            moved, self._moved = self._moved, set()
        for router_id in sorted(moved):
            if self._hosted(router_id):
                self._changed(router_id)
        if not due:
            return due
        try:
            self._report(due)
            self.reports += 1
            LOG.info('HA states reported: %s', ', '.join(f'{r} {s}' for r, s
                                                         in sorted(due.items())))
        except Exception as exc:  # noqa: BLE001 - the bus may be down: retry
            LOG.warning('reporting HA states failed (%s); retrying in %gs', exc,
                        self.interval)
            with self._lock:
                self._batch.failed(due)
        return due
