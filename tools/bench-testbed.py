#!/usr/bin/env python3
"""Benchmark the multi-node test bed and redundant DHCP on it; prints figures,
asserts nothing.

    sudo .venv/bin/python tools/bench-testbed.py [--runs 3] [--t1 5] [--t2 9]

Each run: ``up`` of a test bed (controller node with a private RabbitMQ, two
network nodes with their own Open vSwitch and DHCP agent, a compute node; see
tests/functional/helpers/testbed), a tenant VLAN network served by both nodes
(dhcp_agents_per_network = 2, lease 120 s, T1/T2 as given), dhclient in a probe;
once it has renewed from its server, that server's node is killed (every process
in its namespaces); then seconds from the kill to the renewal from the other node,
the longest time between two renewals, whether the lease ever ran out; ``down``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from tests.functional.dhcp.stack import dnsmasq_pid  # noqa: E402
from tests.functional.helpers.host import wait_for  # noqa: E402
from tests.functional.helpers.testbed import TestBed  # noqa: E402
from tests.functional.helpers.testbed.dhcp_failover import (  # noqa: E402
    LOST, Dhclient, kill_serving_node)


def one_run(args):
    prefix = 'bt' + uuid.uuid4().hex[:6]
    bed = TestBed(tempfile.mkdtemp(prefix=f'netnode-{prefix}-'), prefix, agents=('dhcp',),
                  server_conf='dhcp_agents_per_network = 2',
                  agent_conf=f'dhcp_lease_duration = 120\ndhcp_renewal_time = {args.t1}\n'
                             f'dhcp_rebinding_time = {args.t2}')
    client = None
    try:
        bed.up()
        net = bed.api('POST', '/networks', {'network': {'name': 'bench'}})['network']
        bed.api('POST', '/subnets', {'subnet': {'network_id': net['id'],
                                                'cidr': '10.70.0.0/24', 'ip_version': 4}})
        served_at = time.monotonic()
        wait_for(lambda: all(dnsmasq_pid(n, net['id']) for n in bed.nodes.values()), 60,
                 0.05, 'both nodes serving')
        served = time.monotonic() - served_at
        port = bed.api('POST', '/ports', {'port': {'network_id': net['id']}})['port']
        probe = bed.add_probe('vm', port['mac_address'], net['provider:segmentation_id'])
        by_host = {p['binding:host_id']: p['fixed_ips'][0]['ip_address'] for p in bed.api(
            'GET', f'/ports?network_id={net["id"]}&device_owner=network:dhcp')['ports']}
        client = Dhclient(bed, probe)
        result = kill_serving_node(bed, client, {n.name: by_host[n.host]
                                                 for n in bed.nodes.values()},
                                   60, args.t1 * 6)
    finally:
        if client is not None:
            client.close()
        down = bed.down()
    lost = bool([e for e in result.events if e.reason in LOST] or result.lapses())
    return bed.timings['up'], down, served, result, lost


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--t1', type=int, default=5, help='dhcp_renewal_time (s)')
    parser.add_argument('--t2', type=int, default=9, help='dhcp_rebinding_time (s)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error('needs root')
    print(machine())
    print(f'{args.runs} runs, lease 120 s, T1 {args.t1} s, T2 {args.t2} s')
    rows = []
    for i in range(args.runs):
        up, down, served, result, lost = one_run(args)
        rows.append((up, down, served, result.renewed_after, result.longest_gap))
        print(f'run {i + 1}: up {up:.1f} s, down {down:.1f} s, network served on both '
              f'nodes {served:.2f} s after the subnet; {result.victim} killed, renewed by '
              f'{result.survivor} {result.renewed_after:.1f} s later, longest time '
              f'between renewals {result.longest_gap:.1f} s, lease ran out: '
              f'{"YES" if lost else "no"}', flush=True)
    names = ('up', 'down', 'served on both', 'renewed after kill', 'longest renewal gap')
    for name, values in zip(names, zip(*rows)):
        print(f'median {name}: {statistics.median(values):.2f} s '
              f'(min {min(values):.2f}, max {max(values):.2f})')


if __name__ == '__main__':
    main()
