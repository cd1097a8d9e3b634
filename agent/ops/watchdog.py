"""systemd's watchdog: ``WATCHDOG=1`` every half ``WATCHDOG_USEC`` while the
service's own loops live.

What is checked is the process itself, never the broker or the controller: an
agent whose bus is down keeps serving what it serves (README, "Broker
outages") and must not be killed for it.  The checks are the main loop's tick
(it wakes every second to look for SIGTERM) and, for the agents with a work
queue, that every queue worker thread still runs.  When a check fails the ping
is withheld and the reason logged; systemd then aborts the service after
``WatchdogSec=`` and ``Restart=on-failure`` starts it again, while its children
(``KillMode=process``) keep serving.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from agent.ops import sdnotify

LOG = logging.getLogger(__name__)

# A check returns '' when all is well, else what is wrong.
Check = Callable[[], str]


class Tick:
    """Stamped by a loop on each turn; stale when it stopped turning."""

    def __init__(self, name: str, clock=time.monotonic):
        self.name = name
        self._clock = clock
        self._at = clock()

    def beat(self) -> None:
        self._at = self._clock()

    def check(self, limit: float) -> Check:
        def stale() -> str:
            age = self._clock() - self._at
            return f'{self.name} has not turned for {age:.1f} s' if age > limit else ''
        return stale


def queue_workers(agent) -> Check:
    """The agent's queue workers all run (agents without a queue: always true)."""
    def check() -> str:
        queue = getattr(agent, 'queue', None)
        if queue is None or queue.workers_alive():
            return ''
        return 'a work queue worker thread is gone'
    return check


class Watchdog:
    """Pings ``notifier`` every ``interval`` s while every check passes."""

    def __init__(self, notifier: sdnotify.Notifier, interval: float,
                 checks: list[Check]):
        self.notifier = notifier
        self.interval = interval
        self.checks = checks
        self.pings = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = ''

    def start(self) -> Watchdog:
        self._thread = threading.Thread(target=self._run, name='sd-watchdog', daemon=True)
        self._thread.start()
        LOG.info('systemd watchdog: pinging every %.1f s while the agent lives',
                 self.interval)
        return self

    def stop(self) -> None:
        self._stop.set()

    def problems(self) -> list[str]:
        found = []
        for check in self.checks:
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001 - a broken check is a problem
                problem = f'check failed: {exc}'
            if problem:
                found.append(problem)
        return found

    def ping_once(self) -> bool:
        problems = self.problems()
        if problems:
            text = '; '.join(problems)
            if text != self._failing:
                LOG.error('systemd watchdog: not pinging (%s): systemd will restart '
                          'the agent, its children keep serving', text)
            self._failing = text
            return False
        if self._failing:
            LOG.info('systemd watchdog: healthy again, pinging')
            self._failing = ''
        if self.notifier.send(sdnotify.WATCHDOG):
            self.pings += 1
        return True

    def _run(self) -> None:
        while True:
            self.ping_once()
            if self._stop.wait(self.interval):
                return
