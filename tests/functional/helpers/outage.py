"""A broker outage under a controller with a DHCP and an L3 agent, all on a private
RabbitMQ node (helpers/private_broker.py): what tests/functional/
test_broker_outage.py asserts and tools/bench-outage.py measures.

:func:`outage_stack` starts the node, an L3 stack (controller and L3 agent) on it
and a DHCP agent on the same controller and integration bridge; :class:`World`
is the network, external network and DHCP served before the outage;
:func:`during_outage` makes ports, a router with an interface and a gateway, and
floating IPs through REST while the node is down, timing each call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time

from agent.common import names
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid
from tests.functional.helpers.host import iptables_rules, wait_for
from tests.functional.helpers.private_broker import PrivateBroker
from tests.functional.l3.stack import L3Stack

BUS_BACK_TIMEOUT = 240     # seconds for the agents to have it all after the node restarts


@contextlib.contextmanager
def outage_stack(run_id, leaks, name='outage'):
    """(broker, L3 stack, DHCP stack) started on a private RabbitMQ node."""
    base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-rmq-')
    if leaks is not None:
        leaks.process_marker(base)
    broker = PrivateBroker(base, f'netnode-{run_id}-{name}')
    stack = L3Stack(run_id, name, leaks)
    dhcp = DhcpStack(run_id, f'{name}d', leaks)
    try:
        broker.start()
        stack.url = broker.url
        stack.start()
        # The DHCP agent: same controller, exchange and integration bridge.
        dhcp.url, dhcp.exchange, dhcp.server = stack.url, stack.exchange, stack.server
        dhcp.bridge, dhcp.bridges = stack.int_bridge, ()
        dhcp.write_agent_conf()
        dhcp.start_agent()
        yield broker, stack, dhcp
    finally:
        dhcp.server = None               # the stack's: stopped by stack.close()
        with contextlib.suppress(Exception):
            dhcp.close()
        stack.close()
        broker.close()


@dataclasses.dataclass
class World:
    net: dict
    sub: dict
    ext: dict


def world_before(stack, dhcp, tag='o') -> World:
    net, sub = stack.network(f'{tag}-int', '10.63.0.0/24', '10.63.0.1', enable_dhcp=True)
    dhcp.ns(f'qdhcp-{net["id"]}')
    ext, _ = stack.network(f'{tag}-ext', '198.51.100.0/24', '198.51.100.1', external=True)
    wait_for(lambda: dnsmasq_pid(dhcp, net['id']), 60, 0.1, 'dnsmasq before the outage')
    return World(net, sub, ext)


def thread_count(pid: int) -> int:
    return len(os.listdir(f'/proc/{pid}/task'))


def timed(calls: list, label: str, fn, *args):
    start = time.monotonic()
    result = fn(*args)
    calls.append((label, time.monotonic() - start))
    return result


@dataclasses.dataclass
class Made:
    ports: list
    router: dict
    fips: list
    calls: list                # (label, seconds) of every REST call
    threads: list              # the server's thread count after each call


def during_outage(stack, world: World, ports: int = 3) -> Made:
    """Through REST while the broker is down: ``ports`` ports, a router with an
    interface and a gateway, and a floating IP for each port."""
    calls, threads, made_ports, fips = [], [], [], []
    pid = stack.server.proc.pid
    for i in range(ports):
        made_ports.append(timed(calls, 'POST /ports', stack.port, world.net['id'], f'vm{i}'))
        threads.append(thread_count(pid))
    router = timed(calls, 'POST /routers', stack.router, 'outage-router')
    timed(calls, 'PUT /routers/add_router_interface', stack.add_interface, router['id'],
          world.sub['id'])
    timed(calls, 'PUT /routers (gateway)', stack.set_gateway, router['id'],
          world.ext['id'])
    threads.append(thread_count(pid))
    for port in made_ports:
        fips.append(timed(calls, 'POST /floatingips', stack.floatingip, world.ext['id'],
                          port['id']))
        threads.append(thread_count(pid))
    return Made(made_ports, router, fips, calls, threads)


def in_hosts_file(dhcp, network_id, port) -> bool:
    path = os.path.join(dhcp.state_path, 'dhcp', network_id, 'host')
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return False
    return port['mac_address'] in text and port['fixed_ips'][0]['ip_address'] in text


def has_dnat(router_id, fip) -> bool:
    ns = names.router_namespace(router_id)
    try:
        rules = iptables_rules(ns)
    except Exception:  # noqa: BLE001 - the namespace is not there yet
        return False
    wanted = (f'-d {fip["floating_ip_address"]}/32',
              f'--to-destination {fip["fixed_ip_address"]}')
    return any(all(w in line for w in wanted) for _table, line in rules)


def reached_agents(dhcp, world: World, made: Made) -> bool:
    return (all(in_hosts_file(dhcp, world.net['id'], p) for p in made.ports)
            and all(has_dnat(made.router['id'], f) for f in made.fips))


def wait_reached(dhcp, world: World, made: Made, timeout=BUS_BACK_TIMEOUT) -> float:
    """Seconds until every port is in dnsmasq's host file and every floating IP's
    DNAT is in the router's namespace."""
    start = time.monotonic()
    wait_for(lambda: reached_agents(dhcp, world, made), timeout, 0.2,
             'the changes made during the outage on the agents')
    return time.monotonic() - start
