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

A worker whose key has no copy fetches it together with the other keys
invalidated meanwhile (:meth:`Prefetched.fetch`): their copies are kept for
their workers as a full fetch's are, and a worker whose key is in such a fetch
waits for it instead of asking again.  At an L3 agent's cold start of 300
routers the notifications queued while it was down (four per router) arrived
after its full fetch began: each router was fetched again alone, 300
``sync_routers`` calls.

Both agents' full syncs use it: the DHCP agent for networks, the L3 agent for
routers.  Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar('K', bound=Hashable)
V = TypeVar('V')


class Prefetched(Generic[K, V]):
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._landed = threading.Condition(self._lock)
        self._copies: dict[K, V | None] = {}
        self._since: dict[K, float] = {}     # key -> when its last event came
        self._gone: set[K] = set()
        self._stale: dict[K, None] = {}      # invalidated, no copy read since (in order)
        self._inflight: set[K] = set()       # in a worker's fetch under way

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
            self._copies = {**kept}
            for key in kept:
                self._stale.pop(key, None)
            return kept

    def invalidate(self, key: K, gone: bool = False) -> None:
        """An event about ``key``: its copy is stale; ``gone``: it was deleted."""
        with self._lock:
            self._copies.pop(key, None)
            self._since[key] = self._clock()
            if gone:
                self._gone.add(key)
                self._stale.pop(key, None)
            else:
                self._gone.discard(key)
                self._stale[key] = None

    def take(self, key: K) -> tuple[bool, V | None]:
        """(True, copy) once per fetch, (True, None) once for a key gone, else
        (False, None): fetch it (:meth:`fetch`).  Waits while a fetch of another
        worker reads ``key``."""
        with self._lock:
            self._landed.wait_for(lambda: key not in self._inflight)
            if key in self._gone:
                self._gone.discard(key)
                return True, None
            if key in self._copies:
                return True, self._copies.pop(key)
            return False, None

    def fetch(self, key: K, read: Callable[[Sequence[K]], Mapping[K, V | None]],
              limit: int) -> V | None:
        """``key``'s value read now with ``read``, which is given ``key`` first and
        up to ``limit - 1`` other keys invalidated since their copies (stale, not
        in another fetch) and returns the value of each key it read (None: there
        is none); the others' values are kept as copies for their workers, unless
        an event about one came since this fetch began.  ``read`` may leave out
        keys but ``key`` (it raises for ``key``); keys left out are fetched by
        their own workers."""
        with self._lock:
            others = [k for k in self._stale if k != key and k not in self._inflight]
            keys = [key, *others[:max(0, limit - 1)]]
            for k in keys:
                self._stale.pop(k, None)
            self._inflight.update(keys)
            started_at = self._clock()
        values: Mapping[K, V | None] = {}
        try:
            values = read(keys)
            return values[key]
        finally:
            with self._lock:
                self._inflight.difference_update(keys)
                for k in keys[1:]:
                    if k not in values:
                        continue
                    if self._since.get(k, -math.inf) < started_at:
                        self._copies[k] = values[k]
                self._landed.notify_all()
