"""Deleting stale namespaces of ours, in two passes as neutron-netns-cleanup does.

Ours: ``qdhcp-<uuid>`` (DHCP), ``qrouter-<uuid>``, ``snat-<uuid>``, ``fip-<uuid>``
(L3).  Any other name is foreign and never touched.

Pass one picks the candidates: without ``force``, namespaces that hold no device
but ``lo`` and run no child of ours (an agent's live namespace always has its port;
an empty one was left by a crash); with ``force``, all of ours.  After a delay the
second pass handles each candidate: with ``force`` its dnsmasq/haproxy children are
stopped and its devices unplugged (our OVS ports deleted, remaining links deleted);
then it is deleted only if it is (still) empty, so a namespace an agent started to
use in between survives.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from agent.cleanup.ports import is_agent_device_port
from agent.common import names
from agent.drivers.state import BridgeNotFound, DriverError, NamespaceNotEmpty
from agent.process.manager import ProcessError

LOG = logging.getLogger(__name__)

SNAT_NS_PREFIX = 'snat-'
FIP_NS_PREFIX = 'fip-'
NS_PREFIXES = {
    'dhcp': (names.DHCP_NS_PREFIX,),
    'l3': (names.ROUTER_NS_PREFIX, SNAT_NS_PREFIX, FIP_NS_PREFIX),
}
ALL_PREFIXES = NS_PREFIXES['dhcp'] + NS_PREFIXES['l3']


def namespace_id(name: str, agent_type: Optional[str] = None) -> Optional[str]:
    """The uuid of one of our namespaces (of ``agent_type``'s kinds), else None."""
    for prefix in NS_PREFIXES[agent_type] if agent_type else ALL_PREFIXES:
        ident = names.id_from_namespace(name, prefix)
        if ident is not None:
            return ident
    return None


@dataclasses.dataclass
class NamespaceCleanupReport:
    deleted: List[str] = dataclasses.field(default_factory=list)
    kept: Dict[str, str] = dataclasses.field(default_factory=dict)     # name -> why
    stopped: List[str] = dataclasses.field(default_factory=list)       # 'dnsmasq 1234'
    unplugged: List[str] = dataclasses.field(default_factory=list)     # 'ns/dev'
    errors: List[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class NamespaceCleaner:
    """Two-pass cleanup of our namespaces over the driver Protocols.

    ``ovs`` may be None (OVSDB unreachable, or not needed without ``force``): the
    devices of a namespace are then deleted as links only.
    """

    def __init__(self, netns, links, ovs, children, bridges: Sequence[str],
                 force: bool = False, agent_type: Optional[str] = None,
                 only: Iterable[str] = (), delay: float = 2.0, settle: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if agent_type is not None and agent_type not in NS_PREFIXES:
            raise ValueError(f'agent type {agent_type!r}: expected one of '
                             f'{", ".join(sorted(NS_PREFIXES))}')
        self.netns = netns
        self.links = links
        self.ovs = ovs
        self.children = children
        self.bridges = list(dict.fromkeys(bridges))
        self.force = force
        self.agent_type = agent_type
        self.only = list(dict.fromkeys(only))
        self.delay = delay
        self.settle = settle
        self.sleep = sleep

    # -- pass one ------------------------------------------------------------------------

    def _in_scope(self, report: NamespaceCleanupReport) -> List[str]:
        present = self.netns.list_namespaces()
        if not self.only:
            return [n for n in present if namespace_id(n, self.agent_type)]
        scope = []
        for name in self.only:
            if namespace_id(name, self.agent_type) is None:
                kinds = self.agent_type or 'netnode'
                report.errors.append(f'namespace {name}: not a {kinds} namespace, '
                                     'refusing to touch it')
                LOG.error('Namespace %s is not a %s namespace (prefix + uuid): '
                          'refusing to touch it', name, kinds)
            elif name not in present:
                LOG.info('Namespace %s does not exist, nothing to clean', name)
            else:
                scope.append(name)
        return scope

    def _busy(self, name: str) -> Optional[str]:
        """Why ``name`` is in use (devices, children), or None if it is empty."""
        devices = self.netns.devices_in(name)
        if devices:
            return f'holds devices {", ".join(devices)}'
        running = self.children.find(namespace_id(name))
        if running:
            return 'runs ' + ', '.join(f'{p.service} (pid {p.pid})' for p in running)
        return None

    def candidates(self, report: NamespaceCleanupReport) -> List[str]:
        self.children.refresh()
        found = []
        for name in self._in_scope(report):
            why = None if self.force else self._busy(name)
            if why:
                report.kept[name] = why
                LOG.info('Keeping namespace %s: it %s (use --force to remove it)', name,
                         why)
            else:
                found.append(name)
        return found

    # -- pass two ------------------------------------------------------------------------

    def _our_ports(self) -> Dict[str, tuple]:
        """{port name: (bridge, port)} of our ports on the configured bridges."""
        ports: Dict[str, tuple] = {}
        if self.ovs is None:
            return ports
        for bridge in self.bridges:
            try:
                for port in self.ovs.list_ports(bridge):
                    if is_agent_device_port(port):
                        ports[port.name] = (bridge, port)
            except BridgeNotFound:
                LOG.debug('Bridge %s does not exist', bridge)
        return ports

    def _wait_gone(self, name: str, devices: Iterable[str]) -> List[str]:
        """Wait up to ``settle`` s for ``devices`` to leave ``name``; the ones left."""
        wanted = set(devices)
        deadline = time.monotonic() + self.settle
        while True:
            left = sorted(wanted & set(self.netns.devices_in(name)))
            if not left or time.monotonic() >= deadline:
                return left
            self.sleep(0.05)

    def _unplug(self, name: str, report: NamespaceCleanupReport) -> None:
        devices = self.netns.devices_in(name)
        if not devices:
            return
        ports = self._our_ports()
        deleted_ports = []
        for dev in devices:
            if dev in ports:
                bridge, port = ports[dev]
                self.ovs.delete_port(bridge, dev)
                if port.type != 'internal':     # a veth pair: its root end with it
                    self.links.delete_veth(dev)
                deleted_ports.append(dev)
                LOG.info('Deleted OVS port %s/%s of namespace %s', bridge, dev, name)
        self._wait_gone(name, deleted_ports)
        for dev in self.netns.devices_in(name):
            self.links.delete_device(name, dev)
            LOG.info('Deleted device %s of namespace %s', dev, name)
        report.unplugged.extend(f'{name}/{dev}' for dev in devices)

    def _stop_children(self, name: str, report: NamespaceCleanupReport) -> None:
        for proc in self.children.find(namespace_id(name)):
            if self.children.stop(proc):
                report.stopped.append(f'{proc.service} {proc.pid}')

    def clean(self, name: str, report: NamespaceCleanupReport) -> None:
        if not self.netns.exists(name):
            LOG.info('Namespace %s is already gone', name)
            return
        try:
            if self.force:
                self._stop_children(name, report)
                self._unplug(name, report)
            else:
                why = self._busy(name)
                if why:
                    report.kept[name] = why
                    LOG.info('Keeping namespace %s: it %s now', name, why)
                    return
            self.netns.delete(name)
        except NamespaceNotEmpty as exc:
            report.kept[name] = str(exc)
            LOG.warning('Keeping namespace %s: %s', name, exc)
            if self.force:
                report.errors.append(str(exc))
            return
        except (DriverError, ProcessError, OSError) as exc:
            report.errors.append(f'namespace {name}: {exc}')
            LOG.error('Cleaning namespace %s failed: %s', name, exc)
            return
        report.deleted.append(name)
        LOG.info('Deleted namespace %s', name)

    def run(self) -> NamespaceCleanupReport:
        report = NamespaceCleanupReport()
        candidates = self.candidates(report)
        if candidates:
            LOG.info('Namespaces to clean: %s; checking again in %gs',
                     ', '.join(candidates), self.delay)
            self.sleep(self.delay)
            self.children.refresh()
        for name in candidates:
            self.clean(name, report)
        LOG.info('Namespace cleanup: %d deleted, %d kept, %d children stopped, '
                 '%d errors', len(report.deleted), len(report.kept), len(report.stopped),
                 len(report.errors))
        return report
