"""netnode-server and netnode-l3-agent as processes over RabbitMQ, on real parts.

One controller and one agent for the module (own vhost, exchange, bridges,
state_path and host name) and the reference topology (steps 2 and 3 of the seed
scenario) as module fixtures; each test runs alone or in any order: traffic
through SNAT, a floating IP and its removal, a second router with an overlapping
subnet, an agent restart under traffic, a flushed nat table, deletes (of routers
of their own).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from agent.common import names
from agent.drivers import netns
from agent.metadata import haproxy
from tests.functional.helpers.host import (in_ns, iptables_rules, netns_list, pids_with,
                                          save_rules, wait_for)
from tests.functional.l3.stack import L3Stack
from tests.unit.l3.golden import QG_DEV, QR_DEV, golden_sections

pytestmark = pytest.mark.functional

ECHO = os.path.join(os.path.dirname(__file__), 'echo.py')
ECHO_PORT = 7777
GOLDEN_FIP, GOLDEN_FIXED, GOLDEN_GW = '172.24.4.162', '192.168.10.93', '172.24.4.139'


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = L3Stack(run_id, 'l3', leaks, resync_interval=3).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def topo(stack):
    """The reference topology, built through REST as a user would."""
    net, sub = stack.network('openstack-net', '192.168.10.0/24', '192.168.10.1')
    ext, esub = stack.network('public', '198.51.100.0/24', '198.51.100.1', external=True)
    router = stack.router('openstack-router')
    intf = stack.add_interface(router['id'], sub['id'])
    stack.set_gateway(router['id'], ext['id'])
    ns = names.router_namespace(router['id'])
    gw_port = stack.api('GET', f'/ports?device_id={router["id"]}'
                               '&device_owner=network:router_gateway')['ports'][0]
    t = dict(net=net, sub=sub, ext=ext, esub=esub, router=router, ns=ns,
             qr=names.internal_device_name(intf['port_id']), qr_port=intf['port_id'],
             qg=names.gateway_device_name(gw_port['id']), qg_port=gw_port,
             gw_ip=gw_port['fixed_ips'][0]['ip_address'])
    wait_for(lambda: _default_route(ns, t['qg']), 20, 0.05, 'the router converged')
    wait_for(lambda: _rules_match(t), 10, 0.1, 'the router iptables')
    return t


def _default_route(ns, qg):
    if ns not in netns_list():
        return False
    return f'default via 198.51.100.1 dev {qg}' in in_ns(ns, 'ip', 'route',
                                                          check=False).stdout


def golden(version, t, fip=None, fixed=None):
    """The golden iptables-save as (table, line) sets, with our names and addresses;
    without its floating-IP rules unless ``fip`` is given."""
    text = golden_sections()['iptables-save' if version == 4 else 'ip6tables-save']
    text = text.replace(QR_DEV, t['qr']).replace(QG_DEV, t['qg'])
    text = text.replace(GOLDEN_GW, t['gw_ip'])
    lines = []
    for line in text.splitlines():
        if GOLDEN_FIP in line or GOLDEN_FIXED in line:
            if fip is None:
                continue
            line = line.replace(GOLDEN_FIP, fip).replace(GOLDEN_FIXED, fixed)
        lines.append(line)
    return save_rules('\n'.join(lines))


def _rules_match(t, fip=None, fixed=None):
    return (iptables_rules(t['ns'], 4) == golden(4, t, fip, fixed)
            and iptables_rules(t['ns'], 6) == golden(6, t))


def _addrs(ns, dev):
    out = in_ns(ns, 'ip', '-o', 'addr', 'show', 'dev', dev, 'scope', 'global',
                check=False).stdout
    return {line.split()[3] + ' brd ' + line.split()[5] if ' brd ' in line
            else line.split()[3] for line in out.splitlines() if ' inet' in line}


def _ovs_get(table, name, column):
    return subprocess.run(['ovs-vsctl', 'get', table, name, column], capture_output=True,
                          text=True).stdout.strip()


def _proxy_pid(stack, router_id):
    pid_file = haproxy.pid_file_path(stack.state_path, router_id)
    try:
        pid = int(open(pid_file).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().decode()
    except OSError:
        return None
    return pid if router_id in cmd else None


def test_reference_topology(stack, topo):
    ns, qr, qg = topo['ns'], topo['qr'], topo['qg']
    assert 'state UP' in in_ns(ns, 'ip', 'link', 'show', 'lo').stdout or \
        'LOWER_UP' in in_ns(ns, 'ip', 'link', 'show', 'lo').stdout
    assert _addrs(ns, qr) == {'192.168.10.1/24 brd 192.168.10.255'}
    assert _addrs(ns, qg) == {f'{topo["gw_ip"]}/24 brd 198.51.100.255'}
    routes = in_ns(ns, 'ip', 'route').stdout
    assert f'default via 198.51.100.1 dev {qg} proto static' in routes
    assert f'192.168.10.0/24 dev {qr} proto kernel scope link src 192.168.10.1' in routes
    for key, value in (('net.ipv4.ip_forward', '1'), ('net.ipv4.conf.all.arp_ignore', '1'),
                       ('net.ipv4.conf.all.arp_announce', '2'),
                       ('net.ipv6.conf.all.forwarding', '1'),
                       (f'net.ipv6.conf.{qg}.accept_ra', '2')):
        assert in_ns(ns, 'sysctl', '-n', key).stdout.strip() == value, key
    # qr- on the integration bridge (tagged), qg- straight on the external bridge.
    assert _ovs_get('Port', qr, '_uuid') and \
        subprocess.run(['ovs-vsctl', 'port-to-br', qr], capture_output=True,
                       text=True).stdout.strip() == stack.int_bridge
    assert subprocess.run(['ovs-vsctl', 'port-to-br', qg], capture_output=True,
                          text=True).stdout.strip() == stack.ext_bridge
    assert _ovs_get('Port', qr, 'tag').isdigit()
    ids = _ovs_get('Interface', qr, 'external_ids')
    assert f'iface-id="{topo["qr_port"]}"' in ids and 'iface-status=active' in ids
    assert 'attached-mac=' in ids
    # iptables: the reference rules as sets (counters ignored), v4 and v6.
    assert iptables_rules(ns, 4) == golden(4, topo)
    assert iptables_rules(ns, 6) == golden(6, topo)
    # The metadata proxy on 9697, in the router namespace, tagged with the router id.
    pid = wait_for(lambda: _proxy_pid(stack, topo['router']['id']), 10, 0.1, 'haproxy')
    assert os.stat(f'/proc/{pid}/ns/net').st_ino == os.stat(netns.path_of(ns)).st_ino
    conf = open(haproxy.config_path(stack.state_path, topo['router']['id'])).read()
    assert 'bind :::9697' in conf and f'X-Neutron-Router-ID {topo["router"]["id"]}' in conf
    # The agent as the controller sees it (report_state).
    gateways = sum(1 for r in stack.api('GET', '/routers')['routers']
                   if r['external_gateway_info'])     # all on this one agent
    agent = wait_for(lambda: [a for a in stack.api('GET', f'/agents?host={stack.host}')
                              ['agents'] if a['configurations'].get('routers')
                              and a['configurations'].get('ex_gw_ports') == gateways],
                     10, 0.2, f'the heartbeat counting {gateways} gateway port(s)')[0]
    assert (agent['agent_type'], agent['binary'], agent['alive']) == \
        ('L3 agent', 'neutron-l3-agent', True)
    assert agent['configurations']['agent_mode'] == 'legacy'


def test_metadata_proxy_respawned(stack, topo):
    rid = topo['router']['id']
    pid = _proxy_pid(stack, rid)
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (p := _proxy_pid(stack, rid)) and p != pid and p, 10, 0.1,
                   'haproxy respawned')
    assert new != pid


@pytest.fixture(scope='module')
def vm(stack, topo):
    return stack.vm(topo['net']['id'], topo['sub'])


@pytest.fixture(scope='module')
def fip(stack, topo):
    """The scenario's floating IP, unassociated when made."""
    return stack.floatingip(topo['ext']['id'])


