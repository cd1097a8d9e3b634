"""Which ``tap`` ports on the integration bridge the DHCP agent may unplug (pure).

Nova names a VM's port ``tap`` + the port id, exactly as DHCP taps are named, and
with local VLAN tagging off (Neutron's OVS agent tags) no tag tells them apart.
A tap is this agent's only positively (:func:`agent.dataplane.ownership.resource_of`):
our owner mark names this host's DHCP agent and the network, or, unmarked
(plugged by an older netnode or by Neutron's DHCP agent), its ``iface-id`` is a
DHCP port with this host's ``device_id`` in the networks last read from the
server.  Anything else is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.common import names
from agent.dataplane import ownership
from agent.drivers.state import OvsPort
from agent.model.network import Network

DHCP_OWNER = 'network:dhcp'


def our_dhcp_ports(networks: Iterable[Network], host: str) -> dict[str, str]:
    """port id -> network id of this host's DHCP ports in ``networks``."""
    found = {}
    for network in networks:
        device_id = names.dhcp_port_device_id(host, network.id)
        for port in network.ports:
            if port.device_owner == DHCP_OWNER and port.device_id == device_id:
                found[port.id] = network.id
    return found


def orphan_taps(taps: Iterable[OvsPort], host: str, assigned: frozenset[str],
                served_taps: frozenset[str], dhcp_ports: dict[str, str]
                ) -> tuple[str, ...]:
    """The names of the taps of ours that no assigned network accounts for.

    Kept: every tap that is not positively ours, the device of a network being
    served, and a tap of an assigned network (it may be being set up right now,
    or its network's reconcile replaces it).
    """
    orphans = []
    for port in taps:
        network_id = ownership.resource_of(port, ownership.DHCP, host, dhcp_ports)
        if network_id is None or port.name in served_taps or network_id in assigned:
            continue
        orphans.append(port.name)
    return tuple(sorted(orphans))
