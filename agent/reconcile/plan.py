"""``plan = diff(desired, observed)``: small typed actions and their executor.

A planner is a pure function returning a :class:`Plan`; an executor applies
each :class:`Action` through drivers.  Every action can describe itself as the
equivalent shell command, which is what the ``--debug`` log shows: operators
think in ``ip netns add …`` and ``ovs-vsctl …``.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import time
from collections.abc import Callable, Iterable, Iterator

LOG = logging.getLogger(__name__)


def shell(*argv) -> str:
    """``argv`` quoted as a shell would need it (for describe() only)."""
    return shlex.join(str(a) for a in argv)


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan.  Subclasses are frozen dataclasses too."""

    def describe(self) -> str:
        """The equivalent shell command, for logs."""
        fields = ' '.join(f'{f.name}={getattr(self, f.name)!r}'
                          for f in dataclasses.fields(self))
        return f'# {type(self).__name__} {fields}'.rstrip()


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """An ordered tuple of actions; empty when the resource has converged."""

    actions: tuple[Action, ...] = ()

    @classmethod
    def of(cls, actions: Iterable[Action]) -> Plan:
        return cls(tuple(actions))

    @property
    def empty(self) -> bool:
        return not self.actions

    def __add__(self, other: Plan) -> Plan:
        return Plan(self.actions + other.actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def __bool__(self) -> bool:
        return bool(self.actions)

    def __str__(self) -> str:
        return '\n'.join(a.describe() for a in self.actions)


class ActionFailed(Exception):
    """An action raised; carries which one, and how far the plan got."""

    def __init__(self, resource, index, action, error):
        super().__init__(f'{resource}: action {index + 1} ({action.describe()}) '
                         f'failed: {type(error).__name__}: {error}')
        self.resource = resource
        self.index = index
        self.action = action
        self.error = error


def execute(plan: Plan, executor: Callable[[Action], None], resource: str,
            log: logging.Logger = LOG, summary: int = logging.INFO) -> float:
    """Apply ``plan``'s actions in order with ``executor``; return the seconds spent.

    Logs each action's shell form at debug and one line per reconcile (at
    ``summary`` if something was done: a caller that logs its own line per
    resource passes DEBUG; debug for an empty plan).  The first failing action
    stops the plan and raises :class:`ActionFailed` (the queue retries; the
    next reconcile re-observes, so a partial plan is harmless).
    """
    start = time.monotonic()
    debug = log.isEnabledFor(logging.DEBUG)      # describe() costs a shlex.join
    for index, action in enumerate(plan.actions):
        if debug:
            log.debug('%s: %s', resource, action.describe())
        try:
            executor(action)
        except Exception as exc:
            duration = time.monotonic() - start
            log.warning('reconciled %s: failed at action %d of %d after %.1f ms',
                        resource, index + 1, len(plan), duration * 1000)
            raise ActionFailed(resource, index, action, exc) from exc
    duration = time.monotonic() - start
    level = summary if plan.actions else logging.DEBUG
    log.log(level, 'reconciled %s: %d actions in %.1f ms', resource, len(plan),
            duration * 1000)
    return duration
