"""A read-only snapshot of a running agent, for the Guru Meditation Report and
the metrics endpoint.

It reads what the agents already hold, by the attributes they share: ``queue``
(:class:`~agent.reconcile.queue.WorkQueue`), ``runner``
(:class:`~agent.reconcile.runner.SyncRunner`), ``monitor`` and ``processes``
(the registered children and their pid files) and ``heartbeat``.  An agent
without one of them (the metadata agent has no queue) simply shows less.  Taking
a snapshot never blocks on the agent's work: the queue's and the monitor's locks
are held for a copy, the children's state is one pid file and one
``/proc/<pid>/cmdline`` read each.
"""

from __future__ import annotations

import dataclasses
import time

from agent.reconcile.runner import SyncStatus
from agent.reconcile.stats import Histogram

RUNNING = 'running'
DEAD = 'dead'
IN_FLIGHT_SHOWN = 50        # keys listed in a report; the count is always exact


@dataclasses.dataclass(frozen=True, slots=True)
class Child:
    kind: str                  # dnsmasq, haproxy, radvd, keepalived, ...
    uuid: str                  # the network or router it serves
    pid: int | None
    state: str                 # RUNNING or DEAD


@dataclasses.dataclass(frozen=True, slots=True)
class QueueView:
    depth: int                           # keys waiting (not running)
    in_flight: tuple[str, ...]           # keys a worker runs now
    paused: bool                         # the in-sync gate is still closed
    workers_alive: bool
    keys: dict[str, int]                 # {'pending': n, 'done': n, 'error': n}
    runs: dict[str, Histogram]           # handler runs by outcome


@dataclasses.dataclass(frozen=True, slots=True)
class AgentView:
    queue: QueueView | None
    sync: SyncStatus | None
    in_sync: bool | None
    children: tuple[Child, ...]
    bus_up: bool | None                  # the last report_state went through (None:
                                         # the agent does not report state)
    last_heartbeat: str | None
    taken_at: float                      # time.time()
    requests: dict[str, int] | None = None   # the metadata agent's answers by result

    def seconds_since_full_sync(self) -> float | None:
        """Since the last successful full sync; None before the first."""
        if self.sync is None or not self.sync.last_success_at:
            return None
        return max(0.0, self.taken_at - self.sync.last_success_at)


def _queue_view(queue) -> QueueView:
    return QueueView(depth=len(queue), in_flight=tuple(sorted(map(str, queue.running_keys()))),
                     paused=queue.paused, workers_alive=queue.workers_alive(),
                     keys=queue.status.counts(), runs=queue.runs.snapshot())


def children(monitor, processes) -> tuple[Child, ...]:
    """The children the monitor watches, with their pid when alive."""
    found = []
    for spec in sorted(monitor.registered(), key=lambda s: (s.service, s.uuid)):
        try:
            state = processes.observe(spec)
        except OSError:
            state = None
        alive = state is not None and state.running and state.pid is not None
        found.append(Child(spec.service, spec.uuid, state.pid if alive else None,
                           RUNNING if alive else DEAD))
    return tuple(found)


def snapshot(agent) -> AgentView:
    """What ``agent`` is doing now (see the module docstring)."""
    queue = getattr(agent, 'queue', None)
    runner = getattr(agent, 'runner', None)
    monitor = getattr(agent, 'monitor', None)
    processes = getattr(agent, 'processes', None)
    heartbeat = getattr(agent, 'heartbeat', None)
    return AgentView(
        queue=_queue_view(queue) if queue is not None else None,
        sync=runner.status if runner is not None else None,
        in_sync=runner.in_sync.is_set() if runner is not None else None,
        children=children(monitor, processes) if monitor and processes else (),
        bus_up=(heartbeat.first_report.is_set() and not heartbeat.bus.down)
        if heartbeat is not None else None,
        last_heartbeat=heartbeat.last_result if heartbeat is not None else None,
        taken_at=time.time(), requests=_requests(agent))


def _requests(agent) -> dict[str, int] | None:
    """The metadata agent's answers so far by result (ok, not_found, ...)."""
    counts = getattr(agent, 'request_counts', None)
    return counts() if counts is not None else None
