#!/usr/bin/env python3
"""Benchmark of the metadata proxies: a haproxy per router against one shared proxy.

Makes --routers namespaces (named from a run id, removed at the end) and, in
each mode, serves them all: ``haproxy`` (agent.metadata.haproxy specs started
by the ProcessManager, as the L3 agent does) and ``shared`` (NodeProxy
listeners, as the L3 agent does with ``metadata_proxy_mode = shared``).  The
proxies forward to a unix socket served in this process by the metadata
agent's own server with a fixed answer (the controller is not measured here).

Prints per mode: the time and CPU seconds to serve every router (this process,
its reaped launchers, and the proxies themselves), the proxies' memory (RSS
and PSS summed), the time from a router's create to its first answer (median
and p90 over --probe more routers), and request latency (sequential median/p90)
and throughput (--threads threads) through the proxies.  Needs root.

    .venv/bin/python tools/bench-metadata-proxy.py [--routers 150] [--requests 400]
                                                   [--threads 8] [--modes haproxy,shared]
"""

import argparse
import concurrent.futures
import os
import random
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from agent.drivers import netns  # noqa: E402
from agent.metadata import haproxy, node_proxy, server  # noqa: E402
from agent.metadata.documents import Document  # noqa: E402
from agent.process.manager import ProcessManager  # noqa: E402

PORT = 9697


def answer(method, path, caller, body):
    return Document(200, 'application/json', b'{"uuid": "%s"}' % caller.router_id.encode())


def _get(_ipr, timeout=5.0):
    """Inside a router namespace: one GET to the proxy; (status, seconds)."""
    started = time.perf_counter()
    with socket.create_connection(('127.0.0.1', PORT), timeout) as sock:
        sock.sendall(b"GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b'X-Neutron-Router-ID: 00000000-0000-0000-0000-000000000000\r\n\r\n')
        data = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b' ', 2)[1]), time.perf_counter() - started


def get(namespace):
    try:
        return netns.call_netlink(namespace, _get)
    except OSError:
        return 0, 0.0


def proc_cpu(pid):
    """CPU seconds of a process's threads (schedstat: nanoseconds, where the ticks of
    /proc/<pid>/stat round a haproxy's few requests down to nothing)."""
    total = 0
    try:
        for task in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{task}/schedstat') as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total / 1e9


def proc_mem(pid):
    rss = pss = 0
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Rss:'):
                    rss = int(line.split()[1])
                elif line.startswith('Pss:'):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def cpu_here():
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def pct(values, p):
    return sorted(values)[min(len(values) - 1, int(len(values) * p))]


class HaproxyMode:
    name = 'haproxy'

    def __init__(self, state, upstream):
        self.state, self.upstream = state, upstream
        self.manager = ProcessManager()
        self.specs = {}

    def serve(self, rid, namespace):
        spec = haproxy.metadata_proxy_spec(rid, 'router', namespace, self.state, '::', PORT,
                                           'netnode-haproxy', 'netnode-haproxy',
                                           socket_path=self.upstream)
        self.specs[rid] = spec
        self.manager.ensure(spec)

    def pids(self):
        return [p for p in (self.manager.observe(s).pid for s in self.specs.values()) if p]

    def close(self):
        for spec in self.specs.values():
            self.manager.stop(spec)


class SharedMode:
    name = 'shared'

    def __init__(self, state, upstream):
        self.manager = ProcessManager()
        spec = node_proxy.process_spec(state, 'l3', f'bench-{uuid.uuid4().hex[:6]}',
                                       upstream, 'netnode-haproxy', 'netnode-haproxy')
        self.proxy = node_proxy.NodeProxy(self.manager, spec)

    def serve(self, rid, namespace):
        self.proxy.ensure(node_proxy.ListenerSpec(rid, 'router', namespace, '::', PORT))

    def pids(self):
        pid = self.manager.observe(self.proxy.spec).pid
        return [pid] if pid else []

    def close(self):
        self.proxy.stop()
        self.manager.stop(self.proxy.spec)


