"""The DHCP agent end to end: netnode-server and netnode-dhcp-agent as processes on
RabbitMQ, real OVS, namespaces, dnsmasq, dhclient and udhcpc (issue 3, step 1 of the
reference scenario).  One controller and agent for the module, one network and two
probes on it that the tests share (built by the first test that needs them, again
after the test that deletes everything); any test runs alone or in any order.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import (
    DhcpStack, dnsmasq_pid, ip_json, netns_list, port_ip, sh, wait_for)

pytestmark = pytest.mark.functional

CIDR, GATEWAY = '192.168.10.0/24', '192.168.10.1'
DNS = ('192.0.2.53', '192.0.2.54')


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'e2e', leaks).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def built(stack):
    """What the module's tests share and still stands: 'net', 'probe_a', 'probe_b'
    (test_network_delete_leaves_nothing deletes them; the next test builds them again)."""
    return {}


@pytest.fixture
def shared_net(stack, built):
    """The module's network, dnsmasq serving it: {'net', 'subnet', 'port', 'tap',
    'first_serving_s'}."""
    if 'net' not in built:
        network, subnet = stack.create_network('openstack-net', CIDR, GATEWAY, DNS)
        start = time.monotonic()
        wait_for(lambda: serving(stack, network['id']), 10, 0.005, 'dnsmasq serving')
        first_serving_s = time.monotonic() - start
        port = wait_for(lambda: stack.dhcp_port(network['id']), 5, what='the DHCP port')
        built['net'] = {'net': network, 'subnet': subnet, 'port': port,
                        'tap': 'tap' + port['id'][:11], 'first_serving_s': first_serving_s}
    return built['net']


@pytest.fixture
def probe_a(stack, built, shared_net):
    """A probe on the module's network (its DHCP client is dhclient)."""
    if 'probe_a' not in built:
        built['probe_a'] = stack.probe_create(shared_net['net']['id'], name='probe-a')
    return built['probe_a']


@pytest.fixture
def probe_b(stack, built, shared_net):
    """A probe on the module's network that udhcpc got its lease for."""
    if 'probe_b' not in built:
        probe = stack.probe_create(shared_net['net']['id'], name='probe-b')
        wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), 30, 0.2,
                 'a udhcpc lease')
        built['probe_b'] = probe
    return built['probe_b']


# -- reading the host ----------------------------------------------------------------

def ovs_row(table, name, columns):
    out = sh('ovs-vsctl', '--format=json', f'--columns={",".join(columns)}', 'list',
             table, name).stdout
    data = json.loads(out)
    return dict(zip(data['headings'], data['data'][0]))


def ovs_map(value):
    assert value[0] == 'map'
    return dict(value[1])


def ifindex(ns, dev):
    try:
        links = ip_json(ns, 'link', 'show', 'dev', dev)
    except subprocess.CalledProcessError:      # not (or not yet) in the namespace
        return None
    return links[0]['ifindex'] if links else None


def serving(stack, net_id):
    return dnsmasq_pid(stack, net_id)


def metadata_proxy_pid(stack, net_id):
    """The pid in the network's metadata proxy pid file, or None before it is written."""
    try:
        with open(os.path.join(stack.state_path, 'external', 'pids',
                               f'{net_id}.pid.haproxy')) as f:
            return int(f.read().strip() or 0) or None
    except FileNotFoundError:
        return None




# -- the tests -----------------------------------------------------------------------

