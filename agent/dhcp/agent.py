"""The DHCP agent, wired: conf, drivers, bus, queue, full-sync runner, heartbeat, children.

No business logic lives here (see :mod:`agent.dhcp.reconciler`, and
:mod:`agent.dhcp.routing` for what a notification asks).  Start-up:
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
from agent.common.names import DHCP_NS_PREFIX, id_from_namespace
from agent.conf import service
from agent.dataplane import physical_link
from agent.dataplane.executor import HostDrivers, host_drivers
from agent.dataplane.ports import BridgePorts
from agent.dhcp import routing
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
from agent.dhcp.state import NetworkStates
from agent.metadata import haproxy, node_proxy
from agent.process import ProcessManager, ProcessMonitor
from agent.reconcile.queue import WorkQueue
from agent.reconcile.runner import SyncRunner
from agent.rpc import events
from agent.rpc.agent_bus import AgentBus

LOG = logging.getLogger(__name__)

PRUNE_PRIORITY = 50
# Seconds for stop() to wait for its threads (run.py's STOP_DEADLINE ends the
# process 1.5 s after the signal whatever still runs).
STOP_TIMEOUT = 1.0
# ... of which for the bus to close (the heartbeat and the RPC server): its
# listener notices the stop only when its poll of the broker ends, and waiting
# for that made every stop run into the 1.5 s deadline (the restart's SIGTERM ->
# exit was 1.53 s of its 3.17 s, 200 networks, load 21).  Leaving earlier loses
# nothing: RabbitMQ requeues what was delivered and not acknowledged, and the
# next start resyncs in full.  It never stops within 0.2 s either: the stop only
# gives it a moment to start.
BUS_CLOSE_TIMEOUT = 0.02
QUEUE_WORKERS = 32
BACKGROUND_WORKERS = 2      # full-sync keys in flight while an event's key runs


def _iptables_stamp(settings: DnsmasqSettings, namespace: str) -> str | None:
    network_id = id_from_namespace(namespace, DHCP_NS_PREFIX)
    return None if network_id is None else DhcpPaths.of(settings, network_id).iptables


def _host_extras(conf, settings: DnsmasqSettings) -> tuple[LeaseReleaser, QdhcpFirewall]:
    """The lease releaser and the qdhcp iptables (real processes in namespaces)."""
    from agent.drivers.dhcp_release import DhcpReleaseDriver
    from agent.drivers.iptables import DHCP_WRAP, IptablesManager, IptablesManagers
    debug = bool(getattr(conf.AGENT, 'debug_iptables_rules', False))
    return (LeaseReleaser(DhcpReleaseDriver(),
                          lambda path: read_text(path, '', errors='replace') or ''),
            QdhcpFirewall(IptablesManagers(lambda ns: IptablesManager(
                ns, DHCP_WRAP, debug=debug, stamp_file=_iptables_stamp(settings, ns)))))


class DhcpAgent:
    def __init__(self, conf, *, transport=None, drivers: HostDrivers | None = None,
                 vlans=None, processes: ProcessManager | None = None):
        self.trimmer = malloc.Trimmer()      # when the queue goes idle
        self.conf = conf
        self.host = conf.host
        self.settings = DnsmasqSettings.from_conf(conf)
        self.bus = AgentBus.for_dhcp(
            conf, self, self.configurations,
            on_resync=self._revived, transport=transport)
        self.plugin = self.bus.dhcp
        self.heartbeat = self.bus.heartbeat
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
        self.networks = NetworkStates()
        bridge = conf.ovs.integration_bridge
        self.ports = BridgePorts(self.drivers.ovs, bridge)
        user, group = haproxy.proxy_user_and_group(conf)
        access.check_dnsmasq_reach(self.settings.confs_dir)
        if self.settings.enable_isolated_metadata or self.settings.force_metadata:
            access.check_proxy_reach(conf.metadata_proxy_socket, user, group, LOG)
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
        self.queue = WorkQueue(self._handle,
                               workers=max(QUEUE_WORKERS, conf.num_sync_threads),
                               name='dhcp', on_idle=self._idle,
                               background=METADATA_PRIORITY,
                               background_workers=BACKGROUND_WORKERS)
        self.node_proxy = node_proxy.from_conf(conf, self.processes, 'dhcp', user, group,
                                               haproxy.RateLimit.from_conf(conf))
        self.reconciler = DhcpReconciler(
            ReconcilerConfig(self.host, bridge, self.settings,
                             conf.ovs.local_vlan_tagging, user, group,
                             getattr(conf, 'metadata_proxy_socket', None),
                             bool(conf.debug),
                             metadata_rate_limit=haproxy.RateLimit.from_conf(conf),
                             metadata_proxy_mode=getattr(conf, 'metadata_proxy_mode',
                                                         'haproxy'),
                             ovs_use_veth=bool(getattr(conf, 'ovs_use_veth', False)),
                             bridge_mappings=physical_link.bridge_mappings(conf)),
            self.plugin, self.drivers, self.vlans, self.processes, self.monitor,
            self.networks, self.ready, self.ports, *_host_extras(conf, self.settings),
            enqueue=self.queue.enqueue, node_proxy=self.node_proxy)
        self.pruner = DhcpPruner(
            self.settings, self.drivers, self.processes, self.ports,
            lambda net_id: self.queue.enqueue(network_key(net_id), PRUNE_PRIORITY,
                                              'not assigned any more'),
            self.reconciler.assigned.ids,
            lambda: frozenset(s.device for s in self.networks.all_served()),
            self.host, self.reconciler.known_dhcp_ports,
            DhcpSweep(self.settings, self.processes, self.reconciler.metadata_spec,
                      self.reconciler.claim, self.node_proxy, node_proxy.shared(conf)),
            node_proxy=self.node_proxy)
        self.runner = SyncRunner(self._fetch_all, self.queue, self.pruner,
                                 resync_interval=conf.resync_interval,
                                 resync_throttle=conf.resync_throttle,
                                 name='dhcp-full-sync')
        self.stopped = threading.Event()
        self._starter: threading.Thread | None = None

    def _revived(self) -> None:
        """The bus reconnected or the heartbeat revived: events may be lost."""
        self.runner.request_full_sync('bus or heartbeat revived')

    def _idle(self):
        """The queue has nothing waiting or running: the end of a burst."""
        reconciler = getattr(self, 'reconciler', None)
        if reconciler is not None:
            reconciler.apply_firewalls()
        self.trimmer.idle()

    def _handle(self, key):
        """The queue's handler (the queue is made first: the reconciler queues
        the metadata proxies' keys on it)."""
        return self.reconciler.handle(key)

    # -- full sync ------------------------------------------------------------------

    def _fetch_all(self):
        started = time.monotonic()
        networks = [dhcp_enabled(n) for n in self.plugin.get_active_networks_info()]
        self.reconciler.prefetched(networks, started)
        return {network_key(n.id): n for n in networks}

    # -- events ---------------------------------------------------------------------

    def enqueue(self, event: events.DhcpEvent) -> None:
        """Called by the RPC endpoint for every well-formed notification."""
        to = routing.route(event, self._view())
        if to.resync is not None:
            self.runner.request_full_sync(to.resync)
            return
        if to.network_id is None:
            return
        self.reconciler.assigned.event(to.network_id, to.assigned)
        if self.reconciler.fetch_waiters.wait_or_expect(to.network_id, Waiting(
                lambda n: routing.holds_created(n, event), event.priority, event.method)
                if event.method in routing.CREATES else None):
            LOG.debug('%s for network %s: waits for the read of the run queued',
                      event.method, to.network_id)
            return
        LOG.debug('%s for network %s: queued', event.method, to.network_id)
        self.reconciler.invalidate(to.network_id)
        self.queue.enqueue(network_key(to.network_id), event.priority, event.method)

    def _view(self) -> routing.View:
        return routing.View(
            self.host, self.networks.network_of_subnet, self.networks.served,
            lambda network_id: network_key(network_id) in self.queue.pending_keys(),
            self.reconciler.assigned.__contains__, self.reconciler.last_fetched)

    def configurations(self) -> dict:
        return {'dhcp_driver': 'dnsmasq',
                'dhcp_lease_duration': self.settings.lease_duration,
                'log_agent_heartbeats': self.conf.AGENT.log_agent_heartbeats,
                **self.networks.counts(),
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
        self.bus.start()
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
        self.bus.stop()         # its clients still send the ready ports below
        self.runner.stop(left())
        if self._starter is not None:
            self._starter.join(left())
        self.monitor.stop(left())
        self.node_proxy.stop(left())
        self.queue.stop(left())
        if left() > 0:
            self.ready.send_once()
        self.ready.stop(left())
        self.bus.join(min(left(), BUS_CLOSE_TIMEOUT))
        LOG.info('DHCP agent stopped in %.2f s', timeout - left())
