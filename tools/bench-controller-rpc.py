#!/usr/bin/env python3
"""Benchmark the controller's agent-facing RPC methods; prints figures, asserts nothing.

    .venv/bin/python tools/bench-controller-rpc.py [--db sqlite,postgresql]
        [--networks 1000] [--calls 160] [--threads 16] [--routers 1000] [--runs 5]
        [--ha]

The issue-13 figures: ``--networks 1000 --routers 1000`` (target: each answer
<= 0.5 s); a ``figures:`` line per database sums them up, with the load average.

The Plugin is called in-process (no bus, no serialisation): the figures are the
server's own cost of each call, what an agent's RPC adds on top is the broker
round trip.  On a fresh database of each kind (SQLite file; PostgreSQL database
of our own on the test role, dropped afterwards), with one live DHCP agent and
one live L3 agent:

1. ``get_network_info`` then ``create_dhcp_port`` per network, as the DHCP agent
   does on a cold start: latency p50/p90 of each with 1 caller, then with
   ``--threads`` concurrent callers (each on its own networks);
2. ``get_active_networks_info`` for ``--networks`` networks (each with a subnet,
   two VM ports and, for the networks of step 1, a DHCP port);
3. ``sync_routers`` for ``--routers`` routers, each with a gateway, an interface
   and two floating IPs (``--ha``: HA routers, each of its own project, so each
   with its HA network, VRID and HA port, ``_ha_interface`` and ``_ha_state``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import threading
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from agent.common import names  # noqa: E402
from agent.conf import service  # noqa: E402
from agent.controller import floatingips, networks, ports, routers  # noqa: E402
from agent.controller.context import Context  # noqa: E402
from agent.controller.notify import RecordingNotifier  # noqa: E402
from agent.controller.plugin import Plugin  # noqa: E402
from tests import pgdb  # noqa: E402

DHCP_HOST, L3_HOST = 'bench-dhcp-host', 'bench-l3-host'
ADMIN = Context.admin()
SEED_BATCH = 50


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values_s) -> str:
    ms = [v * 1000 for v in values_s]
    return (f'p50 {statistics.median(ms):7.2f} ms  p90 {pct(ms, 0.9):7.2f} ms  '
            f'max {max(ms):7.2f} ms  (n={len(ms)})')


def make_conf(state_path: str, url: str | None, ha: bool = False):
    conf = service.make_conf([], groups=service.SERVER_GROUPS)
    conf.set_override('state_path', state_path)
    conf.set_override('l3_ha', ha)
    # Seeding 1000 routers outlasts the default 75 s: the bench's agents stay alive.
    conf.set_override('agent_down_time', 3600)
    if url:
        conf.set_override('connection', url, group='database')
    return conf


def report(plugin: Plugin, agent_type: str, binary: str, topic: str, host: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')
    plugin.report_state({'agent_state': {
        'agent_type': agent_type, 'binary': binary, 'topic': topic, 'host': host,
        'configurations': {}, 'start_flag': True}}, now)


def cidr(i: int, base: int = 10) -> str:
    return f'{base}.{i // 256}.{i % 256}.0/24'


def seed_networks(plugin: Plugin, count: int, vm_ports: int = 2) -> list[tuple[str, str]]:
    """``count`` networks with a DHCP subnet and ``vm_ports`` ports; (network, project)."""
    made = []

    def batch(start, stop):
        def fn(t):
            out = []
            for i in range(start, stop):
                project = uuid.uuid4().hex
                net = networks.create_network(t, {'name': f'bench-{i}',
                                                  'project_id': project})
                networks.create_subnet(t, {'network_id': net['id'], 'cidr': cidr(i),
                                           'ip_version': 4, 'project_id': project})
                for _ in range(vm_ports):
                    ports.create_port(t, {'network_id': net['id'], 'project_id': project,
                                          'device_id': uuid.uuid4().hex,
                                          'device_owner': 'compute:nova'})
                out.append((net['id'], project))
            return out
        return fn
    for start in range(0, count, SEED_BATCH):
        made += plugin._write(ADMIN, batch(start, min(count, start + SEED_BATCH)))
    return made


def dhcp_port_body(plugin: Plugin, network_id: str, project: str, info: dict) -> dict:
    return {'port': {
        'name': '', 'admin_state_up': True, 'network_id': network_id,
        'device_id': names.dhcp_port_device_id(DHCP_HOST, network_id),
        'project_id': project,
        'fixed_ips': [{'subnet_id': s['id']} for s in info['subnets'] if s['enable_dhcp']]}}


def cold_start_calls(plugin: Plugin, nets, threads: int):
    """get_network_info + create_dhcp_port on each network from ``threads`` callers."""
    info_lat, create_lat, errors = [], [], []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def caller(mine):
        barrier.wait()
        for network_id, project in mine:
            try:
                t0 = time.perf_counter()
                info = plugin.get_network_info(network_id, DHCP_HOST)
                t1 = time.perf_counter()
                port = plugin.create_dhcp_port(
                    dhcp_port_body(plugin, network_id, project, info), DHCP_HOST)
                t2 = time.perf_counter()
                if port is None or not port['fixed_ips']:
                    raise RuntimeError(f'no DHCP port on {network_id}: {port}')
            except Exception as e:   # reported, not raised: figures first
                with lock:
                    errors.append(repr(e))
                continue
            with lock:
                info_lat.append(t1 - t0)
                create_lat.append(t2 - t1)
    workers = [threading.Thread(target=caller, args=(nets[i::threads],))
               for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return info_lat, create_lat, errors, time.perf_counter() - started


def seed_routers(plugin: Plugin, count: int) -> None:
    """``count`` routers: gateway, one interface, two VM ports with floating IPs
    (``SEED_BATCH`` routers per transaction, through the same calls as the API's)."""
    ext = plugin.create_network(ADMIN, {'name': 'bench-ext', 'router:external': True})
    plugin.create_subnet(ADMIN, {'network_id': ext['id'], 'cidr': '172.16.0.0/16',
                                 'ip_version': 4, 'enable_dhcp': False})

    def batch(start, stop):
        def fn(t):
            for i in range(start, stop):
                project = uuid.uuid4().hex
                router = routers.create_router(t, {
                    'name': f'bench-r{i}', 'project_id': project,
                    'external_gateway_info': {'network_id': ext['id']}})
                net = networks.create_network(t, {'name': f'bench-rnet{i}',
                                                  'project_id': project})
                sub = networks.create_subnet(t, {
                    'network_id': net['id'], 'cidr': cidr(i, 11), 'ip_version': 4,
                    'enable_dhcp': False, 'project_id': project})
                routers.add_router_interface(t, router['id'], {'subnet_id': sub['id']})
                for _ in range(2):
                    vm = ports.create_port(t, {'network_id': net['id'], 'project_id': project,
                                               'device_id': uuid.uuid4().hex,
                                               'device_owner': 'compute:nova'})
                    floatingips.create_floatingip(t, {'floating_network_id': ext['id'],
                                                      'port_id': vm['id'],
                                                      'project_id': project})
        return fn
    for start in range(0, count, SEED_BATCH):
        plugin._write(ADMIN, batch(start, min(count, start + SEED_BATCH)))


def timed(fn, runs: int):
    """Wall latencies and the result; the CPU seconds of this process per run (the
    Plugin's, plus SQLite's, which runs in it) go to ``timed.cpu``."""
    lat, cpu, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    timed.cpu = cpu
    return lat, result


def bench(db: str, url: str | None, state_path: str, args) -> None:
    plugin = Plugin(make_conf(state_path, url, args.ha), RecordingNotifier(keep=1000))
    try:
        plugin.migrate()
        report(plugin, 'DHCP agent', 'neutron-dhcp-agent', 'dhcp_agent', DHCP_HOST)
        report(plugin, 'L3 agent', 'neutron-l3-agent', 'l3_agent', L3_HOST)
        t0 = time.perf_counter()
        nets = seed_networks(plugin, args.networks)
        print(f'  seeded {len(nets)} networks (subnet + 2 VM ports each) in '
              f'{time.perf_counter() - t0:.1f} s')
        calls = min(args.calls, len(nets) // 2)
        for threads, chunk in ((1, nets[:calls]), (args.threads, nets[calls:2 * calls])):
            info_lat, create_lat, errors, wall = cold_start_calls(plugin, chunk, threads)
            label = f'{threads} caller{"s" if threads > 1 else ""}'
            print(f'  get_network_info,  {label:>10}: {summary(info_lat)}')
            print(f'  create_dhcp_port,  {label:>10}: {summary(create_lat)}   '
                  f'{len(chunk) / wall:.0f} networks/s (both calls)')
            if errors:
                print(f'    {len(errors)} calls failed, first: {errors[0]}')
        load = '/'.join(f'{x:.2f}' for x in os.getloadavg())
        nets_lat, result = timed(lambda: plugin.get_active_networks_info(DHCP_HOST), args.runs)
        print(f'  get_active_networks_info ({len(result)} networks, '
              f'{sum(len(n["ports"]) for n in result)} ports): {summary(nets_lat)}')
        t0 = time.perf_counter()
        seed_routers(plugin, args.routers)
        print(f'  seeded {args.routers} routers (gateway, interface, 2 floating IPs each) '
              f'in {time.perf_counter() - t0:.1f} s')
        plugin.get_router_ids(L3_HOST)
        lat, result = timed(lambda: plugin.sync_routers(L3_HOST), args.runs)
        fips = sum(len(r['_floatingips']) for r in result)
        kind = 'HA routers' if args.ha else 'routers'
        print(f'  sync_routers ({len(result)} {kind}, {fips} floating IPs): {summary(lat)}'
              f'  CPU p50 {statistics.median(timed.cpu) * 1000:.0f} ms')
        if len(result) != args.routers:
            print(f'    only {len(result)} of {args.routers} routers were scheduled')
        print(f'  figures ({db}): get_active_networks_info for {args.networks} networks '
              f'p50 {statistics.median(nets_lat) * 1000:.0f} ms, sync_routers for '
              f'{len(result)} routers p50 {statistics.median(lat) * 1000:.0f} ms '
              f'(load average {load} before the first)')
    finally:
        plugin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--db', default='sqlite,postgresql',
                        help='comma-separated: sqlite, postgresql')
    parser.add_argument('--networks', type=int, default=1000)
    parser.add_argument('--calls', type=int, default=160,
                        help='networks per cold-start phase (1 caller, then --threads)')
    parser.add_argument('--threads', type=int, default=16)
    parser.add_argument('--routers', type=int, default=1000)
    parser.add_argument('--ha', action='store_true',
                        help='HA routers (l3_ha = true), one project each')
    parser.add_argument('--runs', type=int, default=5,
                        help='repetitions of get_active_networks_info and sync_routers')
    args = parser.parse_args()
    print(machine())
    print('Plugin methods called in-process (no RPC bus, no serialisation): the server '
          'side of each call only')
    for db in [d.strip() for d in args.db.split(',') if d.strip()]:
        with tempfile.TemporaryDirectory(prefix='netnode-bench-rpc-') as state:
            print(f'{db}:')
            if db == 'sqlite':
                bench(db, None, state, args)
                continue
            if db != 'postgresql':
                raise SystemExit(f'unknown --db {db!r}: sqlite or postgresql')
            name = f'netnode_benchrpc_{uuid.uuid4().hex[:10]}'
            url = pgdb.create_database(name)
            try:
                bench(db, url, state, args)
            finally:
                pgdb.drop_database(name)


if __name__ == '__main__':
    main()