def test_subnet_create_gives_step1_layout(stack, shared_net):
    net, subnet, port, tap = (shared_net['net'], shared_net['subnet'], shared_net['port'],
                             shared_net['tap'])
    ns = f'qdhcp-{net["id"]}'
    assert ns in netns_list()
    wait_for(lambda: ip_json(ns, 'route', 'show', 'default'), 5, 0.01, 'the default route')
    # kernel: lo up, the tap with the port's MAC, addresses with brd, default route
    links = {link['ifname']: link for link in ip_json(ns, 'addr')}
    assert 'UP' in links['lo']['flags']
    dev = links[tap]
    assert dev['address'] == port['mac_address']
    assert 'UP' in dev['flags']
    inet = {(a['local'], a['prefixlen'], a.get('broadcast')) for a in dev['addr_info']
            if a['family'] == 'inet'}
    assert inet == {(port_ip(port), 24, '192.168.10.255'),
                    ('169.254.169.254', 16, '169.254.255.255')}
    routes = ip_json(ns, 'route', 'show', 'default')
    assert [(r['gateway'], r['dev']) for r in routes] == [(GATEWAY, tap)]
    # OVSDB: internal port with Neutron's external_ids (plus our owner mark) and the
    # network's local VLAN
    iface = ovs_row('Interface', tap, ['type', 'external_ids'])
    assert iface['type'] == 'internal'
    assert ovs_map(iface['external_ids']) == {
        'iface-id': port['id'], 'iface-status': 'active',
        'attached-mac': port['mac_address'],
        'netnode-owner': f'dhcp:{stack.host}:{net["id"]}'}
    vlans = ovs_map(ovs_row('Bridge', stack.bridge, ['external_ids'])['external_ids'])
    tag = int(vlans[f'netnode-vlan-{net["id"]}'])
    assert ovs_row('Port', tap, ['tag'])['tag'] == tag
    assert 'tap' + port['id'][:11] in sh('ovs-vsctl', 'list-ports', stack.bridge).stdout
    # dnsmasq: Neutron's flags, inside the namespace, PROCESS_TAG in its environment
    pid = dnsmasq_pid(stack, net['id'])
    argv = open(f'/proc/{pid}/cmdline', 'rb').read().decode().split('\0')
    assert argv[:3] == ['dnsmasq', '--no-hosts', '--no-resolv']
    assert (f'--dhcp-range=set:subnet-{subnet["id"]},192.168.10.0,static,'
            '255.255.255.0,86400s') in argv
    assert '--dhcp-lease-max=256' in argv and '--domain=openstacklocal' in argv
    assert os.readlink(f'/proc/{pid}/ns/net') != os.readlink('/proc/self/ns/net')
    env = open(f'/proc/{pid}/environ', 'rb').read().split(b'\0')
    assert f'PROCESS_TAG=dnsmasq-{net["id"]}'.encode() in env
    assert f'NEUTRON_NETWORK_ID={net["id"]}'.encode() in env
    opts = open(os.path.join(stack.state_path, 'dhcp', net['id'], 'opts')).read()
    assert f'tag:subnet-{subnet["id"]},option:dns-server,{DNS[0]},{DNS[1]}' in opts
    assert f'tag:subnet-{subnet["id"]},option:router,{GATEWAY}' in opts
    # the isolated metadata proxy on 169.254.169.254:80
    pid_file = os.path.join(stack.state_path, 'external', 'pids',
                            f'{net["id"]}.pid.haproxy')
    wait_for(lambda: os.path.exists(pid_file), 5, 0.02, 'the metadata proxy')
    haproxy_pid = int(wait_for(lambda: open(pid_file).read().strip(), 5, 0.02))
    assert os.readlink(f'/proc/{haproxy_pid}/ns/net') == os.readlink(f'/proc/{pid}/ns/net')
    listening = sh('ip', 'netns', 'exec', ns, 'ss', '-Hltn').stdout
    assert '169.254.169.254:80 ' in listening


def test_dhclient_gets_exactly_its_port(stack, probe_a):
    probe = probe_a
    lease = wait_for(lambda: clients.dhclient(probe['namespace'], probe['device']), 40,
                     0.5, 'a dhclient lease')
    assert lease['fixed-address'] == port_ip(probe)
    assert lease['routers'] == GATEWAY
    assert lease['domain-name-servers'] == ','.join(DNS)
    assert lease['interface-mtu'] == '1500'
    assert lease['domain-name'] == 'openstacklocal'
    assert lease['subnet-mask'] == '255.255.255.0'
    # dnsmasq serves it: the agent reported it with dhcp_ready_on_ports
    wait_for(lambda: stack.api('GET', f'/ports/{probe["id"]}')['port']['status']
             == 'ACTIVE', 10, 0.1, 'the probe port ACTIVE')


def test_udhcpc_gets_its_lease_and_dnsmasq_was_only_reloaded(stack, shared_net):
    net_id = shared_net['net']['id']
    pid = wait_for(lambda: dnsmasq_pid(stack, net_id), 10, 0.02, 'dnsmasq serving')
    probe = stack.probe_create(net_id, name='probe-c')      # a probe of its own
    try:
        env = wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), 30,
                       0.2, 'a udhcpc lease')
        assert env['ip'] == port_ip(probe)
        assert env['router'] == GATEWAY
        assert env['dns'].split() == list(DNS)
        assert env['mtu'] == '1500'
        assert env['domain'] == 'openstacklocal'
        assert dnsmasq_pid(stack, net_id) == pid      # SIGHUP, not restart
    finally:
        stack.probe_delete(probe)


