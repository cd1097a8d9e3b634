"""Which OVS ports are ours, and removing them from bridges.

A port is ours (:func:`is_our_port`) when our owner mark gives it to an agent of
this host (:mod:`agent.dataplane.ownership`), or, unmarked (an older netnode's,
Neutron's agents'), when it carries the interface driver's external_ids
(``iface-id`` and ``attached-mac``) and either is named ``qr-``/``qg-`` (router
devices: Nova never uses those names) or is a ``tap`` a DHCP state directory
names as its network's device (``<state_path>/dhcp/<network>/interface``).  Nova
names a VM's port ``tap<port id>`` with the same external_ids: such a port is
never ours, on any bridge.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterable, List

from agent.common import names
from agent.dataplane import ownership
from agent.drivers.state import BridgeNotFound, DriverError, OvsPort

LOG = logging.getLogger(__name__)

DEVICE_PREFIXES = (names.TAP_PREFIX, names.INTERNAL_PREFIX, names.GATEWAY_PREFIX,
                   names.HA_PREFIX)
ROUTER_PREFIXES = (names.INTERNAL_PREFIX, names.GATEWAY_PREFIX, names.HA_PREFIX)


def is_agent_device_port(port: OvsPort) -> bool:
    """Plugged by an interface driver (ours or Neutron's) under one of our device
    names: enough for a device found inside a namespace being cleaned."""
    return ownership.has_agent_ids(port) and port.name.startswith(DEVICE_PREFIXES)


def is_our_port(port: OvsPort, host: str, dhcp_taps: frozenset = frozenset()) -> bool:
    owner = ownership.owner_of(port)
    if owner is not None:
        return owner.host == host
    if ownership.OWNER_KEY in port.external_ids or not ownership.has_agent_ids(port):
        return False
    return port.name.startswith(ROUTER_PREFIXES) or port.name in dhcp_taps


def dhcp_taps_of(state_path: str) -> frozenset:
    """The tap names the DHCP state directories under ``state_path`` record."""
    root = os.path.join(state_path, 'dhcp')
    try:
        entries = os.listdir(root)
    except OSError:
        return frozenset()
    found = set()
    for entry in entries:
        if not names.is_uuid(entry):
            continue
        try:
            with open(os.path.join(root, entry, 'interface')) as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith(names.TAP_PREFIX) and len(name) <= names.DEV_NAME_LEN:
            found.add(name)
    return frozenset(found)


@dataclasses.dataclass
class PortCleanupReport:
    deleted: List[str] = dataclasses.field(default_factory=list)   # 'bridge/port'
    kept: List[str] = dataclasses.field(default_factory=list)
    errors: List[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class OvsPortCleaner:
    """Deletes our ports from the given bridges; every other port is left alone.

    A port that is a veth pair's root end (``ovs_use_veth``) is deleted with its
    pair when ``links`` is given: deleting an internal port deletes its device,
    deleting the port of a veth leaves the pair."""

    def __init__(self, ovs, host: str, dhcp_taps: frozenset = frozenset(),
                 links=None) -> None:
        self.ovs = ovs
        self.host = host
        self.dhcp_taps = dhcp_taps
        self.links = links

    def clean_bridges(self, bridges: Iterable[str]) -> PortCleanupReport:
        report = PortCleanupReport()
        for bridge in dict.fromkeys(bridges):          # once each, in the given order
            self.clean_bridge(bridge, report)
        return report

    def clean_bridge(self, bridge: str, report: PortCleanupReport) -> None:
        try:
            ports = self.ovs.list_ports(bridge)
        except BridgeNotFound:
            LOG.info('Bridge %s does not exist, nothing to clean', bridge)
            return
        except DriverError as exc:
            report.errors.append(str(exc))
            LOG.error('Cannot list the ports of bridge %s: %s', bridge, exc)
            return
        for port in ports:
            where = f'{bridge}/{port.name}'
            if not is_our_port(port, self.host, self.dhcp_taps):
                report.kept.append(where)
                LOG.debug('Keeping port %s: not one of ours', where)
                continue
            try:
                self.ovs.delete_port(bridge, port.name)
                if self.links is not None and port.type != 'internal':
                    self.links.delete_veth(port.name)
            except DriverError as exc:
                report.errors.append(str(exc))
                LOG.error('Cannot delete port %s: %s', where, exc)
                continue
            report.deleted.append(where)
            LOG.info('Deleted port %s (iface-id %s)', where, port.iface_id)
