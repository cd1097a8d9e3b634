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


def _install_stop_signals(stop: threading.Event):
    def handler(signum, _frame):
        LOG.info('Received %s, stopping', signal.Signals(signum).name)
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


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
    """Forks ``count`` workers serving ``sock`` and keeps them running."""

    def __init__(self, sock, build_app, count: int, stop: threading.Event):
        self.sock = sock
        self.build_app = build_app
        self.count = count
        self.stop = stop
        self.pids: dict[int, int] = {}     # pid -> worker index

    def spawn(self, index: int):
        pid = os.fork()
        if pid == 0:                                     # the worker
            code = 0
            try:
                stop = threading.Event()
                _install_stop_signals(stop)
                app = self.build_app()
                LOG.info('API worker %d (pid %d) serving', index, os.getpid())
                serve_until(self.sock, app, stop)
            except BaseException:                        # noqa: BLE001
                LOG.exception('API worker %d failed', index)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.pids[pid] = index
        return pid

    def start(self):
        for index in range(self.count):
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
            LOG.error('API worker %d (pid %d) died (%s); respawning', index, pid,
                      _describe_status(status))
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
            LOG.warning('API worker pid %d did not stop in time; killing it', pid)
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


def run(conf, build_app, on_serving=None):
    """Serve the API as ``conf`` says, until SIGTERM/SIGINT.

    ``build_app()`` builds the WSGI application (and its Plugin) in the process
    that serves it.  ``on_serving()``, if given, runs in this process once the
    API serves (after the fork, with workers) and may return a callable run at
    shutdown; the RPC servers hook in there.
    """
    stop = threading.Event()
    _install_stop_signals(stop)
    sock = bind_socket(conf.bind_host, conf.bind_port)
    host, port = sock.getsockname()[:2]
    workers = conf.api_workers
    LOG.info('netnode-server REST API on http://%s:%d/ (%d worker%s)', host, port,
             workers, 's' if workers > 1 else '')
    stop_extras = None
    try:
        if workers <= 1:
            app = build_app()
            stop_extras = on_serving() if on_serving else None
            serve_until(sock, app, stop)
        else:
            supervisor = WorkerSupervisor(sock, build_app, workers, stop)
            supervisor.start()
            try:
                stop_extras = on_serving() if on_serving else None
            except BaseException:
                stop.set()
                supervisor.terminate()
                raise
            supervisor.supervise()
    finally:
        if stop_extras:
            stop_extras()
        sock.close()
    LOG.info('netnode-server stopped')