def test_unknown_mac_gets_no_lease(stack, probe_b):
    probe = probe_b
    ns, dev = probe['namespace'], probe['device']
    sh('ip', '-n', ns, 'link', 'set', dev, 'address', '02:00:00:ab:cd:ef')
    try:
        assert clients.udhcpc(ns, dev, tries=2) == {}
    finally:
        sh('ip', '-n', ns, 'link', 'set', dev, 'address', probe['mac_address'])


def test_probe_resolves_another_ports_name(stack, shared_net, probe_a, probe_b):
    a, b = probe_a, probe_b
    ns = a['namespace']
    sh('ip', '-n', ns, 'addr', 'add', f'{port_ip(a)}/24', 'dev', a['device'])
    try:
        clients.resolv_conf(ns, port_ip(shared_net['port']))
        name = 'host-' + port_ip(b).replace('.', '-') + '.openstacklocal'
        assert wait_for(lambda: clients.resolve(ns, name), 10, 0.2, 'DNS') == port_ip(b)
    finally:
        sh('ip', '-n', ns, 'addr', 'del', f'{port_ip(a)}/24', 'dev', a['device'])


def test_extra_dhcp_opts_reach_the_client(stack):
    # A network and probe of its own: once a client with a port option (a set: tag)
    # was answered, the next change restarts dnsmasq (a SIGHUP would segfault
    # dnsmasq 2.90), which the pid checks on the module's network must not meet.
    net, _ = stack.create_network('opts-net', '10.40.0.0/24', '10.40.0.1', DNS)
    net_id = net['id']
    a = stack.probe_create(net_id, name='probe-opts')
    try:
        pid = wait_for(lambda: dnsmasq_pid(stack, net_id), 10, 0.02, 'dnsmasq serving')
        stack.api('PUT', f'/ports/{a["id"]}', {'port': {'extra_dhcp_opts': [
            {'opt_name': 'ntp-server', 'opt_value': '192.0.2.123'}]}})
        opts = os.path.join(stack.state_path, 'dhcp', net_id, 'opts')
        wait_for(lambda: '192.0.2.123' in open(opts).read(), 10, 0.05, 'the opts file')
        # the file is written just before the SIGHUP: ask until dnsmasq has re-read it
        lease = wait_for(lambda: (lambda got: got if got.get('ntp-servers') else None)(
            clients.dhclient(a['namespace'], a['device'])), 20, 0.2, 'ntp-servers')
        assert lease['ntp-servers'] == '192.0.2.123'
        assert dnsmasq_pid(stack, net_id) == pid
    finally:
        stack.probe_delete(a)


def test_killed_dnsmasq_is_respawned(stack, shared_net, probe_b):
    net_id = shared_net['net']['id']
    old = wait_for(lambda: dnsmasq_pid(stack, net_id), 10, 0.02, 'dnsmasq serving')
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (dnsmasq_pid(stack, net_id) or old) != old
                   and dnsmasq_pid(stack, net_id), 10, 0.05, 'a respawned dnsmasq')
    assert new != old
    b = probe_b
    assert clients.udhcpc(b['namespace'], b['device'])['ip'] == port_ip(b)


def test_namespace_deleted_behind_the_agents_back_is_repaired(stack, shared_net, probe_b):
    net_id = shared_net['net']['id']
    ns = f'qdhcp-{net_id}'
    sh('ip', 'netns', 'delete', ns)
    # ifindex: None while the namespace is listed but not yet mounted
    wait_for(lambda: ns in netns_list() and ifindex(ns, shared_net['tap']) is not None
             and serving(stack, net_id)
             and os.readlink(f'/proc/{serving(stack, net_id)}/ns/net')
             == _ns_link(ns), 20, 0.1, 'the namespace repaired')
    b = probe_b
    env = wait_for(lambda: clients.udhcpc(b['namespace'], b['device']), 20, 0.2,
                   'a lease after the repair')
    assert env['ip'] == port_ip(b)


