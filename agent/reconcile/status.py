"""Per-key reconcile status: pending / done / error, for report_state and logs.

Modelled on statedb's ``Status{Kind, UpdatedAt, Error}``: every key the work
queue has seen has one :class:`KeyStatus`, replaced (never mutated) on each
transition, so a snapshot can be handed to another thread safely.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Hashable

PENDING = 'pending'
DONE = 'done'
ERROR = 'error'
STATES = (PENDING, DONE, ERROR)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyStatus:
    """What the queue knows about one key."""

    state: str = PENDING
    attempts: int = 0             # failed attempts since the last success
    last_error: str = ''
    last_duration: float = 0.0    # seconds of the last handler run
    updated_at: float = 0.0       # time.time() of the last transition
    reasons: tuple[str, ...] = ()  # why it was (last) enqueued


class StatusBoard:
    """Thread-safe map key -> KeyStatus with counts for report_state."""

    def __init__(self, clock=time.time):
        self._lock = threading.Lock()
        self._status: dict[Hashable, KeyStatus] = {}
        self._clock = clock

    def _update(self, key, **changes):
        with self._lock:
            old = self._status.get(key, KeyStatus())
            new = dataclasses.replace(old, updated_at=self._clock(), **changes)
            self._status[key] = new
            return new

    def mark_pending(self, key, reasons=()):
        return self._update(key, state=PENDING, reasons=tuple(reasons))

    def mark_done(self, key, duration):
        return self._update(key, state=DONE, attempts=0, last_error='',
                            last_duration=duration)

    def mark_failed(self, key, error, duration, attempts, terminal):
        """A failed run: ``error`` state if ``terminal``, else pending a retry."""
        return self._update(key, state=ERROR if terminal else PENDING,
                            attempts=attempts, last_error=error,
                            last_duration=duration)

    def get(self, key):
        with self._lock:
            return self._status.get(key)

    def forget(self, key):
        with self._lock:
            self._status.pop(key, None)

    def snapshot(self):
        with self._lock:
            return dict(self._status)

    def counts(self):
        """``{'pending': n, 'done': n, 'error': n}``, e.g. for report_state."""
        result = dict.fromkeys(STATES, 0)
        with self._lock:
            for status in self._status.values():
                result[status.state] += 1
        return result

    def errors(self):
        """``{key: last_error}`` of the keys in error."""
        with self._lock:
            return {k: s.last_error for k, s in self._status.items() if s.state == ERROR}
