"""The DHCP agent's per-sync sweep of processes and namespaces (one /proc walk).

After each successful full fetch, before the pruner looks for orphans:

- temp files of killed writes are removed from our state directories;
- every dnsmasq, and every haproxy in a ``qdhcp-`` namespace (or of an assigned
  network), whose command line names a file of OUR state_path is settled: the
  one the pid file should name is adopted, duplicates and strays (another
  namespace, a network not assigned here) are stopped;
- ``qdhcp-<uuid>`` namespaces holding a process that names our state_path are
  ours even without a state directory or tap: those of networks not assigned
  here are claimed, so their teardown removes them (processes first).

A namespace of another agent or test run (another state_path) is never touched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from agent.common import names
from agent.dhcp import desired as want
from agent.dhcp.settings import DnsmasqSettings
from agent.metadata import haproxy
from agent.process import scan as proc_scan
from agent.process import sweep
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)

DHCP_FILES = ('host', 'addn_hosts', 'opts', 'leases', 'pid', 'interface', 'iptables')


def temp_dirs(state_path: str) -> tuple[str, ...]:
    """The directories the DHCP agent writes files in (besides ``dhcp/<uuid>``)."""
    return (os.path.join(state_path, 'dhcp'), os.path.join(state_path, 'external', 'pids'),
            os.path.join(state_path, 'ns-metadata-proxy'))


def sweep_temp_files(settings: DnsmasqSettings) -> list[str]:
    return sweep.sweep_temp_files(temp_dirs(settings.state_path), (settings.confs_dir,),
                                  DHCP_FILES)


def resolve(scan: proc_scan.HostScan, settings: DnsmasqSettings,
            assigned: frozenset[str], metadata_spec: Callable[[str], ProcessSpec],
            haproxy_wanted: bool = True) -> list[sweep.Resolved]:
    """The DHCP agent's children in ``scan``, each with its resource (pure)."""
    found = []
    groups = proc_scan.children_of(scan, settings.state_path, ('dnsmasq', haproxy.SERVICE))
    for (service, uuid), procs in sorted(groups.items()):
        if service == 'dnsmasq':
            spec = want.stop_spec(uuid, settings)
        else:
            home = names.dhcp_namespace(uuid)
            if uuid not in assigned and all(scan.namespace_of(p) != home for p in procs):
                continue      # a router's proxy (the L3 agent's)
            spec = metadata_spec(uuid)
            if not haproxy_wanted:      # the shared proxy serves the networks
                found.append(sweep.Resolved(spec, False, procs))
                continue
        found.append(sweep.Resolved(spec, uuid in assigned, procs))
    return found


class DhcpSweep:
    """``sweep(assigned)`` -> ids of the qdhcp- namespaces ours by a process."""

    def __init__(self, settings: DnsmasqSettings, processes,
                 metadata_spec: Callable[[str], ProcessSpec],
                 claim: Callable[[str], None], node_proxy=None, shared: bool = False):
        self.settings = settings
        self.processes = processes
        self.node_proxy = node_proxy        # agent.metadata.node_proxy
        self.shared = shared
        self._metadata_spec = metadata_spec
        self._claim = claim
        self.sweeps = 0

    def __call__(self, assigned: frozenset[str]) -> frozenset[str]:
        sweep_temp_files(self.settings)
        scan = self.processes.scan()
        self.sweeps += 1
        sweep.settle_all(self.processes, scan,
                         resolve(scan, self.settings, assigned, self._metadata_spec,
                                 not self.shared))
        if self.node_proxy is not None:     # duplicates; all of them in haproxy mode
            self.node_proxy.sweep(scan, self.shared)
        owned = sweep.namespaces_with_children(scan, self.settings.state_path,
                                               names.DHCP_NS_PREFIX)
        found = set()
        for ns, pids in sorted(owned.items()):
            network_id = names.id_from_namespace(ns, names.DHCP_NS_PREFIX)
            if network_id is None:
                continue
            found.add(network_id)
            if network_id not in assigned:
                LOG.info('namespace %s is ours (pids %s name our state path %s)', ns,
                         ', '.join(map(str, pids)), self.settings.state_path)
                self._claim(network_id)
        return frozenset(found)
