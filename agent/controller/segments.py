"""Provider attributes of networks (``provider:network_type``,
``provider:physical_network``, ``provider:segmentation_id``), checked and
allocated as ML2's type drivers do, for the types that reach other nodes:

- ``vlan``: a physical network of ``network_vlan_ranges`` and a VLAN id
  (1..4094) that no other vlan network of that physical network uses; without a
  segmentation id, the lowest free one of the physical network's ranges.
- ``flat``: a physical network allowed by ``flat_networks`` that no other flat
  network uses; no segmentation id.  An external network without provider
  attributes stays flat without a physical network (the L3 agents' external
  bridge), as before.
- ``local``: neither; the network lives on one node (see the scheduler).
- Networks created without provider attributes take the first type of
  ``tenant_network_types`` that has room (vlan: the lowest free VLAN of the
  ranges).  Other types (gre, vxlan, ...) are stored as given: no node puts them
  on a wire.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller.db import models
from agent.controller.txn import Txn

VLAN_MIN, VLAN_MAX = 1, 4094
# Segmentation ids of the types no node puts on a wire, bounded as their headers are.
SEGMENTATION_RANGES = {'vxlan': (1, 2 ** 24 - 1), 'geneve': (1, 2 ** 24 - 1),
                       'gre': (1, 2 ** 32 - 1)}
PROVIDER_FIELDS = ('provider:network_type', 'provider:physical_network',
                   'provider:segmentation_id')
# Networks with these types are served on one node only (no L2 between nodes).
NODE_LOCAL_TYPES = frozenset({'local', None})


@dataclasses.dataclass(frozen=True)
class Segment:
    network_type: str | None
    physical_network: str | None = None
    segmentation_id: int | None = None


def parse_vlan_ranges(entries) -> dict[str, tuple[tuple[int, int], ...]]:
    """ML2's ``network_vlan_ranges``: ``physnet`` or ``physnet:min:max`` entries."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for entry in entries:
        parts = entry.strip().split(':')
        if not parts[0] or len(parts) not in (1, 3):
            raise ValueError(f'network_vlan_ranges: {entry!r} is not '
                             '<physical_network>[:<vlan_min>:<vlan_max>]')
        ranges.setdefault(parts[0], [])
        if len(parts) == 3:
            try:
                low, high = int(parts[1]), int(parts[2])
            except ValueError:
                raise ValueError(f'network_vlan_ranges: {entry!r}: VLAN ids are not '
                                 'integers') from None
            if not VLAN_MIN <= low <= high <= VLAN_MAX:
                raise ValueError(f'network_vlan_ranges: {entry!r}: not a range within '
                                 f'{VLAN_MIN}..{VLAN_MAX}')
            ranges[parts[0]].append((low, high))
    return {p: tuple(r) for p, r in ranges.items()}


def is_node_local(conf, network_type: str | None, physical_network: str | None) -> bool:
    """Whether a network is confined to one node: it has no physical network, on a
    controller that knows physical networks (``network_vlan_ranges`` set: nodes are
    linked by physical networks only).  Without physical networks, every agent is
    taken to share one L2 (one machine, bridges joined), as before."""
    if not conf.network_vlan_ranges:
        return False
    return network_type in NODE_LOCAL_TYPES or (network_type == 'flat'
                                                and not physical_network)


def _used(txn: Txn, network_type: str, physnet: str) -> set:
    return set(txn.session.scalars(sa.select(models.Network.segmentation_id).where(
        models.Network.network_type == network_type,
        models.Network.physical_network == physnet)))


def _free_vlan(txn: Txn, physnet: str, ranges) -> int | None:
    used = _used(txn, 'vlan', physnet)
    for low, high in ranges:
        for vlan in range(low, high + 1):
            if vlan not in used:
                return vlan
    return None


def _vlan(txn: Txn, physnet, seg, ranges) -> Segment:
    # The id's shape first: a malformed request is told what is wrong with it
    # whatever this controller's ranges are.
    if seg is not None:
        seg = v.parse_int(seg, 'provider:segmentation_id', VLAN_MIN, VLAN_MAX)
    if not physnet:
        raise v.invalid('provider:physical_network', 'a vlan network needs one')
    if physnet not in ranges:
        raise v.invalid('provider:physical_network',
                        f'{physnet!r} is not in network_vlan_ranges')
    if seg is None:
        seg = _free_vlan(txn, physnet, ranges[physnet])
        if seg is None:
            raise exc.NoNetworkAvailable(
                f'Unable to create the network. No free VLAN on physical network '
                f'{physnet}.')
    if seg in _used(txn, 'vlan', physnet):
        raise exc.VlanIdInUse(f'Unable to create the network. The VLAN {seg} on '
                               f'physical network {physnet} is in use.')
    return Segment('vlan', physnet, seg)