def _ns_link(ns):
    out = subprocess.run(['ip', 'netns', 'exec', ns, 'readlink', '/proc/self/ns/net'],
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_malformed_notifications_are_dropped_and_the_agent_keeps_serving(stack, shared_net,
                                                                          probe_b):
    from agent.rpc.transport import admin_context, get_transport, make_rpc_client
    from tests.functional.helpers.bus import bus_conf
    conf = bus_conf(stack.url, stack.exchange, f'{stack.host}-sender')
    transport = get_transport(conf)
    try:
        client = make_rpc_client(transport, 'dhcp_agent').prepare(server=stack.host)
        net_id = shared_net['net']['id']
        bad = [('port_update_end', {'port': {'id': 'not-a-uuid', 'network_id': net_id}}),
               ('network_delete_end', {'priority': 2}),
               ('subnet_create_end', {'subnet': {'id': 7, 'network_id': net_id}}),
               ('port_delete_end', {'port_id': 12, 'network_id': 'x', 'priority': 'high'}),
               ('network_update_end', 'not a dict'),
               ('no_such_method', {'network': {'id': net_id}})]
        for method, payload in bad:
            client.cast(admin_context(), method, payload=payload)
        wait_for(lambda: stack.agent_log_text().count('dropped malformed') >= 5, 10, 0.05,
                 'five dropped messages logged')
    finally:
        transport.cleanup()
    log = stack.agent_log_text()
    assert 'network_delete_end' in log and 'network_id' in log
    assert 'not-a-uuid' in log
    # still serving: the existing network answers, and new work is done
    b = probe_b
    assert clients.udhcpc(b['namespace'], b['device'])['ip'] == port_ip(b)
    assert dnsmasq_pid(stack, net_id)


def test_agent_restart_touches_nothing(stack, shared_net, probe_b):
    nets = [shared_net['net']] + [stack.create_network(f'net{i}', f'10.{i}.0.0/24',
                                                   f'10.{i}.0.1')[0] for i in range(4)]
    for net in nets:
        wait_for(lambda: serving(stack, net['id']), 10, 0.02, 'dnsmasq serving')
    before = {}
    for net in nets:
        port = wait_for(lambda: stack.dhcp_port(net['id']), 5)
        tap = 'tap' + port['id'][:11]
        # dnsmasq starts while the tap is being plugged: wait for the tap too
        index = wait_for(lambda: ifindex(f'qdhcp-{net["id"]}', tap), 10, 0.02, tap)
        # and for its metadata proxy, a work item of its own that may still be queued
        wait_for(lambda: metadata_proxy_pid(stack, net['id']), 10, 0.02, 'the metadata proxy')
        before[net['id']] = (dnsmasq_pid(stack, net['id']), port['id'], index)
    assert stack.stop_agent() == 0
    for net_id, (pid, _, _) in before.items():      # children keep serving
        assert dnsmasq_pid(stack, net_id) == pid
    b = probe_b
    assert clients.udhcpc(b['namespace'], b['device'])['ip'] == port_ip(b)
    stack.start_agent()
    wait_for(lambda: 'dhcp-full-sync done' in stack.agent_log_text(), 10, 0.05)
    time.sleep(1.0)
    for net_id, (pid, port_id, index) in before.items():
        port = stack.dhcp_port(net_id)
        assert port['id'] == port_id
        assert dnsmasq_pid(stack, net_id) == pid
        assert ifindex(f'qdhcp-{net_id}', 'tap' + port_id[:11]) == index
    log = stack.agent_log_text()
    assert 'Started dnsmasq' not in log and 'Stopped dnsmasq' not in log
    assert 'Started haproxy' not in log and 'Stopped haproxy' not in log
    # every plan was empty but for the adoption of the children found running (from
    # now on watched by the monitor), once each: every network's dnsmasq and
    # metadata proxy (the stack may serve networks of earlier tests too)
    for service in ('dnsmasq', 'haproxy'):
        adopted = re.findall(rf'network (\S+)(?: metadata)?: # {service} for \S+ in '
                             r'\S+: adopted', log)
        assert set(before) <= set(adopted) and len(adopted) == len(set(adopted))
    actions = re.findall(r': (\d+) actions in', log)
    assert set(actions) == {'1'} and log.count(': adopted, pid') == len(actions)
    assert clients.udhcpc(b['namespace'], b['device'])['ip'] == port_ip(b)
    # new work is served promptly after the restart
    net, _ = stack.create_network('after-restart', '10.9.0.0/24', '10.9.0.1')
    start = time.monotonic()
    wait_for(lambda: serving(stack, net['id']), 5, 0.01, 'new network serving')
    assert time.monotonic() - start < 2.0


def test_ipv6_stateful_and_slaac_subnets(stack):
    net, _ = stack.create_network('dual', '10.20.0.0/24', '10.20.0.1')
    stateful = stack.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': '2001:db8:20::/64', 'ip_version': 6,
        'ipv6_address_mode': 'dhcpv6-stateful', 'ipv6_ra_mode': 'dhcpv6-stateful'}})['subnet']
    slaac = stack.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': '2001:db8:21::/64', 'ip_version': 6,
        'ipv6_address_mode': 'slaac', 'ipv6_ra_mode': 'slaac'}})['subnet']

    def argv():
        pid = serving(stack, net['id'])
        return pid and open(f'/proc/{pid}/cmdline', 'rb').read().decode().split('\0')
    wait_for(lambda: any(f'subnet-{stateful["id"]}' in a for a in argv() or ()), 10, 0.05,
             'the DHCPv6 range')
    args = argv()
    assert f'--dhcp-range=set:subnet-{stateful["id"]},2001:db8:20::,static,64,86400s' in args
    assert not any(f'subnet-{slaac["id"]}' in a for a in args)
    port = stack.dhcp_port(net['id'])
    v6 = {ip['ip_address'] for ip in port['fixed_ips'] if ':' in ip['ip_address']}
    assert '2001:db8:20::2' in v6 or any(a.startswith('2001:db8:20:') for a in v6)

    def have():
        return {a['local'] for link in ip_json(f'qdhcp-{net["id"]}', 'addr')
                for a in link['addr_info'] if a['family'] == 'inet6'}
    wait_for(lambda: v6 <= have(), 5, 0.05, f'{v6} on the tap (have {have()})')


