"""200 port creates from 8 threads in 2 processes, each with its own Plugin.

All addresses unique, exhaustion answered with IpAddressGenerationFailure, and
nothing half-created (as many allocations as ports).
"""

import multiprocessing
import threading

import pytest
import sqlalchemy as sa

from agent.controller import exceptions as exc
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.plugin import Plugin
from tests.functional.controller.conftest import make_conf

pytestmark = pytest.mark.functional

PROCESSES, THREADS_PER_PROCESS, PORTS = 2, 4, 200


def create_ports(state_path, url, network_id, count, results):
    """One process: ``THREADS_PER_PROCESS`` threads creating ``count`` ports in all."""
    plugin = Plugin(make_conf(state_path, url))
    outcome = []

    def worker(n):
        for _ in range(n):
            try:
                port = plugin.create_port(Context.admin(), {'network_id': network_id})
                outcome.append(('ok', port['fixed_ips'][0]['ip_address']))
            except exc.NeutronError as error:
                outcome.append(('error', error.type))
            except Exception as error:   # reported to the parent, which fails the test
                outcome.append(('crash', repr(error)))
    threads = [threading.Thread(target=worker, args=(count // THREADS_PER_PROCESS,))
               for _ in range(THREADS_PER_PROCESS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    plugin.close()
    results.put(outcome)


def test_concurrent_port_creates(plugin, admin, conf, tmp_path):
    net = plugin.create_network(admin, {'name': 'race'})
    # 10.9.0.2 - 10.9.0.126: 125 addresses for 200 requests.
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.9.0.0/25',
                                 'ip_version': 4})
    ctx = multiprocessing.get_context('spawn')
    results = ctx.Queue()
    procs = [ctx.Process(target=create_ports,
                         args=(str(tmp_path), conf.database.connection or None, net['id'],
                               PORTS // PROCESSES, results))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    outcome = [item for _ in procs for item in results.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(outcome) == PORTS
    crashes = [o for o in outcome if o[0] == 'crash']
    assert crashes == []
    ips = [ip for kind, ip in outcome if kind == 'ok']
    errors = [e for kind, e in outcome if kind == 'error']
    assert len(ips) == 125 and len(set(ips)) == 125
    assert set(errors) == {'IpAddressGenerationFailure'} and len(errors) == 75
    with plugin.db.engine.connect() as c:
        n_ports = c.scalar(sa.select(sa.func.count()).select_from(models.Port))
        n_allocs = c.scalar(sa.select(sa.func.count()).select_from(models.IPAllocation))
    assert n_ports == n_allocs == 125
