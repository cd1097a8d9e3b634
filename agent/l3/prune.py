"""Mark and sweep after a successful full fetch: what of ours serves no router of this host.

Found on the host: ``qrouter-<uuid>`` namespaces of ours (a state directory,
proxy config or keepalived directory of ours names the router, a process of
ours runs inside, or a port on our bridges sits inside), router metadata
proxies (haproxy whose config sets ``X-Neutron-Router-ID``; network proxies
share the pid directory and are left alone; listeners of the shared proxy),
radvd and keepalived children.  Routers among them that the fetch did not
return are handed to ``enqueue`` (the queue's handler tears them down, keeping
per-router exclusivity); qr-/qg- ports positively ours (:func:`prunable_ports`)
of no wanted router whose device is in no namespace are deleted here.

:func:`orphans` and :func:`prunable_ports` are pure; :class:`L3Pruner`
gathers the host's view and acts, in the shape of :mod:`agent.dhcp.prune`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable

from agent.common import names
from agent.dataplane import ownership
from agent.l3 import keepalived
from agent.l3 import sweep as l3sweep
from agent.l3.settings import L3Settings
from agent.metadata import haproxy
from agent.reconcile.prune import namespaces_of_ours

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """What of ours exists on the host, by router id."""
    namespaces: frozenset[str] = frozenset()      # router ids of qrouter- namespaces
    proxies: frozenset[str] = frozenset()         # haproxy (of routers not known) or
                                                  # shared-proxy listener
    radvd: frozenset[str] = frozenset()           # of routers not known
    keepalived: frozenset[str] = frozenset()


def orphans(view: HostView, known: frozenset[str]) -> frozenset[str]:
    """Routers of ours on the host that the full fetch did not return (pure)."""
    return (view.namespaces | view.proxies | view.radvd | view.keepalived) - known


def prunable_ports(ports, host: str, wanted: set) -> list:
    """The qr-/qg- ports the prune may delete if their device is gone (pure): those
    our owner mark gives to this host's L3 agent, of no wanted router port.  An
    unmarked port (an older netnode's, Neutron's L3 agent's) is never deleted here:
    only its router's teardown, which finds it in the router's namespace, or
    netnode-ovs-cleanup removes it."""
    return [p for p in ports if p.iface_id not in wanted
            and ownership.resource_of(p, ownership.L3, host, {}) is not None]


class L3Pruner:
    def __init__(self, settings: L3Settings, drivers, processes,
                 router_ports: Callable[[], list], enqueue: Callable[[str], None],
                 wanted_ports: Callable[[], set[str]],
                 sweep: Callable[[frozenset[str]], set[str]],
                 radvd: Callable[[frozenset[str]], set[str]], node_proxy=None):
        self.settings = settings
        self.drivers = drivers
        self.processes = processes
        self._router_ports = router_ports     # ours on both bridges, read afresh
        self._enqueue = enqueue
        self._wanted_ports = wanted_ports     # port ids of the routers fetched or served
        # agent.l3.sweep: settles children; returns the routers whose namespace
        # holds a process of ours (ours even without a state directory or port)
        self._sweep = sweep
        self._radvd = radvd                   # running radvd of routers not known
        self.node_proxy = node_proxy          # the shared metadata proxy's listeners

    def _ours(self, by_child: Iterable[str], namespaces: list[str]
              ) -> Callable[[str], bool]:
        by_name = set(by_child) | l3sweep.owned_by_state(self.settings, namespaces)
        state_path, ha = self.settings.state_path, self.settings.ha
        return lambda router_id: (router_id in by_name
                                  or os.path.exists(haproxy.config_path(state_path,
                                                                        router_id))
                                  or os.path.isdir(keepalived.conf_dir(ha, router_id)))

    def observe(self, known: frozenset[str], ports: list,
                by_child: Iterable[str] = ()) -> HostView:
        namespaces = self.drivers.netns.list_namespaces()
        proxies = haproxy.running_for(self.processes, self.settings.state_path, 'router',
                                      known)
        if self.node_proxy is not None:
            proxies |= frozenset(self.node_proxy.served())
        return HostView(
            frozenset(namespaces_of_ours(self.drivers.netns, names.ROUTER_NS_PREFIX,
                                         self._ours(by_child, namespaces),
                                         (p.name for p in ports))),
            proxies, frozenset(self._radvd(known)),
            frozenset(p.uuid for p in self.processes.list_running(
                keepalived.SERVICE, self.settings.ha.confs_path)))

    def __call__(self, known_keys: Iterable = ()) -> frozenset[str]:
        """Sweep; ``known_keys``: the full fetch's router keys."""
        known = frozenset(key[1] for key in known_keys)
        ports = self._router_ports()
        found = orphans(self.observe(known, ports, self._sweep(known)), known)
        for router_id in sorted(found):
            LOG.info('router %s is not hosted here any more: removing it', router_id)
            self._enqueue(router_id)
        self._prune_ports(ports)
        return found

    def _prune_ports(self, ports: list) -> None:
        """qr-/qg- ports of ours (:func:`prunable_ports`) of no wanted router whose
        device is in no namespace."""
        candidates = prunable_ports(ports, self.settings.host, self._wanted_ports())
        if not candidates:
            return
        in_namespaces = set()
        for namespace in self.drivers.netns.list_namespaces():
            if names.id_from_namespace(namespace, names.ROUTER_NS_PREFIX) is not None:
                try:
                    in_namespaces.update(self.drivers.netns.devices_in(namespace))
                except Exception:  # noqa: BLE001
                    continue
        for port in candidates:
            if port.name in in_namespaces or self.drivers.links.has_device(None,
                                                                           port.name):
                continue
            LOG.info('deleting orphan port %s from %s', port.name, port.bridge)
            self.drivers.ovs.delete_port(port.bridge, port.name)
