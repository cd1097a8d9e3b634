"""Bounds on what agents may send the controller: heartbeats and query filters.

Any process on the bus can call the controller's RPC methods, so their
arguments are checked like REST bodies: ``report_state`` carries an agent type
of the known set, a host and names of bounded length and a ``configurations``
document of bounded size (it is stored and shown by ``GET /v2.0/agents``);
``get_ports``/``get_networks`` filters are ``{field: [values]}`` of scalars,
Neutron's shape, so no odd value reaches the database.  Errors are
:class:`~agent.rpc.codec.WireError` naming the call and field; the RPC server
logs them and answers with an error.
"""

from __future__ import annotations

import json

from agent.rpc.codec import Fields

# neutron_lib.constants AGENT_TYPE_* (and the OVN ones): what a report may claim.
AGENT_TYPES = frozenset({
    'DHCP agent', 'L3 agent', 'Metadata agent', 'Open vSwitch agent',
    'Linux bridge agent', 'Metering agent', 'NIC Switch agent', 'Macvtap agent',
    'BGP dynamic routing agent', 'OVN Controller agent', 'OVN Controller Gateway agent',
    'OVN Metadata agent', 'OVN Neutron agent', 'Baremetal Node'})
NAME_MAX = 255                   # host, binary, topic, availability_zone (the columns)
CONFIGURATIONS_MAX = 64 * 1024   # bytes of JSON (Neutron's agents send ~1 KiB)
RESOURCE_VERSIONS_MAX = 16 * 1024
FILTER_KEYS_MAX = 32
FILTER_VALUES_MAX = 1000
FIXED_IP_KEYS = frozenset({'ip_address', 'subnet_id'})


def _bounded_name(f: Fields, name: str, required: bool = True) -> None:
    value = f.str(name) if required else f.str(name, '')
    if len(value) > NAME_MAX:
        raise f.error(name, f'{len(value)} characters, more than {NAME_MAX}')
    if any(ord(c) < 32 for c in value):
        raise f.error(name, 'control characters are not allowed')


def _json_size(f: Fields, name: str, limit: int, default) -> None:
    value = f.raw(name, default)
    if value is None:
        return
    if not isinstance(value, dict):
        raise f.error(name, f'{type(value).__name__} is not an object')
    size = len(json.dumps(value, default=str))
    if size > limit:
        raise f.error(name, f'{size} bytes of JSON, more than {limit}: refused')


def check_agent_state(state: Fields) -> None:
    """The inner ``agent_state`` of a report_state call."""
    for name in ('binary', 'host', 'topic'):
        _bounded_name(state, name)
    _bounded_name(state, 'availability_zone', required=False)
    agent_type = state.str('agent_type')
    if agent_type not in AGENT_TYPES:
        shown = agent_type if len(agent_type) <= 40 else agent_type[:37] + '...'
        raise state.error('agent_type', f'{shown!r} is not a known agent type')
    _json_size(state, 'configurations', CONFIGURATIONS_MAX, {})
    _json_size(state, 'resource_versions', RESOURCE_VERSIONS_MAX, None)


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool)) and (
        not isinstance(value, str) or len(value) <= NAME_MAX)


def _values(f: Fields, path: str, value) -> None:
    items = value if isinstance(value, (list, tuple)) else [value]
    if len(items) > FILTER_VALUES_MAX:
        raise f.error(path, f'more than {FILTER_VALUES_MAX} values')
    for i, item in enumerate(items):
        if not _scalar(item):
            raise f.error(f'{path}[{i}]', f'{type(item).__name__} is not a string, '
                                          'number or boolean (of at most 255 characters)')


def filters(f: Fields) -> dict:
    """``filters`` of get_ports/get_networks: {field: value or [values]}, and
    ``fixed_ips``: {ip_address|subnet_id: [values]}."""
    value = f.raw('filters', None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise f.error('filters', f'{type(value).__name__} is not an object')
    if len(value) > FILTER_KEYS_MAX:
        raise f.error('filters', f'more than {FILTER_KEYS_MAX} fields')
    for key, wanted in value.items():
        if not isinstance(key, str) or len(key) > NAME_MAX:
            raise f.error('filters', f'key {key!r:.60} is not a field name')
        if key == 'fixed_ips' and isinstance(wanted, dict):
            for sub, sub_wanted in wanted.items():
                if sub not in FIXED_IP_KEYS:
                    raise f.error('filters.fixed_ips', f'key {sub!r:.60} is not '
                                  'ip_address or subnet_id')
                _values(f, f'filters.fixed_ips.{sub}', sub_wanted)
            continue
        _values(f, f'filters.{key}', wanted)
    return value


def fields(f: Fields) -> list | None:
    value = f.raw('fields', None)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and len(v) <= NAME_MAX for v in value):
        raise f.error('fields', 'is not a list of field names')
    return list(value)
