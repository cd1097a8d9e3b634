"""Start, reload, restart and stop child processes from their ProcessSpec.

State lives on the host only (pid file + ``/proc/<pid>/cmdline``), so a restarted
agent adopts the children the previous one left running just by observing them.
A pid file whose pid is not running a command line with our uuid is stale: that
process is never signalled.

The pid file is not trusted alone: when a start fails (the port is held) the
children of the spec are looked up by command line and namespace and one is
adopted (:mod:`agent.process.adoption`); :meth:`ProcessManager.settle` applies
the same decision to what a sync's /proc sweep found (duplicates, strays).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from typing import Final, Literal

from agent.common import names
from agent.process import adoption
from agent.process import scan as proc_scan
from agent.process.actions import AdoptChild, StopChild
from agent.process.driver import HostProcessDriver, ProcessDriver
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

STARTED: Final = 'started'
RELOADED: Final = 'reloaded'
RESTARTED: Final = 'restarted'
UNCHANGED: Final = 'unchanged'
Outcome = Literal['started', 'reloaded', 'restarted', 'unchanged']


class ProcessError(RuntimeError):
    """A child process could not be started, reloaded or stopped."""


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessState:
    """What runs for a spec: ``pid`` is set only when the process is ours and alive."""
    pid: int | None
    running: bool
    argv_matches: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RunningProcess:
    """A live child of ours found through its pid file (see ``list_running``)."""
    service: str
    uuid: str
    pid: int
    pid_file: str
    argv: tuple[str, ...]


class ProcessManager:
    """Makes the host run what ProcessSpecs describe; safe to call from many threads."""

    def __init__(self, driver: ProcessDriver | None = None, *, spawn_timeout=5.0,
                 stop_timeout=5.0, poll_interval=0.01):
        self._driver = driver or HostProcessDriver()
        self._spawn_timeout = spawn_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll_interval
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- observing ---------------------------------------------------------------

    def _live_cmdline(self, pid, uuid):
        """The cmdline of ``pid`` if it is a live process with ``uuid`` in it."""
        if pid is None:
            return None
        argv = self._driver.cmdline(pid)
        if argv is None or not any(uuid in arg for arg in argv):
            return None
        return argv

    def observe(self, spec: ProcessSpec) -> ProcessState:
        pid = self._driver.read_pid(spec.pid_file)
        argv = self._live_cmdline(pid, spec.uuid)
        if argv is None:
            return ProcessState(pid=None, running=False, argv_matches=False)
        return ProcessState(pid=pid, running=True, argv_matches=argv == spec.argv)

    def config_state(self, spec: ProcessSpec) -> tuple[bool, bool]:
        """(every config file holds the spec's content, some config file exists)."""
        contents = [self._driver.read_config(path) for path, _ in spec.config_files]
        return (contents == [content for _, content in spec.config_files],
                any(c is not None for c in contents))

    def in_namespace(self, pid: int | None, spec: ProcessSpec) -> bool:
        """Whether ``pid`` runs in ``spec``'s namespace (not in one deleted and made
        again behind our back: a child there serves nothing)."""
        return pid is not None and self._driver.in_namespace(pid, spec.namespace)

    def settled_running(self, spec: ProcessSpec) -> bool:
        """Whether the child runs, once any start, restart or stop of it under way
        is over (a child being restarted is not dead)."""
        return self.settled_state(spec).running

    def settled_state(self, spec: ProcessSpec) -> ProcessState:
        """:meth:`observe`, once any start, restart or stop under way is over."""
        with self._lock(spec.key):
            return self.observe(spec)

    def pid_file_stamp(self, spec: ProcessSpec) -> object | None:
        """Changes whenever the spec's pid file is written again (None: none)."""
        return self._driver.pid_file_stamp(spec.pid_file)

    def alive(self, pid: int) -> bool:
        """Whether process ``pid`` exists (not whether it is ours: see observe)."""
        return self._driver.alive(pid)

    def list_running(self, service: str, pid_dir: str) -> list[RunningProcess]:
        """Our live ``service`` children with pid files in ``pid_dir``.

        Finds ``<pid_dir>/<uuid>.pid.<service>`` (haproxy, Neutron's external pids
        layout) and ``<pid_dir>/<uuid>/pid`` (dnsmasq under ``<state>/dhcp``); for
        pruning orphans after a full resync.
        """
        found = []
        for ident, pid_file in self._driver.list_pid_files(pid_dir, service):
            if not names.is_uuid(ident):
                continue
            pid = self._driver.read_pid(pid_file)
            argv = self._live_cmdline(pid, ident)
            if argv is None or os.path.basename(argv[0]) != service:
                continue
            found.append(RunningProcess(service, ident, pid, pid_file, argv))
        return found

    # -- acting ------------------------------------------------------------------

    def _lock(self, key):
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def write_config_files(self, spec: ProcessSpec) -> bool:
        """Write every config file atomically; True if any content changed."""
        changed = False
        for path, content in spec.config_files:
            try:
                changed |= self._driver.write_config(path, content, spec.config_mode)
            except OSError as exc:
                raise ProcessError(f'{spec.describe()}: cannot write config file '
                                   f'{path}: {exc}') from exc
        return changed

    def ensure(self, spec: ProcessSpec, restart_on_change: bool = False) -> Outcome:
        """Converge one child on ``spec``; returns what was done.

        Not running: start it. Running with another argv: restart it. Running and a
        config file changed: SIGHUP (dnsmasq) or restart (haproxy, or any child when
        ``restart_on_change``). Otherwise nothing: ``'unchanged'``.
        """
        with self._lock(spec.key):
            state = self.observe(spec)
            changed = self.write_config_files(spec)
            if not state.running:
                self._spawn(spec)
                return STARTED
            if not state.argv_matches:
                LOG.info('%s: command line changed, restarting', spec.describe())
                self._restart(spec, state.pid)
                return RESTARTED
            if changed and restart_on_change:
                LOG.info('%s: configuration changed, restarting', spec.describe())
                self._restart(spec, state.pid)
                return RESTARTED
            if changed:
                return self._reload_running(spec, state.pid)
            return UNCHANGED

    def restart(self, spec: ProcessSpec, why: str) -> Outcome:
        """Write the config files, stop the child if it runs, start it again."""
        with self._lock(spec.key):
            state = self.observe(spec)
            self.write_config_files(spec)
            if not state.running:
                self._spawn(spec)
                return STARTED
            LOG.info('%s: %s, restarting', spec.describe(), why)
            self._restart(spec, state.pid)
            return RESTARTED

    def remove_config_files(self, spec: ProcessSpec) -> None:
        for path, _ in spec.config_files:
            self._driver.remove_file(path)

    def reload(self, spec: ProcessSpec) -> Outcome:
        """Make the child re-read its files (without rewriting them); start it if dead."""
        with self._lock(spec.key):
            state = self.observe(spec)
            if not state.running:
                self._spawn(spec)
                return STARTED
            return self._reload_running(spec, state.pid)

    def stop(self, spec: ProcessSpec) -> bool:
        """Stop the child (SIGTERM, then SIGKILL); True if one was running."""
        with self._lock(spec.key):
            state = self.observe(spec)
            if state.running:
                self._terminate(state.pid, spec.uuid, spec.describe())
            self._driver.remove_pid_file(spec.pid_file)
            return state.running

    def stop_running(self, found: RunningProcess) -> bool:
        """Stop an orphan returned by ``list_running`` (rechecked before signalling)."""
        with self._lock((found.service, found.uuid)):
            what = f'{found.service} for {found.uuid}'
            if self._live_cmdline(found.pid, found.uuid) is None:
                return False
            self._terminate(found.pid, found.uuid, what)
            self._driver.remove_pid_file(found.pid_file)
            return True

    def settle(self, spec: ProcessSpec, procs, scan: proc_scan.HostScan, wanted: bool,
               match_argv: bool = False) -> adoption.Decision:
        """Apply :func:`adoption.decide` to ``procs``, the children of ``spec``'s
        resource a sweep found in ``scan``: adopt one the pid file does not name,
        stop duplicates and strays (each still the same process when signalled).
        Nothing is spawned here: the resource's reconcile does that."""
        with self._lock(spec.key):
            return self._settle(spec, procs, scan, wanted, match_argv)

    def _settle(self, spec, procs, scan, wanted, match_argv):
        live = [p for p in procs if self._driver.cmdline(p.pid) == p.argv]
        # Where each runs, checked again now: the namespace may have been made
        # (or the child started) after the scan listed the namespaces.
        home = spec.namespace or ''
        found = [adoption.Child(p.pid, p.argv, home if self._driver.in_namespace(
            p.pid, spec.namespace) else scan.namespace_of(p)) for p in live]
        decision = adoption.decide(found, self._driver.read_pid(spec.pid_file),
                                   spec.namespace, wanted,
                                   spec.argv if match_argv else None)
        for action in adoption.actions(spec, decision, {c.pid: c.namespace for c in found}):
            if isinstance(action, StopChild) and action.pid is not None:
                LOG.warning('%s: stopping pid %d %s', spec.describe(), action.pid,
                            action.why)
                self._terminate(action.pid, spec.uuid, spec.describe())
            elif isinstance(action, AdoptChild) and action.pid is not None:
                LOG.warning('%s: adopting pid %d in %s, which its pid file %s did not '
                            'name', spec.describe(), action.pid, action.where,
                            spec.pid_file)
                self._driver.write_pid(spec.pid_file, action.pid)
        return decision

    def scan(self) -> proc_scan.HostScan:
        """One walk of the host's processes (a sync's sweep)."""
        return self._driver.scan()

    def children(self, spec: ProcessSpec, scan: proc_scan.HostScan) -> list:
        """The live processes of ``scan`` that are ``spec``'s child: its program,
        and its pid file or a config file of it in their command line."""
        program = os.path.basename(spec.argv[0])
        owned = (spec.pid_file, *(path for path, _ in spec.config_files))
        return list(proc_scan.without_helpers(
            (p for p in scan.procs
             if p.program == program and proc_scan.names_path(p, owned)),
            self._driver.parent))

    # -- internals (caller holds the spec's lock) ---------------------------------

    def _reload_running(self, spec, pid):
        sig = spec.reload_signal
        if sig is None:
            LOG.info('%s: configuration changed, restarting', spec.describe())
            self._restart(spec, pid)
            return RESTARTED
        LOG.info('%s: configuration changed, sending %s to %d', spec.describe(),
                 signal.Signals(sig).name, pid)
        if not self._driver.send_signal(pid, sig):
            LOG.warning('%s: pid %d vanished before reload, starting it again',
                        spec.describe(), pid)
            self._spawn(spec)
            return STARTED
        return RELOADED

    def _restart(self, spec, pid):
        self._terminate(pid, spec.uuid, spec.describe())
        self._spawn(spec)

    def _wait(self, condition, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self._poll)

    def _spawn(self, spec):
        """Start the child; if that fails and a child of ours already serves the
        spec (the pid file lost it), adopt that one and make it current."""
        try:
            return self._spawn_once(spec)
        except ProcessError as exc:
            scan = self._driver.scan()
            decision = self._settle(spec, self.children(spec, scan), scan, True, True)
            if decision.keep is None:
                raise
            LOG.warning('%s: could not start (%s); pid %d already served it and was '
                        'adopted', spec.describe(), exc, decision.keep)
        pid = decision.keep
        if self._driver.cmdline(pid) != spec.argv:
            LOG.info('%s: the adopted pid %d runs another command line, restarting',
                     spec.describe(), pid)
            self._terminate(pid, spec.uuid, spec.describe())
            return self._spawn_once(spec)
        self._reload_running(spec, pid)
        return self._driver.read_pid(spec.pid_file)

    def _spawn_once(self, spec):
        try:
            self._driver.prepare_pid_file(spec.pid_file)
            for path in spec.companion_pid_files:
                self._stop_companion(spec, path)
        except OSError as exc:
            raise ProcessError(f'{spec.describe()}: cannot prepare pid file '
                               f'{spec.pid_file}: {exc}') from exc
        for path, content in spec.spawn_files:
            try:
                self._driver.write_config(path, content, spec.config_mode)
            except OSError as exc:
                raise ProcessError(f'{spec.describe()}: cannot write {path}: {exc}') from exc
        env = (('PROCESS_TAG', spec.process_tag), *spec.env)
        try:
            result = self._driver.spawn(spec.namespace, spec.argv, env)
        except OSError as exc:
            raise ProcessError(f'{spec.describe()}: cannot run {spec.argv[0]}: {exc}') from exc
        if result.returncode not in (0, None):
            raise ProcessError(f'{spec.describe()}: {spec.argv[0]} exited with status '
                               f'{result.returncode}: {result.stderr or "no error output"}')
        pid_box: list[int] = []

        def started():
            pid = self._driver.read_pid(spec.pid_file)
            if self._live_cmdline(pid, spec.uuid) is None:
                return False
            pid_box.append(pid)
            return True

        if not self._wait(started, self._spawn_timeout):
            detail = f': {result.stderr}' if result.stderr else ''
            raise ProcessError(f'{spec.describe()}: no live process in pid file '
                               f'{spec.pid_file} {self._spawn_timeout:g}s after start{detail}')
        LOG.info('Started %s (pid %d)', spec.describe(), pid_box[0])
        return pid_box[0]

    def _stop_companion(self, spec, pid_file):
        """A child of a dead child (keepalived's VRRP process) still running is
        stopped before a new start; its pid file goes either way."""
        pid = self._driver.read_pid(pid_file)
        if self._live_cmdline(pid, spec.uuid) is not None:
            LOG.warning('%s: pid %d of %s outlived its parent, stopping it',
                        spec.describe(), pid, pid_file)
            self._terminate(pid, spec.uuid, spec.describe())
        self._driver.remove_pid_file(pid_file)

    def _terminate(self, pid, uuid, what):
        def gone():
            return self._live_cmdline(pid, uuid) is None

        self._driver.send_signal(pid, signal.SIGTERM)
        if self._wait(gone, self._stop_timeout):
            LOG.info('Stopped %s (pid %d)', what, pid)
            return
        LOG.warning('%s (pid %d) ignored SIGTERM for %gs, sending SIGKILL', what, pid,
                    self._stop_timeout)
        self._driver.send_signal(pid, signal.SIGKILL)
        if not self._wait(gone, 2.0):
            raise ProcessError(f'{what}: pid {pid} still alive after SIGKILL')
