"""Which OVS ports are ours, and removing them from bridges.

A port is ours when its Interface carries the external_ids the agents set when
plugging (``iface-id`` and ``attached-mac``) AND its name has one of our device
prefixes (``tap``, ``qr-``, ``qg-``).  Nova's VM ports also carry ``iface-id`` and
``attached-mac`` but are named ``tap<port>`` too: on a node that also runs
instances, point the tool at the bridges the agents use only.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, List

from agent.common import names
from agent.drivers.state import ATTACHED_MAC, IFACE_ID, BridgeNotFound, DriverError, OvsPort

LOG = logging.getLogger(__name__)

DEVICE_PREFIXES = (names.TAP_PREFIX, names.INTERNAL_PREFIX, names.GATEWAY_PREFIX)


def is_our_port(port: OvsPort) -> bool:
    ids = port.external_ids
    return (bool(ids.get(IFACE_ID)) and bool(ids.get(ATTACHED_MAC))
            and port.name.startswith(DEVICE_PREFIXES))


@dataclasses.dataclass
class PortCleanupReport:
    deleted: List[str] = dataclasses.field(default_factory=list)   # 'bridge/port'
    kept: List[str] = dataclasses.field(default_factory=list)
    errors: List[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class OvsPortCleaner:
    """Deletes our ports from the given bridges; every other port is left alone."""

    def __init__(self, ovs) -> None:
        self.ovs = ovs

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
            if not is_our_port(port):
                report.kept.append(where)
                LOG.debug('Keeping port %s: not one of ours', where)
                continue
            try:
                self.ovs.delete_port(bridge, port.name)
            except DriverError as exc:
                report.errors.append(str(exc))
                LOG.error('Cannot delete port %s: %s', where, exc)
                continue
            report.deleted.append(where)
            LOG.info('Deleted port %s (iface-id %s)', where, port.iface_id)
