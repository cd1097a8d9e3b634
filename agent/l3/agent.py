"""The L3 agent: wiring of conf, drivers, bus, queue, full sync and children.

Notifications enqueue router keys; a worker fetches the router (or takes the
copy a full sync just fetched), reconciles it (:mod:`agent.l3.reconciler`) or
tears it down when the server no longer gives it to this host, then reports
changed floating-IP statuses.  The full-sync runner fetches every router of
the host (``get_router_ids`` + chunked ``sync_routers``), enqueues them, and
only then prunes what this agent left and nobody wants any more.  Nothing on
the data plane is touched before the first full fetch (the in-sync gate: see
the queue below), and the first full fetch waits for the first heartbeat (the
server only knows the host's routers once it knows the agent); then the events
run ahead of its re-checks.
"""

from __future__ import annotations

import logging
import threading
import time

from agent.common import access, malloc, names
from agent.conf import service
from agent.dataplane import physical_link
from agent.dataplane.executor import HostDrivers, host_drivers
from agent.drivers.local_vlan import LocalVlans
from agent.l3 import desired as want
from agent.l3 import ha_state
from agent.l3 import sweep as l3sweep
from agent.l3.fip_status import FloatingIpStatusReporter
from agent.l3.host import RouterHost
from agent.l3.plug_ahead import PlugAhead, plug_first_ports
from agent.l3.prune import L3Pruner
from agent.l3.reconciler import RouterReconciler, Stopping, router_ports
from agent.l3.settings import L3Settings
from agent.metadata import node_proxy
from agent.model.router import Router
from agent.process.children import Children
from agent.process.manager import ProcessManager
from agent.process.monitor import ProcessMonitor
from agent.reconcile.plan import ActionFailed
from agent.reconcile.prefetch import Prefetched
from agent.reconcile.queue import TerminalError, WorkQueue
from agent.reconcile.runner import FULL_SYNC_PRIORITY, SyncRunner
from agent.rpc.agent_bus import AgentBus
from agent.rpc.codec import WireError
from agent.rpc.events import L3Event

LOG = logging.getLogger(__name__)

DELETE_PRIORITY = 50         # deletes first (Neutron: DELETE_ROUTER is its top action)
RPC_PRIORITY = 100           # then RPC updates, then the full sync (200)
ORPHAN_PRIORITY = 150
BACKGROUND_WORKERS = 1       # full-sync keys in flight while an event's key runs
STOP_TIMEOUT = 1.0           # seconds for stop() to wait for its threads
# ... of which for the bus to close: its listeners notice the stop only when
# their poll of the broker ends, which took the whole second every time (the
# restart's stop was 1.0 s of its 2.6 s).  Leaving earlier loses nothing:
# RabbitMQ requeues what was delivered and not acknowledged, and the next
# start resyncs in full.  It never closed within 0.2 s either (0.2 s of the
# 0.22 s idle stop), so the stop only gives the closing a moment to start.
BUS_CLOSE_TIMEOUT = 0.02


def router_key(router_id: str) -> tuple[str, str]:
    return ('router', router_id)


