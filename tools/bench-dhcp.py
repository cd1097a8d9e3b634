#!/usr/bin/env python3
"""Benchmark the DHCP agent on real parts; prints figures, asserts nothing.

    sudo .venv/bin/python tools/bench-dhcp.py [--runs 10] [--back-to-back 20]
        [--updates 500] [--seconds 10] [--networks 100] [--isolated-metadata]
        [--cold-only] [--py-spy FILE [--gil]] [--py-spy-restart FILE]

A private controller + DHCP agent (processes, own vhost and bridge, see
tests/functional/dhcp/stack.py), then:

1. seconds from subnet-create returning to dnsmasq serving (running, tap
   addressed, default route), and to a probe's first DHCP offer of its own
   address (medians of ``--runs``; the probe is created after the subnet through
   the same REST API and plugging code as ``netnode probe-create`` and sends a
   DISCOVER every 5 ms);
2. ``--back-to-back`` networks created one after the other: until all serve;
3. dnsmasq reloads (SIGHUP) of one network under ``--updates`` port updates
   spread over ``--seconds`` seconds;
4. full-sync time for ``--networks`` networks from a cold start (agent started
   with none of them on the host: until every dnsmasq runs; and the agent's own
   "full sync done" figure), with the CPU seconds spent meanwhile by the agent,
   the commands it ran, the controller and ovs-vswitchd (which others share).
   ``--cold-only`` runs this one (and 5.) alone;
5. the agent restarted with those networks served (nothing changed): seconds
   from its start until a network created then serves and until every network
   was reconciled again, and how many dnsmasq processes were started again.

``--py-spy FILE`` samples the agent during the cold start (py-spy from PyPI in
the venv) into FILE in py-spy's raw format and prints its top entries
(``tools/pyspy_summary.py``); with ``--gil`` only the thread holding the GIL.
``--py-spy-restart FILE`` samples the restarted agent (5.) the same way, from
its start until every network was re-checked.

The agent's memory (RSS, PSS, USS; dnsmasq and haproxy not included) is printed
idle after its start and after the full sync.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import re
import socket
import statistics
import struct
import threading
import time
import uuid

from benchlib import (  # noqa: I100 - first: puts the repository on sys.path
    machine, memory, rss_mib, start_py_spy, stop_py_spy, wait_quiet)

from agent.cli.client import Client  # noqa: E402
from agent.dataplane.executor import HostDrivers  # noqa: E402
from agent.dhcp.agent import QUEUE_WORKERS  # noqa: E402
from agent.drivers import netns  # noqa: E402
from agent.drivers.link import LinkDriver  # noqa: E402
from agent.drivers.local_vlan import LocalVlans  # noqa: E402
from agent.drivers.ovs import OvsDriver  # noqa: E402
from agent.probe import probe as probes  # noqa: E402
from tests.functional.dhcp.stack import DhcpStack  # noqa: E402
from tests.functional.helpers.host import sh, wait_for  # noqa: E402

SO_BINDTODEVICE = 25


def discover_packet(mac: str, xid: int) -> bytes:
    chaddr = bytes.fromhex(mac.replace(':', '')) + b'\0' * 10
    header = struct.pack('!BBBBIHH4s4s4s4s16s', 1, 1, 6, 0, xid, 0, 0x8000, b'\0' * 4,
                         b'\0' * 4, b'\0' * 4, b'\0' * 4, chaddr)
    options = b'\x63\x82\x53\x63' + b'\x35\x01\x01' + b'\x37\x03\x01\x03\x06' + b'\xff'
    return header + b'\0' * 192 + options


def first_offer(ns: str, dev: str, mac: str, want_ip: str, timeout=10.0,
                interval=0.005) -> float:
    """Send DISCOVERs from ``dev`` in ``ns`` until an OFFER of ``want_ip`` comes back;
    returns time.monotonic() of that offer."""
    def inside():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev.encode())
            s.bind(('0.0.0.0', 68))
            s.settimeout(interval)
            xid = random.getrandbits(32)
            packet = discover_packet(mac, xid)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    s.sendto(packet, ('255.255.255.255', 67))
                except OSError:
                    time.sleep(interval)
                    continue
                try:
                    data = s.recv(2048)
                except socket.timeout:
                    continue
                if len(data) > 20 and struct.unpack('!I', data[4:8])[0] == xid:
                    if socket.inet_ntoa(data[16:20]) == want_ip:
                        return time.monotonic()
            raise TimeoutError(f'no offer of {want_ip} on {dev} within {timeout} s')
        finally:
            s.close()
    return netns.run_in(ns, inside)


def dnsmasq_pid(state_path, net_id):
    """The pid of the network's dnsmasq if it runs, else None."""
    try:
        with open(os.path.join(state_path, 'dhcp', net_id, 'pid')) as f:
            pid = int(f.read())
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return pid if net_id.encode() in f.read() else None
    except (OSError, ValueError):
        return None


