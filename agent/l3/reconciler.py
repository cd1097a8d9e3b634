"""One router at a time: desired -> observe -> plan -> execute, and teardown.

Called from the work queue (one worker per router id at a time).  Remembers
one :class:`RouterState` per router: the router last applied (report_state
counts, network_update lookups) and its floating-IP mapping (conntrack
cleanup); a teardown removes it.
"""

from __future__ import annotations

import dataclasses
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
from agent.process import actions as child
from agent.reconcile.plan import execute

LOG = logging.getLogger(__name__)


class Stopping(Exception):
    """The agent is stopping: a plan is cut short between two actions (the next
    start observes what is in place and finishes it)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RouterState:
    """What the agent keeps of one router between two of its reconciles."""
    router: Router                      # as last applied
    floating_ips: Mapping               # floating -> fixed address, as last applied


class RouterReconciler:
    def __init__(self, host: RouterHost, settings: L3Settings, local_vlans,
                 stopping: threading.Event | None = None,
                 bridge_mappings: Mapping[str, str] | None = None,
                 ha_states: ha_state.HaStates | None = None):
        self.host = host
        self.ha_states = ha_states
        self.bridge_mappings = bridge_mappings or {}
        self.settings = settings
        self.local_vlans = local_vlans
        self.children = host.children      # haproxy, keepalived, radvd
        self.stopping = stopping or threading.Event()
        self.ra = RouterAdvertisements(
            host.children, settings.ra or RaSettings.default(settings.state_path))
        self._lock = threading.Lock()
        self._routers: dict[str, RouterState] = {}
        self._plugs: ThreadPoolExecutor | None = None

    # -- what is served (for report_state and network_update) ------------------------

    def routers(self) -> dict[str, Router]:
        with self._lock:
            return {router_id: s.router for router_id, s in self._routers.items()}

    def routers_on_network(self, network_id: str) -> list[str]:
        with self._lock:
            return [router_id for router_id, s in self._routers.items()
                    if any(p.network_id == network_id for p in router_ports(s.router))]

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
            state = self._routers.get(router.id)
        previous = None if state is None else state.floating_ips
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
            if isinstance(desired.proxy, ListenerSpec):
                self.host.node_proxy.register(desired.proxy)
        if router.ha:
            self._observed_ha(router)
        else:
            self._remove_keepalived(router.id)
        if router.ha and not primary:
            self.ra.remove(router.id)    # router advertisements from the primary only
        else:
            self.ra.reconcile(router)
        with self._lock:
            self._routers[router.id] = RouterState(router, dict(desired.floating_ips))
        if desired.proxy is None:
            self._stop_proxy(router.id)
        return plan

    def first_plugs(self, router: Router, ports: list | None = None) -> list:
        """The ports ``router``'s plan plugs when its namespace does not exist yet
        (a full sync plugs those of every such router together, then reconciles):
        its PlugPorts, after what must be made before them (with ``ovs_use_veth``
        the namespace and the pairs: :func:`agent.l3.plan.first_plugs`)."""
        if self.host.drivers.netns.exists(names.router_namespace(router.id)):
            return []
        desired = want.desired_router(router, self.settings, self._tags(router))
        observed = self.host.observe_devices(desired, ports)
        return rplan.first_plugs(rplan.diff(desired, observed, {}, self.host.bridges))

    def _execute(self, plan: rplan.Plan, resource: str) -> None:
        """``plan``, its early plugs (:func:`agent.l3.plan.early_plugs`) started
        first on threads of their own and each waited for at its turn."""
        early = rplan.early_plugs(plan)
        # Adopting children a previous agent left running is no change to the host:
        # a restart with a thousand routers logs no line for each.
        summary = logging.DEBUG if all(isinstance(a, child.AdoptChild) for a in plan) \
            else logging.INFO
        if not early:
            execute(plan, self._apply, resource, LOG, summary)
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
            execute(plan, apply, resource, LOG, summary)
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
        plan = self.children.plan(want.proxy_spec(router_id, self.settings), wanted=False)
        return self.children.run(plan, f'router {router_id} metadata', LOG) == 'stopped'

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
        self.children.run(self.children.plan(spec, wanted=False),
                          f'router {router_id} keepalived', LOG)
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
        children = tuple((spec, self.children.observe(spec, wanted=False)) for spec in (
            keepalived.process_spec(router_id, self.settings.ha),
            want.proxy_spec(router_id, self.settings)))
        self.ra.remove(router_id)
        observed = self.host.observe_existing(namespace, ports)
        listener = (want.listener_spec(router_id, self.settings)
                    if self.host.node_proxy is not None
                    and self.host.node_proxy.serves(router_id) else None)
        plan = rplan.teardown(namespace, observed, children, listener)
        execute(plan, self._apply, f'router {router_id} (teardown)', LOG)
        self._remove_ha_files(router_id)
        if self.ha_states is not None:
            self.ha_states.forget(router_id)
        marker = l3sweep.marker_path(self.settings.state_path, router_id)
        fileutils.remove(l3sweep.iptables_stamp_path(self.settings.state_path, namespace))
        fileutils.sweep_temp(marker, min_age=0)     # an interrupted stamp write's
        self.host.state_dirs.unmark(marker)
        with self._lock:
            self._routers.pop(router_id, None)
        return plan


def router_ports(router: Router) -> tuple:
    """Every port of ``router`` on this host: qr-, qg- and (HA) ha-."""
    return (*router.interfaces, *((router.gw_port,) if router.gw_port else ()),
            *((router.ha_port,) if router.ha_port else ()))
