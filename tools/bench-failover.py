#!/usr/bin/env python3
"""Benchmark the automatic DHCP failover on real parts; prints figures, asserts nothing.

    sudo .venv/bin/python tools/bench-failover.py [--networks 10] [--down-time 2]
        [--report-interval 0.5] [--interval 0.5] [--runs 3]

A private controller and two DHCP agents as two hosts (processes, own vhost and
bridge, see tests/functional/dhcp/stack.py and helpers/peer_agent.py).  Each run:
``--networks`` networks served by the first agent; it is stopped (SIGTERM) and
what its node held is removed (netns-cleanup --force, as if the node were gone);
then seconds from the stop until the controller has moved every network to the
second agent, and until the second agent's dnsmasq serves each of them.  The
floor is ``2 * agent_down_time`` after the last heartbeat plus up to one check
interval.  Between runs the first agent is started again and the networks are
moved back to it by hand.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid  # noqa: E402
from tests.functional.helpers.host import sh, wait_for  # noqa: E402
from tests.functional.helpers.peer_agent import forget_node, peer_agent  # noqa: E402


def hosts_of(stack, net_id):
    return [a['host'] for a in
            stack.api('GET', f'/networks/{net_id}/dhcp-agents')['agents']]


def agent_id(stack, host):
    [row] = stack.api('GET', f'/agents?host={host}&agent_type=DHCP%20agent')['agents']
    return row['id']


def one_run(stack, peer, nets):
    ids = [n['id'] for n in nets]
    wait_for(lambda: all(dnsmasq_pid(stack, i) for i in ids), 60, 0.05,
             'the first agent serving')
    stopped = time.monotonic()
    stack.stop_agent()
    forget_node(stack, [f'qdhcp-{i}' for i in ids])
    moved = wait_for(lambda: all(hosts_of(stack, i) == [peer.host] for i in ids)
                     and time.monotonic(), 60, 0.05, 'every network moved')
    served = wait_for(lambda: all(dnsmasq_pid(peer, i) for i in ids) and time.monotonic(),
                      60, 0.02, 'every network served by the second agent')
    return moved - stopped, served - stopped


def move_back(stack, peer, nets):
    """The first agent again, with the networks (its peer lets them go)."""
    stack.start_agent()
    first, second = agent_id(stack, stack.host), agent_id(stack, peer.host)
    for net in nets:
        stack.api('DELETE', f'/agents/{second}/dhcp-networks/{net["id"]}')
        stack.api('POST', f'/agents/{first}/dhcp-networks', {'network_id': net['id']})
    wait_for(lambda: not any(dnsmasq_pid(peer, n['id']) for n in nets), 60, 0.05,
             'the second agent letting go')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--networks', type=int, default=10)
    parser.add_argument('--down-time', type=int, default=2)
    parser.add_argument('--report-interval', type=float, default=0.5)
    parser.add_argument('--interval', type=float, default=0.5)
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    print(machine())
    server_conf = '\n'.join([f'agent_down_time = {args.down_time}',
                             f'agent_failover_interval = {args.interval}'])
    stack = DhcpStack('bf' + uuid.uuid4().hex[:6], 'bench',
                      report_interval=args.report_interval, server_conf=server_conf).start()
    peer = peer_agent(stack, 'b')
    try:
        nets = [stack.create_network(f'fo{i}', f'10.40.{i}.0/24', f'10.40.{i}.1')[0]
                for i in range(args.networks)]
        peer.start_agent()
        print(f'agent_down_time {args.down_time} s, report_interval {args.report_interval} '
              f's, check every {args.interval} s: floor {2 * args.down_time} s after the '
              f'last heartbeat (+ up to {args.interval + args.report_interval:.1f} s)')
        figures = []
        for run in range(args.runs):
            if run:
                move_back(stack, peer, nets)
            figures.append(one_run(stack, peer, nets))
            print(f'run {run + 1}: {args.networks} networks moved {figures[-1][0]:.2f} s '
                  f'after the stop, all served by the second agent at '
                  f'{figures[-1][1]:.2f} s', flush=True)
        print(f'median of {args.runs}: moved {statistics.median(f[0] for f in figures):.2f} '
              f's, served {statistics.median(f[1] for f in figures):.2f} s after the stop')
    finally:
        peer.stop_agent()
        stack.close()
        sh('true')


if __name__ == '__main__':
    main()
