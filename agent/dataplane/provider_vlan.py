"""Which VLAN a port of a network gets on the integration bridge of a node that is
linked to a physical network (``[ovs] bridge_mappings``), without any OpenFlow.

The integration bridge is trunked to the physical bridge by a patch port pair
(``int-<bridge>`` / ``phy-<bridge>``), so the tag on the integration bridge IS the
VLAN on the wire: a port of a ``vlan`` network is tagged with its segmentation id,
a port of a ``flat`` network with VLAN 0 (untagged on both bridges).  Networks of
any other type (``local``, or a flat network without a physical network) would
have a local VLAN, which the trunk would carry onto the physical network too: on
such a node they are refused.  Without bridge mappings (one node) every network
gets its local VLAN, as before.

Only used when netnode tags its own ports (``local_vlan_tagging = True``); in
drop-in mode the L2 agent owns the tags and the link to the physical networks.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from agent.model.network import Segment

FLAT_VLAN = 0
PATCH_INT_PREFIX = 'int-'
PATCH_PHYS_PREFIX = 'phy-'


class ProviderNetworkError(ValueError):
    """A network this node cannot put on the wire, or a bad bridge mapping."""


def parse_bridge_mappings(entries: Sequence[str]) -> dict[str, str]:
    """``['physnet1:br-phys']`` -> ``{'physnet1': 'br-phys'}``; at most one entry."""
    mappings = {}
    for entry in entries:
        physnet, sep, bridge = entry.strip().partition(':')
        if not sep or not physnet or not bridge or ':' in bridge:
            raise ProviderNetworkError(f'[ovs] bridge_mappings: {entry!r} is not '
                                       '<physical_network>:<bridge>')
        if physnet in mappings:
            raise ProviderNetworkError(f'[ovs] bridge_mappings: physical network '
                                       f'{physnet} is mapped twice')
        if len(bridge) > 15:
            raise ProviderNetworkError(f'[ovs] bridge_mappings: bridge name {bridge!r} '
                                       'is longer than 15 characters')
        mappings[physnet] = bridge
    if len(mappings) > 1:
        raise ProviderNetworkError(
            '[ovs] bridge_mappings: more than one physical network: their VLANs would '
            'share the integration bridge\'s trunk (one physical network per node)')
    return mappings


def patch_names(bridge: str) -> tuple[str, str]:
    """(port on the integration bridge, port on the physical bridge), <= 15 chars."""
    return ((PATCH_INT_PREFIX + bridge)[:15], (PATCH_PHYS_PREFIX + bridge)[:15])


def provider_tag(network_id: str, segment: Segment | None,
                 mappings: Mapping[str, str]) -> int | None:
    """The tag of the network's ports on this node: the segmentation id (vlan), 0
    (flat), or None when the network uses a local VLAN (no bridge mappings).
    ProviderNetworkError names the network when this node cannot serve it."""
    if not mappings:
        return None
    kind = segment.network_type if segment else None
    physnet = segment.physical_network if segment else None
    if kind in ('vlan', 'flat') and physnet:
        if physnet not in mappings:
            raise ProviderNetworkError(
                f'network {network_id}: physical network {physnet} is not in '
                f'[ovs] bridge_mappings of this node ({", ".join(sorted(mappings))})')
        if kind == 'flat':
            return FLAT_VLAN
        seg = segment.segmentation_id
        if seg is None or not 1 <= seg <= 4094:
            raise ProviderNetworkError(f'network {network_id}: vlan network with '
                                       f'segmentation id {seg!r} (1..4094 expected)')
        return seg
    raise ProviderNetworkError(
        f'network {network_id}: a network of type {kind or "local"} without a physical '
        'network cannot be served on a node with bridge_mappings (its local VLAN would '
        'be trunked onto the physical network); use a vlan or flat network')
