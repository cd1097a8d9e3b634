#!/usr/bin/env python3
"""Benchmark of the metadata agent: latency of one document over the unix socket.

Starts its own netnode-server and netnode-metadata-agent on a private RabbitMQ
vhost (removed at the end), creates --ports instance ports on one network, then
asks meta_data.json for one of them --requests times, sequentially and from
--threads threads, with the agent's cache off (every request does the two
q-plugin calls) and on (metadata_cache_ttl = 5).  Prints median/p90 latency,
the throughput, the agent's memory idle after its start and after the requests,
and the machine; asserts nothing.  Needs root (rabbitmqctl).

    .venv/bin/python tools/bench-metadata.py [--ports 200] [--requests 300]
                                             [--threads 8]
"""

import argparse
import concurrent.futures
import statistics
import time
import uuid

from benchlib import machine, memory  # noqa: I100 - first: puts the repository on sys.path

from tests.functional.metadata.stack import MetadataStack, unix_get  # noqa: E402


def measure(stack, headers, requests, threads):
    def one(_):
        started = time.perf_counter()
        status, _ = unix_get(stack.socket_path, '/openstack/latest/meta_data.json', headers)
        assert status == 200, status
        return (time.perf_counter() - started) * 1000.0

    sequential = [one(i) for i in range(requests)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        parallel = list(pool.map(one, range(requests)))
    rate = requests / (time.perf_counter() - started)
    return sequential, parallel, rate


def pct(values, p):
    return sorted(values)[min(len(values) - 1, int(len(values) * p))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ports', type=int, default=200)
    parser.add_argument('--requests', type=int, default=300)
    parser.add_argument('--threads', type=int, default=8)
    args = parser.parse_args()
    print(machine())
    stack = MetadataStack('bench' + uuid.uuid4().hex[:6]).start()
    try:
        net, subnet = stack.network('bench', '10.60.0.0/16', '10.60.0.1')
        device = str(uuid.uuid4())
        stack.instance_port(net, subnet, '10.60.0.10', device)
        for i in range(args.ports - 1):
            stack.instance_port(net, subnet, f'10.60.{1 + i // 250}.{1 + i % 250}',
                                str(uuid.uuid4()))
        stack.cli('instance-set', device, '--hostname', 'bench')
        headers = {'X-Forwarded-For': '10.60.0.10', 'X-Neutron-Network-ID': net['id']}
        for label, extra in (('cache off', 'metadata_cache_ttl = 0'),
                             ('cache on (5 s)', 'metadata_cache_ttl = 5')):
            stack.stop_agent()
            stack.agent.extra_conf = extra
            stack.start_agent()
            idle = memory(stack.agent.proc.pid)
            seq, par, rate = measure(stack, headers, args.requests, args.threads)
            print(f'{label:15} {args.ports} ports on the network: sequential median '
                  f'{statistics.median(seq):.1f} ms p90 {pct(seq, 0.9):.1f} ms; '
                  f'{args.threads} threads median {statistics.median(par):.1f} ms, '
                  f'{rate:.0f} req/s')
            print(f'{"":15} agent idle: {idle}; after the requests: '
                  f'{memory(stack.agent.proc.pid)}')
    finally:
        stack.close()


if __name__ == '__main__':
    main()
