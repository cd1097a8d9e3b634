"""The full-sync loop: fetch everything, enqueue every key, then mark-and-sweep.

A full sync runs when requested (start, broker reconnect, revived heartbeat,
``agent_updated``) and periodically as a safety net, never more often than
``resync_throttle`` (kube-proxy's BoundedFrequencyRunner, Neutron's
``resync_throttle``).  ``fetch_all()`` returns the complete desired state as a
mapping key -> object (or raises).  Only after a successful fetch are the keys
enqueued and ``prune(known_keys)`` called: a failed fetch prunes nothing and
is retried with exponential backoff.

The in-sync gate (optional): a work queue created paused is resumed by the
runner after the first successful full sync, so incremental events queue up but
the data plane is not touched before a consistent snapshot was fetched (felix
``datastoreInSync``).  The DHCP agent does not pause its queue: every key's
handler fetches the authoritative state of its network before acting, so an
event's key is safe to run before the snapshot, and at a restart it serves the
new work without waiting for the heartbeat and the full fetch (0.2-1 s at 1000
networks); the L3 agent does (its full sync plugs new routers' ports ahead of
their reconciles).  Either way the full sync's keys come behind the events (a
worse priority, and few workers while better work runs: agent.reconcile.queue).  The queue
opens as soon as that fetch's keys are queued, before the prune: the events
that came in meanwhile run first, while the prune's host walk (/proc,
namespaces, bridge; 4.5 s for 1000 networks on a loaded 2-core machine) runs
beside them.  The periodic syncs prune beside a running queue anyway.
``in_sync`` is set once the prune is done.

``prune`` is called on the runner thread.  To keep per-key exclusivity it
should not tear resources down itself but enqueue the orphan keys, whose
handler then finds them undesired and removes them.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping

from agent.reconcile.queue import WorkQueue, backoff_delay

LOG = logging.getLogger(__name__)

FULL_SYNC_PRIORITY = 200     # after every RPC event (Neutron: SYNC < RPC)


@dataclasses.dataclass(frozen=True, slots=True)
class SyncStatus:
    """The last full sync, for report_state and logs."""

    syncs: int = 0                 # successful full syncs
    failures: int = 0              # consecutive failed fetches
    last_error: str = ''
    last_keys: int = 0             # keys in the last successful fetch
    last_duration: float = 0.0     # seconds of the last successful sync
    last_success_at: float = 0.0   # time.time()


class SyncRunner:
    """Runs full syncs on its own thread; see the module docstring."""

    def __init__(self, fetch_all: Callable[[], Mapping[Hashable, object]],
                 queue: WorkQueue, prune: Callable[[frozenset], object], *,
                 resync_interval=60.0, resync_throttle=1.0,
                 on_fetched: Callable[[Mapping[Hashable, object]], None] | None = None,
                 priority=FULL_SYNC_PRIORITY, retry_base=1.0, retry_max=60.0,
                 jitter=0.2, name='full-sync', rand=random.random):
        self._fetch_all = fetch_all
        self._queue = queue
        self._prune = prune
        self._on_fetched = on_fetched
        self._interval = resync_interval
        self._throttle = resync_throttle
        self._priority = priority
        self._retry = (retry_base, retry_max, jitter)
        self._name = name
        self._rand = rand
        self._cond = threading.Condition()
        self._requests: list[str] = []
        self._retry_at: float | None = None
        self._next_periodic = time.monotonic() + resync_interval
        self._last_start = float('-inf')
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.in_sync = threading.Event()
        self.status = SyncStatus()

    # -- lifecycle -------------------------------------------------------

    def start(self, reason='agent start'):
        """Start the loop; the first full sync is requested with ``reason``."""
        self.request_full_sync(reason)
        self._thread = threading.Thread(target=self._loop, daemon=True, name=self._name)
        self._thread.start()
        return self

    def start_when(self, ready: threading.Event, stopped: threading.Event,
                   reason='agent start'):
        """Start once ``ready`` is set (an agent's first heartbeat that the server
        answered: it then knows the agent), unless ``stopped`` is set first."""
        while not stopped.is_set():
            if ready.wait(0.5):
                break
        if not stopped.is_set():
            self.start(reason)

    def stop(self, timeout=None):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def request_full_sync(self, reason):
        """Ask for a full sync soon (throttled).  Cheap and thread-safe."""
        with self._cond:
            if reason not in self._requests:
                self._requests.append(reason)
            self._cond.notify_all()

    # -- the loop --------------------------------------------------------

    def _due_in(self, now):
        """Seconds until the next sync may run (<= 0: now), or None: none due."""
        candidates = [self._next_periodic]
        if self._retry_at is not None:
            candidates.append(self._retry_at)
        if self._requests:
            candidates.append(now)
        due = min(candidates)
        return max(due, self._last_start + self._throttle) - now

    def _loop(self):
        while not self._stop.is_set():
            with self._cond:
                if self._stop.is_set():      # checked under the lock: no lost wakeup
                    return
                wait = self._due_in(time.monotonic())
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                reasons = self._requests or (
                    ['retry after failed fetch'] if self._retry_at is not None
                    else ['periodic resync'])
                self._requests = []
                self._last_start = time.monotonic()
            self.sync_once(', '.join(reasons))

    def sync_once(self, reason):
        """One full sync, on the caller's thread.  Returns True on success."""
        start = time.monotonic()
        LOG.info('%s starting: %s', self._name, reason)
        try:
            desired = self._fetch_all()
            if not isinstance(desired, Mapping):
                raise TypeError(f'fetch_all returned {type(desired).__name__}, '
                                'not a mapping')
        except Exception as exc:  # noqa: BLE001 - any failure means: prune nothing
            self._fetch_failed(exc)
            return False
        if self._on_fetched is not None:
            self._on_fetched(desired)
        for key in desired:
            self._queue.enqueue(key, priority=self._priority, reason=f'full sync ({reason})')
        self._queue.resume()
        try:
            self._prune(frozenset(desired))
        except Exception:  # noqa: BLE001 - orphans wait for the next sync
            LOG.exception('%s: pruning orphans failed', self._name)
        duration = time.monotonic() - start
        with self._cond:
            self._retry_at = None
            self._next_periodic = time.monotonic() + self._interval
            self.status = SyncStatus(syncs=self.status.syncs + 1, failures=0,
                                     last_keys=len(desired), last_duration=duration,
                                     last_success_at=time.time())
        if not self.in_sync.is_set():
            self.in_sync.set()
            LOG.info('%s: in sync, %d keys, data plane changes enabled',
                     self._name, len(desired))
        LOG.info('%s done: %d keys in %.1f ms', self._name, len(desired),
                 duration * 1000)
        return True

    def _fetch_failed(self, exc):
        with self._cond:
            failures = self.status.failures + 1
            delay = backoff_delay(failures, *self._retry, rand=self._rand)
            self._retry_at = time.monotonic() + delay
            self.status = dataclasses.replace(
                self.status, failures=failures,
                last_error=f'{type(exc).__name__}: {exc}')
        LOG.warning('%s: fetch failed (%d in a row), nothing pruned, retry in '
                    '%.2f s: %s', self._name, failures, delay, exc)
