#!/usr/bin/env python3
"""What the kernel and ovs-vswitchd cost a router's cold start, without the agent.

The floor under ``bench-l3.py --cold-only``: on a netdev bridge of its own,
  1. N namespaces made as the agent makes them (agent.drivers.netns.create: a
     thread unshares and bind-mounts), one after the other, then by --threads
     threads;
  2. 2N OVS internal ports plugged in transactions of --chunk ports (ovsdbapp,
     as the agent's plug-ahead does), until their taps exist;
  3. the 2N taps moved into the namespaces (one netlink request each, as the
     agent's MoveDevice), one after the other, then by --threads threads; and
     N veth ends (no OVS behind them) moved the same way;
  4. N of those namespaces sending --frames broadcast frames each on their tap,
     which ovs-vswitchd floods to every other port of the bridge (as every
     router's gratuitous ARPs and IPv6 DAD/MLD/RS on one external network);
  5. for comparison, N veth pairs made with one end directly in a namespace
     (``ip link add tap type veth peer name qr- netns X``: no move), with
     ``ip`` and with one netlink request each.
For each: wall seconds, per item, this process's CPU, ovs-vswitchd's and the
machine's (from /proc/stat, user and system) meanwhile, so what is kernel
waiting, kernel CPU and ovs-vswitchd's CPU can be told apart.  Removes what it made.

    sudo .venv/bin/python tools/bench-netns-floor.py [--count 200] [--threads 4]
"""

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from agent.drivers import netns, rtnl_requests  # noqa: E402


def vswitchd_cpu():
    """(user, system) CPU seconds of ovs-vswitchd so far."""
    with open('/var/run/openvswitch/ovs-vswitchd.pid') as f:
        pid = f.read().strip()
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rpartition(')')[2].split()
    tick = os.sysconf('SC_CLK_TCK')
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_split():
    """(user+nice, system+irq+softirq) CPU seconds of all CPUs so far."""
    with open('/proc/stat') as f:
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(x) for x in f.readline().split()[1:8])
    tick = os.sysconf('SC_CLK_TCK')
    return (user + nice) / tick, (system + irq + softirq) / tick


def own_cpu():
    t = os.times()
    return t.user + t.system


class Timed:
    def __init__(self, what, count):
        self.what, self.count = what, count

    def __enter__(self):
        self.t, self.c, self.m = time.monotonic(), own_cpu(), machine_split()
        self.v = vswitchd_cpu()
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.t
        user, system = (b - a for a, b in zip(self.m, machine_split()))
        vuser, vsys = (b - a for a, b in zip(self.v, vswitchd_cpu()))
        print(f'  {self.what}: {wall:.2f} s, {1000 * wall / self.count:.1f} ms each; '
              f'this process CPU {own_cpu() - self.c:.2f} s; ovs-vswitchd '
              f'{vuser:.2f} s user, {vsys:.2f} s sys; machine {user:.2f} s user, '
              f'{system:.2f} s sys; load {os.getloadavg()[0]:.2f}', flush=True)


def move(dev, target):
    fd = os.open(netns.path_of(target), os.O_RDONLY | os.O_CLOEXEC)
    try:
        rtnl_requests.set_link(dev, netns_fd=fd, up=True)
    finally:
        os.close(fd)


def veth_in(ns_name, outer, inner):
    subprocess.run(['ip', 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner,
                    'netns', ns_name], check=True)


