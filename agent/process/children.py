"""Observe and apply child actions (:mod:`agent.process.actions`) for one agent.

Through the :class:`~agent.process.manager.ProcessManager` (pid files, /proc,
signals, spawning), keeping the :class:`~agent.process.monitor.ProcessMonitor`
in step: a child started, reloaded, restarted or adopted is watched (respawned
if it dies), a stopped one is not.
"""

from __future__ import annotations

import logging
from typing import Final

from agent.process.actions import (
    AdoptChild, ObservedChild, ReloadChild, RestartChild, StartChild, StopChild, diff)
from agent.process.manager import ProcessManager
from agent.process.monitor import ProcessMonitor
from agent.process.spec import ProcessSpec
from agent.reconcile.plan import Action, Plan, execute

LOG = logging.getLogger(__name__)

ADOPTED: Final = 'adopted'
STOPPED: Final = 'stopped'
UNCHANGED: Final = 'unchanged'


class Children:
    """Observes and applies child actions (:func:`~agent.process.actions.diff`'s)."""

    def __init__(self, processes: ProcessManager, monitor: ProcessMonitor | None = None):
        self.processes = processes
        self.monitor = monitor

    def observe(self, spec: ProcessSpec, wanted: bool = True) -> ObservedChild:
        state = self.processes.observe(spec)
        current, present = self.processes.config_state(spec)
        return ObservedChild(
            running=state.running, argv_matches=state.argv_matches,
            elsewhere=state.running and not self.processes.in_namespace(state.pid, spec),
            config_current=current, config_present=present,
            watch_current=self.monitor is None or (
                self.monitor.watches(spec) if wanted
                else not self.monitor.watches(spec, exactly=False)))

    def plan(self, spec: ProcessSpec, wanted: bool = True,
             restart_on_change: str = '') -> Plan:
        return diff(spec, wanted, self.observe(spec, wanted), restart_on_change)

    def apply(self, action: Action) -> str:
        """Carry out one child action; returns what was done (the manager's
        outcome, or 'adopted' / 'stopped')."""
        spec = action.spec         # type: ignore[attr-defined]
        if getattr(action, 'pid', None) is not None:
            raise TypeError(f'{action.describe()}: a sweep\'s action, applied by '
                            'ProcessManager.settle under the spec\'s lock')
        if isinstance(action, StopChild):
            self.unwatch(spec)
            self.processes.stop(spec)
            self.processes.remove_config_files(spec)
            return STOPPED
        if isinstance(action, RestartChild):
            outcome: str = self.processes.restart(spec, action.why)
        elif isinstance(action, (StartChild, ReloadChild)):
            outcome = self.processes.ensure(spec)
        elif isinstance(action, AdoptChild):
            outcome = ADOPTED
        else:
            raise TypeError(f'not a child action: {action!r}')
        self.watch(spec)
        return outcome

    def run(self, plan: Plan, resource: str, log: logging.Logger = LOG) -> str:
        """Apply a child plan (at most one action, from :func:`diff`), each action
        in the debug log as its shell form; returns the last outcome."""
        if not plan:        # a converged child: not even a debug line
            return UNCHANGED
        outcomes = [UNCHANGED]
        execute(plan, lambda action: outcomes.append(self.apply(action)), resource, log,
                summary=logging.DEBUG)
        return outcomes[-1]

    def watch(self, spec: ProcessSpec) -> None:
        if self.monitor is not None:
            self.monitor.register(spec)

    def unwatch(self, spec: ProcessSpec) -> None:
        if self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