def _flat(txn: Txn, physnet, seg, flat_networks) -> Segment:
    if seg is not None:
        raise v.invalid('provider:segmentation_id', 'a flat network has none')
    if physnet is None:
        return Segment('flat')
    if '*' not in flat_networks and physnet not in flat_networks:
        raise v.invalid('provider:physical_network',
                        f'{physnet!r} is not in flat_networks')
    if txn.session.scalar(sa.select(sa.func.count()).select_from(models.Network).where(
            models.Network.network_type == 'flat',
            models.Network.physical_network == physnet)):
        raise exc.FlatNetworkInUse(f'Unable to create the flat network. Physical network '
                               f'{physnet} is in use.')
    return Segment('flat', physnet)


def _tenant(txn: Txn, conf, ranges) -> Segment:
    for kind in conf.tenant_network_types:
        if kind == 'local':
            return Segment('local')
        for physnet, physnet_ranges in ranges.items():
            vlan = _free_vlan(txn, physnet, physnet_ranges)
            if vlan is not None:
                return Segment('vlan', physnet, vlan)
    raise exc.NoNetworkAvailable('Unable to create the network. No tenant network is '
                                 'available for allocation.')


def assign(txn: Txn, body: dict, external: bool) -> Segment:
    """The segment of a new network from its body's provider attributes."""
    kind, physnet, seg = (body.get(f) for f in PROVIDER_FIELDS)
    # The database's column sizes bound them.
    kind = v.parse_string(kind, 'provider:network_type', 32) or None
    physnet = v.parse_string(physnet, 'provider:physical_network', 64) or None
    conf = txn.conf
    ranges = parse_vlan_ranges(conf.network_vlan_ranges)
    if kind is None:
        if physnet is not None or seg is not None:
            raise v.invalid('provider:network_type', 'required with '
                            'provider:physical_network or provider:segmentation_id')
        return Segment('flat') if external else _tenant(txn, conf, ranges)
    if kind == 'vlan':
        return _vlan(txn, physnet, seg, ranges)
    if kind == 'flat':
        return _flat(txn, physnet, seg, conf.flat_networks)
    if kind == 'local' and (physnet is not None or seg is not None):
        raise v.invalid('provider:network_type', 'a local network has no physical '
                        'network nor segmentation id')
    if seg is not None:
        low, high = SEGMENTATION_RANGES.get(kind, (0, 2 ** 32 - 1))
        seg = v.parse_int(seg, 'provider:segmentation_id', low, high)
    return Segment(kind, physnet, seg)


def for_ha_network(txn: Txn) -> Segment:
    """The segment of a new HA network: ``l3_ha_network_type`` and
    ``l3_ha_network_physical_name``, or a tenant network's when unset (Neutron's
    rule).  It must reach every node: a node-local one is refused on a controller
    that knows physical networks."""
    conf = txn.conf
    kind, physnet = conf.l3_ha_network_type or None, conf.l3_ha_network_physical_name or None
    ranges = parse_vlan_ranges(conf.network_vlan_ranges)
    if kind is None:
        segment = _tenant(txn, conf, ranges)
    elif kind == 'vlan' and physnet is None:
        segment = next((Segment('vlan', p, vlan) for p, r in ranges.items()
                        if (vlan := _free_vlan(txn, p, r)) is not None), None)
        if segment is None:
            raise exc.NoNetworkAvailable('Unable to create the HA network. No free VLAN '
                                         'in network_vlan_ranges.')
    else:
        segment = assign(txn, {'provider:network_type': kind,
                               'provider:physical_network': physnet}, False)
    if is_node_local(conf, segment.network_type, segment.physical_network):
        raise exc.NoNetworkAvailable(
            f'Unable to create the HA network: type {segment.network_type} without a '
            f'physical network reaches one node only; set l3_ha_network_type = vlan '
            f'(or flat with l3_ha_network_physical_name).')
    return segment
