"""Which of our live children of one resource to keep, adopt or stop (pure).

The pid file alone is not the truth: it can name another pid, hold ``notapid``,
or be gone with its state directory while the child still runs and holds its
sockets (a new start then fails with "Address already in use" forever).  The
children are found by command line and namespace (:mod:`agent.process.scan`);
:func:`decide` picks at most one to keep:

- not wanted here: stop them all;
- in another namespace than the resource's (one deleted and made again behind
  our back, or another one): stop it, it serves nothing;
- in the right namespace: keep the one the pid file names; else the one running
  the desired command line; else the oldest (lowest pid); the others are
  duplicates (a second, hand-started server on the network): stop them;
- a kept child the pid file does not name is adopted (the pid file rewritten);
- nothing kept and wanted: spawn.

:func:`actions` gives a decision as the child actions both agents plan with
(:mod:`agent.process.actions`): a StopChild and an AdoptChild of given pids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from agent.process.actions import AdoptChild, StopChild
from agent.process.spec import ProcessSpec
from agent.reconcile.plan import Plan


@dataclasses.dataclass(frozen=True, slots=True)
class Child:
    """A live child of ours for the resource: ``namespace`` is its namespace's name
    ('' the host's, None an anonymous one)."""
    pid: int
    argv: tuple[str, ...]
    namespace: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    keep: int | None = None
    adopt: bool = False                          # rewrite the pid file with ``keep``
    stop: tuple[tuple[int, str], ...] = ()       # (pid, why)
    spawn: bool = False

    @property
    def changes(self) -> bool:
        return self.adopt or bool(self.stop)


def actions(spec: ProcessSpec, decision: Decision, namespaces: Mapping[int, str | None]
            ) -> Plan:
    """``decision`` as actions: the stops first, then the adoption; ``namespaces``
    tells where each pid runs (for the log)."""
    stops = [StopChild(spec, pid, f'in {where(namespaces[pid])}: {why}')
             for pid, why in decision.stop]
    adopt = ([AdoptChild(spec, decision.keep, where(namespaces[decision.keep]))]
             if decision.adopt and decision.keep is not None else [])
    return Plan.of([*stops, *adopt])


def where(namespace: str | None) -> str:
    if namespace is None:
        return 'a namespace that is gone'
    return f'namespace {namespace}' if namespace else 'the host namespace'


def decide(found: Sequence[Child], pid_file_pid: int | None, namespace: str | None,
           wanted: bool, argv: tuple[str, ...] | None = None) -> Decision:
    """See the module docstring; ``namespace`` is where the resource's child runs
    ('' or None: the host's), ``argv`` its desired command line if known."""
    found = sorted(found, key=lambda c: c.pid)
    if not wanted:
        return Decision(stop=tuple((c.pid, 'not wanted on this host') for c in found))
    home = namespace or ''
    here = [c for c in found if c.namespace == home]
    stop = [(c.pid, f'runs in {where(c.namespace)}, not in {where(home)}')
            for c in found if c.namespace != home]
    keep = next((c for c in here if c.pid == pid_file_pid), None)
    if keep is None and argv is not None:
        keep = next((c for c in here if c.argv == argv), None)
    if keep is None and here:
        keep = here[0]
    stop += [(c.pid, f'duplicate of pid {keep.pid}') for c in here if c is not keep]
    if keep is None:
        return Decision(stop=tuple(stop), spawn=True)
    return Decision(keep=keep.pid, adopt=keep.pid != pid_file_pid, stop=tuple(stop))