def associate_with_vm(stack, topo, vm, fip):
    """``fip`` on the VM's port with its rules in place: the floating IP."""
    _, port, vm_ip = vm
    fip = stack.associate(fip['id'], port['id'])
    wait_for(lambda: _rules_match(topo, fip['floating_ip_address'], vm_ip), 10, 0.05,
             'floating IP rules')
    return fip


@pytest.fixture
def associated_fip(stack, topo, vm, fip):
    """The floating IP on the VM's port for one test, disassociated after it."""
    yield associate_with_vm(stack, topo, vm, fip)
    stack.associate(fip['id'], None)
    wait_for(lambda: _rules_match(topo), 10, 0.05, 'floating IP rules removed')


@pytest.fixture(scope='module')
def outside(stack, topo):
    ns = stack.outside('198.51.100.1/24')
    proc = subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, ECHO, 'serve',
                             str(ECHO_PORT)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'ready'
    yield ns
    proc.kill()
    proc.wait()


def ask(ns, host):
    res = in_ns(ns, sys.executable, ECHO, 'ask', host, ECHO_PORT, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def test_vm_reaches_gateway_and_outside_through_snat(stack, topo, vm, outside):
    vm_ns, _, _ = vm
    assert stack.ping(vm_ns, '192.168.10.1', count=2)
    assert stack.ping(vm_ns, '198.51.100.1', count=2)
    assert ask(vm_ns, '198.51.100.1') == topo['gw_ip']      # SNAT to the router's IP


def test_floating_ip_then_disassociation(stack, topo, vm, outside, fip):
    vm_ns, port, vm_ip = vm
    fip = associate_with_vm(stack, topo, vm, fip)
    address = fip['floating_ip_address']
    assert f'{address}/32 brd {address}' in _addrs(topo['ns'], topo['qg'])
    assert stack.ping(outside, address, count=2)
    assert ask(vm_ns, '198.51.100.1') == address             # float-snat
    wait_for(lambda: stack.api('GET', f'/floatingips/{fip["id"]}')['floatingip']
             ['status'] == 'ACTIVE', 10, 0.1, 'floating IP ACTIVE')
    assert _conntrack(topo['ns'], address)
    stack.associate(fip['id'], None)
    wait_for(lambda: _rules_match(topo), 10, 0.05, 'floating IP rules removed')
    wait_for(lambda: not _conntrack(topo['ns'], address), 5, 0.05, 'conntrack cleared')
    assert _addrs(topo['ns'], topo['qg']) == {f'{topo["gw_ip"]}/24 brd 198.51.100.255'}
    assert not stack.ping(outside, address, count=1, timeout=1)
    assert ask(vm_ns, '198.51.100.1') == topo['gw_ip']
    wait_for(lambda: stack.api('GET', f'/floatingips/{fip["id"]}')['floatingip']
             ['status'] == 'DOWN', 10, 0.1, 'floating IP DOWN')


def _conntrack(ns, address):
    out = in_ns(ns, 'conntrack', '-L', '-d', address, check=False).stdout
    return [line for line in out.splitlines() if address in line]


def test_extra_routes(stack, topo):
    rid, ns, qr = topo['router']['id'], topo['ns'], topo['qr']
    routes = [{'destination': '10.9.0.0/16', 'nexthop': '192.168.10.50'},
              {'destination': '10.8.0.0/16', 'nexthop': '192.168.10.51'},
              {'destination': '10.8.0.0/16', 'nexthop': '192.168.10.52'}]
    stack.api('PUT', f'/routers/{rid}', {'router': {'routes': routes}})

    def table():
        return in_ns(ns, 'ip', 'route', 'show', 'proto', 'static').stdout

    wait_for(lambda: f'10.9.0.0/16 via 192.168.10.50 dev {qr}' in table(), 10, 0.05,
             'the extra route')
    wait_for(lambda: 'nexthop via 192.168.10.51' in table()
             and 'nexthop via 192.168.10.52' in table(), 10, 0.05, 'the ECMP route')
    stack.api('PUT', f'/routers/{rid}', {'router': {'routes': []}})
    wait_for(lambda: '10.9.0.0' not in table() and '10.8.0.0' not in table(), 10, 0.05,
             'extra routes removed')
    assert f'default via 198.51.100.1 dev {topo["qg"]}' in table()


def test_network_mtu_change_reaches_the_qr_device(stack, topo):
    def mtu():
        out = in_ns(topo['ns'], 'ip', '-o', 'link', 'show', topo['qr']).stdout
        return int(out.split(' mtu ')[1].split()[0])

    net = topo['net']['id']
    stack.api('PUT', f'/networks/{net}', {'network': {'mtu': 1400}})
    # The controller fans network_update out (and routers_updated); the periodic
    # resync (3 s here) would pick the change up too.
    wait_for(lambda: mtu() == 1400, 15, 0.1, 'qr- MTU 1400')
    stack.api('PUT', f'/networks/{net}', {'network': {'mtu': 1500}})
    wait_for(lambda: mtu() == 1500, 15, 0.1, 'qr- MTU back to 1500')


def another_router(stack, topo, name):
    """A router of its own, converged, with a gateway on the public network and an
    interface on a new network overlapping the reference one: {'router', 'ns', 'net',
    'sub', 'qr', 'qg', 'gw'}."""
    net, sub = stack.network(f'{name}-net', '192.168.10.0/24', '192.168.10.1')
    router = stack.router(name)
    intf = stack.add_interface(router['id'], sub['id'])
    router = stack.set_gateway(router['id'], topo['ext']['id'])
    ns = names.router_namespace(router['id'])
    wait_for(lambda: ns in netns_list() and ask_ready(ns), 60, 0.1, f'router {name}')
    gw_port = stack.api('GET', f'/ports?device_id={router["id"]}'
                               '&device_owner=network:router_gateway')['ports'][0]
    return {'router': router, 'ns': ns, 'net': net, 'sub': sub,
            'qr': names.internal_device_name(intf['port_id']),
            'qg': names.gateway_device_name(gw_port['id']),
            'gw': gw_port['fixed_ips'][0]['ip_address']}


@pytest.fixture(scope='module')
def second(stack, topo, outside):
    """A second router with a VM behind it (``another_router`` plus 'vm_ns', 'vm_ip')."""
    r = another_router(stack, topo, 'other-router')
    r['vm_ns'], _, r['vm_ip'] = stack.vm(r['net']['id'], r['sub'])
    return r


def test_two_routers_with_overlapping_subnets(stack, topo, vm, outside, second):
    assert stack.ping(second['vm_ns'], '192.168.10.1', count=2)
    assert ask(second['vm_ns'], '198.51.100.1') == second['gw']
    assert ask(vm[0], '198.51.100.1') == topo['gw_ip']
    assert second['gw'] != topo['gw_ip']


def test_router_removed_from_agent_and_added_back(stack, topo, second):
    rid, ns2 = second['router']['id'], second['ns']
    agent = stack.api('GET', f'/agents?host={stack.host}')['agents'][0]
    stack.api('DELETE', f'/agents/{agent["id"]}/l3-routers/{rid}')
    wait_for(lambda: ns2 not in netns_list(), 10, 0.02, 'router 2 removed from the agent')
    status, _ = stack.server.call('POST', f'/v2.0/agents/{agent["id"]}/l3-routers',
                                  {'router_id': rid})
    assert status in (201, 409)      # 409: the periodic sync scheduled it back first
    wait_for(lambda: ns2 in netns_list() and ask_ready(ns2), 15, 0.05,
             'router 2 back (router_added_to_agent)')
    assert ask(second['vm_ns'], '198.51.100.1') == second['gw']


def ask_ready(ns):
    return 'default via' in in_ns(ns, 'ip', 'route', check=False).stdout


def test_agent_restart_loses_nothing(stack, topo, vm, outside, associated_fip):
    address = associated_fip['floating_ip_address']
    before4, before6 = iptables_rules(topo['ns'], 4), iptables_rules(topo['ns'], 6)
    saved = in_ns(topo['ns'], 'iptables-save').stdout
    pid = _proxy_pid(stack, topo['router']['id'])
    ping = subprocess.Popen(['ip', 'netns', 'exec', outside, 'ping', '-i', '0.05', '-W',
                             '1', address], stdout=subprocess.PIPE, text=True)
    replies = []                       # icmp_seq of each reply, in the order they came
    reader = threading.Thread(target=_read_replies, args=(ping.stdout, replies), daemon=True)
    reader.start()
    try:
        time.sleep(0.5)
        assert stack.stop_agent() == 0
        time.sleep(0.5)
        stack.start_agent()
        wait_for(lambda: stack.agent_log_text().count('l3-full-sync done') >= 2, 15,
                 0.1, 'a periodic resync after the restart')
        # Replies on the userspace datapath can lag by a second or more under load:
        # ping on until 10 more have come, so those in flight now are not counted
        # as lost (and forwarding is proven to work after the resync).
        last = replies[-1] if replies else 0
        wait_for(lambda: replies and replies[-1] >= last + 10, 15, 0.05,
                 'replies after the resync')
    finally:
        ping.send_signal(signal.SIGINT)
        ping.wait(timeout=10)
        reader.join(timeout=10)
    got = list(replies)
    lost = sorted(set(range(1, got[-1] + 1)) - set(got)) if got else []
    # Every request up to the last answered one was answered, in order.
    assert len(got) > 20 and got == list(range(1, len(got) + 1)), (len(got), lost)
    assert iptables_rules(topo['ns'], 4) == before4
    assert iptables_rules(topo['ns'], 6) == before6
    assert _strip(in_ns(topo['ns'], 'iptables-save').stdout) == _strip(saved)
    assert _proxy_pid(stack, topo['router']['id']) == pid
    assert 'iptables-restore' not in stack.agent_log_text()     # nothing re-applied


def _read_replies(stream, replies: list) -> None:
    for line in stream:
        match = re.search(r'icmp_seq=(\d+)', line)
        if match:
            replies.append(int(match.group(1)))


def _strip(save):
    """iptables-save without the comment lines (dates) and counters."""
    return [line.split(' [')[0] if line.startswith(':') else line
            for line in save.splitlines() if not line.startswith('#')]


def _close_connections(vhost):
    """Close every broker connection of our private vhost (nobody else's)."""
    out = subprocess.run(['rabbitmqctl', '-q', 'list_connections', 'name', 'vhost'],
                         capture_output=True, text=True, timeout=60).stdout
    closed = 0
    for line in out.splitlines():
        fields = line.rsplit('\t', 1)
        if len(fields) == 2 and fields[1].strip() == vhost:
            subprocess.run(['rabbitmqctl', '-q', 'close_connection', fields[0],
                            'test: broker outage'], capture_output=True, timeout=60)
            closed += 1
    return closed


def test_broker_outage_keeps_the_data_plane_and_recovers(stack, topo, vm, outside,
                                                        associated_fip):
    address = associated_fip['floating_ip_address']
    before = iptables_rules(topo['ns'], 4)
    assert _close_connections(stack.vhost) > 0
    assert stack.ping(outside, address, count=5)
    assert iptables_rules(topo['ns'], 4) == before
    assert stack.agent.poll() is None
    rid = topo['router']['id']
    stack.api('PUT', f'/routers/{rid}', {'router': {'routes': [
        {'destination': '10.7.0.0/16', 'nexthop': '192.168.10.70'}]}})
    wait_for(lambda: '10.7.0.0/16 via 192.168.10.70' in in_ns(
        topo['ns'], 'ip', 'route').stdout, 30, 0.1, 'a change after the reconnect')
    stack.api('PUT', f'/routers/{rid}', {'router': {'routes': []}})
    wait_for(lambda: '10.7.0.0' not in in_ns(topo['ns'], 'ip', 'route').stdout, 30, 0.1,
             'the route removed')


def test_flushed_nat_table_is_repaired_by_resync(stack, topo, vm):
    before = iptables_rules(topo['ns'], 4)
    in_ns(topo['ns'], 'iptables', '-t', 'nat', '-F')
    assert iptables_rules(topo['ns'], 4) != before
    wait_for(lambda: iptables_rules(topo['ns'], 4) == before, 15, 0.2,
             'the nat table repaired')


def test_router_delete_leaves_nothing(stack, topo, second):
    doomed = another_router(stack, topo, 'doomed-router')
    rid, ns = doomed['router']['id'], doomed['ns']
    fip = stack.floatingip(topo['ext']['id'], stack.port(doomed['net']['id'])['id'])
    address = fip['floating_ip_address']
    wait_for(lambda: f'{address}/32 brd {address}' in _addrs(ns, doomed['qg']), 10, 0.05,
             'the floating IP on qg-')
    other = iptables_rules(second['ns'], 4)
    stack.api('DELETE', f'/floatingips/{fip["id"]}')
    stack.api('PUT', f'/routers/{rid}/remove_router_interface',
              {'subnet_id': doomed['sub']['id']})
    wait_for(lambda: doomed['qr'] not in in_ns(ns, 'ip', 'link', check=False).stdout, 10,
             0.05, 'qr- removed')
    stack.api('PUT', f'/routers/{rid}', {'router': {'external_gateway_info': {}}})
    stack.api('DELETE', f'/routers/{rid}')
    wait_for(lambda: ns not in netns_list(), 10, 0.05, 'namespace removed')
    wait_for(lambda: _proxy_pid(stack, rid) is None and not pids_with(
        haproxy.config_path(stack.state_path, rid)), 10, 0.05, 'proxy stopped')
    assert not os.path.exists(haproxy.config_path(stack.state_path, rid))
    ports = subprocess.run(['ovs-vsctl', 'list-ports', stack.int_bridge],
                           capture_output=True, text=True).stdout.split()
    ports += subprocess.run(['ovs-vsctl', 'list-ports', stack.ext_bridge],
                            capture_output=True, text=True).stdout.split()
    assert doomed['qr'] not in ports and doomed['qg'] not in ports
    # The other router is untouched.
    assert second['ns'] in netns_list()
    assert iptables_rules(second['ns'], 4) == other


def test_second_agent_on_the_same_state_path_refuses_to_start(stack, topo):
    res = subprocess.run([stack.agent.args[0], '--config-file', stack.agent_conf_path],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and 'only one may use a state_path' in res.stderr
    assert stack.agent.poll() is None


def test_router_deleted_while_agent_down_is_pruned_at_start(stack, topo):
    orphan = another_router(stack, topo, 'orphan-router')
    router2, ns2 = orphan['router'], orphan['ns']
    subnet2 = stack.api('GET', f'/ports?device_id={router2["id"]}'
                               '&device_owner=network:router_interface')['ports'][0]
    gateway = stack.api('GET', f'/ports?device_id={router2["id"]}'
                               '&device_owner=network:router_gateway')['ports'][0]
    devices = {names.internal_device_name(subnet2['id']),
               names.gateway_device_name(gateway['id'])}
    assert stack.stop_agent() == 0
    stack.api('PUT', f'/routers/{router2["id"]}/remove_router_interface',
              {'subnet_id': subnet2['fixed_ips'][0]['subnet_id']})
    stack.api('PUT', f'/routers/{router2["id"]}', {'router': {'external_gateway_info': {}}})
    stack.api('DELETE', f'/routers/{router2["id"]}')
    assert ns2 in netns_list()              # nobody was listening
    stack.start_agent()
    wait_for(lambda: ns2 not in netns_list(), 15, 0.05, 'the orphan namespace pruned')
    wait_for(lambda: _proxy_pid(stack, router2['id']) is None, 10, 0.05, 'proxy stopped')
    ports = subprocess.run(['ovs-vsctl', 'list-ports', stack.int_bridge],
                           capture_output=True, text=True).stdout.split()
    ports += subprocess.run(['ovs-vsctl', 'list-ports', stack.ext_bridge],
                            capture_output=True, text=True).stdout.split()
    assert devices and not devices & set(ports)
