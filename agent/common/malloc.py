"""glibc's allocator settings for a long-running agent with many threads.

An agent's threads (work-queue workers, one netlink worker per busy namespace,
throwaway threads that enter a namespace) each get a glibc malloc arena of their
own, up to 8 per core; the buffers of netlink and RPC replies land there and
their free pages stay in the process.  Two arenas (``M_ARENA_MAX``, what
``MALLOC_ARENA_MAX=2`` does) and a trim once a burst of work is over give those
pages back: Python's own objects live in its arenas either way.

Both are no-ops where the C library has no such calls (musl).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time

LOG = logging.getLogger(__name__)

M_ARENA_MAX = -8          # <malloc.h>
ARENAS = 2

_libc = ctypes.CDLL(None, use_errno=True)
_mallopt = getattr(_libc, 'mallopt', None)
_malloc_trim = getattr(_libc, 'malloc_trim', None)


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the arenas at ``arenas`` (before the threads start); an operator's
    ``MALLOC_ARENA_MAX`` in the environment wins.  True if the cap was set."""
    if _mallopt is None or 'MALLOC_ARENA_MAX' in os.environ:
        return False
    return bool(_mallopt(M_ARENA_MAX, arenas))


class Trimmer:
    """``idle()`` after a burst of work: ``malloc_trim(0)`` at most every
    ``interval`` seconds (a trim costs microseconds when there is nothing to give
    back, a few milliseconds after a 1000-network sync)."""

    def __init__(self, interval: float = 10.0, clock=time.monotonic):
        self._interval = interval
        self._clock = clock
        self._last = float('-inf')
        self._lock = threading.Lock()
        self.trims = 0

    def idle(self) -> bool:
        if _malloc_trim is None:
            return False
        with self._lock:
            now = self._clock()
            if now - self._last < self._interval:
                return False
            self._last = now
            self.trims += 1
        _malloc_trim(0)
        return True
