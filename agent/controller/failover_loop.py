"""The periodic failover check of the serving process (one per server: it runs
beside the RPC servers, see ``agent.cmd.server``).

Every ``agent_failover_interval`` seconds (0: half of ``agent_down_time``) it asks
the plugin to move the networks and routers of failed agents of the enabled
types (``allow_automatic_dhcp_failover``, ``allow_automatic_l3agent_failover``);
:mod:`agent.controller.failover` says what moves.  The first check waits
``2 * agent_down_time`` after start-up, so that agents silenced by a controller
outage have reported again before anything is judged (Neutron waits alike); so
does a check after a round that saw an outage (too many agents dead at once), so
that agents coming back one by one are not judged by the first of them.
"""

from __future__ import annotations

import logging
import threading
import time

from agent.controller import scheduler

LOG = logging.getLogger(__name__)


def enabled_types(conf) -> list[str]:
    types = []
    if conf.allow_automatic_dhcp_failover:
        types.append(scheduler.DHCP_AGENT)
    if conf.allow_automatic_l3agent_failover:
        types.append(scheduler.L3_AGENT)
    return types


def check_interval(conf) -> float:
    return conf.agent_failover_interval or conf.agent_down_time / 2


class FailoverLoop:
    def __init__(self, conf, plugin, clock=time.monotonic):
        self.conf = conf
        self.plugin = plugin
        self.types = enabled_types(conf)
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._said: dict[str, str] = {}     # agent type -> last reason logged for a skip
        self._hold: dict[str, float] = {}   # agent type -> no check before this clock()

    def start(self) -> FailoverLoop:
        if self.types:
            LOG.info('Automatic failover of %s agents: every %.1f s', ' and '.join(self.types),
                     check_interval(self.conf))
            self._thread = threading.Thread(target=self._run, name='agent-failover',
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check(self) -> None:
        """One round over the enabled agent types."""
        for agent_type in self.types:
            if self.clock() < self._hold.get(agent_type, 0):
                continue
            decision = self.plugin.fail_over_dead_agents(agent_type)
            if decision.outage:
                self._hold[agent_type] = self.clock() + 2 * self.conf.agent_down_time
            said = self._said.get(agent_type, '')
            if decision.skipped and decision.skipped != said:
                LOG.warning('%s failover: %d failed agent(s) (%s), nothing moved: %s%s',
                            agent_type, len(decision.failed), ', '.join(decision.failed),
                            decision.skipped, ' (and for 2 * agent_down_time after it)'
                            if decision.outage else '')
            self._said[agent_type] = decision.skipped
            if decision.moves:
                LOG.info('%s failover: moved %d from %d failed agent(s)', agent_type,
                         len(decision.moves), len({m.from_agent for m in decision.moves}))

    def _run(self) -> None:
        if self._stop.wait(2 * self.conf.agent_down_time):
            return
        while True:
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the next round tries again
                LOG.exception('Automatic failover check failed')
            if self._stop.wait(check_interval(self.conf)):
                return
