"""A router's radvd as a managed child: observe, ``diff``, apply (after the router).

:func:`diff` is pure: the radvd a router needs (:mod:`agent.l3.radvd`, None if
none) against what runs (pid file + cmdline, config content) gives at most one
action: ensure it (start, SIGHUP when its config changed, restart when its argv
changed) or remove it (stop it, delete its config file).  A converged router
plans nothing.  :class:`RouterAdvertisements` observes and applies through the
:class:`~agent.process.manager.ProcessManager`, and keeps the monitor (respawn)
registration in step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from agent.common import fileutils
from agent.l3 import radvd
from agent.model.router import Router
from agent.process.manager import ProcessManager
from agent.process.monitor import ProcessMonitor
from agent.process.spec import ProcessSpec
from agent.reconcile.plan import Action, Plan, execute, shell

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedRadvd:
    running: bool = False        # our radvd for the router is alive
    current: bool = False        # ... with the desired argv and config content
    config_present: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class EnsureRadvd(Action):
    spec: ProcessSpec = dataclasses.field(repr=False)

    def describe(self):
        conf = self.spec.config_files[0][0]
        return (f'cat > {conf} <<EOF ...; ip netns exec {self.spec.namespace} '
                f'{shell(*self.spec.argv)}  # or kill -HUP $(cat {self.spec.pid_file})')


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveRadvd(Action):
    spec: ProcessSpec = dataclasses.field(repr=False)

    def describe(self):
        return (f'kill $(cat {self.spec.pid_file}); '
                f'rm -f {" ".join(p for p, _ in self.spec.config_files)}')


def diff(desired: ProcessSpec | None, observed: ObservedRadvd, current: ProcessSpec) -> Plan:
    """``desired``: the radvd wanted (None: none); ``current``: the router's spec to
    stop and clean up when none is wanted."""
    if desired is not None:
        return Plan() if observed.current else Plan.of([EnsureRadvd(desired)])
    if observed.running or observed.config_present:
        return Plan.of([RemoveRadvd(current)])
    return Plan()


class RouterAdvertisements:
    """The radvd children of the routers of one agent."""

    def __init__(self, processes: ProcessManager, settings: radvd.RaSettings,
                 monitor: ProcessMonitor | None = None,
                 read_file: Callable[[str], str | None] = fileutils.read_lenient,
                 remove_file: Callable[[str], None] = fileutils.remove):
        self.processes = processes
        self.settings = settings
        self.monitor = monitor
        self._read_file = read_file
        self._remove_file = remove_file

    def observe(self, spec: ProcessSpec, wanted: bool) -> ObservedRadvd:
        state = self.processes.observe(spec)
        contents = [self._read_file(path) for path, _ in spec.config_files]
        current = (wanted and state.running and state.argv_matches
                   and contents == [content for _, content in spec.config_files])
        return ObservedRadvd(state.running, current,
                             any(c is not None for c in contents))

    def reconcile(self, router: Router) -> Plan:
        """Start, reload or stop ``router``'s radvd (after its qr- devices are in place)."""
        desired = radvd.desired_spec(router, self.settings)
        spec = desired or radvd.process_spec(router.id, self.settings)
        if desired is None and self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
        plan = diff(desired, self.observe(spec, desired is not None), spec)
        try:
            execute(plan, self._apply, f'router {router.id} radvd', LOG)
        finally:
            if desired is not None and self.monitor is not None:
                self.monitor.register(desired)
        return plan

    def remove(self, router_id: str) -> Plan:
        """Stop ``router_id``'s radvd and delete its config (before its namespace goes)."""
        spec = radvd.process_spec(router_id, self.settings)
        if self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
        plan = diff(None, self.observe(spec, False), spec)
        execute(plan, self._apply, f'router {router_id} radvd', LOG)
        return plan

    def orphans(self, known) -> set[str]:
        """Routers not in ``known`` whose radvd of ours still runs (for a full sync's
        prune: their teardown stops it, even with their namespace gone)."""
        return {p.uuid for p in self.processes.list_running(radvd.SERVICE,
                                                            self.settings.pid_dir)
                if p.uuid not in known}

    def _apply(self, action: Action) -> None:
        if isinstance(action, EnsureRadvd):
            self.processes.ensure(action.spec)
        elif isinstance(action, RemoveRadvd):
            self.processes.stop(action.spec)
            for path, _ in action.spec.config_files:
                self._remove_file(path)
        else:
            raise TypeError(f'not a radvd action: {action!r}')
