"""Mark and sweep after a successful full fetch: what of ours serves no assigned network.

Found on the host: ``qdhcp-<uuid>`` namespaces of ours (see
:meth:`DhcpPruner._our_namespaces`), ``<state>/dhcp/<uuid>``
directories, dnsmasq children (pid files under ``<state>/dhcp``), isolated
metadata proxies (haproxy whose config sets ``X-Neutron-Network-ID``; router
proxies share the pid directory and are left alone) and ``tap`` ports on the
integration bridge.  Networks among them that are not assigned are handed to
``enqueue`` (the queue's handler tears them down, keeping per-network
exclusivity); taps positively ours (:mod:`agent.dhcp.taps`: never a VM's) that
no assigned network accounts for are unplugged here.

:func:`orphans` is pure; :class:`DhcpPruner` gathers the host's view and acts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable

from agent.common import names
from agent.dataplane.ports import BridgePorts
from agent.dhcp import taps as dhcp_taps
from agent.dhcp.settings import DnsmasqSettings
from agent.drivers.state import OvsPort
from agent.metadata import haproxy
from agent.reconcile.prune import namespaces_of_ours

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """What of ours exists on the host, by network id (and taps by port)."""
    namespaces: frozenset[str] = frozenset()      # network ids of qdhcp- namespaces
    state_dirs: frozenset[str] = frozenset()
    dnsmasq: frozenset[str] = frozenset()
    proxies: frozenset[str] = frozenset()
    taps: tuple[OvsPort, ...] = ()                # every tap port with an iface-id


@dataclasses.dataclass(frozen=True, slots=True)
class Orphans:
    networks: frozenset[str]
    taps: tuple[str, ...]


def orphans(view: HostView, assigned: frozenset[str], served_taps: frozenset[str],
            host: str = '', dhcp_ports: dict[str, str] | None = None) -> Orphans:
    """Networks and taps of ours that no assigned network accounts for (pure).

    The taps: :func:`agent.dhcp.taps.orphan_taps` (positively ours, never by tag).
    """
    found = view.namespaces | view.state_dirs | view.dnsmasq | view.proxies
    taps = dhcp_taps.orphan_taps(view.taps, host, assigned, served_taps,
                                 dhcp_ports or {})
    return Orphans(frozenset(found - assigned), taps)


def _uuid_dirs(path: str) -> frozenset[str]:
    try:
        return frozenset(e for e in os.listdir(path)
                         if names.is_uuid(e) and os.path.isdir(os.path.join(path, e)))
    except FileNotFoundError:
        return frozenset()


class DhcpPruner:
    def __init__(self, settings: DnsmasqSettings, drivers, processes,
                 ports: BridgePorts, enqueue: Callable[[str], None],
                 assigned: Callable[[], frozenset[str]],
                 served_taps: Callable[[], frozenset[str]], host: str = '',
                 dhcp_ports: Callable[[], dict[str, str]] = dict,
                 sweep: Callable[[frozenset[str]], frozenset[str]] | None = None,
                 node_proxy=None):
        self.settings = settings
        self.drivers = drivers
        self.processes = processes
        self.ports = ports
        self._enqueue = enqueue
        self._assigned = assigned
        self._served_taps = served_taps
        self._host = host
        self._dhcp_ports = dhcp_ports       # our DHCP ports in the server's data
        # agent.dhcp.sweep: settles children; returns the networks whose namespace
        # holds a process of ours (ours even without a state directory or tap)
        self._sweep = sweep
        self.node_proxy = node_proxy        # the shared metadata proxy's listeners

    def _network_proxies(self) -> frozenset[str]:
        found = haproxy.running_for(self.processes, self.settings.state_path, 'network')
        if self.node_proxy is not None:
            found |= frozenset(self.node_proxy.served())
        return found

    def _our_namespaces(self, state_dirs: frozenset[str], taps) -> frozenset[str]:
        """qdhcp- namespaces that are this agent's: a state directory of ours names
        the network, or a tap on our bridge sits inside.  Another agent's namespaces
        (a second DHCP agent with its own state_path and bridge, as in tests on a
        shared host) are never ours to remove.  The reconciler writes the state
        directory before it creates the namespace, so a namespace left by a crash
        before its tap was plugged is still known as ours."""
        return frozenset(namespaces_of_ours(self.drivers.netns, names.DHCP_NS_PREFIX,
                                            state_dirs.__contains__,
                                            (p.name for p in taps)))

    def observe(self, assigned: frozenset[str] = frozenset(),
                by_child: frozenset[str] = frozenset()) -> HostView:
        state_dirs = _uuid_dirs(self.settings.confs_dir)
        taps = tuple(p for p in self.ports.refresh().values()
                     if p.name.startswith(names.TAP_PREFIX))
        dnsmasq = frozenset(p.uuid for p in self.processes.list_running(
            'dnsmasq', self.settings.confs_dir))
        return HostView(self._our_namespaces(state_dirs | assigned | by_child, taps),
                        state_dirs, dnsmasq, self._network_proxies(), taps)

    def __call__(self, known_keys: Iterable = ()) -> Orphans:
        """Sweep; ``known_keys`` (the fetched keys) is implied by ``assigned``."""
        assigned = self._assigned()
        by_child = self._sweep(assigned) if self._sweep is not None else frozenset()
        found = orphans(self.observe(assigned, by_child), assigned, self._served_taps(),
                        self._host, self._dhcp_ports())
        for network_id in sorted(found.networks):
            LOG.info('network %s is not assigned to this agent any more: removing it',
                     network_id)
            self._enqueue(network_id)
        for name in found.taps:
            LOG.info('unplugging orphan DHCP port %s from %s', name, self.ports.bridge)
            try:
                self.drivers.ovs.delete_port(self.ports.bridge, name)
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                LOG.warning('could not unplug orphan %s: %s', name, exc)
        if found.taps:
            self.ports.touched(*found.taps)
        return found