def test_sighup_resyncs_and_the_agent_keeps_running(stack):
    stack.agent.send_signal(signal.SIGHUP)
    wait_for(lambda: 'starting: SIGHUP' in stack.agent_log_text(), 10, 0.05,
             'a resync after SIGHUP')
    assert stack.agent.poll() is None


def test_broker_connections_lost_resync_and_keep_serving(stack, probe_b):
    mark = len(stack.agent_log_text())
    sh('rabbitmqctl', '-q', 'close_all_connections', '--vhost', stack.vhost, '--limit',
       '100', 'netnode test: broker connection loss')
    wait_for(lambda: 'broker reconnect' in stack.agent_log_text()[mark:]
             or 'bus back' in stack.agent_log_text()[mark:], 60, 0.2,
             'a full resync after the reconnect')
    b = probe_b
    assert clients.udhcpc(b['namespace'], b['device'])['ip'] == port_ip(b)
    net, _ = stack.create_network('after-outage', '10.30.0.0/24', '10.30.0.1')
    wait_for(lambda: serving(stack, net['id']), 30, 0.05, 'new work after the outage')


def test_second_agent_with_the_same_state_path_refuses(stack):
    res = subprocess.run([stack.agent.args[0], '--config-file', stack.agent_conf_path],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert 'already runs' in res.stderr


def test_network_delete_leaves_nothing(stack, built, probe_a, probe_b):
    """Every probe and network of the module deleted (those of the other tests too):
    nothing of the agent's is left."""
    built.clear()       # the next test that needs them builds them again
    for probe in (probe_a, probe_b):
        stack.probe_delete(probe)
        assert probe['namespace'] not in netns_list()
    for net in stack.api('GET', '/networks')['networks']:
        port = stack.dhcp_port(net['id'])
        stack.api('DELETE', f'/networks/{net["id"]}')
        ns = f'qdhcp-{net["id"]}'
        wait_for(lambda: ns not in netns_list(), 10, 0.05, f'{ns} removed')
        wait_for(lambda: not os.path.exists(os.path.join(stack.state_path, 'dhcp',
                                                         net['id'])), 5, 0.05)
        assert 'tap' + port['id'][:11] not in sh('ovs-vsctl', 'list-ports',
                                                 stack.bridge).stdout
        assert not os.path.exists(os.path.join(stack.state_path, 'external', 'pids',
                                               f'{net["id"]}.pid.haproxy'))
        # the teardown releases the local VLAN after it removed the state directory
        wait_for(lambda: f'netnode-vlan-{net["id"]}' not in ovs_map(ovs_row(
            'Bridge', stack.bridge, ['external_ids'])['external_ids']), 5, 0.05,
            'the local VLAN released')
    leftovers = subprocess.run(['pgrep', '-f', stack.state_path], capture_output=True,
                               text=True).stdout.split()
    assert leftovers == []
