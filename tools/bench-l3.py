#!/usr/bin/env python3
"""Benchmark of the L3 agent on real parts (controller and agent as processes).

Starts its own netnode-server and netnode-l3-agent on a private RabbitMQ vhost
with their own netdev bridges and state directory (all removed at the end), then:
  1. interface latency: for --samples routers, the seconds from
     router-interface-add returning to the qr- device being up with its address
     in qrouter-<id> (median, min, max);
  2. full sync from cold: --routers routers, each with an internal network, a
     gateway and 2 floating IPs, created while no agent runs; then the seconds
     from starting the agent to every router converged (namespace, qr-, qg- with
     its floating IPs, rules, proxy), and the same after a restart with nothing
     changed (adoption), and the agent's memory after each (RSS, PSS, USS: right
     after, and once the agent's trim after a burst has run); the
     agent's CPU seconds in the cold sync (its own, and those of the children it
     waited for: ip, iptables-restore, arping); the seconds from SIGTERM to the
     agent's exit right after converging, idle, and in the middle of a full sync
     (the data plane stays);
  3. floating-IP churn: --changes associate/disassociate calls on one router in
     --window seconds; iptables-restore processes the agent ran for that router
     (counted from its debug log), and per change.
With ``--back-to-back N`` instead: N routers created back to back, each with
an internal network, a gateway and a floating IP, without waiting in between
(the network and its subnet are made before the clock starts); for each, the
seconds from its router-create call to the router ready (qr- up with its
address, the floating IP on qg- and its DNAT rule in place): the median, and
from the first create to the last router ready; the agent's CPU seconds
meanwhile.
Prints figures and the machine; asserts nothing.

    sudo .venv/bin/python tools/bench-l3.py [--samples 10] [--routers 100]
                                            [--changes 50] [--window 5]
    sudo .venv/bin/python tools/bench-l3.py --back-to-back 10
    sudo .venv/bin/python tools/bench-l3.py --routers 200 --cold-only [--py-spy FILE]
    sudo .venv/bin/python tools/bench-l3.py --routers 300 --py-spy-restart FILE

The cold start also prints where the machine's CPU went meanwhile (busy and
idle seconds of all CPUs; the agent, the children it waited for, the run's
haproxy daemons, ovs-vswitchd and the controller; the rest is the kernel's own
threads and softirqs, RabbitMQ and whatever else runs on the machine).
``--cold-only`` stops after the cold full sync (step 2's first figure and the
agent's CPU); ``--py-spy FILE`` samples the agent with py-spy (``pip install
py-spy`` into the venv) during the cold sync, or during the back-to-back
creates, into FILE in py-spy's raw format, and prints its top entries;
``--py-spy-restart FILE`` the same during the restart with nothing changed.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid

from benchlib import load, machine, machine_cpu, memory  # noqa: I100 - first: puts the repository on sys.path
from benchlib import start_py_spy, stop_py_spy, wait_quiet

from agent.common import malloc  # noqa: E402
from agent.common import names  # noqa: E402
from agent.drivers.link import LinkDriver  # noqa: E402
from tests.functional.helpers.host import netns_list  # noqa: E402
from tests.functional.l3.stack import L3Stack  # noqa: E402

RECONCILED = re.compile(r'reconciled router ([0-9a-f-]{36}): (\d+) actions')


def qr_ready(ns, dev, address):
    if ns not in netns_list():
        return False
    try:
        link = LinkDriver.observe_link(ns, dev)
    except Exception:  # noqa: BLE001 - namespace being built
        return False
    return link is not None and link.up and any(str(a.ip) == address
                                                for a in link.addresses)


def bench_interface_latency(stack, samples):
    times = []
    for i in range(samples):
        net, sub = stack.network(f'lat-{i}', f'10.{100 + i}.0.0/24', f'10.{100 + i}.0.1')
        router = stack.router(f'lat-{i}')
        start = time.monotonic()
        intf = stack.add_interface(router['id'], sub['id'])
        returned = time.monotonic()
        ns = names.router_namespace(router['id'])
        dev = names.internal_device_name(intf['port_id'])
        while not qr_ready(ns, dev, sub['gateway_ip']):
            if time.monotonic() - returned > 30:
                raise RuntimeError(f'router {router["id"]}: qr- not ready after 30 s')
            time.sleep(0.002)
        times.append(time.monotonic() - returned)
        print(f'  sample {i + 1}: REST {returned - start:.3f} s, then qr- up with its '
              f'address after {times[-1]:.3f} s', flush=True)
    return times


def build_routers(stack, count, ext_id):
    for i in range(count):
        net, sub = stack.network(f'sync-{i}', f'10.{i // 200}.{i % 200}.0/24',
                                 f'10.{i // 200}.{i % 200}.1')
        router = stack.router(f'sync-{i}')
        stack.add_interface(router['id'], sub['id'])
        stack.set_gateway(router['id'], ext_id)
        for j in range(2):
            port = stack.port(net['id'], f'vm-{i}-{j}')
            stack.floatingip(ext_id, port['id'])
        if (i + 1) % 25 == 0:
            print(f'  {i + 1} routers created', flush=True)


class LogFollower:
    """Reads the agent log incrementally (re-reading a debug log from the start on
    every poll would cost the agent its CPU)."""

    def __init__(self, path, offset):
        self.path = path
        self.offset = offset
        self.partial = ''
        self.done = set()
        self.actions = 0

    def poll(self, routers):
        try:
            with open(self.path, errors='replace') as f:
                f.seek(self.offset)
                chunk = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return self.done
        text, _, self.partial = (self.partial + chunk).rpartition('\n')
        for match in RECONCILED.finditer(text):
            if match.group(1) in routers and match.group(1) not in self.done:
                self.done.add(match.group(1))
                self.actions += int(match.group(2))
        return self.done


# Once its routers are done the agent gives glibc's free pages back, and again
# malloc.SETTLE_SECONDS later (agent.common.malloc.Trimmer): its RSS "after"
# them is read once that has run (bench-dhcp.py waits 2 s likewise).
SETTLE = malloc.SETTLE_SECONDS + 1.0


def settled_memory(stack):
    time.sleep(SETTLE)
    return memory(stack.agent.pid)


def wait_synced(stack, routers, follower, timeout=900):
    """Until every router was reconciled once by the new agent."""
    start = time.monotonic()
    while len(follower.poll(routers)) < len(routers):
        if stack.agent.poll() is not None:
            raise RuntimeError('the L3 agent exited')
        if time.monotonic() - start > timeout:
            raise RuntimeError(f'only {len(follower.done)} routers after {timeout} s')
        time.sleep(0.1)


def timed_stop(stack):
    """Seconds from SIGTERM to the agent's exit."""
    start = time.monotonic()
    stack.stop_agent()
    return time.monotonic() - start


