"""What every agent's ``main()`` does: one place for the process life cycle.

Parse the options, set up logging, take the ``state_path`` lock (two agents of a
kind on one state_path would fight over the same namespaces and children), build
and start the agent, then serve until SIGTERM/SIGINT and stop it.  The process
exits within :data:`STOP_DEADLINE` seconds of the signal whatever the agent still
waits for (see :class:`StopDeadline`); its children keep serving.  SIGHUP runs
the agent's ``reload()`` on a thread of its own (re-read the mutable options,
resync); SIGUSR2 logs a Guru Meditation Report (:mod:`agent.ops.gmr`).  Under
systemd (``Type=notify``) the agent says ``READY=1`` once started and, with
``WatchdogSec=``, pings while its own loops live (:mod:`agent.ops.watchdog`);
``[AGENT] metrics_bind_port`` serves Prometheus metrics (:mod:`agent.ops.metrics`).
Each agent is described by an :class:`AgentMain` (below); its
``agent.cmd.<agent>.main`` runs it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Callable, Protocol

from oslo_config import cfg

from agent.common import service_lock, signals
from agent.conf import neutron_compat, service
from agent.ops import gmr, sdnotify, watchdog

if TYPE_CHECKING:
    from agent.ops.metrics import MetricsServer

LOG = logging.getLogger(__name__)

# The agents that drive the data plane: per-message netlink, OVSDB transaction and
# asyncio loop chatter would drown the plans in --debug logs (the agents log each
# change as a command themselves); pyroute2 is imported first so its level holds.
DATAPLANE_QUIET_LOGGERS = ('pyroute2=WARNING', 'ovsdbapp=INFO', 'ovs=INFO', 'asyncio=INFO')
DATAPLANE_PRELOAD = ('agent.drivers.link',)
# Seconds from SIGTERM/SIGINT to the exit (systemd's stop and a restart wait on it).
STOP_DEADLINE = 1.5
# The main loop turns every second; under a load that starves it of the GIL for
# this long (or half WatchdogSec=, if longer) it counts as stuck for the watchdog.
WATCHDOG_MIN_STALE = 10.0


class Agent(Protocol):
    def start(self) -> object: ...

    def reload(self) -> None: ...

    def stop(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AgentMain:
    binary: str                                  # 'netnode-dhcp-agent': log, lock, messages
    label: str                                   # 'DHCP agent', in log lines
    groups: tuple                                # option groups (agent.conf.service)
    build: Callable[[object], Agent]             # the agent from the parsed options
    lock_exit: int | None = 1                    # exit status when the lock is held; None: no lock
    quiet_loggers: tuple[str, ...] = ()          # 'logger=LEVEL' added to default_log_levels
    preload: tuple[str, ...] = ()                # modules imported before logging is set up
    serving: Callable[[cfg.ConfigOpts], str] | None = None   # a line logged once started
    neutron_options: tuple = ()                  # Neutron's options it recognises (neutron_compat)


class _Reloader:
    """SIGHUP runs the agent's ``reload()`` on a thread; one that comes during the
    start-up runs once the agent has started.  (Python runs signal handlers in the
    main thread, between the steps of ``run_agent``: no lock is needed.)"""

    def __init__(self):
        self.agent: Agent | None = None
        self.pending = False
        signal.signal(signal.SIGHUP, lambda _signum, _frame: self.request())

    def request(self) -> None:
        if self.agent is None:
            self.pending = True
            return
        threading.Thread(target=self.agent.reload, name='sighup-reload', daemon=True).start()

    def started(self, agent: Agent) -> None:
        self.agent = agent
        if self.pending:
            LOG.info('SIGHUP during start-up: reloading now')
            self.request()


class StopDeadline:
    """Armed by SIGTERM/SIGINT: if the process still runs ``seconds`` later (the
    agent's stop waiting on an RPC call with a long timeout, a full sync, a
    listener's poll, oslo.messaging's transport cleanup; or a start-up that has not
    returned), it exits there and then.  Nothing is lost: state files are written
    atomically, the children (dnsmasq, haproxy, radvd) run on and the next start
    adopts them, and a full sync redoes whatever was under way."""

    def __init__(self, label: str, seconds: float = STOP_DEADLINE):
        self.label = label
        self.seconds = seconds
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is not None:
            return
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.name = 'stop-deadline'
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        busy = sorted(t.name for t in threading.enumerate()
                      if t is not threading.current_thread() and t.is_alive())
        LOG.warning('%s still stopping %.1f s after the signal (threads: %s): exiting '
                    'now; its children keep serving', self.label, self.seconds,
                    ', '.join(busy))
        exit_now(0)


def exit_now(code: int) -> None:
    """Flush the logs and end the process at once: no thread a library left running
    (oslo.messaging's executors and connections) holds the exit up."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    os._exit(code)


def main(spec: AgentMain, argv=None) -> None:
    """An agent process's ``main()``: run it, then exit with its status."""
    exit_now(run_agent(spec, argv))


def _fail(spec: AgentMain, message: str, code: int) -> int:
    print(f'{spec.binary}: {message}', file=sys.stderr)
    return code


def run_agent(spec: AgentMain, argv=None) -> int:
    """Run the agent ``spec`` describes until SIGTERM/SIGINT; the exit status.

    0 after a clean stop; 2 when the configuration cannot be read or sets a
    Neutron option to a value netnode cannot honour (the option is named);
    ``spec.lock_exit`` when another agent holds the state_path; 1 when the agent
    cannot be built or started (the reason is logged and printed on stderr).
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        conf, verdict = _read_conf(spec, argv)
    except cfg.Error as exc:                 # a missing or malformed config file or value
        return _fail(spec, str(exc), 2)
    # pyroute2 resets its logger's level when imported: import it before logging
    # is set up, so pyroute2=WARNING holds.
    for module in spec.preload:
        importlib.import_module(module)
    if spec.quiet_loggers:
        conf.set_default('default_log_levels',
                         list(conf.default_log_levels) + list(spec.quiet_loggers))
    service.setup_logging(conf, spec.binary)
    for line in verdict.ignored:
        LOG.warning('Neutron option ignored: %s', line)
    if verdict.errors:
        for line in verdict.errors:
            LOG.error('Neutron option not supported: %s', line)
        return _fail(spec, 'cannot honour ' + '; '.join(verdict.errors), 2)
    lock = None
    if spec.lock_exit is not None:
        try:
            lock = service_lock.acquire(conf.state_path, spec.binary)
        except (service_lock.AlreadyRunning, OSError) as exc:
            LOG.error('%s', exc)
            return _fail(spec, str(exc), spec.lock_exit)
    deadline = StopDeadline(spec.label)
    try:
        code = _serve(spec, conf, deadline)
    finally:
        if lock is not None:
            os.close(lock)
    deadline.cancel()
    return code


def _read_conf(spec: AgentMain, argv):
    """The parsed options and the verdict on the Neutron options the operator set
    that netnode recognises without implementing them."""
    conf = cfg.ConfigOpts()
    service.register(conf, spec.groups)
    recognised = neutron_compat.register(conf, spec.neutron_options)
    conf = service.make_conf(argv, groups=spec.groups, conf=conf)
    given = neutron_compat.operator_values(conf, recognised)
    return conf, neutron_compat.decide(given, recognised)


def _serve(spec: AgentMain, conf, deadline: StopDeadline) -> int:
    stop = threading.Event()
    notifier = sdnotify.Notifier()

    def on_signal():
        notifier.stopping()
        deadline.arm()
    signals.stop_on_signals(stop, on_signal=on_signal)
    reloader = _Reloader()
    gmr.Reporter(spec.binary, conf, lambda: reloader.agent).install()
    LOG.info('%s starting as host %s, state_path %s', spec.label, conf.host,
             conf.state_path)
    try:
        agent = spec.build(conf)
        agent.start()
    except Exception as exc:  # noqa: BLE001 - say why, exit non-zero
        LOG.exception('cannot start the %s', spec.label)
        return _fail(spec, f'cannot start: {exc}', 1)
    reloader.started(agent)
    if spec.serving is not None:
        LOG.info('%s', spec.serving(conf))
    tick = watchdog.Tick('the main loop')
    extras = _Extras.start(spec, conf, agent, notifier, tick)
    try:
        while not stop.wait(1.0):
            tick.beat()
    finally:
        extras.stop()
        agent.stop()
    LOG.info('%s stopped', spec.label)
    return 0


@dataclasses.dataclass(slots=True)
class _Extras:
    """What runs beside a started agent for its supervisors: the metrics endpoint
    (``[AGENT] metrics_bind_port``) and systemd's watchdog (``WatchdogSec=``);
    systemd is told the agent is ready once both are up."""
    metrics: MetricsServer | None
    watchdog: watchdog.Watchdog | None

    @classmethod
    def start(cls, spec: AgentMain, conf, agent, notifier, tick) -> _Extras:
        metrics = None
        port = conf.AGENT.metrics_bind_port
        if port is not None:
            from agent.ops.metrics import MetricsServer
            try:
                metrics = MetricsServer(spec.binary, agent, conf.AGENT.metrics_bind_host,
                                        port).start()
            except OSError as exc:     # the agent serves on without its metrics
                LOG.error('metrics: cannot listen on %s port %s: %s',
                          conf.AGENT.metrics_bind_host, port, exc)
        dog = None
        interval = sdnotify.watchdog_interval()
        if notifier.enabled and interval:
            dog = watchdog.Watchdog(notifier, interval,
                                    [tick.check(max(interval, WATCHDOG_MIN_STALE)),
                                     watchdog.queue_workers(agent)]).start()
        notifier.ready(f'{spec.label} started as host {conf.host}')
        return cls(metrics, dog)

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.metrics is not None:
            self.metrics.stop()


# The agents -------------------------------------------------------------------------
# Built after the lock is held and logging is set up (their imports are heavy).

def _dhcp_agent(conf):
    from agent.dhcp.agent import DhcpAgent
    return DhcpAgent(conf)


def _l3_agent(conf):
    from agent.l3.agent import L3Agent
    return L3Agent(conf)


def _metadata_agent(conf):
    from agent.metadata.agent import MetadataAgent
    return MetadataAgent(conf)


DHCP_AGENT = AgentMain(binary='netnode-dhcp-agent', label='DHCP agent',
                       groups=service.DHCP_AGENT_GROUPS, build=_dhcp_agent, lock_exit=1,
                       quiet_loggers=DATAPLANE_QUIET_LOGGERS, preload=DATAPLANE_PRELOAD,
                       neutron_options=neutron_compat.DHCP)
L3_AGENT = AgentMain(binary='netnode-l3-agent', label='L3 agent',
                     groups=service.L3_AGENT_GROUPS, build=_l3_agent, lock_exit=2,
                     quiet_loggers=DATAPLANE_QUIET_LOGGERS, preload=DATAPLANE_PRELOAD,
                     neutron_options=neutron_compat.L3)
# No state_path lock: a second agent on the same socket refuses to start by itself.
METADATA_AGENT = AgentMain(
    binary='netnode-metadata-agent', label='metadata agent',
    groups=service.METADATA_AGENT_GROUPS, build=_metadata_agent, lock_exit=None,
    neutron_options=neutron_compat.METADATA,
    serving=lambda conf: f'metadata agent serving {conf.metadata_proxy_socket} as host '
                         f'{conf.host}, documents from '
                         f'{neutron_compat.metadata_backend(conf)}')
