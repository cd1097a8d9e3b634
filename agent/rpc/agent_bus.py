"""One object per agent process for everything on the bus.

    bus = AgentBus.for_dhcp(conf, handler, configurations=cache.counts,
                            on_resync=runner.request_full_sync)
    bus.start()                 # server (topic + host + fanout) and heartbeat
    bus.heartbeat.first_report.wait()
    net = bus.dhcp.get_network_info(network_id)
    ...
    bus.stop()                  # no more notifications nor heartbeats
    bus.dhcp.dhcp_ready_on_ports(port_ids)     # the clients work until join()
    bus.join()

``on_resync`` is called after a ``'revived'`` heartbeat, after a report that
succeeded following failures, and after the agent's RPC server reconnected to
the broker: in each case notifications may have been missed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

from agent.rpc import agent_server, clients
from agent.rpc.heartbeat import AgentIdentity, Heartbeat
from agent.rpc.transport import BusHealth, get_transport, stop_rpc_servers

LOG = logging.getLogger(__name__)

DHCP_IDENTITY = ('neutron-dhcp-agent', agent_server.DHCP_AGENT_TOPIC, 'DHCP agent')
L3_IDENTITY = ('neutron-l3-agent', agent_server.L3_AGENT_TOPIC, 'L3 agent')


class AgentBus:
    def __init__(self, conf, identity: AgentIdentity, start_servers: Callable,
                 configurations: Callable[[], dict],
                 on_resync: Callable[[], None], transport=None,
                 retry_interval: float | None = None):
        self.conf = conf
        self.identity = identity
        self.transport = transport or get_transport(conf)
        self._own_transport = transport is None
        self._start_servers = start_servers
        self._on_resync = on_resync
        self.servers: list = []
        self._closing_lock = threading.Lock()
        self._closer: threading.Thread | None = None
        self._cleaned = False
        self.health = BusHealth()
        self.dhcp = clients.DhcpPluginApi(conf, self.transport, conf.host)
        self.l3 = clients.L3PluginApi(conf, self.transport, conf.host)
        interval = conf.AGENT.report_interval
        self.heartbeat = Heartbeat(
            clients.ReportStateApi(self.transport, timeout=interval or None),
            identity, configurations, interval, on_resync=on_resync,
            bus=self.health, log_heartbeats=conf.AGENT.log_agent_heartbeats,
            retry_interval=retry_interval)

    @classmethod
    def _make(cls, conf, names, start, handler, configurations, on_resync,
              transport=None, retry_interval=None):
        identity = AgentIdentity(*names, host=conf.host,
                                 availability_zone=conf.AGENT.availability_zone)

        def start_servers(trans, host, resync):
            result = start(trans, host, handler, on_reconnect=resync)
            return result if isinstance(result, list) else [result]
        return cls(conf, identity, start_servers, configurations, on_resync,
                   transport, retry_interval)

    @classmethod
    def for_dhcp(cls, conf, handler, configurations, on_resync, transport=None):
        """A failed report is retried within 5 s (not a whole report_interval):
        the DHCP agent's first full sync waits for the first report."""
        return cls._make(conf, DHCP_IDENTITY, agent_server.start_dhcp_agent_server,
                         handler, configurations, on_resync, transport,
                         retry_interval=min(conf.AGENT.report_interval or 1.0, 5.0))

    @classmethod
    def for_l3(cls, conf, handler, configurations, on_resync, transport=None):
        return cls._make(conf, L3_IDENTITY, agent_server.start_l3_agent_servers,
                         handler, configurations, on_resync, transport)

    def start(self) -> None:
        """Listen first (so no notification is missed), then heartbeat."""
        self.servers = self._start_servers(self.transport, self.conf.host,
                                           self._reconnected)
        self.heartbeat.start()

    def _reconnected(self) -> None:
        LOG.info('%s: broker reconnected, full resync', self.identity.binary)
        self._on_resync()

    def stop(self) -> None:
        """Stop the heartbeat and start closing the servers; the clients keep
        working (for the agent's last calls) until :meth:`join`.

        The closing runs on a thread of its own: a listener notices ``stop()``
        only when its current poll of the broker ends (up to the driver's poll
        timeout, 10 s with RabbitMQ heartbeats on), and nothing else needs to wait
        for that.
        """
        self.heartbeat.stop()
        with self._closing_lock:
            if self._closer is None:
                self._closer = threading.Thread(target=self._close, name='bus-close',
                                                daemon=True)
                self._closer.start()

    def _close(self) -> None:
        stop_rpc_servers(self.servers)
        self.servers = []

    def join(self, timeout: float | None = 10) -> bool:
        """Wait up to ``timeout`` s for the heartbeat and the closing; True if done
        (then a transport of its own is cleaned up).

        When the time is up the process may exit anyway: RabbitMQ requeues what
        was delivered and not acknowledged, and the next start resyncs in full.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.heartbeat.join(timeout)
        self.stop()
        self._closer.join(None if deadline is None
                          else max(0.0, deadline - time.monotonic()))
        if self._closer.is_alive():
            LOG.info('%s: leaving the bus without waiting for its listeners\' last poll',
                     self.identity.binary)
            _do_not_join_executors_at_exit()
            return False
        with self._closing_lock:
            cleanup, self._cleaned = self._own_transport and not self._cleaned, True
        if cleanup:
            self.transport.cleanup()
        return True


def _do_not_join_executors_at_exit() -> None:
    """futurist joins every worker thread it made when the interpreter exits, and
    an idle worker notices only after its 1 s poll of its queue: the RPC servers'
    executors would hold the exit of an agent that is leaving that long.  Its
    workers are daemon threads; nothing is lost by not joining them."""
    try:
        from futurist import _thread
        atexit.unregister(_thread._clean_up)
    except (ImportError, AttributeError):     # another futurist: it is only slower
        pass
