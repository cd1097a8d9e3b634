"""One router at a time: desired -> observe -> plan -> execute, and teardown.

Called from the work queue (one worker per router id at a time).  Remembers,
per router, the floating-IP mapping last applied (conntrack cleanup) and the
router last applied (report_state counts, network_update lookups).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from agent.common import fileutils, names
from agent.dataplane import device as dev
from agent.dataplane import provider_vlan
from agent.l3 import desired as want
from agent.l3 import ha_state
from agent.l3 import keepalived
from agent.l3 import plan as rplan
from agent.l3 import sweep as l3sweep
from agent.l3.host import RouterHost
from agent.l3.ra import RouterAdvertisements
from agent.l3.radvd import RaSettings
from agent.l3.settings import L3Settings
from agent.metadata.node_proxy import ListenerSpec
from agent.model.router import Router
from agent.process.monitor import ProcessMonitor
from agent.reconcile.plan import execute

LOG = logging.getLogger(__name__)


class Stopping(Exception):
    """The agent is stopping: a plan is cut short between two actions (the next
    start observes what is in place and finishes it)."""


class RouterReconciler:
    def __init__(self, host: RouterHost, settings: L3Settings, local_vlans,
                 monitor: ProcessMonitor | None = None,
                 stopping: threading.Event | None = None,
                 bridge_mappings: Mapping[str, str] | None = None,
                 ha_states: ha_state.HaStates | None = None):
        self.host = host
        self.ha_states = ha_states
        self.bridge_mappings = bridge_mappings or {}
        self.settings = settings
        self.local_vlans = local_vlans
        self.monitor = monitor
        self.stopping = stopping or threading.Event()
        self.ra = RouterAdvertisements(
            host.processes, settings.ra or RaSettings.default(settings.state_path), monitor)
        self._lock = threading.Lock()
        self._applied: dict[str, Router] = {}
        self._fips: dict[str, dict] = {}
        self._plugs: ThreadPoolExecutor | None = None

    # -- what is served (for report_state and network_update) ------------------------

    def routers(self) -> dict[str, Router]:
        with self._lock:
            return dict(self._applied)

    def routers_on_network(self, network_id: str) -> list[str]:
        with self._lock:
            return [r.id for r in self._applied.values()
                    if any(p.network_id == network_id for p in router_ports(r))]

    def counts(self) -> dict[str, int]:
        routers = self.routers().values()
        return {'routers': len(routers),
                'ex_gw_ports': sum(1 for r in routers if r.gw_port is not None),
                'interfaces': sum(len(r.interfaces) for r in routers),
                'floating_ips': sum(len(want.nat.active_floating_ips(r))
                                    for r in routers if r.gw_port is not None)}

    # -- reconcile -------------------------------------------------------------------

    def _tags(self, router: Router) -> dict[str, int]:
        """network id -> VLAN of the router's interfaces (a physical network's, else
        the local VLAN, else 4095 when an L2 agent tags the ports)."""
        tags: dict[str, int] = {}
        for port in (*router.interfaces, *((router.ha_port,) if router.ha else ())):
            if port.network_id not in tags:
                tag = provider_vlan.provider_tag(port.network_id, port.segment,
                                                 self.bridge_mappings)
                tags[port.network_id] = (self.local_vlans.port_tag(port.network_id)
                                         if tag is None else tag)
        return tags

    def reconcile(self, router: Router, ports: list | None = None) -> rplan.Plan:
        """Make the host hold ``router``; returns the plan that was executed."""
        primary = router.ha and ha_state.read(self.settings.ha, router.id) == ha_state.PRIMARY
        desired = want.desired_router(router, self.settings, self._tags(router), primary)
        with self._lock:
            previous = self._fips.get(router.id)
        # Not known since this agent started: read the mapping from the rules.
        observed = self.host.observe(desired, ports, with_nat_fips=previous is None)
        if previous is None:
            previous = dict(observed.nat_fips)
        plan = rplan.diff(desired, observed, previous, self.host.bridges)
        if any(isinstance(a, dev.CreateNamespace) for a in plan.actions):
            # Ours before it exists: a crash right after leaves a namespace the
            # prune still knows as ours (agent.l3.sweep).
            self.host.state_dirs.mark(l3sweep.marker_path(self.settings.state_path,
                                                          router.id))
        if any(isinstance(a, rplan.EnsureListener) for a in plan.actions):
            self._stop_haproxy(router.id)       # its port, before the shared proxy's
        try:
            self._execute(rplan.fold_device_config(rplan.coalesce(plan)),
                          f'router {router.id}')
        finally:
            for spec in (desired.proxy, desired.keepalived):
                if isinstance(spec, ListenerSpec):
                    self.host.node_proxy.register(spec)
                elif spec is not None and self.monitor is not None:
                    self.monitor.register(spec)
        if router.ha:
            self._observed_ha(router)
        else:
            self._remove_keepalived(router.id)
        if router.ha and not primary:
            self.ra.remove(router.id)    # router advertisements from the primary only
        else:
            self.ra.reconcile(router)
        with self._lock:
            self._applied[router.id] = router
            self._fips[router.id] = dict(desired.floating_ips)
        if desired.proxy is None:
            self._stop_proxy(router.id)
        return plan

    def first_plugs(self, router: Router, ports: list | None = None) -> list[dev.PlugPort]:
        """The ports ``router``'s plan plugs when its namespace does not exist yet
        (a full sync plugs those of every such router together, then reconciles)."""
        if self.host.drivers.netns.exists(names.router_namespace(router.id)):
            return []
        desired = want.desired_router(router, self.settings, self._tags(router))
        observed = self.host.observe(desired, ports)
        return [a for a in rplan.diff(desired, observed, {}, self.host.bridges).actions
                if isinstance(a, dev.PlugPort)]

    def _execute(self, plan: rplan.Plan, resource: str) -> None:
        """``plan``, its early plugs (:func:`agent.l3.plan.early_plugs`) started
        first on threads of their own and each waited for at its turn."""
        early = rplan.early_plugs(plan)
        if not early:
            execute(plan, self._apply, resource, LOG)
            return
        with self._lock:
            if self._plugs is None:
                self._plugs = ThreadPoolExecutor(max_workers=4, thread_name_prefix='l3-plug')
        started = {id(a): self._plugs.submit(self.host.apply, a) for a in early}

        def apply(action) -> None:
            future = started.pop(id(action), None)
            if future is None:
                self._apply(action)
                return
            if self.stopping.is_set():
                raise Stopping('the agent is stopping')
            future.result()
        try:
            execute(plan, apply, resource, LOG)
        finally:
            for future in started.values():     # the plan stopped before their turn:
                future.exception()              # done before the router's next reconcile

    def _apply(self, action) -> None:
        if self.stopping.is_set():
            raise Stopping('the agent is stopping')
        self.host.apply(action)

    def _stop_proxy(self, router_id: str) -> bool:
        """No metadata proxy for the router (an HA backup, or none wanted)."""
        stopped = self._stop_haproxy(router_id)
        if self.host.node_proxy is not None and self.settings.metadata_proxy_mode == 'shared':
            stopped |= self.host.node_proxy.remove(router_id)
        return stopped

    def _stop_haproxy(self, router_id: str) -> bool:
        spec = want.proxy_spec(router_id, self.settings)
        if self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
        if not self.host.proxy_running(spec):
            return False
        self.host.processes.stop(spec)
        return True

    def _observed_ha(self, router: Router) -> None:
        if self.ha_states is None:
            return
        self.ha_states.ensure_watcher()
        self.ha_states.observed(router.id, ha_state.read(self.settings.ha, router.id),
                                router.ha_state)

    def _remove_keepalived(self, router_id: str) -> None:
        """Stop a keepalived of ``router_id`` and remove its files (it is not, or
        no longer, an HA router here)."""
        spec = keepalived.process_spec(router_id, self.settings.ha)
        if not (os.path.isdir(keepalived.conf_dir(self.settings.ha, router_id))
                or os.path.exists(spec.pid_file)):
            return          # a legacy router, as always: two stat calls
        if self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
        if self.host.proxy_running(spec):
            self.host.processes.stop(spec)
        self._remove_ha_files(router_id)

    def _remove_ha_files(self, router_id: str) -> None:
        ha = self.settings.ha
        shutil.rmtree(keepalived.conf_dir(ha, router_id), ignore_errors=True)
        for path in (keepalived.pid_file_path(ha, router_id),
                     keepalived.vrrp_pid_file_path(ha, router_id)):
            fileutils.remove(path)

    def teardown(self, router_id: str, ports: list | None = None) -> rplan.Plan:
        """Remove everything of ``router_id`` from the host (nothing else)."""
        names.validate_uuid(router_id, 'router id')
        namespace = names.router_namespace(router_id)
        spec = want.proxy_spec(router_id, self.settings)
        vrrp = keepalived.process_spec(router_id, self.settings.ha)
        if self.monitor is not None:
            self.monitor.unregister(spec.uuid, spec.service)
            self.monitor.unregister(vrrp.uuid, vrrp.service)
        self.ra.remove(router_id)
        observed = self.host.observe_existing(namespace, ports)
        listener = (want.listener_spec(router_id, self.settings)
                    if self.host.node_proxy is not None
                    and self.host.node_proxy.serves(router_id) else None)
        plan = rplan.teardown(namespace, observed, spec, self.host.proxy_running(spec),
                              vrrp, self.host.proxy_running(vrrp), listener)
        execute(plan, self._apply, f'router {router_id} (teardown)', LOG)
        for path, _ in spec.config_files:
            fileutils.remove(path)
        self._remove_ha_files(router_id)
        if self.ha_states is not None:
            self.ha_states.forget(router_id)
        marker = l3sweep.marker_path(self.settings.state_path, router_id)
        fileutils.remove(l3sweep.iptables_stamp_path(self.settings.state_path, namespace))
        fileutils.sweep_temp(marker, min_age=0)     # an interrupted stamp write's
        self.host.state_dirs.unmark(marker)
        with self._lock:
            self._applied.pop(router_id, None)
            self._fips.pop(router_id, None)
        return plan

    def forget(self, router_id: str) -> None:
        with self._lock:
            self._applied.pop(router_id, None)
            self._fips.pop(router_id, None)


def router_ports(router: Router) -> tuple:
    """Every port of ``router`` on this host: qr-, qg- and (HA) ha-."""
    return (*router.interfaces, *((router.gw_port,) if router.gw_port else ()),
            *((router.ha_port,) if router.ha_port else ()))