def cpu_seconds(pid):
    """(own, waited-for children's) CPU seconds of a live process."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rpartition(')')[2].split()
    tick = os.sysconf('SC_CLK_TCK')
    return ((int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick)


def proc_cpu(pid):
    """utime + stime of ``pid`` in seconds (0 if it is gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rpartition(')')[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def haproxy_cpu(marker):
    """CPU seconds of the live haproxy processes whose command line has ``marker``
    (this run's: they are daemons, not counted in the agent's children)."""
    total = 0.0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if b'haproxy' in cmdline and marker.encode() in cmdline:
            total += proc_cpu(pid)
    return total


def vswitchd_pid():
    with open('/var/run/openvswitch/ovs-vswitchd.pid') as f:
        return int(f.read().strip())


class CpuBreakdown:
    """Where the CPU went between ``start()`` and ``stop()``: the machine's busy
    and idle seconds, ovs-vswitchd's, the controller's and the run's haproxy
    processes' (the agent's own and its waited-for children's are taken apart:
    :func:`cpu_seconds`)."""

    def __init__(self, stack):
        self.stack = stack

    def start(self):
        self.machine = machine_cpu()
        self.vswitchd = proc_cpu(vswitchd_pid())
        self.server = proc_cpu(self.stack.server.proc.pid)
        self.haproxy = haproxy_cpu(self.stack.base)

    def stop(self, wall, agent):
        busy, idle = (b - a for a, b in zip(self.machine, machine_cpu()))
        return (f'   CPU in the cold start ({wall:.1f} s wall x {os.cpu_count()} CPUs): '
                f'machine busy {busy:.1f} s, idle {idle:.1f} s; agent {agent[0]:.1f} s, '
                f'its waited-for children {agent[1]:.1f} s, haproxy '
                f'{haproxy_cpu(self.stack.base) - self.haproxy:.1f} s, ovs-vswitchd '
                f'{proc_cpu(vswitchd_pid()) - self.vswitchd:.1f} s, controller '
                f'{proc_cpu(self.stack.server.proc.pid) - self.server:.1f} s (the rest: '
                'the kernel\'s own threads, other processes of the machine)')


def bench_full_sync(stack, count, cold_only=False, py_spy=None, gil=False,
                    py_spy_restart=None):
    ext, _ = stack.network('bench-public', '10.255.0.0/16', '10.255.0.1', external=True)
    stack.stop_agent()
    before = set(stack.routers)
    build_routers(stack, count, ext['id'])
    routers = stack.routers - before
    print(f'   {wait_quiet()}', flush=True)
    print(f'   load average before the cold start: {load()}', flush=True)
    breakdown = CpuBreakdown(stack)
    breakdown.start()
    start = time.monotonic()
    stack.start_agent(wait=False)
    spy = start_py_spy(py_spy, stack.agent.pid, gil)
    follower = LogFollower(stack.agent_log, stack._log_mark)
    wait_synced(stack, routers, follower)
    r = {'cold': time.monotonic() - start, 'cpu': cpu_seconds(stack.agent.pid)}
    print(f'   load average after: {load()}', flush=True)
    print(breakdown.stop(r['cold'], r['cpu']), flush=True)
    stop_py_spy(spy, py_spy, 'the agent', 25)
    print(f'   agent right after the cold sync: {memory(stack.agent.pid)}', flush=True)
    if cold_only:
        print(f'   agent {SETTLE:.0f} s after the cold sync: {settled_memory(stack)}',
              flush=True)
        return r
    sample = names.router_namespace(sorted(routers)[0])
    r['qg_addrs'] = sum(1 for line in os.popen(f'ip netns exec {sample} ip -o -4 addr show')
                        if ' qg-' in line)
    r['stop_converged'] = timed_stop(stack)
    start = time.monotonic()
    stack.start_agent(wait=False)
    spy = start_py_spy(py_spy_restart, stack.agent.pid, gil)
    follower = LogFollower(stack.agent_log, stack._log_mark)
    wait_synced(stack, routers, follower)
    r['warm'] = time.monotonic() - start
    r['warm_cpu'] = cpu_seconds(stack.agent.pid)
    stop_py_spy(spy, py_spy_restart, "the agent's restart", 25)
    r['actions'], r['memory_now'] = follower.actions, memory(stack.agent.pid)
    r['memory'] = settled_memory(stack)
    r['stop_idle'] = timed_stop(stack)
    stack.start_agent(wait=False)
    follower = LogFollower(stack.agent_log, stack._log_mark)
    while len(follower.poll(routers)) < min(10, len(routers)):
        time.sleep(0.05)
    r['stop_busy'] = timed_stop(stack)
    stack.start_agent()
    return r


def router_ready(ns, qr, qr_address, floating_ip):
    """qr- up with its address, the floating IP on an up qg- and its DNAT rule."""
    if not qr_ready(ns, qr, qr_address):
        return False
    try:
        links = LinkDriver.list_links(ns)
    except Exception:  # noqa: BLE001 - namespace being built
        return False
    if not any(link.name.startswith('qg-') and link.up and
               any(str(a.ip) == floating_ip for a in link.addresses) for link in links):
        return False
    nat = subprocess.run(['ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'nat'],
                         capture_output=True, text=True, check=False).stdout
    return f'-d {floating_ip}/32 -j DNAT' in nat


class ReadyWatcher(threading.Thread):
    """Polls the routers handed to it and notes when each becomes ready."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pending = {}        # router id -> (ns, qr, qr address, qg, floating IP)
        self.ready = {}          # router id -> monotonic time
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def watch(self, router_id, *what):
        with self.lock:
            self.pending[router_id] = what

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                items = list(self.pending.items())
            for router_id, what in items:
                if router_ready(*what):
                    with self.lock:
                        self.ready[router_id] = time.monotonic()
                        del self.pending[router_id]
            time.sleep(0.005)


def bench_back_to_back(stack, count, py_spy=None, gil=False):
    ext, _ = stack.network('b2b-public', '10.252.0.0/16', '10.252.0.1', external=True)
    nets = [stack.network(f'b2b-{i}', f'10.{150 + i}.0.0/24', f'10.{150 + i}.0.1')
            for i in range(count)]
    time.sleep(2)                       # the agent idle again
    watcher = ReadyWatcher()
    watcher.start()
    created = {}
    spy = start_py_spy(py_spy, stack.agent.pid, gil)
    time.sleep(0.5 if spy else 0)       # attached before the first create
    cpu_before = cpu_seconds(stack.agent.pid)
    for i, (net, sub) in enumerate(nets):
        start = time.monotonic()
        router = stack.router(f'b2b-{i}')
        intf = stack.add_interface(router['id'], sub['id'])
        stack.set_gateway(router['id'], ext['id'])
        port = stack.port(net['id'], f'b2b-vm-{i}')
        fip = stack.floatingip(ext['id'], port['id'])
        created[router['id']] = start
        watcher.watch(router['id'], names.router_namespace(router['id']),
                      names.internal_device_name(intf['port_id']), sub['gateway_ip'],
                      fip['floating_ip_address'])
    deadline = time.monotonic() + 120
    while len(watcher.ready) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop.set()
    cpu = [a - b for a, b in zip(cpu_seconds(stack.agent.pid), cpu_before)]
    stop_py_spy(spy, py_spy, 'the agent', 25)
    each = [watcher.ready[r] - created[r] for r in created if r in watcher.ready]
    if not each:
        raise RuntimeError('no router became ready within 120 s')
    last = max(watcher.ready.values()) - min(created.values())
    return each, last, cpu


def restore_count(stack, ns):
    text = stack.agent_log_text(since_start=True)
    return (text.count(f'ip netns exec {ns} iptables-restore -n <<EOF')
            + text.count(f'ip netns exec {ns} ip6tables-restore -n <<EOF'))


def bench_fip_churn(stack, changes, window):
    net, sub = stack.network('churn', '10.254.0.0/24', '10.254.0.1')
    ext, _ = stack.network('churn-public', '10.253.0.0/16', '10.253.0.1', external=True)
    router = stack.router('churn')
    stack.add_interface(router['id'], sub['id'])
    stack.set_gateway(router['id'], ext['id'])
    ns = names.router_namespace(router['id'])
    ports = [stack.port(net['id'], f'churn-{i}') for i in range(5)]
    fips = [stack.floatingip(ext['id']) for _ in ports]
    time.sleep(3)
    before = restore_count(stack, ns)
    start = time.monotonic()
    for i in range(changes):
        k = i % len(ports)
        associated = (i // len(ports)) % 2 == 0
        stack.associate(fips[k]['id'], ports[k]['id'] if associated else None)
        delay = start + (i + 1) * window / changes - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    spent = time.monotonic() - start
    time.sleep(5)
    return restore_count(stack, ns) - before, spent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=10)
    parser.add_argument('--routers', type=int, default=100)
    parser.add_argument('--changes', type=int, default=50)
    parser.add_argument('--window', type=float, default=5.0)
    parser.add_argument('--back-to-back', type=int, default=0, metavar='N',
                        help='only: N routers created back to back, create -> ready')
    parser.add_argument('--metadata-proxy-mode', choices=('haproxy', 'shared'),
                        default='haproxy', help="the agent's metadata_proxy_mode")
    parser.add_argument('--cold-only', action='store_true',
                        help='only the cold full sync of --routers routers')
    parser.add_argument('--ovs-use-veth', action='store_true',
                        help="the agent's ovs_use_veth: veth pairs, not internal ports")
    parser.add_argument('--py-spy', metavar='FILE',
                        help='sample the agent with py-spy during the cold sync (or the '
                        'back-to-back creates) into FILE')
    parser.add_argument('--py-spy-restart', metavar='FILE',
                        help='sample the agent with py-spy during the restart with '
                        'nothing changed into FILE')
    parser.add_argument('--keep-log', metavar='FILE',
                        help='copy the agent\'s (debug) log to FILE before cleaning up')
    parser.add_argument('--py-spy-gil', action='store_true',
                        help='with --py-spy: sample only the thread holding the GIL (CPU)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench-l3 needs root (namespaces, OVS, iptables)')
    print(machine())
    run_id = 'nb' + uuid.uuid4().hex[:6]
    veth = 'true' if args.ovs_use_veth else 'false'
    stack = L3Stack(run_id, 'bench', resync_interval=600, report_interval=10,
                    agent_conf=f'metadata_proxy_mode = {args.metadata_proxy_mode}\n'
                               f'ovs_use_veth = {veth}')
    print(f'metadata_proxy_mode = {args.metadata_proxy_mode}, ovs_use_veth = {veth}')
    try:
        stack.start()
        time.sleep(2.0)
        print(f'agent idle after its start: {memory(stack.agent.pid)}', flush=True)
        if args.back_to_back:
            print(f'{args.back_to_back} routers (interface, gateway, floating IP) created '
                  f'back to back; load average before: {load()}', flush=True)
            each, last, cpu = bench_back_to_back(stack, args.back_to_back, args.py_spy,
                                                args.py_spy_gil)
            print(f'   router-create -> ready: median {statistics.median(each):.2f} s, '
                  f'max {max(each):.2f} s; all {len(each)} ready {last:.2f} s after the '
                  f'first create; agent CPU meanwhile {cpu[0]:.2f} s own, {cpu[1]:.2f} s '
                  f'in the children it waited for; load average after: {load()}')
            return
        if not args.cold_only:
            print(f'1. router-interface-add returned -> qr- up with its address '
                  f'({args.samples} routers):', flush=True)
            times = bench_interface_latency(stack, args.samples)
            print(f'   median {statistics.median(times):.3f} s, min {min(times):.3f} s, '
                  f'max {max(times):.3f} s')
        print(f'2. full sync from cold, {args.routers} routers with a gateway and 2 '
              f'floating IPs each:', flush=True)
        r = bench_full_sync(stack, args.routers, args.cold_only, args.py_spy,
                            args.py_spy_gil, args.py_spy_restart)
        print(f'   cold start -> all {args.routers} converged: {r["cold"]:.2f} s '
              f'({args.routers / r["cold"]:.1f} routers/s)')
        print(f'   agent CPU in the cold start: {r["cpu"][0]:.2f} s own, '
              f'{r["cpu"][1]:.2f} s in the children it waited for')
        if args.cold_only:
            return
        print(f'   a sample router has {r["qg_addrs"]} IPv4 addresses on qg-')
        print(f'   restart with nothing changed -> all reconciled: {r["warm"]:.2f} s, '
              f'{r["actions"]} actions in total; agent CPU {r["warm_cpu"][0]:.2f} s own, '
              f'{r["warm_cpu"][1]:.2f} s in its children; agent right after it '
              f'{r["memory_now"]}, {SETTLE:.0f} s later {r["memory"]}')
        print(f'   SIGTERM -> agent exited: {r["stop_converged"]:.2f} s right after the '
              f'cold start, {r["stop_idle"]:.2f} s idle, {r["stop_busy"]:.2f} s in the '
              'middle of a full sync')
        print(f'3. {args.changes} floating-IP changes in {args.window:g} s on one router:',
              flush=True)
        restores, spent = bench_fip_churn(stack, args.changes, args.window)
        print(f'   {args.changes} changes sent in {spent:.2f} s; iptables-restore calls '
              f'for the router: {restores} ({restores / args.changes:.2f} per change)')
    finally:
        if args.keep_log and os.path.exists(stack.agent_log):
            shutil.copyfile(stack.agent_log, args.keep_log)
        stack.close()


if __name__ == '__main__':
    main()
