"""A keyed, de-duplicating, prioritised work queue with per-key exclusivity.

Notifications enqueue *keys* (``('network', id)``), never payloads; the handler
fetches authoritative state itself (controller-runtime's Request, Neutron's
``ExclusiveResourceProcessor``).  Guarantees:

* a key waiting in the queue is there once: a second ``enqueue`` keeps the best
  (lowest) priority and merges the reasons;
* a key is never run by two workers at once; a key enqueued while it runs is
  run once more afterwards, so any burst coalesces into at most one extra run;
* lower priority numbers run first, FIFO within a priority;
* a handler that raises is retried with exponential backoff and jitter, up to
  ``max_retries`` times; then the key is left in ``error`` for the next full
  sync.  :class:`TerminalError` skips the retries.  A handler returning
  :data:`FORGET` (resource deleted) drops the key's status entry.
* the queue can start paused (the in-sync gate): keys accumulate, nothing runs
  until :meth:`resume`;
* ``on_idle()`` is called (outside the lock, on the worker) when a key finishes
  and nothing else waits or runs: the end of a burst of work;
* new work goes ahead of background work: keys at ``background`` priority or
  worse (a full sync's re-check of every resource) take at most
  ``background_workers`` workers while a better key runs, so that one shares the
  process (and its GIL) with few others.  Re-checks are reads and mostly Python
  CPU: more of them at once do not finish sooner on two cores, but each one
  running slows the new work (an agent restart with 200 networks, 32 workers: the
  new network's eight device steps took 1.8 s instead of 0.1 s).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable

from agent.reconcile import stats
from agent.reconcile.status import StatusBoard

LOG = logging.getLogger(__name__)

DEFAULT_PRIORITY = 100
MAX_REASONS = 8
# A handler returns FORGET when the key's resource is gone for good (deleted and
# cleaned up): its status entry is dropped instead of being kept as ``done``.
FORGET = object()


class TerminalError(Exception):
    """Raised by a handler when retrying cannot help (bad input): no retries."""


@dataclasses.dataclass(slots=True)
class _Entry:
    priority: int
    seq: int
    reasons: list[str]
    attempts: int = 0          # failed runs so far in this retry chain
    not_before: float = 0.0    # monotonic time before which it must not run


def backoff_delay(attempt, base, cap, jitter, rand=random.random):
    """Delay before retry number ``attempt`` (1-based): base * 2**(attempt-1),
    capped, then spread by +-``jitter`` (a fraction)."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return max(0.0, delay * (1.0 + jitter * (2.0 * rand() - 1.0)))


