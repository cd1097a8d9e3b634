#!/usr/bin/env python3
"""Benchmark of an agent restart with nothing changed, DHCP and L3, on real parts.

For each agent a private controller and the agent run as processes (their own
RabbitMQ vhost, netdev bridges and state directory, all removed at the end), with
``--networks`` networks (DHCP) or ``--routers`` routers with a gateway and a
floating IP (L3) already served.  Then, ``--runs`` times: SIGTERM the agent, start
it again, and at once ask for new work through REST (a network with a subnet; a
router with an interface).  Printed, as medians over the runs (and the worst):

- seconds from starting the agent to the new work served (the new network's
  dnsmasq running and its tap addressed with the default route, as bench-dhcp
  counts it; the router's qr- device up with its address), and from the SIGTERM
  that stopped the old one (its exit and the new start included: what an operator
  restarting the service waits);
- where those seconds went, from the agent log: SIGTERM -> the old agent's exit,
  the new process -> its first log line (interpreter, imports, options),
  -> RPC server listening (the agent built: its imports, OVSDB connection,
  bus), -> full sync started (the first heartbeat answered), -> in sync (fetched,
  queued, pruned), and the CPU seconds of the restarted agent until it served;
- after two full syncs of the restarted agent: children respawned (dnsmasq/haproxy
  processes of the existing networks and routers whose pid changed across the
  restart);
- iptables rules changed in the existing namespaces (iptables-save and
  ip6tables-save without counters, compared as sets);
- with ``--beside-l2-agent`` (``local_vlan_tagging = false``; a stand-in for
  Neutron's OVS agent binds every existing tap/qr- port on a VLAN of its own
  first): OVS ports changed (row, tag, other_config, vlan_mode, trunks, ofport).

DESIGN.md's target: 0 children respawned, 0 rules changed, new work served
within 1.5 s of the SIGTERM.  Prints figures and the machine; asserts nothing.

    sudo .venv/bin/python tools/bench-restart.py [--runs 5] [--networks 20]
                                                 [--routers 10] [--only dhcp|l3]
                                                 [--beside-l2-agent] [--py-spy FILE]

``--py-spy FILE``: py-spy (``pip install py-spy``) samples the first restarted
agent of each kind from its start until two full syncs are done (``--gil``: the
thread holding the GIL, i.e. CPU), into ``FILE.dhcp.raw`` / ``FILE.l3.raw``, and
the top entries are printed (tools/pyspy_summary.py).

``--stop-only``: instead, the seconds from SIGTERM to the exit of each agent (DHCP,
L3, metadata; ``--only`` picks one) when idle, in the middle of a full sync, and
with the controller unreachable while a full sync waits on it
(tests/functional/helpers/stop_timing.py); issue 11's target: 2 s.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from agent.common import names, polling, procfs  # noqa: E402
from agent.drivers.link import LinkDriver  # noqa: E402
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid  # noqa: E402
from tests.functional.helpers import l2_agent  # noqa: E402
from tests.functional.helpers import stop_timing  # noqa: E402
from tests.functional.helpers.host import iptables_rules, netns_list  # noqa: E402
from tests.functional.l3.stack import L3Stack  # noqa: E402
from tests.functional.metadata.stack import MetadataStack  # noqa: E402

import pyspy_summary  # noqa: E402,I100

SERVED_CHILDREN = ('dnsmasq', 'haproxy')
SYNC_DONE = ' keys in '      # the runner's "<name> done: N keys in T ms"


def children(stack) -> dict[int, str]:
    """{pid: cmdline} of the dnsmasq and haproxy processes of this stack (their
    command lines name files under its state path)."""
    return {pid: cmd for pid, cmd in procfs.pids_with([stack.state_path]).items()
            if cmd.split()[0].rsplit('/', 1)[-1] in SERVED_CHILDREN}


def rules(namespaces) -> dict[str, set]:
    return {ns: iptables_rules(ns, 4) | iptables_rules(ns, 6) for ns in namespaces}


def rules_changed(before: dict[str, set], after: dict[str, set]) -> int:
    return sum(len(before[ns] ^ after.get(ns, set())) for ns in before)


def ports(port_names) -> dict:
    """name -> its OVS fields (None when the port is gone)."""
    found = {}
    for name in port_names:
        try:
            found[name] = l2_agent.snapshot([name])[name]
        except Exception:  # noqa: BLE001 - deleted
            found[name] = None
    return found


def bind_all(port_names, network_ids) -> None:
    """The stand-in OVS agent binds each port on a VLAN of its own."""
    for i, (name, network_id) in enumerate(zip(port_names, network_ids)):
        l2_agent.bind(name, network_id, i + 1)


def settled(stack, syncs=2, timeout=120):
    """Until the agent has finished ``syncs`` full syncs since its start (the stacks
    resync every 3 s): by then it has had time to converge what the first one
    queued."""
    polling.wait_for(lambda: stack.agent_log_text().count(SYNC_DONE) >= syncs, timeout,
                     0.1, f'{syncs} full syncs of the {stack.AGENT_LABEL}')


# (label, what the agent logs when it gets there): the restart's phases.
PHASES = (('process up, options read', ' starting as host '),
          ('RPC server listening', 'RPC server listening'),
          ('full sync started', 'full-sync starting'),
          ('in sync', 'full-sync: in sync'))


def log_time(line: str) -> float | None:
    """The wall-clock time at the start of an oslo.log line."""
    try:
        return datetime.datetime.strptime(line[:23], '%Y-%m-%d %H:%M:%S.%f').timestamp()
    except ValueError:
        return None


RECHECKED = 'every one re-checked'
DONE = re.compile(r"\('(\w+)', '([0-9a-f-]{36})'\) done in ")


def phases(log: str, started: float, keys=()) -> dict[str, float]:
    """label -> seconds from ``started`` (a wall-clock time) to the first log line
    of that phase in ``log`` (the new agent's); with ``keys`` (the queue's keys of
    the existing networks or routers), also to the last of their "done in" lines
    (the queue logs them at DEBUG) under :data:`RECHECKED`."""
    found = {}
    waiting = set(keys)
    last = None
    for line in log.splitlines():
        for label, marker in PHASES:
            if label not in found and marker in line:
                at = log_time(line)
                if at is not None:
                    found[label] = at - started
        done = DONE.search(line) if waiting else None
        if done is not None and done.groups() in waiting:
            waiting.discard(done.groups())
            last = log_time(line)
    if keys and not waiting and last is not None:
        found[RECHECKED] = last - started
    return found


def cpu_seconds(pid: int) -> float:
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def start_py_spy(path: str, pid: int) -> subprocess.Popen:
    binary = os.path.join(os.path.dirname(sys.executable), 'py-spy')   # the venv's
    if not os.path.exists(binary):
        binary = shutil.which('py-spy') or 'py-spy'
    return subprocess.Popen([binary, 'record', '--gil', '--nonblocking', '--rate', '200',
                             '--format', 'raw', '--output', path, '--pid', str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spy: subprocess.Popen, path: str) -> None:
    spy.send_signal(signal.SIGINT)      # py-spy writes its file and exits
    spy.wait(30)
    print(f'   py-spy profile of the restarted agent (GIL holder, 200 Hz) in {path}:')
    print('   ' + pyspy_summary.summarise(pyspy_summary.load(path), 20).replace(
        '\n', '\n   '), flush=True)


def restart(stack, new_work, served, existing_namespaces, port_names=(), spy=None,
            keys=()):
    """One restart; returns (seconds from the start to the new work served, from the
    SIGTERM to it, children respawned, rules changed, OVS ports changed, the phases:
    label -> seconds from the start, the agent's CPU seconds until served)."""
    kids, saved, plugged = children(stack), rules(existing_namespaces), ports(port_names)
    sigterm = time.monotonic()
    stack.stop_agent()
    start, wall_start = time.monotonic(), time.time()
    stack.start_agent(wait=False)
    profiler = None if spy is None else start_py_spy(spy, stack.agent.pid)
    target = new_work()
    polling.wait_for(lambda: served(target), 60, 0.005, 'the new work served')
    done = time.monotonic()
    cpu = cpu_seconds(stack.agent.pid)
    settled(stack)
    if profiler is not None:
        stop_py_spy(profiler, spy)
    steps = {'old agent exited (SIGTERM)': sigterm - start,
             **phases(stack.agent_log_text(), wall_start, keys)}
    after = children(stack)
    respawned = sum(1 for pid in kids if pid not in after)
    now = ports(port_names)
    return (done - start, done - sigterm, respawned,
            rules_changed(saved, rules(existing_namespaces)),
            sum(1 for name in port_names if now[name] != plugged[name]), steps, cpu)


def report(label, results):
    served, from_sigterm, respawned, changed, ports_changed, steps, cpu = zip(*results)
    print(f'{label}: {len(results)} restarts with nothing changed', flush=True)
    print(f'   start -> new work served: median {statistics.median(served):.2f} s, '
          f'worst {max(served):.2f} s; agent CPU until then: median '
          f'{statistics.median(cpu):.2f} s')
    print(f'   SIGTERM -> new work served: median {statistics.median(from_sigterm):.2f} s, '
          f'worst {max(from_sigterm):.2f} s; load average {os.getloadavg()[0]:.2f}')
    print('   phases, seconds from the start (medians):', ', '.join(
        f'{name} {statistics.median(s[name] for s in steps if name in s):+.2f}'
        for name in ['old agent exited (SIGTERM)'] + [p for p, _ in PHASES] + [RECHECKED]
        if any(name in s for s in steps)))
    print(f'   children respawned: {sum(respawned)} in all; iptables rules changed: '
          f'{sum(changed)} in all; OVS ports changed: {sum(ports_changed)} in all',
          flush=True)


# -- DHCP --------------------------------------------------------------------------

def dnsmasq_serving(stack, net_id):
    return dnsmasq_pid(stack, net_id) is not None


def network_serving(stack, net_id):
    """dnsmasq runs and the tap carries an address and the default route (what
    bench-dhcp counts as serving)."""
    if dnsmasq_pid(stack, net_id) is None:
        return False
    try:
        with open(os.path.join(stack.state_path, 'dhcp', net_id, 'interface')) as f:
            device = f.read().strip()
        ns = names.dhcp_namespace(net_id)
        link = LinkDriver.observe_link(ns, device)
        routes = LinkDriver.observe_routes(ns, 4)
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return bool(link and link.addresses and any(r.is_default for r in routes))


def bench_dhcp(run_id, runs, count, stack_class=DhcpStack, spy=None):
    stack = stack_class(run_id, 'restart').start()
    try:
        nets = [stack.create_network(f'r{i}', f'10.{i // 200}.{i % 200}.0/24',
                                     f'10.{i // 200}.{i % 200}.1')[0]['id']
                for i in range(count)]
        polling.wait_for(lambda: all(dnsmasq_serving(stack, n) for n in nets), 120, 0.1,
                         f'{count} networks served')
        settled(stack, stack.agent_log_text().count(SYNC_DONE) + 2)
        existing = [names.dhcp_namespace(n) for n in nets]
        taps = [names.tap_name(stack.dhcp_port(n)['id']) for n in nets]
        if stack_class is not DhcpStack:
            bind_all(taps, nets)
        made = iter(range(runs))

        def new_network():
            i = next(made)
            return stack.create_network(f'new{i}', f'10.250.{i}.0/24', f'10.250.{i}.1')[0]['id']

        results = [restart(stack, new_network, lambda n: network_serving(stack, n), existing,
                           taps, spy=f'{spy}.dhcp.raw' if spy and i == 0 else None,
                           keys=[('network', n) for n in nets])
                   for i in range(runs)]
        report(f'DHCP agent, {count} networks served', results)
    finally:
        stack.close()


# -- L3 ----------------------------------------------------------------------------

def qr_up(ns, dev, address):
    if ns not in netns_list():
        return False
    try:
        link = LinkDriver.observe_link(ns, dev)
    except Exception:  # noqa: BLE001 - the namespace is being built
        return False
    return link is not None and link.up and any(str(a.ip) == address for a in link.addresses)


def bench_l3(run_id, runs, count, stack_class=L3Stack, spy=None):
    stack = stack_class(run_id, 'restart').start()
    try:
        ext, _ = stack.network('public', '10.255.0.0/16', '10.255.0.1', external=True)
        routers = []
        for i in range(count):
            net, sub = stack.network(f'r{i}', f'10.{i // 200}.{i % 200}.0/24',
                                     f'10.{i // 200}.{i % 200}.1')
            router = stack.router(f'r{i}')
            intf = stack.add_interface(router['id'], sub['id'])
            stack.set_gateway(router['id'], ext['id'])
            stack.floatingip(ext['id'], stack.port(net['id'], f'vm{i}')['id'])
            routers.append((router['id'], intf['port_id'], sub['gateway_ip'], net['id']))
        polling.wait_for(lambda: all(qr_up(names.router_namespace(r),
                                           names.internal_device_name(p), gw)
                                     for r, p, gw, _ in routers), 120, 0.1,
                         f'{count} routers served')
        settled(stack, stack.agent_log_text().count(SYNC_DONE) + 2)
        existing = [names.router_namespace(r) for r, _, _, _ in routers]
        qrs = [names.internal_device_name(p) for _, p, _, _ in routers]
        if stack_class is not L3Stack:
            bind_all(qrs, [n for _, _, _, n in routers])
        made = iter(range(runs))

        def new_router():
            i = next(made)
            _, sub = stack.network(f'new{i}', f'10.251.{i}.0/24', f'10.251.{i}.1')
            router = stack.router(f'new{i}')
            intf = stack.add_interface(router['id'], sub['id'])
            return (names.router_namespace(router['id']),
                    names.internal_device_name(intf['port_id']), sub['gateway_ip'])

        results = [restart(stack, new_router, lambda t: qr_up(*t), existing, qrs,
                           spy=f'{spy}.l3.raw' if spy and i == 0 else None,
                           keys=[('router', r) for r, _, _, _ in routers])
                   for i in range(runs)]
        report(f'L3 agent, {count} routers with a gateway and a floating IP', results)
    finally:
        stack.close()


# -- --stop-only -------------------------------------------------------------------

def report_stops(label, runs):
    print(f'{label}: SIGTERM -> exit over {len(runs)} runs', flush=True)
    for case in runs[0]:
        figures = [r[case] for r in runs]
        print(f'   {case}: median {statistics.median(figures):.2f} s, '
              f'worst {max(figures):.2f} s', flush=True)


def stop_runs(stack, runs, measure):
    """``runs`` times: ``measure(stack)``, then the controller (which the last case
    stops) and the agent started again."""
    results = []
    for _ in range(runs):
        results.append(measure(stack))
        stop_timing.restart_server(stack)
        stack.start_agent()
    return results


def bench_stops(run_id, runs, only, count):
    if only in (None, 'dhcp'):
        stack = DhcpStack(run_id, 'stop', report_interval=2).start()
        try:
            for i in range(count):
                stack.create_network(f'stop{i}', f'10.{70 + i // 250}.{i % 250}.0/24',
                                     f'10.{70 + i // 250}.{i % 250}.1')
            settled(stack)
            results = stop_runs(stack, runs, stop_timing.agent_stop_times)
            report_stops(f'DHCP agent ({count} networks)', results)
        finally:
            stack.close()
    if only in (None, 'l3'):
        stack = L3Stack(run_id, 'stopl3').start()
        try:
            net, sub = stack.network('stop-int', '10.69.0.0/24', '10.69.0.1')
            stack.add_interface(stack.router('stop-router')['id'], sub['id'])
            results = stop_runs(stack, runs, stop_timing.agent_stop_times)
            report_stops('L3 agent (1 router)', results)
        finally:
            stack.close()
    if only in (None, 'metadata'):
        stack = MetadataStack(run_id).start()
        try:
            results = stop_runs(stack, runs, stop_timing.metadata_stop_times)
            report_stops('metadata agent', results)
        finally:
            stack.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--networks', type=int, default=20)
    parser.add_argument('--routers', type=int, default=10)
    parser.add_argument('--only', choices=('dhcp', 'l3', 'metadata'))
    parser.add_argument('--stop-only', action='store_true',
                        help='time SIGTERM -> exit of each agent instead')
    parser.add_argument('--py-spy', metavar='FILE',
                        help='profile the first restarted agent of each kind into '
                             'FILE.dhcp.raw / FILE.l3.raw')
    parser.add_argument('--beside-l2-agent', action='store_true',
                        help='local_vlan_tagging = false, ports bound by a stand-in '
                             'for Neutron\'s OVS agent')
    args = parser.parse_args(argv)
    run_id = 'nb' + uuid.uuid4().hex[:6]
    print(machine())
    if args.stop_only:
        bench_stops(run_id, args.runs, args.only, args.networks)
        return 0
    wrap = l2_agent.beside_an_l2_agent if args.beside_l2_agent else (lambda c: c)
    if args.only in (None, 'dhcp'):
        bench_dhcp(run_id, args.runs, args.networks, wrap(DhcpStack), args.py_spy)
    if args.only in (None, 'l3'):
        bench_l3(run_id, args.runs, args.routers, wrap(L3Stack), args.py_spy)
    return 0


if __name__ == '__main__':
    sys.exit(main())
