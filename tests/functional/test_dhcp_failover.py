"""Automatic DHCP failover with two real agents (two hosts, two state paths, two
integration bridges joined by patch ports, one controller on a private vhost): the
agent hosting a network stops, its node's namespace goes with it, and once it has
been dead for longer than agent_down_time the controller moves the network to the
other agent, which serves it: a probe on the first bridge gets its lease.

agent_down_time = 2 and a check every 0.5 s: the move comes ~4 s after the last
heartbeat (report_interval 0.5)."""

import json
import os

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, port_ip, wait_for
from tests.functional.helpers.peer_agent import forget_node, peer_agent

pytestmark = pytest.mark.functional

SERVER_CONF = '\n'.join(['agent_down_time = 2', 'agent_failover_interval = 0.5',
                         'allow_automatic_dhcp_failover = true'])


@pytest.fixture
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'fo', leaks, report_interval=0.5, server_conf=SERVER_CONF).start()
    yield s
    s.close()


@pytest.fixture
def peer(stack):
    p = peer_agent(stack, 'b')
    yield p
    p.stop_agent()


def hosting(stack, net_id):
    agents = stack.api('GET', f'/networks/{net_id}/dhcp-agents')['agents']
    return sorted(a['host'] for a in agents)


def namespace_of(pid):
    return os.stat(f'/proc/{pid}/ns/net').st_ino


def test_network_of_a_stopped_dhcp_agent_moves_to_the_live_one(stack, peer):
    net, _subnet = stack.create_network('fo', '10.31.0.0/24', '10.31.0.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.05, 'dnsmasq of the first agent')
    assert hosting(stack, net['id']) == [stack.host]
    first_port = stack.dhcp_port(net['id'])
    peer.start_agent()
    code, out, err = stack.cli('-f', 'json', 'agent-list')
    assert code == 0, err
    assert {a['host']: a['alive'] for a in json.loads(out)}[peer.host] == ':-)'

    assert stack.stop_agent() == 0
    ns = f'qdhcp-{net["id"]}'
    forget_node(stack, [ns])
    wait_for(lambda: hosting(stack, net['id']) == [peer.host], 30, 0.2,
             'the network moved to the live agent')
    pid = wait_for(lambda: dnsmasq_pid(peer, net['id']), 30, 0.05,
                   'dnsmasq of the second agent')
    assert namespace_of(pid) == os.stat(f'/run/netns/{ns}').st_ino
    # The second agent adopted the first one's DHCP port: clients keep their server.
    port = stack.dhcp_port(net['id'])
    assert (port['id'], port_ip(port)) == (first_port['id'], port_ip(first_port))
    assert port['binding:host_id'] == peer.host
    with open(stack.server.log_path) as f:
        assert 'Moving network' in f.read()

    probe = stack.probe_create(net['id'], name='fo-probe')
    try:
        env = wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), 30,
                       0.2, 'a lease from the second agent')
        assert env['ip'] == port_ip(probe)
    finally:
        stack.probe_delete(probe)