def dnsmasq_pids(state_path):
    base = os.path.join(state_path, 'dhcp')
    found = {net_id: dnsmasq_pid(state_path, net_id)
             for net_id in (os.listdir(base) if os.path.isdir(base) else ())}
    return {net_id: pid for net_id, pid in found.items() if pid is not None}


def new_network(stack, name, cidr):
    """A network with one IPv4 subnet, made through the REST API: its id."""
    net = stack.api('POST', '/networks', {'network': {'name': name}})['network']
    stack.namespaces.add(f'qdhcp-{net["id"]}')
    stack.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': cidr, 'ip_version': 4}})
    return net['id']


def bench_latency(stack, runs):
    client = Client(stack.server.url)
    ovs = OvsDriver('unix:/var/run/openvswitch/db.sock')
    drivers = HostDrivers(netns.NetnsDriver(), LinkDriver(), ovs)
    vlans = LocalVlans(ovs, stack.bridge)
    where = probes.ProbeHost(stack.host, stack.bridge)
    figures, made, served = [], [], []
    try:
        for i in range(runs):
            net_id = new_network(stack, f'lat{i}', f'10.{100 + i}.0.0/24')
            t0 = time.monotonic()
            wait_for(lambda: serving(stack.state_path, net_id), 10, 0.002, 'dnsmasq')
            served.append(time.monotonic() - t0)
            port = probes.create_probe(client, drivers, vlans, where, net_id)
            made.append(port)
            stack.namespaces.add(port['namespace'])
            t1 = first_offer(port['namespace'], port['device'], port['mac_address'],
                             port['fixed_ips'][0]['ip_address'])
            figures.append(t1 - t0)
    finally:
        for port in made:
            probes.delete_probe(client, drivers, where, port['id'])
    return figures, served


def serving(state_path, network_id):
    """dnsmasq runs and the tap carries its address and the default route.

    Only this network's files are read: a scan of every network's pid per call
    made the back-to-back wait itself add ~0.5 s per network at a load of 16."""
    if dnsmasq_pid(state_path, network_id) is None:
        return False
    try:
        device = open(os.path.join(state_path, 'dhcp', network_id, 'interface')).read()
    except OSError:
        return False
    try:
        return netns.run_in(f'qdhcp-{network_id}', _addressed_with_default_route, device)
    except Exception:  # noqa: BLE001 - not there yet
        return False


SIOCGIFADDR = 0x8915


