"""Which network a DHCP notification is about, and whether it needs a reconcile.

:func:`route` is pure: it reads what the agent knows through a :class:`View`
(callables, read only when the event needs them) and returns a :class:`Route`:
resync in full, queue the network's key, or skip.  Skipped are

- the echo of our own DHCP port (:func:`own_port_echo`): the server telling us
  about the port the reconciler just created or updated;
- a create that the last state read of the network already holds
  (:func:`known_create`): the notifications queued for the agent while it was
  down arrive after its full fetch at start, which read what they announce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from agent.common.names import dhcp_port_device_id
from agent.dhcp.state import Served
from agent.model.network import Network
from agent.rpc.events import DhcpEvent


@dataclasses.dataclass(frozen=True, slots=True)
class View:
    """What the agent knows when an event comes in."""
    host: str
    network_of_subnet: Callable[[str], str | None]    # among the networks served
    served: Callable[[str], Served | None]
    queued: Callable[[str], bool]            # the network's key waits or runs
    assigned: Callable[[str], bool]
    last_fetched: Callable[[str], Network | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """Queue ``network_id`` (``assigned``: whether the event leaves it assigned
    to this agent), or resync in full for ``resync``; neither: skip."""
    network_id: str | None = None
    assigned: bool = True
    resync: str | None = None


SKIP = Route()
# The notifications of something new that a network's coming read may already hold.
CREATES = ('network_create_end', 'subnet_create_end', 'port_create_end')


def route(event: DhcpEvent, view: View) -> Route:
    if event.full_resync:
        return Route(resync=event.method)
    network_id = event.network_id
    if network_id is None and event.subnet_id:
        network_id = view.network_of_subnet(event.subnet_id)
    if network_id is None:
        return Route(resync=f'{event.method} for an unknown network')
    if own_port_echo(event, view) or known_create(event, view):
        return SKIP
    return Route(network_id, assigned=event.method != 'network_delete_end')


def own_port_echo(event: DhcpEvent, view: View) -> bool:
    """The server telling us about the DHCP port we just created or updated.

    Skipped while the network waits or runs in the queue (that run uses the
    port the call returned, or fetches afresh) or when it matches what is
    served; any other change of our port is reconciled as usual.
    """
    port = event.port
    if port is None or port.device_id != dhcp_port_device_id(view.host, port.network_id):
        return False
    served = view.served(port.network_id)
    if served is not None and served.port_id == port.id:
        mine = served.network.port(port.id)
        if mine is not None and mine.fixed_ips == port.fixed_ips \
                and mine.mac_address == port.mac_address:
            return True
    return view.queued(port.network_id)


def known_create(event: DhcpEvent, view: View) -> bool:
    """A create that the last state read of the (assigned) network already holds."""
    if event.network_id is None or not view.assigned(event.network_id):
        return False
    network = view.last_fetched(event.network_id)
    return network is not None and holds_created(network, event)


def holds_created(network: Network, event: DhcpEvent) -> bool:
    """Whether ``network`` (as read from the server) holds what ``event`` created."""
    if event.method == 'network_create_end':
        return event.network_id == network.id
    if event.method == 'subnet_create_end':
        return any(s.id == event.subnet_id for s in network.subnets)
    if event.method == 'port_create_end':
        return network.port(event.port_id) is not None
    return False
