#!/usr/bin/env python3
"""Benchmark of the REST API: port-create latency and allocation throughput.

Starts its own netnode-server (REST only, no bus) on a free port with a fresh
database, then:
  1. creates --ports ports one after another from one client thread (keep-alive
     connection) and prints the median/p90/p99 latency of a port create;
  2. creates --ports more ports from --threads client threads and prints the
     allocation throughput (ports/s) and its latencies.
Prints figures and the machine; asserts nothing.

    .venv/bin/python tools/bench-rest.py [--db sqlite|postgresql] [--ports 1000]
                                         [--clients 8] [--workers 1] [--runs 1]
                                         [--py-spy FILE]

(``--threads`` and ``--api-workers`` are the older names of ``--clients`` and
``--workers``.)  The issue-13 figure: ``--clients 8 --workers 2 --db postgresql``.
The load average is printed before and after each run: the machine may be shared.
``--py-spy FILE`` samples one API worker during phase 2 (py-spy from PyPI in the
venv) and prints where its time went.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
import uuid

import benchlib  # noqa: I100 - first: puts the repository on sys.path
from benchlib import _children, machine

from tests.functional.controller_api.server_process import (  # noqa: E402
    ServerProcess, create_pg_database, drop_pg_database)


class Api:
    """One keep-alive HTTP connection (one per client thread)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data,
                          headers={'Content-Type': 'application/json'})
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None


def make_network(api, cidr):
    _, net = api.call('POST', '/v2.0/networks',
                      {'network': {'name': f'bench-{uuid.uuid4().hex[:6]}'}})
    net_id = net['network']['id']
    status, sub = api.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': net_id, 'cidr': cidr, 'ip_version': 4, 'enable_dhcp': False}})
    if status != 201:
        raise SystemExit(f'subnet create failed: {sub}')
    return net_id


def timed_create(api, net_id, i):
    started = time.perf_counter()
    status, doc = api.call('POST', '/v2.0/ports',
                           {'port': {'network_id': net_id, 'name': f'p{i}'}})
    elapsed = time.perf_counter() - started
    if status != 201:
        raise SystemExit(f'port create {i} failed with {status}: {doc}')
    return elapsed


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def describe(label, latencies, wall):
    ms = [v * 1000 for v in latencies]
    print(f'  {label}: n={len(ms)}  median {statistics.median(ms):.1f} ms  '
          f'p90 {pct(ms, 0.9):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  '
          f'mean {statistics.fmean(ms):.1f} ms  -> {len(ms) / wall:.0f} ports/s')


def sequential(port, net_id, count):
    api = Api(port)
    started = time.perf_counter()
    lat = [timed_create(api, net_id, i) for i in range(count)]
    return lat, time.perf_counter() - started


def parallel(port, net_id, count, threads):
    local = threading.local()

    def work(i):
        if not hasattr(local, 'api'):
            local.api = Api(port)
        return timed_create(local.api, net_id, i)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        lat = list(pool.map(work, range(count)))
    return lat, time.perf_counter() - started


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server and its workers so far."""
    total = 0.0
    for p in [pid] + _children(pid):
        try:
            with open(f'/proc/{p}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
        except (OSError, IndexError, ValueError):
            pass
    return total


def start_py_spy(path, server_pid, gil=False):
    """py-spy sampling the first API worker (or the server itself with one
    worker) into ``path`` (:func:`benchlib.start_py_spy`)."""
    if not path:
        return None
    target = (sorted(_children(server_pid)) or [server_pid])[0]
    spy = benchlib.start_py_spy(path, target, gil)
    time.sleep(0.5)      # attached before the load starts
    return spy


def stop_py_spy(spy, path):
    benchlib.stop_py_spy(spy, path, 'one API worker')


def run_once(args, base):
    dbname = None
    connection = None
    if args.db == 'postgresql':
        dbname = f'netnode_bench_{uuid.uuid4().hex[:8]}'
        connection = create_pg_database(dbname)
    server = ServerProcess(base, connection=connection, api_workers=args.api_workers)
    try:
        server.start()
        api = Api(server.port)
        seq_net = make_network(api, '10.100.0.0/16')
        par_net = make_network(api, '10.101.0.0/16')
        for i in range(20):                      # warm-up (not counted)
            timed_create(api, par_net, f'w{i}')
        seq = sequential(server.port, seq_net, args.ports)
        cpu = server_cpu(server.proc.pid)
        spy = start_py_spy(args.py_spy, server.proc.pid, args.py_spy_gil)
        par = parallel(server.port, par_net, args.ports, args.threads)
        cpu = server_cpu(server.proc.pid) - cpu
        stop_py_spy(spy, args.py_spy)
        print(f'  server CPU per 1000 port creates ({args.threads} clients): {cpu * 1000 / args.ports:.1f} s '
              f'(less sensitive to a busy machine than the rate)')
        return seq, par
    finally:
        server.stop()
        if dbname:
            drop_pg_database(dbname)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--db', choices=('sqlite', 'postgresql'), default='sqlite')
    parser.add_argument('--ports', type=int, default=1000)
    parser.add_argument('--clients', '--threads', dest='threads', type=int, default=8,
                        help='concurrent client threads of phase 2')
    parser.add_argument('--workers', '--api-workers', dest='api_workers', type=int,
                        default=1, help="the server's api_workers")
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--py-spy', metavar='FILE',
                        help='sample one API worker with py-spy during phase 2 into FILE '
                             '(raw format) and print its top entries')
    parser.add_argument('--py-spy-gil', action='store_true',
                        help='with --py-spy: sample only the thread holding the GIL (CPU)')
    args = parser.parse_args()

    print(machine())
    print(f'netnode-server: db={args.db} api_workers={args.api_workers}; '
          f'{args.ports} ports per phase; {args.threads} threads in phase 2')
    medians, rates = [], []
    for run in range(1, args.runs + 1):
        before = load_average()
        with tempfile.TemporaryDirectory(prefix='netnode-bench-') as base:
            (seq_lat, seq_wall), (par_lat, par_wall) = run_once(args, base)
        print(f'run {run} (load average {before} before, {load_average()} after):')
        describe('sequential port-create, 1 thread', seq_lat, seq_wall)
        describe(f'allocation, {args.threads} threads', par_lat, par_wall)
        medians.append(statistics.median(seq_lat) * 1000)
        rates.append(len(par_lat) / par_wall)
    if args.runs > 1:
        print(f'median of runs: port-create median {statistics.median(medians):.1f} ms, '
              f'allocation {statistics.median(rates):.0f} ports/s')
    print(f'figure: {statistics.median(rates):.0f} port creates/s with {args.threads} '
          f'clients, db={args.db}, api_workers={args.api_workers} (median of {args.runs} '
          f'run{"s" if args.runs > 1 else ""})')


def load_average() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


if __name__ == '__main__':
    main()
