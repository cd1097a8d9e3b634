"""The DHCP agent, wired: conf, drivers, bus, queue, full-sync runner, heartbeat, children.

No business logic lives here (see :mod:`agent.dhcp.reconciler`).  Start-up:
the RPC server first (an event's network is served at once: its handler fetches
it), the heartbeat with ``start_flag``, and once it was delivered the full sync,
which re-checks and adopts what exists behind the events and only then prunes.  :meth:`DhcpAgent.stop` stops the threads and
leaves every dnsmasq and metadata proxy serving; :meth:`DhcpAgent.reload`
re-reads the mutable options and resyncs.
"""

from __future__ import annotations

import logging
import threading
import time

from agent.common import access, malloc
from agent.common.fileutils import read_text
from agent.common.names import DHCP_NS_PREFIX, dhcp_port_device_id, id_from_namespace
from agent.conf import service
from agent.dataplane import physical_link
from agent.dataplane.executor import HostDrivers, host_drivers
from agent.dataplane.ports import BridgePorts
from agent.dhcp.cache import NetworkCache
from agent.dhcp.desired import dhcp_enabled
from agent.dhcp.firewall import QdhcpFirewall
from agent.dhcp.fetch_waiters import Waiting
from agent.dhcp.leases import LeaseReleaser
from agent.dhcp.prune import DhcpPruner
from agent.dhcp.sweep import DhcpSweep, sweep_temp_files
from agent.dhcp.ready_ports import ReadyPortsReporter
from agent.dhcp.reconciler import (METADATA_PRIORITY, DhcpReconciler, ReconcilerConfig,
                                   network_key)
from agent.dhcp.settings import DhcpPaths, DnsmasqSettings
from agent.metadata import haproxy, node_proxy
from agent.model.network import Network
from agent.process import ProcessManager, ProcessMonitor
from agent.reconcile.queue import WorkQueue
from agent.reconcile.runner import SyncRunner
from agent.rpc import agent_server, clients, events, heartbeat, transport

LOG = logging.getLogger(__name__)

BINARY = 'neutron-dhcp-agent'        # what Neutron's server expects in report_state
AGENT_TYPE = 'DHCP agent'
PRUNE_PRIORITY = 50
# Seconds for stop() to wait for its threads (run.py's STOP_DEADLINE ends the
# process 1.5 s after the signal whatever still runs).
STOP_TIMEOUT = 1.0
# ... of which for the RPC server to stop: its listener notices the stop only when
# its poll of the broker ends, and waiting for that made every stop run into the
# 1.5 s deadline (the restart's SIGTERM -> exit was 1.53 s of its 3.17 s, 200
# networks, load 21).  Leaving earlier loses nothing: RabbitMQ requeues what was
# delivered and not acknowledged, and the next start resyncs in full.  It never
# stops within 0.2 s either: the stop only gives it a moment to start.
BUS_CLOSE_TIMEOUT = 0.02
QUEUE_WORKERS = 32
BACKGROUND_WORKERS = 2      # full-sync keys in flight while an event's key runs


def _iptables_record(settings: DnsmasqSettings, namespace: str) -> str | None:
    network_id = id_from_namespace(namespace, DHCP_NS_PREFIX)
    return None if network_id is None else DhcpPaths.of(settings, network_id).iptables


def _host_extras(conf, settings: DnsmasqSettings) -> tuple[LeaseReleaser, QdhcpFirewall]:
    """The lease releaser and the qdhcp iptables (real processes in namespaces)."""
    from agent.drivers.dhcp_release import DhcpReleaseDriver
    from agent.drivers.iptables import DHCP_WRAP, IptablesManager
    debug = bool(getattr(conf.AGENT, 'debug_iptables_rules', False))
    return (LeaseReleaser(DhcpReleaseDriver(),
                          lambda path: read_text(path, '', errors='replace') or ''),
            QdhcpFirewall(lambda ns: IptablesManager(ns, DHCP_WRAP, debug=debug),
                          record=lambda ns: _iptables_record(settings, ns)))


