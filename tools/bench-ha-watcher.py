#!/usr/bin/env python3
"""Benchmark of the HA state watcher (agent.l3.ha_watcher) on real namespaces.

Makes --routers ``qrouter-<uuid>`` namespaces, each with an ``ha-`` device (a veth: this kernel may lack dummy)
and a router directory under a private ha_confs (all removed at the end), runs
one watcher in the foreground telling a datagram socket of ours, then:
  1. start: the seconds until the watcher has reported every router (backup);
  2. latency: for each router, the seconds from ``ip addr add 169.254.0.<n>/24``
     (keepalived's primary VIP) returning to the watcher's ``primary`` datagram,
     then the same for the address removed (median, max);
  3. cost: the watcher's CPU seconds (user + system, from /proc) idle over
     --idle seconds, and for all the transitions; its RSS.
Prints figures, the machine and the load average; asserts nothing.

    sudo .venv/bin/python tools/bench-ha-watcher.py [--routers 50] [--idle 10]
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from agent.common import names  # noqa: E402
from agent.l3 import ha_state  # noqa: E402

TICKS = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    with open(f'/proc/{pid}/status') as f:
        line = next(x for x in f if x.startswith('VmRSS:'))
    return int(line.split()[1]) / 1024


def ip(*args):
    subprocess.run(['ip', *args], check=True, capture_output=True)


def receive(sock, wanted, timeout=30.0):
    """Datagrams until every (router, state) of ``wanted`` came; their arrival times."""
    arrived = {}
    deadline = time.monotonic() + timeout
    while len(arrived) < len(wanted) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(256)
        except TimeoutError:
            break
        key = ha_state.parse(message)
        if key in wanted:
            arrived.setdefault(key, time.monotonic())
    return arrived


def transitions(sock, routers, state, action):
    latencies = []
    for index, rid in enumerate(routers, 1):
        begin = time.monotonic()
        ip('-n', names.router_namespace(rid), 'addr', action, f'169.254.0.{index}/24',
           'dev', 'ha-bench')
        got = receive(sock, {(rid, state)})
        latencies.append(got[(rid, state)] - begin if got else float('inf'))
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--routers', type=int, default=50)
    parser.add_argument('--idle', type=float, default=10.0)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix='hal-bench-')
    confs = os.path.join(base, 'ha_confs')
    routers = [str(uuid.uuid4()) for _ in range(min(args.routers, 254))]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(base, 'ha-state.sock'))
    watcher = None
    try:
        for rid in routers:
            ns = names.router_namespace(rid)
            ip('netns', 'add', ns)
            ip('-n', ns, 'link', 'add', 'ha-bench', 'type', 'veth', 'peer', 'name', 'hal-peer')
            ip('-n', ns, 'link', 'set', 'ha-bench', 'up')
            os.makedirs(os.path.join(confs, rid))
            open(os.path.join(confs, rid, 'keepalived.conf'), 'w').close()
        start = time.monotonic()
        watcher = subprocess.Popen([
            sys.executable, '-m', 'agent.l3.ha_watcher', '--ha-confs', confs,
            '--notify-socket', os.path.join(base, 'ha-state.sock'),
            '--pid-file', os.path.join(base, 'watcher.pid'),
            '--log-file', os.path.join(base, 'watcher.log'), '--foreground'])
        got = receive(sock, {(rid, 'backup') for rid in routers}, timeout=60)
        started = max(got.values()) - start if len(got) == len(routers) else float('inf')
        time.sleep(1.0)
        idle0 = cpu_seconds(watcher.pid)
        time.sleep(args.idle)
        idle = cpu_seconds(watcher.pid) - idle0
        busy0 = cpu_seconds(watcher.pid)
        up = transitions(sock, routers, 'primary', 'add')
        down = transitions(sock, routers, 'backup', 'del')
        busy = cpu_seconds(watcher.pid) - busy0
        print(machine())
        print(f'load average (1, 5, 15 min): {os.getloadavg()}')
        print(f'routers: {len(routers)}; watcher up and every router reported in '
              f'{started:.2f} s; RSS {rss_mib(watcher.pid):.1f} MiB')
        for label, values in (('VIP added -> primary', up), ('VIP removed -> backup', down)):
            print(f'{label}: median {statistics.median(values) * 1000:.1f} ms, '
                  f'max {max(values) * 1000:.1f} ms (includes the ip command)')
        print(f'watcher CPU: {idle:.3f} s idle over {args.idle:g} s '
              f'({idle / args.idle * 100:.2f} %), {busy:.3f} s for '
              f'{2 * len(routers)} transitions')
        print(f'figure: ha_watcher routers={len(routers)} start_s={started:.2f} '
              f'primary_median_ms={statistics.median(up) * 1000:.1f} '
              f'idle_cpu_pct={idle / args.idle * 100:.2f}')
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(10)
        for rid in routers:
            subprocess.run(['ip', 'netns', 'delete', names.router_namespace(rid)],
                           capture_output=True)
        sock.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
