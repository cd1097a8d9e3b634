"""An HA router on one L3 agent: real agent, keepalived, namespaces and bus.

Alone, the agent's keepalived becomes primary and holds the VIPs; a config
change reloads keepalived (SIGHUP, same pid); a restarted agent adopts it (same
pid, no failover); a dead keepalived is respawned; a removed router leaves no
keepalived and no files.  The state reaches the server as
``update_ha_routers_states``.  (Two nodes: tests/functional/testbed.)
"""

import ipaddress
import os
import signal
import stat
import uuid

import pytest

from agent.common import names
from agent.l3 import keepalived
from tests.functional.helpers import host
from tests.functional.helpers.host import ip_json, wait_for
from tests.functional.l3.ha_server import HaL3Stack, ha_router

pytestmark = pytest.mark.functional

ADVERT = 1
# Alone, a BACKUP with nopreempt takes over after 3 missed adverts plus skew;
# generous for a shared machine.
TAKEOVER = 30


def _pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    """Running (a zombie, empty command line, is not)."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return bool(f.read())
    except (OSError, TypeError):
        return False


def _addresses(ns, dev):
    try:
        links = ip_json(ns, 'addr', 'show', 'dev', dev)
    except Exception:  # noqa: BLE001 - not there yet
        return set()
    return {f'{a["local"]}/{a["prefixlen"]}' for link in links
            for a in link.get('addr_info', ()) if a.get('family') == 'inet'}


def _routes(ns):
    return {r['dst'] + (f' via {r["gateway"]}' if 'gateway' in r else '')
            for r in ip_json(ns, 'route', 'show')}


@pytest.fixture
def stack(run_id, leaks):
    st = HaL3Stack(run_id, 'hal', leaks, resync_interval=2,
                   agent_conf=f'ha_vrrp_advert_int = {ADVERT}\n'
                              'ha_vrrp_auth_password = hal-pass')
    st.start(agent=False)
    yield st
    st.close()


def serve(stack, vr_id):
    """An HA router with VRID ``vr_id`` given to a started agent: (router id,
    router dict, HA settings, namespace, ha- device)."""
    rid = str(uuid.uuid4())
    router = ha_router(rid, vr_id, f'169.254.192.{vr_id}', f'fa:16:3e:aa:00:{vr_id:02x}')
    stack.add_router(router)
    stack.start_agent()
    ha = keepalived.HaSettings(os.path.join(stack.state_path, 'ha_confs'))
    return (rid, router, ha, names.router_namespace(rid),
            names.ha_device_name(router['_ha_interface']['id']))


def test_ha_router_alone_becomes_primary_reloads_adopts_and_goes(stack):
    rid, router, ha, ns, ha_dev = serve(stack, 7)
    qr = names.internal_device_name(router['_interfaces'][0]['id'])
    qg = names.gateway_device_name(router['gw_port']['id'])
    pid_file = keepalived.pid_file_path(ha, rid)

    # -- alone, it becomes primary and holds the VIPs; the state reaches the server
    wait_for(lambda: _alive(_pid(pid_file)), TAKEOVER, 0.1, what='keepalived running')
    conf_path = keepalived.config_path(ha, rid)
    assert stat.S_IMODE(os.stat(conf_path).st_mode) == 0o600
    with open(conf_path) as f:
        conf = f.read()
    assert 'auth_pass hal-pass' in conf and f'interface {ha_dev}' in conf
    assert '169.254.192.7/18' in _addresses(ns, ha_dev)
    wait_for(lambda: open(keepalived.state_path(ha, rid)).read() == 'primary'
             if os.path.exists(keepalived.state_path(ha, rid)) else False,
             TAKEOVER, 0.2, what='the state file saying primary')
    wait_for(lambda: '10.70.0.1/24' in _addresses(ns, qr), 10, 0.1, what='qr- VIP')
    assert '192.0.2.10/24' in _addresses(ns, qg)
    assert '169.254.0.7/24' in _addresses(ns, ha_dev)
    wait_for(lambda: 'default via 192.0.2.1' in _routes(ns), 10, 0.1,
             what='the default route from keepalived')
    wait_for(lambda: stack.fake.last_state(stack.host, rid) == 'active', 20, 0.2,
             what='update_ha_routers_states {router: active}')
    wait_for(lambda: _alive(_pid(os.path.join(
        stack.state_path, 'external', 'pids', f'{rid}.pid.haproxy'))), 20, 0.2,
        what='the metadata proxy on the primary')
    pid = _pid(pid_file)

    # -- a config change: SIGHUP, same pid, keepalived adds the new route
    with stack.fake.lock:
        stack.fake.routers[rid] = ha_router(rid, 7, '169.254.192.7', 'fa:16:3e:aa:00:07',
                                            routes=[('10.80.0.0/24', '10.70.0.5')])
    wait_for(lambda: '10.80.0.0/24 via 10.70.0.5' in _routes(ns), 30, 0.2,
             what='the extra route from keepalived after a reload')
    assert _pid(pid_file) == pid
    assert f'sending SIGHUP to {pid}' in stack.agent_log_text()

    # -- the agent restarted: keepalived and the watcher adopted (same pids)
    watcher_pids = host.pids_with(os.path.join(stack.state_path, 'ha-state.sock'))
    assert len(watcher_pids) == 1
    assert stack.stop_agent() == 0
    assert _pid(pid_file) == pid and _alive(pid)
    assert host.pids_with(os.path.join(stack.state_path, 'ha-state.sock')) == watcher_pids
    stack.start_agent()
    wait_for(lambda: stack.agent_log_text().count('done:') >= 2, 30, 0.2,
             what='two full syncs after the restart')
    log = stack.agent_log_text()
    assert 'Started keepalived' not in log and f'sending SIGHUP to {pid}' not in log
    assert _pid(pid_file) == pid
    assert '169.254.0.7/24' in _addresses(ns, ha_dev)
    assert host.pids_with(os.path.join(stack.state_path, 'ha-state.sock')) == watcher_pids

    # -- keepalived killed: respawned by the process monitor, primary again
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _alive(_pid(pid_file)) and _pid(pid_file) != pid, 30, 0.2,
             what='keepalived respawned')
    wait_for(lambda: '169.254.0.7/24' in _addresses(ns, ha_dev), TAKEOVER, 0.2,
             what='the primary VIP back')

    # -- the router removed: keepalived and its files gone
    new_pid = _pid(pid_file)
    with stack.fake.lock:
        del stack.fake.routers[rid]
    wait_for(lambda: not os.path.exists(f'/run/netns/{ns}'), 30, 0.2,
             what='the namespace removed')
    assert not _alive(new_pid)
    assert not os.path.exists(keepalived.conf_dir(ha, rid))
    assert not os.path.exists(pid_file)


def test_state_file_and_report_follow_the_vip(stack):
    """The watcher's meaning of primary is Neutron's: holding the primary VIP.
    Taking it off by hand (keepalived re-adds it within an advert) is seen as
    backup then primary again, and the server ends with 'active'."""
    rid, _, ha, ns, ha_dev = serve(stack, 9)
    wait_for(lambda: stack.fake.last_state(stack.host, rid) == 'active', TAKEOVER, 0.2,
             what='the router reported active')
    watcher_log = os.path.join(ha.confs_path, 'watcher.log')
    os.system(f'ip netns exec {ns} ip addr del 169.254.0.9/24 dev {ha_dev}')
    wait_for(lambda: f'router {rid}: backup' in open(watcher_log).read(), 10, 0.1,
             what='the watcher seeing the VIP go')
    wait_for(lambda: open(watcher_log).read().count(f'router {rid}: primary') >= 2,
             TAKEOVER, 0.2, what='keepalived restoring the VIP')
    assert ipaddress.ip_interface('169.254.0.9/24') == keepalived.primary_vip(9)
    wait_for(lambda: stack.fake.last_state(stack.host, rid) == 'active', 20, 0.2,
             what='active reported again')

    # -- the watcher killed: respawned by the process monitor, it reads the state again
    sock = os.path.join(stack.state_path, 'ha-state.sock')
    (watcher,) = host.pids_with(sock)
    os.kill(watcher, signal.SIGKILL)
    wait_for(lambda: [p for p in host.pids_with(sock) if p != watcher and _alive(p)], 30,
             0.2, what='the watcher respawned')
    wait_for(lambda: open(watcher_log).read().count(f'router {rid}: primary') >= 3, 20,
             0.2, what='the new watcher reading the router primary')


def test_ha_router_under_the_units_capability_bound(run_id, leaks):
    """keepalived (VRRP: raw sockets, addresses) and the watcher (setns) need no
    capability beyond netnode-l3-agent.service's bounding set."""
    from tests.functional.test_capability_bounds import setpriv

    class Bounded(HaL3Stack):
        AGENT_PREFIX = setpriv('netnode-l3-agent')

    stack = Bounded(run_id, 'halcap', leaks, resync_interval=2,
                    agent_conf=f'ha_vrrp_advert_int = {ADVERT}')
    stack.start(agent=False)
    try:
        rid, router, _, ns, _ = serve(stack, 5)
        wait_for(lambda: stack.fake.last_state(stack.host, rid) == 'active', TAKEOVER,
                 0.2, what='the router primary and reported under the bound')
        qr = names.internal_device_name(router['_interfaces'][0]['id'])
        assert '10.70.0.1/24' in _addresses(ns, qr)
    finally:
        stack.close()