def veth_in_netlink(ipr, ns_name, outer, inner):
    """The same pair made with one netlink request (no ``ip`` process)."""
    fd = os.open(netns.path_of(ns_name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        ipr.link('add', ifname=outer, kind='veth', peer={'ifname': inner, 'net_ns_fd': fd})
    finally:
        os.close(fd)


def announce(ns_name, dev, count):
    """``count`` broadcast ARP frames (gratuitous ARPs) sent on ``dev`` from inside
    namespace ``ns_name``, on its netlink worker thread."""
    import ipaddress
    import socket
    from agent.drivers import garp

    def send(_ipr):
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((dev, 0))
            frame = garp.frame(bytes.fromhex('fa163e000001'),
                               ipaddress.ip_address('198.51.100.1'))
            for _ in range(count):
                sock.send(frame)

    netns.call_netlink(ns_name, send)


def wait_taps(names, timeout=300):
    deadline = time.monotonic() + timeout
    left = set(names)
    while left:
        left = {n for n in left if not os.path.exists(f'/sys/class/net/{n}')}
        if time.monotonic() > deadline:
            raise RuntimeError(f'{len(left)} taps missing')
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=200)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--chunk', type=int, default=100)
    parser.add_argument('--prefix', default='nf')
    parser.add_argument('--frames', type=int, default=13,
                        help='broadcast frames each namespace sends (a router with a '
                        'gateway and 2 floating IPs sends 12-15 on its qg- port)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('needs root')
    print(machine())
    run = args.prefix + uuid.uuid4().hex[:4]
    bridge = f'{run}br'
    n = args.count
    spaces = [f'{run}-ns{i}' for i in range(2 * n)]
    ports = [f'{run}p{i}' for i in range(2 * n)]
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl
    idl = connection.OvsdbIdl.from_server('unix:/var/run/openvswitch/db.sock',
                                          'Open_vSwitch')
    api = impl_idl.OvsdbIdl(connection.Connection(idl, timeout=300))
    try:
        api.add_br(bridge, datapath_type='netdev').execute(check_error=True)
        print(f'{n} namespaces, {2 * n} ports, {args.threads} threads; '
              f'uptime: {open("/proc/loadavg").read().strip()}')
        with Timed(f'{n} namespaces made one after the other', n):
            for name in spaces[:n]:
                netns.create(name)
        with Timed(f'{n} namespaces made by {args.threads} threads', n):
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(netns.create, spaces[n:]))
        with Timed(f'{2 * n} internal ports plugged, {args.chunk} a transaction, '
                   'until their taps exist', 2 * n):
            for i in range(0, 2 * n, args.chunk):
                with api.transaction(check_error=True) as txn:
                    for p in ports[i:i + args.chunk]:
                        txn.add(api.add_port(bridge, p))
                        txn.add(api.db_set('Interface', p, ('type', 'internal')))
            wait_taps(ports)
        with Timed(f'{n} taps moved one after the other', n):
            for i in range(n):
                move(ports[i], spaces[i])
        with Timed(f'{n} taps moved by {args.threads} threads', n):
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(move, ports[n:], spaces[n:]))
        with Timed('nothing sent, 2 s (what the machine and ovs-vswitchd spend '
                   'meanwhile without this tool)', 1):
            time.sleep(2)
        with Timed(f'{n} namespaces each flooding {args.frames} broadcast frames to the '
                   f'{2 * n} ports of the bridge ({args.frames * n * (2 * n - 1)} '
                   'deliveries), then 2 s for them to be delivered', n):
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(announce, spaces[:n], ports[:n], [args.frames] * n))
            time.sleep(2)
        dummies = [f'{run}d{i}' for i in range(n)]
        for d in dummies:
            subprocess.run(['ip', 'link', 'add', d, 'type', 'veth', 'peer', 'name', d + 'p'],
                           check=True)
        with Timed(f'{n} veth ends (no OVS) moved one after the other', n):
            for i in range(n):
                move(dummies[i], spaces[n + i])
        with Timed(f'{n} veth pairs made with one end in a namespace (ip link add)', n):
            for i in range(n):
                veth_in(spaces[i], f'{run}v{i}', 'qr-veth')
        from agent.drivers.netlink_api import IPRoute
        with IPRoute() as ipr, Timed(f'{n} veth pairs made with one end in a namespace '
                                     '(one netlink request each)', n):
            for i in range(n):
                veth_in_netlink(ipr, spaces[n + i], f'{run}w{i}', 'qg-veth')
    finally:
        with Timed('clean-up', 1):
            with api.transaction() as txn:
                txn.add(api.del_br(bridge))
            for i in range(n):
                for dev in (f'{run}v{i}', f'{run}w{i}', f'{run}d{i}p'):
                    subprocess.run(['ip', 'link', 'del', dev], capture_output=True,
                                   check=False)
            for name in spaces:
                try:
                    netns.delete(name, force=True)
                except Exception as exc:  # noqa: BLE001
                    print(f'  {name}: {exc}')


if __name__ == '__main__':
    threading.excepthook = lambda a: print(a)
    main()
