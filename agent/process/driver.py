"""The host side of child processes: /proc, pid files, signals, spawning.

The only module of ``agent.process`` that runs subprocesses or sends signals; the
manager's decisions are tested against an in-memory fake with the same methods.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import tempfile
import threading
import typing
from typing import Protocol

from agent.common import fileutils, procfs
from agent.drivers.state import NamespaceNotFound
from agent.process import scan as proc_scan
from agent.process.scan import HostScan

LOG = logging.getLogger(__name__)

SPAWN_PARENT_TIMEOUT = 10.0   # seconds for `ip netns exec ... <daemon>` to return


@dataclasses.dataclass(frozen=True, slots=True)
class SpawnResult:
    """How the launcher (``ip netns exec`` + ``env``) ended.

    ``returncode`` None means it had not exited within the timeout (a child that
    does not daemonize); it is then reaped in the background.
    """
    returncode: int | None
    stderr: str


class ProcessDriver(Protocol):
    def cmdline(self, pid: int) -> tuple[str, ...] | None: ...
    def read_pid(self, pid_file: str) -> int | None: ...
    def pid_file_stamp(self, pid_file: str) -> object | None: ...
    def alive(self, pid: int) -> bool: ...
    def remove_pid_file(self, pid_file: str) -> None: ...
    def remove_file(self, path: str) -> None: ...
    def read_config(self, path: str) -> str | None: ...
    def prepare_pid_file(self, pid_file: str) -> None: ...
    def write_config(self, path: str, content: str, mode: int) -> bool: ...
    def send_signal(self, pid: int, sig: int) -> bool: ...
    def spawn(self, namespace: str | None, argv: tuple[str, ...],
              env: tuple[tuple[str, str], ...]) -> SpawnResult: ...
    def list_pid_files(self, pid_dir: str, service: str) -> list[tuple[str, str]]: ...
    def write_pid(self, pid_file: str, pid: int) -> None: ...
    def scan(self) -> HostScan: ...
    def in_namespace(self, pid: int, namespace: str | None) -> bool: ...
    def parent(self, pid: int) -> int | None: ...


def launcher_argv(namespace, argv, env):
    """``ip netns exec <ns> env K=V... <argv>``, as Neutron starts its children."""
    cmd = ['env', *(f'{k}={v}' for k, v in env), *argv]
    if namespace:
        cmd = ['ip', 'netns', 'exec', namespace, *cmd]
    return cmd


class HostProcessDriver:
    """Real processes of this host."""

    def cmdline(self, pid):
        """The argv of a live process, or None if it is gone or a zombie."""
        try:
            with open(f'/proc/{int(pid)}/cmdline', 'rb') as f:
                raw = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return None
        if not raw:   # zombies and kernel threads have an empty cmdline
            return None
        parts = raw.split(b'\0')
        if parts and parts[-1] == b'':
            parts.pop()
        return tuple(p.decode('utf-8', errors='surrogateescape') for p in parts)

    def read_pid(self, pid_file):
        text = fileutils.read_text(pid_file, errors='replace')
        if text is None:
            return None
        try:
            pid = int(text.strip().split()[0])
        except (ValueError, IndexError):
            return None
        return pid if pid > 1 else None

    def pid_file_stamp(self, pid_file):
        """What changes whenever the pid file is written again (None: no file)."""
        try:
            st = os.stat(pid_file)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def alive(self, pid):
        """Whether a process ``pid`` exists (signal 0: no file opened)."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def remove_pid_file(self, pid_file):
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass

    remove_file = remove_pid_file

    def read_config(self, path):
        return fileutils.read_lenient(path)

    def write_pid(self, pid_file, pid):
        """Point the pid file at ``pid`` (a live child of ours being adopted)."""
        fileutils.ensure_dir(os.path.dirname(pid_file))
        fileutils.write_atomic(pid_file, f'{int(pid)}\n')

    def scan(self):
        return proc_scan.take()

    def parent(self, pid):
        return procfs.parent(pid)

    def in_namespace(self, pid, namespace):
        """Whether ``pid`` runs in the named namespace (None: the host's) now."""
        return proc_scan.in_namespace(pid, namespace)

    def prepare_pid_file(self, pid_file):
        """Before a spawn: the directory exists, no stale pid file is left."""
        fileutils.ensure_dir(os.path.dirname(pid_file))
        self.remove_pid_file(pid_file)

    def write_config(self, path, content, mode):
        fileutils.ensure_dir(os.path.dirname(path))
        changed = fileutils.write_atomic(path, content, mode=mode)
        if not changed and (os.stat(path).st_mode & 0o777) != mode:
            os.chmod(path, mode)
        return changed

    def send_signal(self, pid, sig):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def spawn(self, namespace, argv, env):
        """Run the launcher; a namespace's children are forked from a thread inside it.

        That is where ``ip netns exec`` would put them (the debug log shows that
        equivalent), without its two extra programs and its mount namespace:
        ~1 ms instead of ~10 ms per start.
        """
        LOG.debug('Running %s', ' '.join(launcher_argv(namespace, argv, env)))
        if namespace is None:
            return _wait_detached(*_start_here(argv, env))
        from agent.drivers import netns   # only agents with namespaces load pyroute2
        try:
            # Only the fork in the namespace (on its worker thread if one is
            # alive, see netns.run_in): the wait for the daemon to detach
            # (5-40 ms) holds up nothing of the namespace's.
            started = netns.run_in(namespace, _start_here, argv, env)
        except NamespaceNotFound as exc:     # as the launcher would have failed
            return SpawnResult(1, str(exc))
        return _wait_detached(*started)

    def list_pid_files(self, pid_dir, service):
        """(id, pid file) for ``<dir>/<id>.pid.<service>`` and ``<dir>/<id>/pid``."""
        try:
            entries = os.listdir(pid_dir)
        except FileNotFoundError:
            return []
        suffix = f'.pid.{service}'
        found = []
        for entry in sorted(entries):
            path = os.path.join(pid_dir, entry)
            if entry.endswith(suffix):
                found.append((entry[:-len(suffix)], path))
            elif os.path.isfile(os.path.join(path, 'pid')):
                found.append((entry, os.path.join(path, 'pid')))
        return found


def _start_here(argv, env) -> tuple[subprocess.Popen, typing.IO[bytes]]:
    """Start ``argv`` with ``env`` added to ours (in the calling thread's namespace)."""
    err = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(list(argv), env={**os.environ, **dict(env)},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, close_fds=True, start_new_session=True)
    except BaseException:
        err.close()
        raise
    return proc, err


def _wait_detached(proc: subprocess.Popen, err: typing.IO[bytes]) -> SpawnResult:
    """Wait for a started ``proc`` to daemonize; its stderr is in ``err``."""
    with err:
        try:
            returncode = proc.wait(timeout=SPAWN_PARENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Not a daemon: keep reaping it so it never stays a zombie.
            threading.Thread(target=proc.wait, name=f'reap-{proc.pid}',
                             daemon=True).start()
            returncode = None
        err.seek(0)
        stderr = err.read(4096).decode('utf-8', errors='replace').strip()
    return SpawnResult(returncode, stderr)