class L3Agent:
    """``start()``, then ``stop()`` on shutdown (children keep serving)."""

    def __init__(self, conf, transport=None, drivers: HostDrivers | None = None):
        self.conf = conf
        self.host_name = conf.host
        self.settings = L3Settings.from_conf(conf)
        if self.settings.enable_metadata_proxy:
            access.check_proxy_reach(conf.metadata_proxy_socket, self.settings.proxy_user,
                                     self.settings.proxy_group, LOG)
        if drivers is None:
            drivers = host_drivers(conf)
        self.drivers = drivers
        self.local_vlans = LocalVlans.from_conf(conf, drivers.ovs)
        self.processes = ProcessManager()
        self.node_proxy = node_proxy.from_conf(conf, self.processes, 'l3',
                                               self.settings.proxy_user,
                                               self.settings.proxy_group,
                                               self.settings.proxy_rate_limit)
        self.monitor = ProcessMonitor(conf.AGENT.check_child_processes_interval,
                                      conf.AGENT.check_child_processes_action,
                                      self.processes)
        self.host = RouterHost(drivers, self.processes,
                               (conf.ovs.integration_bridge, conf.ovs.external_bridge),
                               children=Children(self.processes, self.monitor),
                               iptables_debug=conf.AGENT.debug_iptables_rules,
                               ipv6=self.settings.ipv6,
                               stamp_file=lambda ns: l3sweep.iptables_stamp_path(
                                   self.settings.state_path, ns),
                               node_proxy=self.node_proxy)
        self._stop = threading.Event()
        self.bridge_mappings = physical_link.bridge_mappings(conf)
        # Paused until the first full fetch (unlike the DHCP agent's): that fetch
        # plugs the ports of the routers without a namespace ahead of their
        # reconciles, which must not have begun already (each waits for its batch
        # in plug_ahead.wait; one that began before would race the batch for its
        # ports: a restart with 100 routers at a load of 16 served the new router
        # after 23 and 44 s of retries).  Then the events run ahead of the
        # re-checks, which take at most BACKGROUND_WORKERS workers while one runs.
        self.queue = WorkQueue(self._handle, workers=conf.num_sync_threads, name='l3',
                               paused=True, background=FULL_SYNC_PRIORITY,
                               background_workers=BACKGROUND_WORKERS)
        self.ha_states = ha_state.HaStates(
            self.settings.state_path, self.settings.ha.advert_int,
            report=lambda states: self.plugin.update_ha_routers_states(states),
            changed=lambda rid: self.queue.enqueue(router_key(rid), priority=RPC_PRIORITY,
                                                   reason='HA state changed'),
            hosted=lambda rid: rid in self.reconciler.routers(),
            watcher=ha_state.watcher_spec(self.settings.state_path, self.host_name,
                                          self.settings.ha, self.settings.debug),
            children=self.host.children)
        self.reconciler = RouterReconciler(self.host, self.settings, self.local_vlans,
                                           stopping=self._stop,
                                           bridge_mappings=self.bridge_mappings,
                                           ha_states=self.ha_states)
        self.sweep = l3sweep.L3Sweep(self.settings, self.processes, self.node_proxy)
        self.pruner = L3Pruner(
            self.settings, drivers, self.processes,
            lambda: self.host.router_ports(fresh=True),
            lambda router_id: self.queue.enqueue(router_key(router_id),
                                                 priority=ORPHAN_PRIORITY,
                                                 reason='orphan after full sync'),
            self._wanted_ports, self.sweep, self.reconciler.ra.orphans,
            node_proxy=self.node_proxy)
        self.runner = SyncRunner(self._fetch_all, self.queue, self.pruner,
                                 resync_interval=conf.resync_interval,
                                 resync_throttle=conf.resync_throttle,
                                 on_fetched=self._prefetch, name='l3-full-sync')
        self.bus = AgentBus.for_l3(
            conf, self, self.configurations,
            on_resync=lambda: self.runner.request_full_sync('bus or heartbeat revived'),
            transport=transport)
        self.plugin = self.bus.l3
        self.heartbeat = self.bus.heartbeat
        self.plug_ahead = PlugAhead(self._stop)
        self.fip_status = FloatingIpStatusReporter(self.plugin.update_floatingip_statuses)
        self._lock = threading.Lock()
        self._prefetched: Prefetched[str, Router] = Prefetched()
        self._fetch_started = 0.0
        self._fetched_ports: frozenset[str] = frozenset()   # of the last full sync
        self._trim_due = False      # a full sync's burst is being worked off
        self.trimmer = malloc.Trimmer(interval=0.0)     # once it is
        self._starter: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> L3Agent:
        # The bus first: an event's router is fetched while the OVSDB connection
        # (agent.drivers.ovs.connect_soon, started when the drivers were made)
        # still copies the host's ports.
        self.ha_states.start()
        self.node_proxy.start_for(self.settings.metadata_proxy_mode == 'shared')
        self.queue.start()
        self.bus.start()
        for bridge in dict.fromkeys(self.host.bridges):
            if not self.drivers.ovs.bridge_exists(bridge):
                LOG.error('bridge %s does not exist: routers using it will fail until '
                          'it is created', bridge)
        physical_link.ensure_physical_links(self.drivers.ovs, self.conf.ovs.integration_bridge,
                                            self.bridge_mappings)
        self.monitor.start()
        self._starter = threading.Thread(target=self._start_syncs, name='l3-start',
                                         daemon=True)
        self._starter.start()
        LOG.info('L3 agent %s started (bridges %s, %s)', self.host_name,
                 *self.host.bridges)
        return self

    def _start_syncs(self) -> None:
        """Off the start-up path (new work is served meanwhile): the temp files of
        killed writes swept (again on every full sync, L3Sweep), then the full
        syncs, from the first heartbeat."""
        l3sweep.sweep_temp_files(self.settings)
        self.runner.start_when(self.heartbeat.first_report, self._stop)

    def reload(self) -> None:
        """SIGHUP: re-read the mutable options (log level), then resync in full."""
        service.reload_config_files(self.conf)
        self.runner.request_full_sync('SIGHUP')

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop taking work and talking within about ``timeout`` seconds.

        Namespaces, rules and children (haproxy) are left serving.  A reconcile
        in progress ends after its current action; the bus is left without
        waiting for its listeners' last poll of the broker.
        """
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self._stop.set()
        self.bus.stop()
        self.runner.stop(left())
        if self._starter is not None:
            self._starter.join(left())
        self.queue.stop(left())
        self.monitor.stop(left())
        self.node_proxy.stop(left())
        self.ha_states.stop(left())
        self.bus.join(min(left(), BUS_CLOSE_TIMEOUT))
        LOG.info('L3 agent %s stopped in %.2f s', self.host_name,
                 timeout - left())

    # -- events (called by the RPC endpoint) -----------------------------------------

    def enqueue(self, event: L3Event) -> None:
        if event.full_resync:
            self.runner.request_full_sync(f'{event.method}')
            return
        router_ids = event.router_ids
        if event.network_id is not None:
            router_ids = tuple(self.reconciler.routers_on_network(event.network_id))
        for router_id in router_ids:
            self._prefetched.invalidate(router_id, gone=event.deleted)
        priority = DELETE_PRIORITY if event.deleted else RPC_PRIORITY
        for router_id in router_ids:
            self.queue.enqueue(router_key(router_id), priority=priority,
                               reason=event.method)

    # -- the worker ------------------------------------------------------------------

    def _take(self, router_id: str):
        """The router: a deleted one (None), a fetch's copy, or a fresh fetch (with
        the other routers notified since their copies: one call, not one each)."""
        copied, router = self._prefetched.take(router_id)
        if copied:
            return router
        return self._prefetched.fetch(router_id, self._read_routers, self.plugin.chunk_size)

    def _read_routers(self, router_ids) -> dict:
        """router id -> Router (None: not on the server) of ``router_ids``; only
        the first when another's data is bad (that one's worker finds out)."""
        try:
            routers = self.plugin.sync_routers(router_ids)
        except WireError:
            if len(router_ids) == 1:
                raise
            router_ids = router_ids[:1]
            routers = self.plugin.sync_routers(router_ids)
        LOG.debug('router %s fetched with %d others notified since their copies',
                  router_ids[0], len(router_ids) - 1)
        found = {r.id: r for r in routers}
        return {router_id: found.get(router_id) for router_id in router_ids}

    def _handle(self, key) -> None:
        _, router_id = key
        self.plug_ahead.wait(router_id)         # its ports, if plugged ahead
        try:
            router = self._take(router_id)
        except WireError as exc:
            # The server's data is bad: keep what is in place, retry at the next
            # full sync rather than tear anything down.
            raise TerminalError(f'router {router_id}: {exc}') from exc
        try:
            self._converge(router_id, router)
        except ActionFailed as exc:
            if not isinstance(exc.error, Stopping):
                raise
            LOG.info('router %s: stopped after %d of its actions; the next start '
                     'finishes it', router_id, exc.index)
        finally:
            self._trim_after_burst()

    def _trim_after_burst(self) -> None:
        """Once a full sync's routers are all handled, give the heap its freed
        pages back (agent.common.malloc): the RPC answers and the plans of a
        thousand routers otherwise keep the RSS at their peak."""
        with self._lock:
            if not self._trim_due or len(self.queue):
                return
            self._trim_due = False
        self.trimmer.idle()

    def _converge(self, router_id: str, router) -> None:
        if not want.hosted(router, self.settings):
            self.reconciler.teardown(router_id)
            self.fip_status.report(router_id, None, True)
            return
        ok = False
        try:
            self.reconciler.reconcile(router)
            ok = True
        finally:
            if not self._stop.is_set():     # no calls to the server while stopping
                self.fip_status.report(router_id, router, ok)

    # -- full sync -------------------------------------------------------------------

    def _fetch_all(self) -> dict:
        """Every router of this host, those in place first: the routers to build
        wait for their batch of ports (agent.l3.plug_ahead), and the queue runs
        the keys in this order, so a re-check never waits behind them."""
        self._fetch_started = time.monotonic()
        routers = fetch_routers(self.plugin, lambda r: want.hosted(r, self.settings))
        exists = self.drivers.netns.exists
        return dict(sorted(routers.items(),
                           key=lambda item: not exists(names.router_namespace(item[0][1]))))

    def _prefetch(self, desired) -> None:
        routers = [r for r in desired.values() if r is not None]
        self._allocate_vlans(routers)
        with self._lock:
            self._trim_due = True
            self._fetched_ports = frozenset(p.id for r in routers for p in router_ports(r))
        self._prefetched.fetched({r.id: r for r in routers}, self._fetch_started)
        self._plug_ahead(routers)

    def _allocate_vlans(self, routers: list) -> None:
        """The local VLANs of the routers' internal networks asked for together: one
        OVSDB transaction, not one per network (agent.drivers.local_vlan); none
        when an L2 agent or a physical network tags the ports."""
        if not (self.local_vlans.enabled and not self.bridge_mappings and routers):
            return
        try:
            self.local_vlans.tags_for([p.network_id for r in routers for p in r.interfaces])
        except Exception as exc:  # noqa: BLE001 - each reconcile allocates its own
            LOG.warning('allocating local VLANs ahead failed: %s', exc)

    def _plug_ahead(self, routers: list) -> None:
        """Plug the qr-/qg- ports of the routers that have no namespace yet in
        batches, on a thread of its own (agent.l3.plug_ahead)."""
        self.host.router_ports(fresh=True)      # what others changed meanwhile
        new = [r for r in routers
               if not self.drivers.netns.exists(names.router_namespace(r.id))]
        self.plug_ahead.start(new, lambda chunk: plug_first_ports(
            chunk, self.reconciler.first_plugs, self.drivers.ovs, self.host.touched,
            self.host.apply))

    def _wanted_ports(self) -> set[str]:
        """Port ids of the routers the last full sync fetched or that are served."""
        with self._lock:
            wanted = set(self._fetched_ports)
        return wanted | {p.id for r in self.reconciler.routers().values()
                         for p in router_ports(r)}

    # -- report_state ----------------------------------------------------------------

    def configurations(self) -> dict:
        counts = self.reconciler.counts()
        status = self.queue.status.counts()
        return {'agent_mode': 'legacy',
                'handle_internal_only_routers': self.settings.handle_internal_only_routers,
                'interface_driver': 'openvswitch',
                'log_agent_heartbeats': self.conf.AGENT.log_agent_heartbeats,
                'extensions': [],
                'external_network_bridge': self.settings.external_bridge,
                **counts,
                'routers_in_error': status['error'],
                'full_syncs': self.runner.status.syncs}


def fetch_routers(plugin, hosted) -> dict:
    """Every router of this host: key -> Router, for the full sync.

    A router the codec rejects maps to None: it is neither reconciled from bad
    data nor pruned (what is in place keeps serving); the others are fetched one
    by one so one bad router does not hold back the rest.
    """
    ids = plugin.get_router_ids()
    try:
        routers = plugin.sync_routers_chunked(ids)
        bad: list[str] = []
    except WireError as exc:
        LOG.error('sync_routers returned a malformed router (%s); fetching one by one',
                  exc)
        routers, bad = [], []
        for router_id in ids:
            try:
                routers += plugin.sync_routers([router_id])
            except WireError as error:
                LOG.error('router %s left as it is: %s', router_id, error)
                bad.append(router_id)
    result: dict = {router_key(r.id): r for r in routers if hosted(r)}
    result.update((router_key(router_id), None) for router_id in bad)
    return result
