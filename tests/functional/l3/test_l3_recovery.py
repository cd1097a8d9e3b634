"""The L3 agent recovers from any state it finds (issue 11 items 2, 4, 5): a
metadata proxy its pid file does not name, a stray haproxy, temp files of killed
writes, leaked qrouter- namespaces.  Real controller, RabbitMQ, OVS, namespaces
and haproxy; one stack and router for the module.
"""

import os
import re
import subprocess
import time
import uuid

import pytest

from agent.common import names
from agent.metadata import haproxy
from tests.functional.helpers.host import (add_namespace, delete_namespaces, in_ns,
                                           netns_list, programs, wait_for)
from tests.functional.l3.stack import L3Stack

pytestmark = pytest.mark.functional

SETTLE = 30       # seconds: generous, the machine is shared (resync_interval is 3 s)


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = L3Stack(run_id, 'rcv', leaks, resync_interval=3).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def router(stack):
    net, sub = stack.network('rcv-net', '192.168.30.0/24', '192.168.30.1')
    router = stack.router('rcv-router')
    stack.add_interface(router['id'], sub['id'])
    wait_for(lambda: proxies(stack, router['id']), SETTLE, 0.1, 'the metadata proxy')
    return router


def proxies(stack, router_id):
    """Pids of every haproxy naming a file of the router under our state path."""
    return programs('haproxy', lambda argv: any(
        a.startswith(stack.state_path + '/') and router_id in a for a in argv))


def pid_file(stack, router_id):
    return haproxy.pid_file_path(stack.state_path, router_id)


def exactly_one_serving(stack, router_id):
    """One haproxy of ours for the router, named by its pid file, listening."""
    pids = proxies(stack, router_id)
    try:
        named = int(open(pid_file(stack, router_id)).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pids != [named]:
        return None
    listening = in_ns(names.router_namespace(router_id), 'ss', '-ltnp', check=False).stdout
    return named if re.search(rf':9697\b.*pid={named},', listening) else None


@pytest.mark.parametrize('content', ['1\n', 'notapid\n'])
def test_pid_file_naming_another_pid_or_garbage_leaves_exactly_one_proxy(
        stack, router, content):
    """haproxy binds with SO_REUSEPORT, so the respawn the pid file causes starts;
    the next sync stops the proxy the pid file lost as a duplicate."""
    old = wait_for(lambda: exactly_one_serving(stack, router['id']), SETTLE, 0.1,
                   'one proxy')
    with open(pid_file(stack, router['id']), 'w') as f:
        f.write(content)
    wait_for(lambda: old not in proxies(stack, router['id']) and exactly_one_serving(
        stack, router['id']), SETTLE, 0.1, 'exactly one proxy, named by its pid file')
    new = exactly_one_serving(stack, router['id'])
    time.sleep(2 * stack.resync_interval)
    assert exactly_one_serving(stack, router['id']) == new
    said = f'stopping pid {old} in namespace qrouter-{router["id"]}: duplicate of pid {new}'
    assert said in stack.agent_log_text()


def test_stray_proxy_of_ours_is_stopped(stack, router):
    rid = router['id']
    ours = wait_for(lambda: exactly_one_serving(stack, rid), SETTLE, 0.1, 'one proxy')
    config = open(haproxy.config_path(stack.state_path, rid)).read()
    stray_cfg = os.path.join(stack.state_path, 'ns-metadata-proxy', f'{rid}.stray.conf')
    with open(stray_cfg, 'w') as f:
        f.write(config.replace(':9697', ':9698').replace('    daemon\n', '').replace(
            f'{rid}.pid.haproxy', f'{rid}.stray.pid'))
    stray = subprocess.Popen(['ip', 'netns', 'exec', names.router_namespace(rid),
                              'haproxy', '-db', '-f', stray_cfg],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: stray.poll() is not None, SETTLE, 0.1, 'the stray stopped')
        assert exactly_one_serving(stack, rid) == ours
        assert f'duplicate of pid {ours}' in stack.agent_log_text()
    finally:
        stray.kill()
        stray.wait()
        os.unlink(stray_cfg)


def test_temp_files_of_killed_writes_are_swept(stack, router):
    left = [os.path.join(stack.state_path, 'ns-metadata-proxy', f'.{router["id"]}.conf'
                         '.tmp-k1lled00'),
            os.path.join(stack.state_path, 'external', 'pids', '.x.pid.radvd.tmp-k1lled01'),
            os.path.join(stack.state_path, 'ra', '.x.radvd.conf.tmp-k1lled02')]
    for path in left:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write('partial')
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    wait_for(lambda: not any(os.path.exists(p) for p in left), SETTLE, 0.2,
             'the temp files swept')


def _sleeper(ns, *argv):
    return subprocess.Popen(['ip', 'netns', 'exec', ns, 'python3', '-c',
                             'import time; time.sleep(600)', *argv])


def test_leaked_namespaces_of_ours_are_removed_and_foreign_ones_kept(stack, router,
                                                                      tmp_path):
    empty = stack.ns(f'qrouter-{uuid.uuid4()}')      # a crash right after creating it
    busy = stack.ns(f'qrouter-{uuid.uuid4()}')       # a process of ours, no state
    foreign_empty = stack.ns(f'qrouter-{uuid.uuid4()}')
    foreign_busy = stack.ns(f'qrouter-{uuid.uuid4()}')
    for ns in (empty, busy, foreign_empty, foreign_busy):
        add_namespace(ns)
    os.makedirs(os.path.join(stack.state_path, 'routers', empty[len('qrouter-'):]))
    ours = _sleeper(busy, f'{stack.state_path}/leaked-{busy[len("qrouter-"):]}')
    theirs = _sleeper(foreign_busy, f'{tmp_path}/{foreign_busy}')
    try:
        wait_for(lambda: not {empty, busy} & netns_list(), SETTLE, 0.1,
                 'the leaked namespaces removed')
        wait_for(lambda: ours.poll() is not None, 10, 0.1, 'its process stopped')
        assert not os.path.exists(os.path.join(stack.state_path, 'routers',
                                               empty[len('qrouter-'):]))
        time.sleep(2 * stack.resync_interval)
        assert {foreign_empty, foreign_busy} <= netns_list() and theirs.poll() is None
        assert exactly_one_serving(stack, router['id'])
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
        delete_namespaces([empty, busy, foreign_empty, foreign_busy])
