"""Counts and durations of a work queue's handler runs, for the metrics endpoint.

A Prometheus-style histogram: cumulative counts per upper bound, a sum and a
count, per outcome (``success``, ``failure``).  Recording is one lock and a few
additions per run (the queue's handler runs take milliseconds to seconds).
"""

from __future__ import annotations

import bisect
import dataclasses
import threading

# Seconds.  A network or router reconcile that changes nothing takes ~1-10 ms; one
# that plugs ports and starts dnsmasq/haproxy 0.1-2 s; under load and at a cold
# start, tens of seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SUCCESS = 'success'
FAILURE = 'failure'
OUTCOMES = (SUCCESS, FAILURE)


@dataclasses.dataclass(frozen=True, slots=True)
class Histogram:
    """One outcome's runs: ``buckets[i]`` runs took at most ``BUCKETS[i]`` s."""
    buckets: tuple[int, ...]
    count: int
    total: float


class RunStats:
    """Thread-safe; :meth:`snapshot` hands out immutable copies."""

    def __init__(self):
        self._lock = threading.Lock()
        self._bins = {o: [0] * len(BUCKETS) for o in OUTCOMES}   # not cumulative
        self._count = dict.fromkeys(OUTCOMES, 0)
        self._total = dict.fromkeys(OUTCOMES, 0.0)

    def record(self, outcome: str, seconds: float) -> None:
        index = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            if index < len(BUCKETS):
                self._bins[outcome][index] += 1
            self._count[outcome] += 1
            self._total[outcome] += seconds

    def snapshot(self) -> dict[str, Histogram]:
        with self._lock:
            result = {}
            for outcome in OUTCOMES:
                cumulative, running = [], 0
                for n in self._bins[outcome]:
                    running += n
                    cumulative.append(running)
                result[outcome] = Histogram(tuple(cumulative), self._count[outcome],
                                            self._total[outcome])
            return result
