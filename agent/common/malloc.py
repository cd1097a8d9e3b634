"""Giving glibc's free heap pages back once a burst of work is over.

A full sync of a thousand routers or networks decodes megabytes of RPC answers
and builds, for each resource, plans and rule sets that are freed right after;
an agent's threads (work-queue workers, one netlink worker per busy namespace)
allocate the buffers of netlink and RPC replies through glibc too.  glibc keeps
the freed pages in its arenas (two per process, capped in ``agent/__init__.py``),
fragmented between the objects that stay, so the RSS stays at the burst's peak.
``malloc_trim(0)`` returns every free page of every arena to the kernel
(``madvise(MADV_DONTNEED)``); it costs a few milliseconds, so the agents call it
once a burst is over, not per resource: the L3 agent once a full sync's routers
are done, the DHCP agent when its queue goes idle, both through :class:`Trimmer`,
which trims again a few seconds later.
Python's own small objects live in its arenas either way.

Also measured and not done (DHCP agent, 200 networks then a restart, load 12-15):
a fixed ``M_MMAP_THRESHOLD`` of 64 KiB (glibc otherwise raises it up to 32 MiB
after each large free, so later large buffers come from the heap) kept glibc's
arenas at 13 MiB with 2.4 MiB free instead of 25 MiB with 13.7 MiB free, but the
RSS did not move (61.2 against 61.7 MiB): the trim already gives those pages back.
A further DHCP-only cap of the arenas gave nothing measurable either.
A no-op where the C library has no ``malloc_trim`` (musl).
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

_malloc_trim: Any
try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
    _malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):       # not glibc: nothing to trim
    _malloc_trim = None


def trim() -> bool:
    """Return free heap pages to the kernel; True if glibc released any."""
    if _malloc_trim is None:
        return False
    return bool(_malloc_trim(0))


# A namespace's netlink worker exits after 2 idle seconds (agent.drivers.netns)
# and frees its socket buffers then, after the trim at the end of a burst.
SETTLE_SECONDS = 3.0


class Trimmer:
    """``idle()`` after a burst of work: :func:`trim` at most every ``interval``
    seconds (~1 µs when there is nothing to give back), and once more
    ``settle`` seconds later, when the threads that served the burst have
    exited.  That second trim gave back 1.3-1.5 MiB more in three runs of the
    L3 agent after a restart with 300 routers (a trim 5 s after the sync: 73.6
    -> 72.1, 65.8 -> 64.5 and 65.5 -> 64.0 MiB RSS, loaded machine)."""

    def __init__(self, interval: float = 10.0, clock=time.monotonic,
                 settle: float = SETTLE_SECONDS, timer=threading.Timer):
        self._interval = interval
        self._clock = clock
        self._settle = settle
        self._timer = timer
        self._last = float('-inf')
        self._pending = False
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
            later = not self._pending
            self._pending = True
        trim()
        if later:
            timer = self._timer(self._settle, self._settled)
            timer.daemon = True
            timer.start()
        return True

    def _settled(self) -> None:
        with self._lock:
            self._pending = False
            self.trims += 1
        trim()
