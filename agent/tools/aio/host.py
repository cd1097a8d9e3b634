"""Commands on the host, progress lines, and the instance's record of what it made."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

from agent.common import fileutils, polling

BRIDGE_MARK = 'netnode-aio'          # Bridge external_ids key: the state dir that made it


class StepFailed(RuntimeError):
    pass


class Console:
    """One line per step on stdout (``[aio] what ... ok 1.23 s``); every command and
    its output go to the run log."""

    def __init__(self, log_path: str | None = None, stream=sys.stdout, prefix: str = '[aio]'):
        self.stream = stream
        self.prefix = prefix
        self.log_path = log_path
        self.started = time.monotonic()
        self.timings: list[tuple[str, str, float]] = []
        self.checks: list[tuple[str, str, str]] = []

    def log(self, text: str) -> None:
        if not self.log_path:
            return
        try:
            with open(self.log_path, 'a') as f:
                f.write(text.rstrip('\n') + '\n')
        except OSError:
            pass

    def say(self, text: str = '') -> None:
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, what: str):
        """Prints ``what`` at once, then the outcome, the time taken and the notes
        the body appended to the yielded list."""
        print(f'{self.prefix} {what:<58} ', end='', file=self.stream, flush=True)
        self.log(f'--- {what}')
        notes: list[str] = []
        start = time.monotonic()
        try:
            yield notes
        except BaseException as exc:
            took = time.monotonic() - start
            self.timings.append((what, 'FAIL', took))
            print(f'FAIL {took:6.2f} s', file=self.stream, flush=True)
            if not isinstance(exc, KeyboardInterrupt):
                print('      ' + str(exc).replace('\n', '\n      '), file=self.stream,
                      flush=True)
            self.log(f'FAIL: {exc}')
            raise
        took = time.monotonic() - start
        self.timings.append((what, 'ok', took))
        note = f'  {"; ".join(str(n) for n in notes)}' if notes else ''
        print(f'ok   {took:6.2f} s{note}', file=self.stream, flush=True)
        self.log(f'ok {took:.2f} s{note}')

    def check(self, what: str, fn, *args) -> bool:
        """A check: PASS or FAIL with what it saw; never raises (but ^C)."""
        print(f'{self.prefix} check: {what:<51} ', end='', file=self.stream, flush=True)
        self.log(f'--- check: {what}')
        start = time.monotonic()
        try:
            detail, ok = fn(*args), True
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, not raised
            detail, ok = f'{type(exc).__name__}: {exc}' if not isinstance(
                exc, StepFailed) else str(exc), False
        took = time.monotonic() - start
        outcome = 'PASS' if ok else 'FAIL'
        self.timings.append((f'check: {what}', outcome, took))
        self.checks.append((what, outcome, detail))
        print(f'{outcome} {took:6.2f} s', file=self.stream, flush=True)
        print(f'      {detail}', file=self.stream, flush=True)
        self.log(f'{outcome} {took:.2f} s: {detail}')
        return ok

    def elapsed(self) -> float:
        return time.monotonic() - self.started


CONSOLE = Console()


def sh(*argv, check: bool = False, timeout: float = 60, input: str | None = None,
       log: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    argv = [str(a) for a in argv]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             input=input, env=env)
    except subprocess.TimeoutExpired as exc:
        CONSOLE.log(f'$ {" ".join(argv)}\n  (timed out after {timeout} s)')
        if check:
            raise StepFailed(f'{" ".join(argv)}: timed out after {timeout} s') from exc
        return subprocess.CompletedProcess(argv, 124, exc.stdout or '', exc.stderr or '')
    if log:
        CONSOLE.log(f'$ {" ".join(argv)}  [rc {res.returncode}]')
        out = (res.stdout + res.stderr).strip()
        if out:
            CONSOLE.log('  ' + out.replace('\n', '\n  ')[:4000])
    if check and res.returncode != 0:
        raise StepFailed(f'{" ".join(argv)}: exit {res.returncode}: '
                         f'{(res.stderr or res.stdout).strip()[:500]}')
    return res


def in_ns(ns: str, *argv, **kwargs) -> subprocess.CompletedProcess:
    return sh('ip', 'netns', 'exec', ns, *argv, **kwargs)


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = 'condition'):
    """The first truthy value of ``predicate()``; StepFailed after ``timeout`` s."""
    return polling.wait_for(predicate, timeout, interval, what, error=StepFailed)


def netns_list() -> set[str]:
    try:
        return {n for n in os.listdir('/run/netns') if not n.startswith('.')}
    except FileNotFoundError:
        return set()


# -- OVS --------------------------------------------------------------------------------

def ovs(*args, check=False) -> subprocess.CompletedProcess:
    # 30 s: a shared ovs-vswitchd under a load of 19 took 5.6 s to add a netdev
    # bridge, and 10 s failed an interop run.
    return sh('ovs-vsctl', '--timeout=30', *args, check=check)


def bridges() -> set[str]:
    return set(ovs('list-br').stdout.split())


def bridge_owner(bridge: str) -> str | None:
    res = ovs('--if-exists', 'get', 'Bridge', bridge, f'external_ids:{BRIDGE_MARK}')
    value = res.stdout.strip().strip('"')
    return value or None


# -- the instance's record ----------------------------------------------------------------

class Record:
    """What this instance created, kept in ``<state_dir>/aio-state.json`` so that
    ``--clean`` removes exactly that, even with the controller gone."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path) as f:
                self.data = json.load(f)
        except (FileNotFoundError, ValueError):
            self.data = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def add(self, key: str, value) -> None:
        items = self.data.setdefault(key, [])
        if value not in items:
            items.append(value)
            self.save()

    def set(self, key: str, value) -> None:
        if self.data.get(key) != value:
            self.data[key] = value
            self.save()

    def save(self) -> None:
        if os.path.isdir(os.path.dirname(self.path)):
            fileutils.write_atomic(self.path, json.dumps(self.data, indent=1) + '\n')