class WorkQueue:
    """Runs ``handler(key)`` on ``workers`` threads, as described above."""

    def __init__(self, handler: Callable[[Hashable], None], *, workers=4,
                 max_retries=5, backoff_base=0.5, backoff_max=60.0, jitter=0.2,
                 paused=False, name='work', clock=time.monotonic,
                 rand=random.random, on_idle: Callable[[], object] | None = None,
                 background: int | None = None, background_workers: int = 2):
        if workers < 1:
            raise ValueError('workers must be >= 1')
        if background_workers < 1:
            raise ValueError('background_workers must be >= 1')
        self._handler = handler
        self._workers = workers
        self._max_retries = max_retries
        self._backoff = (backoff_base, backoff_max, jitter)
        self._name = name
        self._clock = clock
        self._rand = rand
        # Workers wait on _cond, wait_idle() on _idle_cond: one lock, so that a
        # producer's notify() always reaches a worker.
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._idle_cond = threading.Condition(lock)
        self._seq = itertools.count()
        self._waiting: dict[Hashable, _Entry] = {}     # not running, to run
        self._ready: list[tuple[int, int, Hashable]] = []   # (prio, seq, key)
        self._delayed: list[tuple[float, int, Hashable]] = []  # (at, seq, key)
        self._running: set[Hashable] = set()
        self._background = background
        self._background_workers = background_workers
        self._running_background: set[Hashable] = set()   # a subset of _running
        self._rerun: dict[Hashable, _Entry] = {}       # enqueued while running
        self._paused = paused
        self._on_idle = on_idle
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.status = StatusBoard()
        self.runs = stats.RunStats()

    # -- lifecycle -------------------------------------------------------

    def start(self):
        with self._cond:
            if self._threads:
                return self
            for i in range(self._workers):
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f'{self._name}-worker-{i}')
                self._threads.append(thread)
            for thread in self._threads:
                thread.start()
        return self

    def stop(self, timeout=None):
        """Stop taking work; join the workers (a running handler finishes)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in self._threads)

    def pause(self):
        with self._cond:
            self._paused = True

    def resume(self):
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self):
        return self._paused

    # -- producers -------------------------------------------------------

    def enqueue(self, key: Hashable, priority=DEFAULT_PRIORITY, reason=''):
        """Ask for ``key`` to be reconciled.  Cheap; never blocks on work."""
        with self._cond:
            if key in self._running:
                entry = self._rerun.get(key)
                if entry is None:
                    self._rerun[key] = _Entry(priority, next(self._seq), [])
                    entry = self._rerun[key]
                self._merge(entry, priority, reason)
                return
            entry = self._waiting.get(key)
            if entry is None:
                entry = _Entry(priority, next(self._seq), [])
                self._waiting[key] = entry
                self._merge(entry, priority, reason)
                heapq.heappush(self._ready, (entry.priority, entry.seq, key))
            else:
                better = priority < entry.priority or entry.not_before > 0
                self._merge(entry, priority, reason)
                if better:     # re-file: better priority, or a fresh event ends a backoff
                    entry.seq = next(self._seq)
                    entry.not_before = 0.0
                    heapq.heappush(self._ready, (entry.priority, entry.seq, key))
            self.status.mark_pending(key, entry.reasons)
            self._cond.notify()

    @staticmethod
    def _merge(entry, priority, reason):
        entry.priority = min(entry.priority, priority)
        if reason and reason not in entry.reasons:
            entry.reasons.append(reason)
            del entry.reasons[:-MAX_REASONS]

    # -- observers -------------------------------------------------------

    def __len__(self):
        with self._cond:
            return len(self._waiting) + len(self._rerun)

    def pending_keys(self):
        with self._cond:
            return set(self._waiting) | set(self._rerun) | set(self._running)

    def running_keys(self):
        """The keys a worker runs now (in flight)."""
        with self._cond:
            return set(self._running)

    def workers_alive(self) -> bool:
        """Every worker thread runs (started and not stopped): the watchdog's check."""
        return bool(self._threads) and not self._stop.is_set() and all(
            t.is_alive() for t in self._threads)

    def wait_idle(self, timeout=None):
        """Block until nothing waits or runs (paused work counts as waiting)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._waiting or self._running or self._rerun:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle_cond.wait(left if left is None else min(left, 0.05))
            return True

    # -- workers ---------------------------------------------------------

    def _take(self):
        """Under the lock: ``(key, entry, None)`` to run, or ``(None, None, wait)``
        where ``wait`` is the seconds until a backoff ends (None: until notified)."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, seq, key = heapq.heappop(self._delayed)
            entry = self._waiting.get(key)
            if entry is not None and entry.seq == seq:
                entry.not_before = 0.0
                heapq.heappush(self._ready, (entry.priority, seq, key))
        if self._paused:
            return None, None, None
        while self._ready:
            priority, seq, key = self._ready[0]
            entry = self._waiting.get(key)
            if entry is None or entry.seq != seq or entry.priority != priority:
                heapq.heappop(self._ready)
                continue      # superseded heap item
            background = self._background is not None and priority >= self._background
            if background and self._held_back():
                break         # a finishing key wakes the workers again
            heapq.heappop(self._ready)
            del self._waiting[key]
            self._running.add(key)
            if background:
                self._running_background.add(key)
            return key, entry, None
        wait = self._delayed[0][0] - now if self._delayed else None
        return None, None, wait

    def _held_back(self) -> bool:
        """Under the lock: whether a background key must wait (better work runs
        and the background already has its workers)."""
        return (len(self._running) > len(self._running_background)
                and len(self._running_background) >= self._background_workers)

    def _work(self):
        while not self._stop.is_set():
            with self._cond:
                if self._stop.is_set():      # checked under the lock: no lost wakeup
                    return
                key, entry, wait = self._take()
                if key is None:
                    self._cond.wait(None if wait is None else max(0.001, wait))
                    continue
            self._run(key, entry)

    def _run(self, key, entry):
        start = time.monotonic()
        error = None
        terminal = False
        result = None
        try:
            result = self._handler(key)
        except TerminalError as exc:
            error, terminal = exc, True
        except Exception as exc:  # noqa: BLE001 - any failure is retried
            error = exc
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a handler: a bug
            error, terminal = exc, True     # fail the key, keep the worker
        duration = time.monotonic() - start
        self.runs.record(stats.SUCCESS if error is None else stats.FAILURE, duration)
        idle = self._finish(key, entry, error, terminal, result, duration)
        if idle and self._on_idle is not None:
            try:
                self._on_idle()
            except Exception:  # noqa: BLE001 - a hook never stops a worker
                LOG.exception('%s: on_idle failed', self._name)

    def _finish(self, key, entry, error, terminal, result, duration):
        """Records the outcome; returns whether the queue is idle now."""
        with self._cond:
            was_background = key in self._running_background
            self._running.discard(key)
            self._running_background.discard(key)
            rerun = self._rerun.pop(key, None)
            if error is None and result is FORGET and rerun is None:
                self.status.forget(key)
            elif error is None:
                self.status.mark_done(key, duration)
                LOG.debug('%s %s done in %.1f ms', self._name, key, duration * 1000)
            else:
                self._failed(key, entry, error, terminal, duration, rerun is not None)
            if rerun is not None:
                if error is not None:
                    rerun.attempts = entry.attempts + 1
                self._waiting[key] = rerun
                heapq.heappush(self._ready, (rerun.priority, rerun.seq, key))
                self.status.mark_pending(key, rerun.reasons)
            idle = not (self._waiting or self._running or self._rerun)
            if idle:
                self._idle_cond.notify_all()
            elif not was_background and self._background is not None and self._waiting:
                # Background keys held back for this one may run now, several at
                # once.  Otherwise no one is woken: this worker takes the next key
                # itself (a rerun, a retry's backoff); waking all 32 of the DHCP
                # agent's at every finish bought nothing.
                self._cond.notify_all()
            return idle

    def _failed(self, key, entry, error, terminal, duration, rerun_follows):
        attempts = entry.attempts + 1
        message = f'{type(error).__name__}: {error}'
        give_up = terminal or attempts > self._max_retries
        self.status.mark_failed(key, message, duration, attempts,
                                terminal=give_up and not rerun_follows)
        if give_up:
            LOG.error('%s %s failed (attempt %d), left in error until the next '
                      'full sync: %s', self._name, key, attempts, message)
            return
        if rerun_follows:
            return      # it runs again right away anyway
        delay = backoff_delay(attempts, *self._backoff, rand=self._rand)
        LOG.warning('%s %s failed (attempt %d of %d), retry in %.2f s: %s',
                    self._name, key, attempts, self._max_retries + 1, delay, message)
        retry = _Entry(entry.priority, next(self._seq), entry.reasons,
                       attempts=attempts, not_before=self._clock() + delay)
        self._waiting[key] = retry
        heapq.heappush(self._delayed, (retry.not_before, retry.seq, key))
