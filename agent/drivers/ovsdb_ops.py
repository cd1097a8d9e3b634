"""OVSDB operations (RFC 7047 JSON) for what the drivers write: pure builders.

Written as ovs-vsctl writes them: a port is a Port row with one Interface row,
referenced from its Bridge's ``ports`` (ports, interfaces and bridges are not
root rows: dropping the reference deletes them); a change ovs-vswitchd acts on
raises ``next_cfg`` (see :func:`next_cfg`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from agent.drivers.state import DEAD_VLAN, PortSpec


def named(name: str) -> list:
    return ['named-uuid', name]


def ref(uuid: str) -> list:
    return ['uuid', uuid]


def oset(values: Sequence[Any]) -> list:
    return ['set', list(values)]


def omap(values: Mapping[str, str]) -> list:
    return ['map', [[k, v] for k, v in sorted(values.items())]]


def where_uuid(uuid: str) -> list:
    return [['_uuid', '==', ref(uuid)]]


def where_name(name: str) -> list:
    return [['name', '==', name]]


def port_columns(tag: Optional[int]) -> Dict[str, Any]:
    """A port's VLAN columns: untagged, a local VLAN, or trunk of the dead VLAN only
    (as Neutron plugs a port nobody may talk to)."""
    if tag is None:
        return {'tag': oset(()), 'vlan_mode': oset(()), 'trunks': oset(())}
    if tag == DEAD_VLAN:
        return {'tag': DEAD_VLAN, 'vlan_mode': 'trunk', 'trunks': oset([DEAD_VLAN])}
    return {'tag': tag, 'vlan_mode': oset(()), 'trunks': oset(())}


def _port(i: int, name: str, iface: Dict[str, Any], port: Dict[str, Any]) -> List[dict]:
    return [{'op': 'insert', 'table': 'Interface', 'uuid-name': f'i{i}',
             'row': {'name': name, **iface}},
            {'op': 'insert', 'table': 'Port', 'uuid-name': f'p{i}',
             'row': {'name': name, 'interfaces': named(f'i{i}'), **port}}]


def add_ports(bridge: str, ports: List[list]) -> dict:
    """Add ``ports`` (uuid or named-uuid references) to the Bridge row ``bridge``."""
    return {'op': 'mutate', 'table': 'Bridge', 'where': where_uuid(bridge),
            'mutations': [['ports', 'insert', oset(ports)]]}


def add_internal_ports(bridge: str, specs: Sequence[PortSpec]) -> List[dict]:
    """Ports on the Bridge row ``bridge`` (internal, or a veth's root end: the
    spec's ``interface_type``), their ``iface-id`` in the insert (see
    agent.drivers.ovs).  Interface ``i`` of ``specs`` is inserted by op ``2*i``;
    the last op's ``count`` is 0 if the bridge is gone."""
    ops: List[dict] = []
    for i, spec in enumerate(specs):
        ops += _port(i, spec.name, {'type': spec.interface_type,
                                     'external_ids': omap(spec.external_ids())},
                     port_columns(spec.tag))
    return ops + [add_ports(bridge, [named(f'p{i}') for i in range(len(specs))])]


def delete_ports(ports: Sequence[str], bridge: Optional[str] = None) -> dict:
    """Take the Port rows ``ports`` (uuids) off ``bridge`` (a name), or off any bridge."""
    return {'op': 'mutate', 'table': 'Bridge',
            'where': where_name(bridge) if bridge is not None else [],
            'mutations': [['ports', 'delete', oset([ref(p) for p in ports])]]}


def add_bridge(name: str, datapath_type: str) -> List[dict]:
    """A bridge and its local internal port, as ``ovs-vsctl add-br``; the first op
    fails ("timed out") if a bridge of that name exists."""
    return [{'op': 'wait', 'table': 'Bridge', 'where': where_name(name), 'columns': ['name'],
             'until': '==', 'rows': [], 'timeout': 0},
            *_port(0, name, {'type': 'internal'}, {}),
            {'op': 'insert', 'table': 'Bridge', 'uuid-name': 'b',
             'row': {'name': name, 'ports': named('p0'), 'datapath_type': datapath_type}},
            {'op': 'mutate', 'table': 'Open_vSwitch', 'where': [],
             'mutations': [['bridges', 'insert', oset([named('b')])]]}]


def delete_bridge(bridge: str) -> dict:
    """Drop the Bridge row ``bridge`` (a uuid) with its ports."""
    return {'op': 'mutate', 'table': 'Open_vSwitch', 'where': [],
            'mutations': [['bridges', 'delete', oset([ref(bridge)])]]}


def patch_port(bridge: str, name: str, peer: str, iface: Optional[str] = None,
               i: int = 0) -> List[dict]:
    """A patch port ``name`` on the Bridge row ``bridge`` whose peer is ``peer``; if
    its Interface row exists (``iface``, a uuid) that row is made a patch."""
    columns = {'type': 'patch', 'options': omap({'peer': peer})}
    if iface is not None:
        return [{'op': 'update', 'table': 'Interface', 'where': where_uuid(iface),
                 'row': columns}]
    return _port(i, name, columns, {}) + [add_ports(bridge, [named(f'p{i}')])]


def set_port(name: str, tag: Optional[int]) -> dict:
    """The VLAN columns of the Port named ``name``; ``count`` 0 if there is none."""
    return {'op': 'update', 'table': 'Port', 'where': where_name(name),
            'row': port_columns(tag)}


def next_cfg() -> List[dict]:
    """Ask ovs-vswitchd to reconfigure, as ovs-vsctl does: the last op's result is
    ``{"rows": [{"next_cfg": N}]}``; it is done once ``cur_cfg`` >= N."""
    return [{'op': 'mutate', 'table': 'Open_vSwitch', 'where': [],
             'mutations': [['next_cfg', '+=', 1]]},
            {'op': 'select', 'table': 'Open_vSwitch', 'where': [], 'columns': ['next_cfg']}]


def set_bridge_keys(bridge: str, current: Mapping[str, str],
                    new: Mapping[str, str]) -> List[dict]:
    """Add ``new`` keys to the external_ids of the bridge named ``bridge`` if they
    are still ``current`` (a compare-and-swap: else the first op fails, "timed out")."""
    return [{'op': 'wait', 'table': 'Bridge', 'where': where_name(bridge),
             'columns': ['external_ids'], 'until': '==',
             'rows': [{'external_ids': omap(current)}], 'timeout': 0},
            {'op': 'mutate', 'table': 'Bridge', 'where': where_name(bridge),
             'mutations': [['external_ids', 'insert', omap(new)]]}]


def remove_bridge_keys(bridge: str, keys: Sequence[str]) -> dict:
    return {'op': 'mutate', 'table': 'Bridge', 'where': where_name(bridge),
            'mutations': [['external_ids', 'delete', oset(keys)]]}
