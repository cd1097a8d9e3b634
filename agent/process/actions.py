"""Child processes as plan actions, the one mechanism of both agents (pure).

dnsmasq (DHCP agent), haproxy (both agents' metadata proxy), radvd and
keepalived (L3 agent) all go the same way: what runs for a
:class:`~agent.process.spec.ProcessSpec` (pid file, the uuid in
``/proc/<pid>/cmdline``, its namespace, its config files' content, whether the
monitor watches it) is an :class:`ObservedChild`; the pure :func:`diff` turns
that into at most one action; :class:`agent.process.children.Children` observes
and applies, through the :class:`~agent.process.manager.ProcessManager`, keeping
the :class:`~agent.process.monitor.ProcessMonitor` in step (what runs is watched
and respawned, what is stopped is not).

A child a previous agent left running with the desired command line and files is
adopted (:class:`AdoptChild`: watched from now on, never respawned); a converged
child plans nothing.  A sync's sweep finds children by namespace and command line
when their pid file lost them: :mod:`agent.process.adoption` decides, and its
decision is these actions too (an :class:`AdoptChild` and :class:`StopChild` of
a given pid).
"""

from __future__ import annotations

import dataclasses
import signal

from agent.process.spec import ProcessSpec
from agent.reconcile.plan import Action, Plan, shell


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedChild:
    """What runs for a spec (see :meth:`agent.process.children.Children.observe`)."""
    running: bool = False          # ours (pid file + uuid in its cmdline) and alive
    argv_matches: bool = False     # ... with the spec's command line
    elsewhere: bool = False        # ... in another namespace than the spec's
    config_current: bool = False   # every config file holds the spec's content
    config_present: bool = False   # some config file of the spec exists
    # The monitor's registration is as wanted: it respawns the wanted child (with
    # this command line), and not an unwanted one.  Always true without a monitor.
    watch_current: bool = False


def _launch(spec: ProcessSpec) -> str:
    run = shell(*spec.argv)
    return f'ip netns exec {spec.namespace} {run}' if spec.namespace else run


def _writes(spec: ProcessSpec) -> str:
    return ''.join(f'cat > {path} <<EOF ...; ' for path, _ in spec.config_files)


@dataclasses.dataclass(frozen=True, slots=True)
class StartChild(Action):
    spec: ProcessSpec = dataclasses.field(repr=False)

    def describe(self):
        return _writes(self.spec) + _launch(self.spec)


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadChild(Action):
    """Its config files changed: written, then the reload signal (SIGHUP)."""
    spec: ProcessSpec = dataclasses.field(repr=False)

    def describe(self):
        sig = signal.Signals(self.spec.reload_signal or signal.SIGHUP).name[3:]
        return f'{_writes(self.spec)}kill -{sig} $(cat {self.spec.pid_file})'


@dataclasses.dataclass(frozen=True, slots=True)
class RestartChild(Action):
    spec: ProcessSpec = dataclasses.field(repr=False)
    why: str = ''

    def describe(self):
        return (f'kill $(cat {self.spec.pid_file}); {_writes(self.spec)}'
                f'{_launch(self.spec)}  # {self.why}')


@dataclasses.dataclass(frozen=True, slots=True)
class AdoptChild(Action):
    """Running as desired but not watched (a previous agent started it): kept,
    and respawned from now on if it dies.  With a ``pid`` (a sync's sweep found
    it by namespace and command line, :mod:`agent.process.adoption`): that
    process, which the pid file does not name, is written into it."""
    spec: ProcessSpec = dataclasses.field(repr=False)
    pid: int | None = None
    where: str = ''

    def describe(self):
        if self.pid is None:
            return f'# {self.spec.describe()}: adopted, pid from {self.spec.pid_file}'
        return (f'echo {self.pid} > {self.spec.pid_file}  # adopt pid {self.pid} in '
                f'{self.where}, which its pid file did not name')


@dataclasses.dataclass(frozen=True, slots=True)
class StopChild(Action):
    """Not wanted: no longer watched, stopped (SIGTERM, then SIGKILL), its pid and
    config files removed.  With a ``pid`` (a sweep's duplicate or stray): that
    process only, each checked to be still the same one when signalled."""
    spec: ProcessSpec = dataclasses.field(repr=False)
    pid: int | None = None
    why: str = ''

    def describe(self):
        if self.pid is not None:
            return f'kill {self.pid}  # {self.why}'
        files = ' '.join((self.spec.pid_file, *(p for p, _ in self.spec.config_files)))
        return f'kill $(cat {self.spec.pid_file}); rm -f {files}'


CHILD_ACTIONS = (StartChild, ReloadChild, RestartChild, AdoptChild, StopChild)


def diff(spec: ProcessSpec, wanted: bool, observed: ObservedChild,
         restart_on_change: str = '') -> Plan:
    """The action that makes the host run ``spec`` (``wanted``) or nothing of it.

    A changed command line, or a child left in a namespace deleted and made again,
    restarts it; changed config files reload it with its signal, or restart it when
    it has none (haproxy) or ``restart_on_change`` says why a reload would not do.
    """
    if not wanted:
        if observed.running or observed.config_present or not observed.watch_current:
            return Plan.of([StopChild(spec)])
        return Plan()
    if not observed.running:
        return Plan.of([StartChild(spec)])
    if observed.elsewhere:
        return Plan.of([RestartChild(spec, 'it runs in a namespace that is gone')])
    if not observed.argv_matches:
        return Plan.of([RestartChild(spec, 'command line changed')])
    if not observed.config_current:
        if restart_on_change:
            return Plan.of([RestartChild(spec, f'configuration changed; {restart_on_change}')])
        if spec.reload_signal is None:      # haproxy: it reads it only when started
            return Plan.of([RestartChild(spec, 'configuration changed')])
        return Plan.of([ReloadChild(spec)])
    if not observed.watch_current:
        return Plan.of([AdoptChild(spec)])
    return Plan()
