"""Calls made from a thread that lives in another network namespace (setns(2) on
the thread only): how the test process in the root namespace reaches the test
bed's controller (REST) and probes, which have no address outside the bed."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f'setns({path}): {os.strerror(err)}')
    finally:
        os.close(fd)


class NetnsThread:
    """One worker thread in the network namespace at ``path`` (``/proc/<pid>/ns/net``
    or ``/run/netns/<name>``); :meth:`call` runs a function there."""

    def __init__(self, path: str):
        self.path = path
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix='netns', initializer=_enter,
            initargs=(path,))

    def call(self, fn, *args, **kwargs):
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