CREATES = ('network_create_end', 'subnet_create_end', 'port_create_end')


def holds_created(network: Network, event: events.DhcpEvent) -> bool:
    """Whether ``network`` (as read from the server) holds what ``event`` created."""
    if event.method == 'network_create_end':
        return event.network_id == network.id
    if event.method == 'subnet_create_end':
        return any(s.id == event.subnet_id for s in network.subnets)
    if event.method == 'port_create_end':
        return network.port(event.port_id) is not None
    return False


class DhcpAgent:
    def __init__(self, conf, *, bus=None, drivers: HostDrivers | None = None,
                 vlans=None, processes: ProcessManager | None = None):
        self.trimmer = malloc.Trimmer()      # when the queue goes idle
        self.conf = conf
        self.host = conf.host
        self.settings = DnsmasqSettings.from_conf(conf)
        self.transport = bus if bus is not None else transport.get_transport(conf)
        self.plugin = clients.DhcpPluginApi(conf, self.transport, self.host)
        self.drivers = drivers or host_drivers(conf)
        if vlans is None:
            from agent.drivers.local_vlan import LocalVlans
            vlans = LocalVlans.from_conf(conf, self.drivers.ovs)
        self.vlans = vlans
        self.processes = processes or ProcessManager()
        self.monitor = ProcessMonitor(conf.AGENT.check_child_processes_interval,
                                      conf.AGENT.check_child_processes_action,
                                      self.processes)
        self.ready = ReadyPortsReporter(self.plugin.dhcp_ready_on_ports)
        self.cache = NetworkCache()
        bridge = conf.ovs.integration_bridge
        self.ports = BridgePorts(self.drivers.ovs, bridge)
        user, group = haproxy.proxy_user_and_group(conf)
        access.check_dnsmasq_reach(self.settings.confs_dir)
        if self.settings.enable_isolated_metadata or self.settings.force_metadata:
            access.check_proxy_reach(conf.metadata_proxy_socket, user, group, LOG)
        self.reconciler = DhcpReconciler(
            ReconcilerConfig(self.host, bridge, self.settings,
                             conf.ovs.local_vlan_tagging, user, group,
                             getattr(conf, 'metadata_proxy_socket', None),
                             bool(conf.debug),
                             metadata_rate_limit=haproxy.RateLimit.from_conf(conf),
                             metadata_proxy_mode=getattr(conf, 'metadata_proxy_mode',
                                                         'haproxy'),
                             bridge_mappings=physical_link.bridge_mappings(conf)),
            self.plugin, self.drivers, self.vlans, self.processes, self.monitor,
            self.cache, self.ready, self.ports, *_host_extras(conf, self.settings))
        # Workers mostly wait on the bus and the kernel: more than CPUs (Neutron's
        # DHCP agent runs 32); num_sync_threads raises it further.  In a full sync
        # the networks waiting for their tap share one OVS transaction (one
        # ovs-vswitchd reconfiguration): the more in flight, the fewer transactions
        # (300 networks from cold: 23 s with 16, 14 s with 32 or 64).  But while an
        # agent restart re-checks every network, each busy worker slows the others
        # and new work (GIL): 100 networks, new one served 1.0 s after the start
        # with 16 or 32, 1.9 s with 64.
        # Open from the start: an event's key runs at once (its handler fetches the
        # network itself), ahead of the full sync's re-checks, which may take only
        # BACKGROUND_WORKERS workers while it runs (agent.reconcile.queue); the
        # metadata proxies' keys count as background too (during a cold start one
        # is nearly always running, and must not hold the networks back).
        self.queue = WorkQueue(self.reconciler.handle,
                               workers=max(QUEUE_WORKERS, conf.num_sync_threads),
                               name='dhcp', on_idle=self.trimmer.idle,
                               background=METADATA_PRIORITY,
                               background_workers=BACKGROUND_WORKERS)
        self.reconciler.enqueue = self.queue.enqueue
        self.node_proxy = node_proxy.from_conf(conf, self.processes, 'dhcp', user, group,
                                               haproxy.RateLimit.from_conf(conf))
        self.reconciler.node_proxy = self.node_proxy
        self.pruner = DhcpPruner(
            self.settings, self.drivers, self.processes, self.ports,
            lambda net_id: self.queue.enqueue(network_key(net_id), PRUNE_PRIORITY,
                                              'not assigned any more'),
            self.reconciler.assigned.ids,
            lambda: frozenset(s.device for s in
                              (self.cache.get(i) for i in self.cache.ids()) if s),
            self.host, self.reconciler.known_dhcp_ports,
            DhcpSweep(self.settings, self.processes, self.reconciler.metadata_spec,
                      self.reconciler.claim, self.node_proxy, node_proxy.shared(conf)),
            node_proxy=self.node_proxy)
        self.runner = SyncRunner(self._fetch_all, self.queue, self.pruner,
                                 resync_interval=conf.resync_interval,
                                 resync_throttle=conf.resync_throttle,
                                 name='dhcp-full-sync')
        self.heartbeat = heartbeat.Heartbeat(
            clients.ReportStateApi(self.transport,
                                   timeout=conf.AGENT.report_interval or None),
            heartbeat.AgentIdentity(BINARY, agent_server.DHCP_AGENT_TOPIC, AGENT_TYPE,
                                    self.host, conf.AGENT.availability_zone),
            self.configurations, conf.AGENT.report_interval,
            on_resync=lambda: self.runner.request_full_sync('heartbeat: resync'),
            log_heartbeats=conf.AGENT.log_agent_heartbeats,
            retry_interval=min(conf.AGENT.report_interval or 1.0, 5.0))
        self.server = None
        self.stopped = threading.Event()
        self._starter: threading.Thread | None = None

    # -- full sync ------------------------------------------------------------------

    def _fetch_all(self):
        started = time.monotonic()
        networks = [dhcp_enabled(n) for n in self.plugin.get_active_networks_info()]
        self.reconciler.prefetched(networks, started)
        return {network_key(n.id): n for n in networks}

    # -- events ---------------------------------------------------------------------

    def enqueue(self, event: events.DhcpEvent) -> None:
        """Called by the RPC endpoint for every well-formed notification."""
        if event.full_resync:
            self.runner.request_full_sync(f'{event.method}')
            return
        network_id = event.network_id
        if network_id is None and event.subnet_id:
            network_id = self.cache.network_of_subnet(event.subnet_id)
        if network_id is None:
            self.runner.request_full_sync(f'{event.method} for an unknown network')
            return
        if self._own_port_echo(event) or self._known_create(event):
            return
        self.reconciler.assigned.event(network_id, event.method != 'network_delete_end')
        if self.reconciler.fetch_waiters.wait_or_expect(network_id, Waiting(
                lambda n: holds_created(n, event), event.priority, event.method)
                if event.method in CREATES else None):
            LOG.debug('%s for network %s: waits for the read of the run queued',
                      event.method, network_id)
            return
        LOG.debug('%s for network %s: queued', event.method, network_id)
        self.reconciler.invalidate(network_id)
        self.queue.enqueue(network_key(network_id), event.priority, event.method)

    def _own_port_echo(self, event: events.DhcpEvent) -> bool:
        """The server telling us about the DHCP port we just created or updated.

        Skipped while the network waits or runs in the queue (that run uses the
        port the call returned, or fetches afresh) or when it matches what is
        served; any other change of our port is reconciled as usual.
        """
        port = event.port
        if port is None or port.device_id != dhcp_port_device_id(self.host,
                                                                 port.network_id):
            return False
        served = self.cache.get(port.network_id)
        if served is not None and served.port_id == port.id:
            mine = served.network.port(port.id)
            if mine is not None and mine.fixed_ips == port.fixed_ips \
                    and mine.mac_address == port.mac_address:
                return True
        return network_key(port.network_id) in self.queue.pending_keys()

    def _known_create(self, event: events.DhcpEvent) -> bool:
        """A create that the last state read of the (assigned) network already holds.

        The notifications queued for the agent while it was down arrive after its
        full fetch at start, which read everything they announce: acting on them
        would fetch and reconcile every network a second time.
        """
        if event.network_id is None or event.network_id not in self.reconciler.assigned:
            return False
        network = self.reconciler.last_fetched(event.network_id)
        return network is not None and holds_created(network, event)

    def configurations(self) -> dict:
        return {'dhcp_driver': 'dnsmasq',
                'dhcp_lease_duration': self.settings.lease_duration,
                'log_agent_heartbeats': self.conf.AGENT.log_agent_heartbeats,
                **self.cache.counts(),
                'reconcile': self.queue.status.counts(),
                'in_sync': self.runner.in_sync.is_set()}

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> DhcpAgent:
        # The bus first: an event's network is fetched and its DHCP port made
        # while the OVSDB connection (agent.drivers.ovs.connect_soon, started when
        # the drivers were made) still copies the host's ports.  The shared
        # metadata proxy is adopted or started before any network's reconcile.
        self.node_proxy.start_for(node_proxy.shared(self.conf))
        self.queue.start()
        self.ready.start()
        self.server = agent_server.start_dhcp_agent_server(
            self.transport, self.host, self,
            on_reconnect=lambda: self.runner.request_full_sync('broker reconnect'))
        self.heartbeat.start()
        bridge = self.conf.ovs.integration_bridge
        try:
            if self.drivers.ovs.ensure_bridge(bridge, self.conf.ovs.datapath_type):
                LOG.info('created the integration bridge %s (datapath %s)', bridge,
                         self.conf.ovs.datapath_type)
        except Exception as exc:  # noqa: BLE001 - plugging retries until it exists
            LOG.error('integration bridge %s: %s', bridge, exc)
        physical_link.ensure_physical_links(self.drivers.ovs, bridge,
                                            self.reconciler.config.bridge_mappings)
        self.monitor.start()
        self._starter = threading.Thread(target=self._start_syncs, name='dhcp-start',
                                         daemon=True)
        self._starter.start()
        return self

    def _start_syncs(self) -> None:
        """Off the start-up path (new work is served meanwhile): the temp files of
        killed writes swept (one walk of every state directory; again on every
        full sync, DhcpSweep), then the full syncs, from the first heartbeat."""
        sweep_temp_files(self.settings)
        self.runner.start_when(self.heartbeat.first_report, self.stopped)

    def reload(self) -> None:
        """SIGHUP: re-read the mutable options (log level), then resync in full."""
        service.reload_config_files(self.conf)
        self.runner.request_full_sync('SIGHUP')

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop all threads within about ``timeout`` seconds; dnsmasq and metadata
        proxies keep serving.  A reconcile in progress finishes its current step
        if it can in the time left (the next start's full sync redoes the rest)."""
        if self.stopped.is_set():
            return
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self.stopped.set()
        LOG.info('stopping the DHCP agent; its children keep serving')
        closing = None
        if self.server is not None:
            closing = threading.Thread(target=transport.stop_rpc_server,
                                       args=(self.server, None), name='rpc-server-stop',
                                       daemon=True)
            closing.start()
        self.heartbeat.stop()
        self.runner.stop(left())
        if self._starter is not None:
            self._starter.join(left())
        self.monitor.stop(left())
        self.node_proxy.stop(left())
        self.queue.stop(left())
        if left() > 0:
            self.ready.send_once()
        self.ready.stop(left())
        self.heartbeat.join(left())
        if closing is not None:
            closing.join(min(left(), BUS_CLOSE_TIMEOUT))
        LOG.info('DHCP agent stopped in %.2f s', timeout - left())
