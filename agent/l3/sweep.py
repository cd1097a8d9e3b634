"""The L3 agent's per-sync sweep of processes, namespaces and temp files (one
/proc walk), run by its prune after each successful full fetch.

- temp files of killed writes go from the directories the agent writes in
  (``ra``, ``external/pids``, ``ns-metadata-proxy``, ``routers``, ``ha_confs``
  and its router directories);
- every radvd and keepalived, and every haproxy in a ``qrouter-`` namespace (or of a known
  router), whose command line names a file of OUR state_path is settled: adopted
  when its pid file lost it, stopped when a duplicate, elsewhere or unwanted;
- a ``qrouter-<uuid>`` is ours when it holds such a process, or when
  ``<state_path>/routers/<uuid>`` exists (written before the namespace is
  created, so an empty namespace left by a crash is still known as ours).
"""

from __future__ import annotations

import os

from agent.common import names
from agent.l3 import desired as want
from agent.l3 import keepalived, radvd
from agent.l3.settings import L3Settings
from agent.metadata import haproxy
from agent.process import scan as proc_scan
from agent.process import sweep


def routers_dir(state_path: str) -> str:
    return os.path.join(state_path, 'routers')


def marker_path(state_path: str, router_id: str) -> str:
    """The router's state directory: made before its namespace, removed after."""
    return os.path.join(routers_dir(state_path), names.validate_uuid(router_id, 'router id'))


def iptables_stamp_path(state_path: str, namespace: str) -> str | None:
    """Where a router's iptables manager keeps its ruleset stamp (in the router's
    state directory; see agent.drivers.iptables); None for another namespace."""
    router_id = names.id_from_namespace(namespace, names.ROUTER_NS_PREFIX)
    if router_id is None:
        return None
    return os.path.join(marker_path(state_path, router_id), 'iptables.stamp')


def ra_settings(settings: L3Settings) -> radvd.RaSettings:
    return settings.ra or radvd.RaSettings.default(settings.state_path)


def sweep_temp_files(settings: L3Settings) -> list[str]:
    ra = ra_settings(settings)
    return sweep.sweep_temp_files(
        (ra.ra_confs, ra.pid_dir, os.path.dirname(haproxy.config_path(
            settings.state_path, names.new_uuid())), routers_dir(settings.state_path),
         settings.ha.confs_path),
        legacy_under=(settings.ha.confs_path,))    # keepalived.conf and state per router


def resolve(scan: proc_scan.HostScan, settings: L3Settings, known: frozenset[str]
            ) -> list[sweep.Resolved]:
    """The L3 agent's children in ``scan``, each with its router (pure)."""
    found = []
    groups = proc_scan.children_of(scan, settings.state_path,
                                   (radvd.SERVICE, haproxy.SERVICE, keepalived.SERVICE))
    for (service, uuid), procs in sorted(groups.items()):
        if service == radvd.SERVICE:
            spec = radvd.process_spec(uuid, ra_settings(settings))
        elif service == keepalived.SERVICE:
            spec = keepalived.process_spec(uuid, settings.ha)
        else:
            home = names.router_namespace(uuid)
            if uuid not in known and all(scan.namespace_of(p) != home for p in procs):
                continue      # a network's proxy (the DHCP agent's)
            spec = want.proxy_spec(uuid, settings)
            if settings.metadata_proxy_mode == 'shared':   # the shared proxy serves it
                found.append(sweep.Resolved(spec, False, procs))
                continue
        found.append(sweep.Resolved(spec, uuid in known, procs))
    return found


def owned_by_state(settings: L3Settings, namespaces) -> set[str]:
    """Router ids of ``namespaces`` whose state directory of ours exists."""
    found = set()
    for namespace in namespaces:
        router_id = names.id_from_namespace(namespace, names.ROUTER_NS_PREFIX)
        if router_id is not None and os.path.isdir(marker_path(settings.state_path,
                                                               router_id)):
            found.add(router_id)
    return found


class L3Sweep:
    """``sweep(known)`` -> ids of the qrouter- namespaces ours by a process."""

    def __init__(self, settings: L3Settings, processes, node_proxy=None):
        self.settings = settings
        self.processes = processes
        self.node_proxy = node_proxy
        self.sweeps = 0

    def __call__(self, known: frozenset[str]) -> set[str]:
        sweep_temp_files(self.settings)
        scan = self.processes.scan()
        self.sweeps += 1
        sweep.settle_all(self.processes, scan, resolve(scan, self.settings, known))
        if self.node_proxy is not None:     # duplicates; all of them in haproxy mode
            self.node_proxy.sweep(scan, self.settings.metadata_proxy_mode == 'shared')
        owned = sweep.namespaces_with_children(scan, self.settings.state_path,
                                               names.ROUTER_NS_PREFIX)
        return {rid for rid in (names.id_from_namespace(ns, names.ROUTER_NS_PREFIX)
                                for ns in owned) if rid is not None}