def run(mode, routers, probes, requests, threads):
    started, cpu0 = time.perf_counter(), cpu_here()
    for rid, ns in routers:
        mode.serve(rid, ns)
    wall, cpu = time.perf_counter() - started, cpu_here() - cpu0
    pids = mode.pids()
    child_cpu = sum(proc_cpu(p) for p in pids)
    mem = [proc_mem(p) for p in pids]
    rss, pss = sum(m[0] for m in mem) / 1024, sum(m[1] for m in mem) / 1024
    to_serve = []
    for rid, ns in probes:
        t0 = time.perf_counter()
        mode.serve(rid, ns)
        while get(ns)[0] != 200:
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f'{mode.name}: router {rid} not served after 10 s')
            time.sleep(0.002)
        to_serve.append(time.perf_counter() - t0)
    everyone = routers + probes
    before = sum(proc_cpu(p) for p in mode.pids())
    seq = []
    for _ in range(requests):
        status, took = get(random.choice(everyone)[1])
        assert status == 200, status
        seq.append(took)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(lambda _: get(random.choice(everyone)[1])[0], range(requests)))
    rate = requests / (time.perf_counter() - t0)
    assert codes.count(200) == requests, {c: codes.count(c) for c in set(codes)}
    per_request = (sum(proc_cpu(p) for p in mode.pids()) - before) / (2 * requests)
    n = len(routers)
    print(f'{mode.name:8} {n} routers served in {wall:.2f} s; CPU here {cpu:.2f} s '
          f'({cpu / n * 1000:.1f} ms/router), in the proxies {child_cpu:.2f} s '
          f'({child_cpu / n * 1000:.1f} ms/router); {len(pids)} proxy processes, '
          f'RSS {rss:.1f} MiB, PSS {pss:.1f} MiB ({pss / n * 1024:.0f} KiB/router)')
    print(f'{"":8} create -> first answer: median {statistics.median(to_serve) * 1000:.1f} ms'
          f', p90 {pct(to_serve, 0.9) * 1000:.1f} ms ({len(probes)} routers); request '
          f'latency median {statistics.median(seq) * 1000:.2f} ms, p90 '
          f'{pct(seq, 0.9) * 1000:.2f} ms; {rate:.0f} requests/s with {threads} threads; '
          f'proxy CPU {per_request * 1000:.2f} ms/request')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (('routers', 150), ('probe', 20), ('requests', 400),
                          ('threads', 8)):
        parser.add_argument(f'--{name}', type=int, default=default)
    parser.add_argument('--modes', default='haproxy,shared')
    args = parser.parse_args()
    print(machine())
    print(f'load average before: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')
    run_id = 'mdb' + uuid.uuid4().hex[:6]
    base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-')
    os.chmod(base, 0o755)
    upstream = os.path.join(base, 'metadata_proxy')
    srv = server.MetadataServer(upstream, answer, 0o666)
    srv.start()
    made = []
    try:
        for mode_name in args.modes.split(','):
            state = os.path.join(base, mode_name)
            mode = {'haproxy': HaproxyMode, 'shared': SharedMode}[mode_name](state, upstream)
            routers = []
            for i in range(args.routers + args.probe):
                rid = str(uuid.uuid4())
                ns = f'{run_id}-{mode_name[0]}{i}'
                netns.create(ns)
                made.append(ns)
                routers.append((rid, ns))
            try:
                run(mode, routers[:args.routers], routers[args.routers:], args.requests,
                    args.threads)
            finally:
                mode.close()
    finally:
        srv.stop()
        for ns in made:
            try:
                netns.delete(ns, force=True)
            except Exception as exc:  # noqa: BLE001
                print(f'could not delete {ns}: {exc}', file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)
    print(f'load average after: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    main()
