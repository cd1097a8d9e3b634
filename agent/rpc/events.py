"""Small typed events decoded from the server's notifications to the agents.

A notification only names what changed (Principle 2: keys, not payloads); the
agent's worker fetches authoritative state before acting.  The one exception is a
DHCP port create/update, whose decoded :class:`~agent.model.Port` is kept so a
handler may apply it at once (as Neutron's agent does).
"""

from __future__ import annotations

import dataclasses

from agent.common.names import is_uuid
from agent.model.network import Port
from agent.rpc.codec import Fields, WireError, port_from_wire

DEFAULT_PRIORITY = 255   # Neutron's agent uses this when a payload has none

DHCP_METHODS = (
    'network_create_end', 'network_update_end', 'network_delete_end',
    'subnet_create_end', 'subnet_update_end', 'subnet_delete_end',
    'port_create_end', 'port_update_end', 'port_delete_end', 'agent_updated')

L3_METHODS = (
    'routers_updated', 'router_deleted', 'router_added_to_agent',
    'router_removed_from_agent', 'agent_updated', 'network_update')


@dataclasses.dataclass(frozen=True, slots=True)
class DhcpEvent:
    """One DHCP notification: which network, how urgent, and what it carried."""
    method: str
    network_id: str | None          # None: agent_updated, or a subnet delete without it
    priority: int = DEFAULT_PRIORITY
    port: Port | None = None        # port_create_end / port_update_end
    port_id: str | None = None      # port_delete_end (and the port's id otherwise)
    subnet_id: str | None = None    # subnet_*_end
    admin_state_up: bool | None = None   # network_update_end / agent_updated

    @property
    def full_resync(self) -> bool:
        return self.method == 'agent_updated'


@dataclasses.dataclass(frozen=True, slots=True)
class L3Event:
    """One L3 notification: the routers (or network) concerned."""
    method: str
    router_ids: tuple[str, ...] = ()
    network_id: str | None = None   # network_update
    deleted: bool = False           # router_deleted / router_removed_from_agent
    admin_state_up: bool | None = None

    @property
    def full_resync(self) -> bool:
        return self.method == 'agent_updated'


def _priority(f: Fields) -> int:
    value = f.raw('priority', DEFAULT_PRIORITY)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise f.error('priority', f'{value!r} is not a non-negative integer')
    return value


def dhcp_event_from_wire(method: str, payload) -> DhcpEvent:
    """Decode ``payload`` of DHCP notification ``method`` (fact sheet §2)."""
    if method not in DHCP_METHODS:
        raise WireError(f'{method} message', 'method', 'unknown DHCP agent method')
    f = Fields(f'{method} message', payload, 'payload.')
    if method == 'agent_updated':
        return DhcpEvent(method, None, DEFAULT_PRIORITY,
                         admin_state_up=f.bool('admin_state_up', None))
    priority = _priority(f)
    if method == 'network_create_end':
        net = Fields(f.obj, f.raw('network'), 'payload.network.')
        return DhcpEvent(method, net.uuid('id'), priority)
    if method == 'network_update_end':
        net = Fields(f.obj, f.raw('network'), 'payload.network.')
        return DhcpEvent(method, net.uuid('id'), priority,
                         admin_state_up=net.bool('admin_state_up'))
    if method == 'network_delete_end':
        return DhcpEvent(method, f.uuid('network_id'), priority)
    if method in ('subnet_create_end', 'subnet_update_end'):
        sub = Fields(f.obj, f.raw('subnet'), 'payload.subnet.')
        return DhcpEvent(method, sub.uuid('network_id'), priority,
                         subnet_id=sub.uuid('id'))
    if method == 'subnet_delete_end':
        return DhcpEvent(method, f.optional_uuid('network_id'), priority,
                         subnet_id=f.uuid('subnet_id'))
    if method == 'port_delete_end':
        return DhcpEvent(method, f.uuid('network_id'), priority,
                         port_id=f.uuid('port_id'))
    try:
        port = port_from_wire(f.raw('port'))
    except WireError as e:
        raise WireError(f.obj, f'payload.port.{e.field}',
                        f'{e.problem} (in {e.obj})') from None
    return DhcpEvent(method, port.network_id, priority, port=port, port_id=port.id)


def _router_ids(f: Fields, name: str) -> tuple[str, ...]:
    """A list of router ids, or of router dicts whose ``id`` is taken."""
    value = f.raw(name)
    if not isinstance(value, (list, tuple)):
        raise f.error(name, f'{value!r} is not a list')
    ids = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            item = Fields(f.obj, item, f'{f.prefix}{name}[{i}].').uuid('id')
        elif not is_uuid(item):
            raise f.error(f'{name}[{i}]', f'{item!r} is not a UUID')
        ids.append(item)
    return tuple(ids)


def l3_event_from_wire(method: str, kwargs: dict) -> L3Event:
    """Decode the keyword arguments of L3 notification ``method`` (§4.1)."""
    if method not in L3_METHODS:
        raise WireError(f'{method} message', 'method', 'unknown L3 agent method')
    f = Fields(f'{method} message', kwargs)
    if method == 'routers_updated':
        return L3Event(method, _router_ids(f, 'routers'))
    if method == 'router_deleted':
        return L3Event(method, (f.uuid('router_id'),), deleted=True)
    if method == 'router_added_to_agent':
        return L3Event(method, _router_ids(f, 'payload'))
    if method == 'router_removed_from_agent':
        p = Fields(f.obj, f.raw('payload'), 'payload.')
        return L3Event(method, (p.uuid('router_id'),), deleted=True)
    if method == 'agent_updated':
        p = Fields(f.obj, f.raw('payload', {}), 'payload.')
        return L3Event(method, admin_state_up=p.bool('admin_state_up', None))
    net = Fields(f.obj, f.raw('network'), 'network.')
    return L3Event(method, network_id=net.uuid('id'))
