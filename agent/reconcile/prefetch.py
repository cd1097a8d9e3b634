"""A full fetch's copies, each used once instead of a refetch unless an event came since.

A full sync reads every resource of the agent, then queues their keys; the
worker of a key takes the copy read (:meth:`Prefetched.take`) instead of asking
the server again.  An event about a resource makes its copy stale
(:meth:`Prefetched.invalidate`): the worker asks again.  An event that arrives
while the full fetch is under way may be newer than what the fetch read, so the
copies of the keys invalidated after the fetch began are not kept when it is
recorded (:meth:`Prefetched.fetched`).  An event may also say that the resource
is gone (a router deleted): its key is then taken as None without asking, until
a fetch begun after that event reads it again.

Both agents' full syncs use it: the DHCP agent for networks, the L3 agent for
routers.  Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar('K', bound=Hashable)
V = TypeVar('V')


class Prefetched(Generic[K, V]):
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._copies: dict[K, V] = {}
        self._since: dict[K, float] = {}     # key -> when its last event came
        self._gone: set[K] = set()

    def fetched(self, copies: Mapping[K, V], started_at: float) -> dict[K, V]:
        """A full fetch begun at ``started_at`` (of ``clock``) read ``copies``:
        they replace the previous fetch's.  Returns those kept (the others are
        older than an event about them)."""
        with self._lock:
            kept = {key: value for key, value in copies.items()
                    if self._since.get(key, -math.inf) < started_at}
            self._since = {key: at for key, at in self._since.items()
                           if at >= started_at}
            self._gone = {key for key in self._gone
                          if key in self._since or key not in copies}
            self._copies = kept
            return dict(kept)

    def invalidate(self, key: K, gone: bool = False) -> None:
        """An event about ``key``: its copy is stale; ``gone``: it was deleted."""
        with self._lock:
            self._copies.pop(key, None)
            self._since[key] = self._clock()
            if gone:
                self._gone.add(key)
            else:
                self._gone.discard(key)

    def take(self, key: K) -> tuple[bool, V | None]:
        """(True, copy) once per fetch, (True, None) once for a key gone, else
        (False, None): fetch it."""
        with self._lock:
            if key in self._gone:
                self._gone.discard(key)
                return True, None
            if key in self._copies:
                return True, self._copies.pop(key)
            return False, None