def _addressed_with_default_route(device):
    """In the calling thread's namespace: ``device`` has an IPv4 address and the
    IPv4 default route leaves by it.  An ioctl and /proc/thread-self/net/route
    instead of pyroute2: the first netlink call in a namespace made this process
    a worker and an IPRoute (~10-30 ms at a load of 10), and the back-to-back wait,
    which checks the networks one after the other, then saw a network serving
    ~0.3 s (median) after the agent had logged it converged."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack('256s', device.encode()))
        except OSError:              # no such device here yet, or no IPv4 address
            return False
    with open('/proc/thread-self/net/route') as f:
        next(f, None)
        return any(fields[:2] == [device, '00000000'] for fields in map(str.split, f))


def bench_back_to_back(stack, count):
    """``count`` networks created one after the other: (seconds from the first
    network-create to every one serving, seconds the REST calls took, the median
    of each network's seconds from its subnet-create returning to it serving).

    A thread watches the networks from their creation on: watched only once the
    last create had returned, the first networks' figures were the REST loop's
    length (their agent had them serving 0.3 s after their create, the bench saw
    it 1.5 s after, load 10) and the median was mostly that of the REST loop."""
    t0 = time.monotonic()
    created_at, served_at = {}, {}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for n in [n for n in list(created_at) if n not in served_at]:
                if serving(stack.state_path, n):
                    served_at[n] = time.monotonic()
            stop.wait(0.01)

    watcher = threading.Thread(target=watch, name='b2b-watch', daemon=True)
    watcher.start()
    try:
        for i in range(count):
            created_at[new_network(stack, f'b2b{i}', f'10.200.{i}.0/24')] = time.monotonic()
        created = time.monotonic() - t0
        wait_for(lambda: len(served_at) == count, 120, 0.01, 'every network serving')
    finally:
        stop.set()
        watcher.join()
    return (max(served_at.values()) - t0, created,
            statistics.median(served_at[n] - created_at[n] for n in created_at))


def cpu_seconds(pid):
    """User + system CPU seconds of ``pid``, and of the children it waited for."""
    with open(f'/proc/{pid}/stat') as f:
        fields = [int(v) for v in f.read().rsplit(')', 1)[1].split()[11:15]]
    tick = os.sysconf('SC_CLK_TCK')
    return (fields[0] + fields[1]) / tick, (fields[2] + fields[3]) / tick


def vswitchd_cpu():
    """CPU seconds of ovs-vswitchd (shared by everyone on the host), or None."""
    try:
        with open('/var/run/openvswitch/ovs-vswitchd.pid') as f:
            return sum(cpu_seconds(int(f.read().strip())))
    except (OSError, ValueError):
        return None


def bench_full_sync(stack, count, py_spy=None, gil=False):
    stack.stop_agent()
    ids = []
    for i in range(count):
        ids.append(new_network(stack, f'sync{i}', f'10.{i // 200}.{i % 200}.0/24'))
    print(wait_quiet(), flush=True)
    server_cpu, switch_cpu = sum(cpu_seconds(stack.server.proc.pid)), vswitchd_cpu()
    t0 = time.monotonic()
    stack.start_agent(wait=False)
    spy = start_py_spy(py_spy, stack.agent.pid, gil, rate=250)
    first = []      # the agent's CPU seconds when its first dnsmasq was seen

    def every_dnsmasq():
        running = set(dnsmasq_pids(stack.state_path))
        if running and not first:
            first.append(cpu_seconds(stack.agent.pid)[0])
        return set(ids) <= running

    wait_for(every_dnsmasq, 900, 0.05, 'every dnsmasq')
    elapsed = time.monotonic() - t0
    stop_py_spy(spy, py_spy, "the agent's cold start", 25)
    cpu = (*cpu_seconds(stack.agent.pid),
           sum(cpu_seconds(stack.server.proc.pid)) - server_cpu,
           None if switch_cpu is None else vswitchd_cpu() - switch_cpu)
    match = re.findall(r'dhcp-full-sync done: (\d+) keys in ([\d.]+) ms',
                       stack.agent_log_text())
    return elapsed, match[0] if match else None, cpu, first[0]


def bench_restart(stack, py_spy=None, gil=False):
    """Restart the converged agent and create a network right away: (seconds from the
    start to that network serving, to every network it had reconciled again; how
    many of their dnsmasq processes were started again; seconds from the SIGTERM
    to the new network serving)."""
    before = dnsmasq_pids(stack.state_path)
    sigterm = time.monotonic()
    stack.stop_agent()
    t0 = time.monotonic()
    stack.start_agent(wait=False)
    spy = start_py_spy(py_spy, stack.agent.pid, gil, rate=250)
    net, _ = stack.create_network('after-restart', '10.251.0.0/24', '10.251.0.1')
    wait_for(lambda: serving(stack.state_path, net['id']), 120, 0.01,
             'the network created after the restart serving')
    served_at = time.monotonic()
    served = served_at - t0
    done = re.compile(r"\('network', '([0-9a-f-]{36})'\) done in")
    wait_for(lambda: set(before) <= set(done.findall(stack.agent_log_text())), 900, 0.2,
             'every network reconciled after the restart')
    synced = time.monotonic() - t0
    stop_py_spy(spy, py_spy, "the agent's restart", 25)
    after = dnsmasq_pids(stack.state_path)
    return (served, synced, sum(after.get(n) != pid for n, pid in before.items()),
            served_at - sigterm)


def bench_reloads(stack, updates, seconds):
    net, _ = stack.create_network('churn', '10.250.0.0/24', '10.250.0.1')
    wait_for(lambda: net['id'] in dnsmasq_pids(stack.state_path), 30, 0.05)
    ports = [stack.api('POST', '/ports', {'port': {'network_id': net['id']}})['port']
             for _ in range(50)]
    time.sleep(2.0)
    pid = dnsmasq_pids(stack.state_path)[net['id']]
    mark = stack.agent_log_text().count(f'sending SIGHUP to {pid}')
    start = time.monotonic()
    for n in range(updates):
        port = ports[n % len(ports)]
        stack.api('PUT', f'/ports/{port["id"]}', {'port': {'extra_dhcp_opts': [
            {'opt_name': 'ntp-server', 'opt_value': f'192.0.2.{n % 250 + 1}'}]}})
        lag = start + (n + 1) * seconds / updates - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    elapsed = time.monotonic() - start
    time.sleep(2.0)
    reloads = stack.agent_log_text().count(f'sending SIGHUP to {pid}') - mark
    restarted = dnsmasq_pids(stack.state_path)[net['id']] != pid
    return reloads, elapsed, restarted


def bench_warm(stack, args):
    """The figures of a running agent (1-3 of the module docstring)."""
    lat, served = bench_latency(stack, args.runs)
    print(f'subnet-create returned -> dnsmasq serving (running, tap addressed, '
          f'default route): median {statistics.median(served):.3f} s over '
          f'{len(served)} runs (min {min(served):.3f}, max {max(served):.3f})')
    print(f'subnet-create returned -> probe\'s first DHCP offer (probe port created '
          f'and plugged after the subnet): median {statistics.median(lat):.3f} s '
          f'over {len(lat)} runs (min {min(lat):.3f}, max {max(lat):.3f})')
    total, created, median = bench_back_to_back(stack, args.back_to_back)
    print(f'{args.back_to_back} networks+subnets created back to back (REST took '
          f'{created:.2f} s): all serving {total:.2f} s after the first create; '
          f'subnet-create returned -> serving: median {median:.3f} s')
    reloads, elapsed, restarted = bench_reloads(stack, args.updates, args.seconds)
    print(f'{args.updates} port updates in {elapsed:.1f} s on one network: '
          f'{reloads} dnsmasq reloads (SIGHUP), restarted: {restarted}')



def start_stack(isolated_metadata=False, ovs_use_veth=False):
    """The private controller and DHCP agent the figures are taken on."""
    metadata = 'true' if isolated_metadata else 'false'
    veth = 'true' if ovs_use_veth else 'false'
    stack = DhcpStack('bn' + uuid.uuid4().hex[:6], 'bench', report_interval=5,
                      resync_interval=600,
                      agent_conf=f'enable_isolated_metadata = {metadata}\n'
                                 f'ovs_use_veth = {veth}').start()
    print(f'agent: enable_isolated_metadata = {metadata}, ovs_use_veth = {veth}, queue '
          f'workers = {QUEUE_WORKERS}; load average before: {os.getloadavg()[0]:.2f}',
          flush=True)
    time.sleep(2.0)
    print(f'agent idle after its start: {memory(stack.agent.pid)}', flush=True)
    return stack


def bench_cold(stack, networks, py_spy=None, gil=False, py_spy_restart=None):
    """4. and 5. of the module docstring: printed, and returned as a dict."""
    elapsed, agent_figure, cpu, first = bench_full_sync(stack, networks, py_spy, gil)
    extra = (f'; agent: full sync of {agent_figure[0]} keys fetched and queued in '
             f'{float(agent_figure[1]) / 1000:.2f} s') if agent_figure else ''
    print(f'cold start with {networks} new networks: every dnsmasq serving '
          f'{elapsed:.2f} s after the agent process started{extra}; CPU meanwhile: '
          f'agent {cpu[0]:.2f} s, the commands it ran {cpu[1]:.2f} s, controller '
          f'{cpu[2]:.2f} s, ovs-vswitchd {cpu[3] or 0:.2f} s (shared); load average '
          f'{os.getloadavg()[0]:.2f}')
    print(f'agent CPU until its first dnsmasq ran (start-up, full fetch): {first:.2f} s; '
          f'after it: {(cpu[0] - first) * 1000 / max(networks - 1, 1):.1f} ms per network',
          flush=True)
    time.sleep(2.0)
    rss = rss_mib(stack.agent.pid)
    print(f'agent after the full sync of {networks} networks: '
          f'{memory(stack.agent.pid)}', flush=True)
    served, synced, restarted, from_sigterm = bench_restart(stack, py_spy_restart, gil)
    restart_cpu = sum(cpu_seconds(stack.agent.pid))
    print(f'agent restarted with those networks served: a network created at its '
          f'start serving {served:.2f} s after it ({from_sigterm:.2f} s after the '
          f'SIGTERM), every network reconciled {synced:.2f} s after it, dnsmasq '
          f'started again: {restarted}; restarted agent CPU {restart_cpu:.2f} s; load '
          f'average {os.getloadavg()[0]:.2f}', flush=True)
    return {'cold': elapsed, 'cold_cpu': cpu[0], 'rss': rss, 'restart_served': served,
            'restart_all': synced, 'restart_cpu': restart_cpu,
            'restart_sigterm': from_sigterm, 'respawned': restarted}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--networks', type=int, default=100)
    parser.add_argument('--updates', type=int, default=500)
    parser.add_argument('--back-to-back', type=int, default=20)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--isolated-metadata', action='store_true',
                        help='Run a metadata proxy per network (Neutron default: off).')
    parser.add_argument('--cold-only', action='store_true',
                        help='Only the cold start with --networks networks.')
    parser.add_argument('--py-spy', metavar='FILE',
                        help='Sample the agent with py-spy during the cold start.')
    parser.add_argument('--py-spy-restart', metavar='FILE',
                        help='Sample the agent with py-spy during the restart.')
    parser.add_argument('--gil', action='store_true',
                        help='With --py-spy or --py-spy-restart: only the thread '
                        'holding the GIL.')
    parser.add_argument('--ovs-use-veth', action='store_true',
                        help="the agent's ovs_use_veth: veth pairs, not internal ports")
    args = parser.parse_args()
    print(machine())
    stack = start_stack(args.isolated_metadata, args.ovs_use_veth)
    try:
        if not args.cold_only:
            bench_warm(stack, args)
        bench_cold(stack, args.networks, args.py_spy, args.gil, args.py_spy_restart)
    finally:
        stack.close()
        sh('true')


if __name__ == '__main__':
    main()
