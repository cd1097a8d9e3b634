"""DHCP notification routing as tables: event + what the agent knows -> route."""

import dataclasses

import pytest

from agent.common import names
from agent.dhcp import routing
from agent.dhcp.routing import Route
from agent.dhcp.state import Served
from agent.model import network as m
from agent.rpc.events import DhcpEvent
from tests.unit.dhcp import golden as g

HOST = 'node1'
OTHER_SUBNET = '0b7c7c52-5d5e-4e4e-9a55-3f1f5b0e7a01'
TAP = 'tape9f30b29-bf'


def our_port(ip='192.168.10.2', mac='fa:16:3e:73:4a:f9', host=HOST):
    return g.port(g.DHCP_PORT_ID, mac, (g.SUBNET_ID, ip), owner='network:dhcp',
                  device_id=names.dhcp_port_device_id(host, g.NET_ID))


SERVED_NET = m.Network(id=g.NET_ID, subnets=(g.subnet(),), ports=(our_port(),))
BARE_NET = m.Network(id=g.NET_ID, subnets=(g.subnet(),))


@dataclasses.dataclass
class Known:
    """What the agent knows, as plain data."""
    served: Served | None = None
    queued: bool = False
    assigned: bool = False
    fetched: m.Network | None = None

    def view(self) -> routing.View:
        served = self.served

        def of_subnet(subnet_id):
            if served and any(s.id == subnet_id for s in served.network.subnets):
                return served.network.id
            return None
        return routing.View(HOST, of_subnet,
                            lambda n: served if served and served.network.id == n else None,
                            lambda n: self.queued and n == g.NET_ID,
                            lambda n: self.assigned and n == g.NET_ID,
                            lambda n: self.fetched if n == g.NET_ID else None)


SERVED = Known(served=Served(SERVED_NET, g.DHCP_PORT_ID, TAP), assigned=True)
QUEUE = Route(g.NET_ID)


@pytest.mark.parametrize('event, known, expected', [
    # keys, resyncs
    (DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID), Known(), QUEUE),
    (DhcpEvent('network_delete_end', g.NET_ID, 2), SERVED, Route(g.NET_ID, assigned=False)),
    (DhcpEvent('agent_updated', None, admin_state_up=True), SERVED,
     Route(resync='agent_updated')),
    # a subnet delete without its network: found among the networks served
    (DhcpEvent('subnet_delete_end', None, 4, subnet_id=g.SUBNET_ID), SERVED, QUEUE),
    (DhcpEvent('subnet_delete_end', None, 4, subnet_id=g.SUBNET_ID), Known(),
     Route(resync='subnet_delete_end for an unknown network')),
    # the echo of our own DHCP port: skipped as served or while queued
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=our_port()), SERVED, routing.SKIP),
    (DhcpEvent('port_update_end', g.NET_ID, 6, port=our_port('192.168.10.3')), SERVED,
     QUEUE),
    (DhcpEvent('port_update_end', g.NET_ID, 6, port=our_port(mac='fa:16:3e:00:00:01')),
     SERVED, QUEUE),
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=our_port()), Known(queued=True),
     routing.SKIP),
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=our_port()), Known(), QUEUE),
    # another agent's DHCP port is not an echo
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=our_port(host='node2')),
     Known(queued=True), QUEUE),
    # creates the last read of an assigned network holds: skipped
    (DhcpEvent('network_create_end', g.NET_ID, 0), Known(assigned=True, fetched=g.NETWORK),
     routing.SKIP),
    (DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID),
     Known(assigned=True, fetched=g.NETWORK), routing.SKIP),
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=g.VM_PORT, port_id=g.VM_PORT_ID),
     Known(assigned=True, fetched=g.NETWORK), routing.SKIP),
    # ... and not those it lacks, nor updates, nor a network not assigned
    (DhcpEvent('subnet_create_end', g.NET_ID, 3, subnet_id=OTHER_SUBNET),
     Known(assigned=True, fetched=BARE_NET), QUEUE),
    (DhcpEvent('port_create_end', g.NET_ID, 5, port=g.VM_PORT, port_id=g.VM_PORT_ID),
     Known(assigned=True, fetched=BARE_NET), QUEUE),
    (DhcpEvent('subnet_update_end', g.NET_ID, 3, subnet_id=g.SUBNET_ID),
     Known(assigned=True, fetched=g.NETWORK), QUEUE),
    (DhcpEvent('network_create_end', g.NET_ID, 0), Known(fetched=g.NETWORK), QUEUE),
])
def test_route(event, known, expected):
    assert routing.route(event, known.view()) == expected
