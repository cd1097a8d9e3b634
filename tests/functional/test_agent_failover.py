"""Automatic failover with two real agents of a kind: two hosts, two state paths, two
sets of bridges joined by patch ports (see helpers/peer_agent.py), one controller on
a private vhost.  The agent hosting a network (DHCP) or a router (L3) stops, its
node's namespace goes with it, and once it has been dead for longer than
agent_down_time the controller moves the network or router to the other agent,
which serves it: a probe on the first node's bridge gets its lease, a VM there pings
its gateway.

agent_down_time = 2 and a check every 0.5 s: the move comes ~4 s after the last
heartbeat (report_interval 0.5).

The second agent starts only once the first node is forgotten (:func:`fail_over`):
both "nodes" share this machine's namespace and device names, so a cleanup of the
first node that ran while the second one takes over (the move can come before the
cleanup's process has even started, under load) would meet the second agent's
qdhcp-/qrouter- namespace and its tap/qr- devices moving in, and either keep the
namespace (a device appeared after it unplugged the first node's) or tear down the
second agent's.  On two real nodes the two never meet."""

import contextlib
import json
import os

import pytest

from agent.common import names
from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, port_ip
from tests.functional.helpers.host import netns_list, wait_for
from tests.functional.helpers.peer_agent import forget_node, peer_agent
from tests.functional.l3.stack import L3Stack

pytestmark = pytest.mark.functional

SERVER_CONF = '\n'.join(['agent_down_time = 2', 'agent_failover_interval = 0.5',
                         'allow_automatic_dhcp_failover = true',
                         'allow_automatic_l3agent_failover = true'])


@contextlib.contextmanager
def two_agents(stack):
    """The started stack and a peer agent (started): (stack, peer)."""
    stack.extra_server_conf = SERVER_CONF
    try:
        stack.start()
        peer = peer_agent(stack, 'b')
        try:
            yield stack, peer
        finally:
            peer.stop_agent()
    finally:
        stack.close()


def hosts(stack, path):
    return sorted(a['host'] for a in stack.api('GET', path)['agents'])


def fail_over(stack, peer, ns):
    """The first node dies (its agent stopped, its namespace ``ns`` forgotten), then
    the second node's agent starts: nothing can move before the first node is gone."""
    assert stack.stop_agent() == 0
    forget_node(stack, [ns])
    assert ns not in netns_list()
    peer.start_agent()


def moved_to(stack, peer, path, what):
    wait_for(lambda: hosts(stack, path) == [peer.host], 30, 0.2,
             f'the {what} moved to the live agent')
    with open(stack.server.log_path) as f:
        assert f'Moving {what}' in f.read()


def test_network_of_a_stopped_dhcp_agent_moves_to_the_live_one(run_id, leaks):
    with two_agents(DhcpStack(run_id, 'fo', leaks, report_interval=0.5)) as (stack, peer):
        net, _subnet = stack.create_network('fo', '10.31.0.0/24', '10.31.0.1')
        wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.05, 'the first dnsmasq')
        path = f'/networks/{net["id"]}/dhcp-agents'
        assert hosts(stack, path) == [stack.host]
        first_port = stack.dhcp_port(net['id'])

        ns = names.dhcp_namespace(net['id'])
        fail_over(stack, peer, ns)
        code, out, err = stack.cli('-f', 'json', 'agent-list')
        assert code == 0, err
        assert {a['host']: a['alive'] for a in json.loads(out)}[peer.host] is True
        moved_to(stack, peer, path, 'network')
        pid = wait_for(lambda: dnsmasq_pid(peer, net['id']), 30, 0.05, 'the second dnsmasq')
        assert os.stat(f'/proc/{pid}/ns/net').st_ino == os.stat(f'/run/netns/{ns}').st_ino
        # The second agent adopted the first one's DHCP port: clients keep their server.
        port = stack.dhcp_port(net['id'])
        assert (port['id'], port_ip(port)) == (first_port['id'], port_ip(first_port))
        assert port['binding:host_id'] == peer.host

        probe = stack.probe_create(net['id'], name='fo-probe')
        try:
            env = wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), 30,
                           0.2, 'a lease from the second agent')
            assert env['ip'] == port_ip(probe)
        finally:
            stack.probe_delete(probe)


def test_router_of_a_stopped_l3_agent_moves_to_the_live_one(run_id, leaks):
    with two_agents(L3Stack(run_id, 'fo', leaks, report_interval=0.5)) as (stack, peer):
        net, subnet = stack.network('fo-net', '192.168.31.0/24', '192.168.31.1')
        router = stack.router('fo-router')
        stack.add_interface(router['id'], subnet['id'])
        vm_ns, _port, _ip = stack.vm(net['id'], subnet, name='fo-vm')
        gateway = subnet['gateway_ip']
        wait_for(lambda: stack.ping(vm_ns, gateway), 30, 0.1, 'the first agent routing')
        path = f'/routers/{router["id"]}/l3-agents'
        assert hosts(stack, path) == [stack.host]

        ns = names.router_namespace(router['id'])
        fail_over(stack, peer, ns)
        moved_to(stack, peer, path, 'router')
        wait_for(lambda: ns in netns_list() and stack.ping(vm_ns, gateway), 30, 0.1,
                 'the second agent routing')
