#!/usr/bin/env python3
"""Benchmark the automatic DHCP failover on real parts; prints figures, asserts nothing.

    sudo .venv/bin/python tools/bench-failover.py [--networks 10] [--down-time 4]
        [--report-interval 0.5] [--interval 0.5] [--runs 3]

Each run: a private controller and two DHCP agents as two hosts (processes, own
vhost and bridge, see tests/functional/dhcp/stack.py and helpers/peer_agent.py);
``--networks`` networks served by the first agent; it is stopped (SIGTERM) and
what its node held is removed (netns-cleanup --force, as if the node were gone;
agent_down_time leaves it the time to finish before anything moves: both agents
are on this machine and share the namespace names); then seconds from the
agent's exit until the controller has moved every network to the second agent,
and until the second agent's dnsmasq serves each of them.  The floor is
``2 * agent_down_time`` after the last heartbeat plus up to one check interval.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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


def when(predicate, what):
    """time.monotonic() once ``predicate()`` holds (polled every 20 ms, 60 s at most)."""
    return wait_for(lambda: predicate() and time.monotonic(), 60, 0.02, what)


def one_run(args):
    """A fresh controller and two agents; (moved, served, cleanup) seconds after the
    first agent's exit."""
    server_conf = '\n'.join([f'agent_down_time = {args.down_time}',
                             f'agent_failover_interval = {args.interval}'])
    stack = DhcpStack('bf' + uuid.uuid4().hex[:6], 'bench',
                      report_interval=args.report_interval, server_conf=server_conf).start()
    peer = peer_agent(stack, 'b')
    try:
        ids = [stack.create_network(f'fo{i}', f'10.40.{i}.0/24', f'10.40.{i}.1')[0]['id']
               for i in range(args.networks)]
        wait_for(lambda: all(dnsmasq_pid(stack, i) for i in ids), 60, 0.05,
                 'the first agent serving')
        peer.start_agent()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            moved = pool.submit(when, lambda: all(hosts_of(stack, i) == [peer.host]
                                                  for i in ids), 'every network moved')
            served = pool.submit(when, lambda: all(dnsmasq_pid(peer, i) for i in ids),
                                 'every network served by the second agent')
            stack.stop_agent()
            exited = time.monotonic()
            forget_node(stack, [f'qdhcp-{i}' for i in ids])
            cleaned = time.monotonic() - exited
            return moved.result() - exited, served.result() - exited, cleaned
    finally:
        peer.stop_agent()
        stack.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--networks', type=int, default=10)
    parser.add_argument('--down-time', type=int, default=4)
    parser.add_argument('--report-interval', type=float, default=0.5)
    parser.add_argument('--interval', type=float, default=0.5)
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    print(machine())
    print(f'agent_down_time {args.down_time} s, report_interval {args.report_interval} s, '
          f'check every {args.interval} s: the floor is {2 * args.down_time} s after the '
          f'last heartbeat, + up to {args.interval} s')
    figures = []
    try:
        for run in range(args.runs):
            figures.append(one_run(args))
            moved, served, cleaned = figures[-1]
            print(f'run {run + 1}: {args.networks} networks moved {moved:.2f} s after the '
                  f'first agent exited, all served by the second agent at {served:.2f} s '
                  f'(the first node cleaned up in {cleaned:.2f} s)', flush=True)
    finally:
        sh('true')
    if figures:
        print(f'median of {len(figures)}: moved {statistics.median(f[0] for f in figures):.2f}'
              f' s, served {statistics.median(f[1] for f in figures):.2f} s after the exit')


if __name__ == '__main__':
    main()
