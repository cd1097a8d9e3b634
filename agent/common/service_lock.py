"""One agent per state_path: an exclusive flock held for the life of the process."""

from __future__ import annotations

import errno
import fcntl
import os

from agent.common import fileutils


class AlreadyRunning(RuntimeError):
    """Another process holds the lock of this state_path."""


def acquire(state_path: str, binary: str) -> int:
    """Lock ``<state_path>/<binary>.lock`` and write our pid in it; returns the fd.

    The lock goes with the process (also on a crash), so a stale file never blocks
    a start; the pid in it only names the holder in the error.
    """
    fileutils.ensure_dir(state_path)
    path = os.path.join(state_path, f'{binary}.lock')
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            holder = fileutils.read_text(path, '').strip() or '?'
            raise AlreadyRunning(f'state_path {state_path}: another {binary} (pid {holder}) '
                                 f'already runs with it ({path} is locked): only one may use a '
                                 'state_path') from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    return fd
