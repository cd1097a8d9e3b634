"""The report_state thread of an agent (fact sheet §5).

Reports at once with ``start_flag: True`` and keeps the flag until the first
success, then reports every ``[AGENT] report_interval`` seconds with live
``configurations``.  ``on_resync`` is called when the server answers
``'revived'`` and when a report succeeds after failures (the bus was lost and
came back: notifications may have been missed).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from agent.rpc.transport import BusHealth

LOG = logging.getLogger(__name__)

AGENT_NEW = 'new'
AGENT_ALIVE = 'alive'
AGENT_REVIVED = 'revived'


class StateReporter(Protocol):
    def report_state(self, agent_state: dict) -> str | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AgentIdentity:
    """What an agent says it is; ``host`` must equal its RPC server name."""
    binary: str            # 'neutron-dhcp-agent' / 'neutron-l3-agent'
    topic: str             # 'dhcp_agent' / 'l3_agent'
    agent_type: str        # 'DHCP agent' / 'L3 agent'
    host: str
    availability_zone: str = 'nova'


def build_agent_state(identity: AgentIdentity, configurations: dict,
                      start_flag: bool) -> dict:
    state: dict[str, object] = {
        'binary': identity.binary,
        'host': identity.host,
        'availability_zone': identity.availability_zone,
        'topic': identity.topic,
        'agent_type': identity.agent_type,
        'configurations': dict(configurations),
    }
    if start_flag:
        state['start_flag'] = True
    return state


class Heartbeat:
    """The heartbeat thread.  ``start()``, then ``stop()`` and ``join()``."""

    def __init__(self, reporter: StateReporter, identity: AgentIdentity,
                 configurations: Callable[[], dict], interval: float,
                 on_resync: Callable[[], None] = lambda: None,
                 bus: BusHealth | None = None, log_heartbeats: bool = False,
                 retry_interval: float | None = None):
        self._reporter = reporter
        self._identity = identity
        self._configurations = configurations
        self.interval = interval
        self._retry = interval if retry_interval is None else retry_interval
        self._on_resync = on_resync
        self.bus = bus if bus is not None else BusHealth()
        self._log = log_heartbeats
        self._start_flag = True
        self.first_report = threading.Event()
        self.stopped = threading.Event()
        self.last_result: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            LOG.info('report_interval is 0: heartbeats disabled')
            self.first_report.set()
            return
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f'heartbeat-{self._identity.topic}')
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stopped.is_set():
            ok = self.report_once()
            self.stopped.wait(self.interval if ok else self._retry)

    def report_once(self) -> bool:
        """Send one report and react to the answer; True if it was delivered."""
        try:
            configurations = self._configurations()
        except Exception:
            LOG.exception('could not collect the agent configurations')
            configurations = {}
        state = build_agent_state(self._identity, configurations, self._start_flag)
        try:
            result = self._reporter.report_state(state)
        except Exception as e:
            self.bus.failed()
            LOG.warning('report_state to the server failed: %s', e)
            return False
        self.last_result = result
        if self._log:
            LOG.info('heartbeat sent: %s', result)
        reconnected = self.bus.succeeded()
        was_first = self._start_flag
        self._start_flag = False
        self.first_report.set()
        if result == AGENT_REVIVED or (reconnected and not was_first):
            LOG.info('%s: full resync', 'agent revived' if result == AGENT_REVIVED
                     else 'bus back after an outage')
            try:
                self._on_resync()
            except Exception:
                LOG.exception('resync callback failed')
        return True
