"""The HTTP server of the REST API: cheroot threads, optionally in forked workers.

With ``api_workers = 1`` the API is served by threads of this process.  With
more, the parent binds the listening socket, forks that many workers sharing
it (each builds its own application, so no database connection crosses a
fork) and supervises them: a dead worker is respawned, SIGTERM or SIGINT stops
all of them gracefully.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from cheroot import wsgi as cheroot_wsgi

from agent.common import signals
from agent.ops import sdnotify
from agent.conf import service

LOG = logging.getLogger(__name__)

THREADS_PER_WORKER = 16
GRACEFUL_STOP_SECONDS = 15
_RESPAWN_BACKOFF_SECONDS = 1.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    error = None
    for family, type_, proto, _name, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit it: no Nagle stall between a
            # response's headers and body (cheroot sets it on sockets it binds).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(address)
            sock.listen(1024)
            sock.set_inheritable(True)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise OSError(f'cannot listen on {host}:{port}: {error}')


class _PreboundServer(cheroot_wsgi.Server):
    """A cheroot server that serves an already bound socket instead of binding one."""

    def __init__(self, sock, app, **kwargs):
        super().__init__(sock.getsockname()[:2], app, **kwargs)
        self._prebound = sock

    def bind(self, family, type, proto=0):   # noqa: A002 - cheroot's signature
        self.socket = self._prebound


def _install_reload_signal(conf, forward_to=None):
    """SIGHUP (``systemctl reload``) re-reads the mutable options (log level) in a
    serving process; the supervising parent, which starts no threads, only passes
    it on to its workers (``forward_to()`` gives their pids)."""
    def handler(_signum, _frame):
        if forward_to is not None:
            for pid in forward_to():
                try:
                    os.kill(pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass
        else:
            threading.Thread(target=service.reload_config_files, args=(conf,), name='sighup-reload',
                             daemon=True).start()
    signal.signal(signal.SIGHUP, handler)


def serve_until(sock, app, stop: threading.Event, name='netnode-api'):
    """Serve ``app`` on ``sock`` with cheroot threads until ``stop`` is set."""
    server = _PreboundServer(sock, app, numthreads=THREADS_PER_WORKER,
                             server_name=name, shutdown_timeout=GRACEFUL_STOP_SECONDS)
    server.prepare()
    thread = threading.Thread(target=server.serve, name='cheroot-serve', daemon=True)
    thread.start()
    try:
        stop.wait()
    finally:
        server.stop()
        thread.join(GRACEFUL_STOP_SECONDS)


class WorkerSupervisor:
    """Forks one process per worker and keeps them running.

    A worker is ``(name, target)``; ``target(stop)`` runs in the child until the
    ``stop`` Event (set by SIGTERM/SIGINT) is set.  This process starts no
    threads of its own, so every fork (respawns included) is from a quiet parent.
    """

    def __init__(self, workers, stop: threading.Event, conf=None):
        self.workers = list(workers)
        self.stop = stop
        self.conf = conf
        self.pids: dict[int, int] = {}     # pid -> worker index

    def spawn(self, index: int):
        name, target = self.workers[index]
        pid = os.fork()
        if pid == 0:                                     # the worker
            code = 0
            try:
                stop = threading.Event()
                signals.stop_on_signals(stop)
                if self.conf is not None:
                    _install_reload_signal(self.conf)
                LOG.info('%s worker (pid %d) starting', name, os.getpid())
                target(stop)
            except BaseException:                        # noqa: BLE001
                LOG.exception('%s worker failed', name)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.pids[pid] = index
        return pid

    def start(self):
        for index in range(len(self.workers)):
            self.spawn(index)

    def reap(self):
        """Respawn workers that died while we were not stopping."""
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self.pids.pop(pid, None)
            if index is None:
                continue                                 # not one of ours
            if self.stop.is_set():
                continue
            LOG.error('%s worker (pid %d) died (%s); respawning', self.workers[index][0],
                      pid, _describe_status(status))
            time.sleep(_RESPAWN_BACKOFF_SECONDS)
            if not self.stop.is_set():
                self.spawn(index)

    def supervise(self):
        while not self.stop.wait(0.2):
            self.reap()
        self.terminate()

    def terminate(self):
        for pid in list(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACEFUL_STOP_SECONDS
        while self.pids and time.monotonic() < deadline:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.pids.clear()
                break
            if pid:
                self.pids.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in list(self.pids):
            LOG.warning('Worker pid %d did not stop in time; killing it', pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pids.pop(pid, None)


def _describe_status(status):
    if os.WIFSIGNALED(status):
        return f'signal {signal.Signals(os.WTERMSIG(status)).name}'
    return f'exit code {os.WEXITSTATUS(status)}'


def _run_extras(on_serving, stop: threading.Event):
    stop_extras = on_serving()
    try:
        stop.wait()
    finally:
        if stop_extras:
            stop_extras()


def _ready(host, port):
    """Tell systemd (Type=notify) the API is served: the socket is bound and
    listening, the RPC servers are started (or their worker is forked)."""
    sdnotify.Notifier().ready(f'REST API on http://{host}:{port}/')


def run(conf, build_app, on_serving=None):
    """Serve the API as ``conf`` says, until SIGTERM/SIGINT.

    ``build_app()`` builds the WSGI application (and its Plugin) in the process
    that serves it.  ``on_serving()``, if given, starts what runs beside the API
    (the RPC servers) and may return a callable run at shutdown: in this
    process with one API worker, in a worker process of its own with more.
    """
    stop = threading.Event()
    signals.stop_on_signals(stop)
    sock = bind_socket(conf.bind_host, conf.bind_port)
    host, port = sock.getsockname()[:2]
    count = conf.api_workers
    LOG.info('netnode-server REST API on http://%s:%d/ (%d worker%s)', host, port,
             count, 's' if count > 1 else '')
    try:
        if count <= 1:
            _install_reload_signal(conf)
            app = build_app()
            stop_extras = on_serving() if on_serving else None
            _ready(host, port)
            try:
                serve_until(sock, app, stop)
            finally:
                if stop_extras:
                    stop_extras()
        else:
            workers = [(f'API {i}', lambda ev: serve_until(sock, build_app(), ev))
                       for i in range(count)]
            if on_serving:
                def rpc_worker(ev):
                    sock.close()                  # this one never serves HTTP
                    _run_extras(on_serving, ev)
                workers.append(('RPC', rpc_worker))
            supervisor = WorkerSupervisor(workers, stop, conf)
            _install_reload_signal(conf, forward_to=lambda: list(supervisor.pids))
            supervisor.start()
            _ready(host, port)
            supervisor.supervise()
    finally:
        sock.close()
    LOG.info('netnode-server stopped')
