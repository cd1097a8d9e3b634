"""Metadata behind a router end to end: a probe's curl to 169.254.169.254 goes through
the L3 agent's REDIRECT to its haproxy on 9697 in qrouter- (issue 5 acceptance).

netnode-server, netnode-l3-agent (the L3 engineers' stack, used as is) and
netnode-metadata-agent as processes on the run's vhost; the metadata agent
serves ``$state_path/metadata_proxy`` of the L3 agent's state path.  Two routers,
each with a tenant network of the same subnet and a probe pinned to the same
address: each probe gets its own instance's documents.
"""

import json
import re
import subprocess
import uuid

import pytest

from tests.functional.helpers.host import in_ns, programs, wait_for
from tests.functional.l3.stack import L3Stack
from tests.functional.metadata.stack import (
    check_shared_proxy_outlives_a_restart, curl, with_metadata_agent)

pytestmark = pytest.mark.functional

CIDR, GATEWAY, SAME_IP = '10.89.0.0/24', '10.89.0.1', '10.89.0.50'


@pytest.fixture(scope='module', params=['haproxy', 'shared'])
def l3_stack(request, run_id, leaks):
    """With a haproxy per router, then with the agent's one shared proxy."""
    mode = request.param
    with with_metadata_agent(L3Stack(run_id, 'mdl' if mode == 'haproxy' else 'mdls', leaks,
                                     agent_conf=f'metadata_proxy_mode = {mode}')
                             .start()) as s:
        s.metadata_proxy_mode = mode
        yield s


def haproxies(s, router):
    return programs('haproxy', lambda argv: any(s.state_path in a and router['id'] in a
                                                for a in argv))


def diagnose(s, ns, router):
    qr = f'qrouter-{router["id"]}'
    out = [f'curl: {curl(ns, "/openstack/latest/meta_data.json")}']
    for cmd in (['ip', '-n', ns, 'addr'], ['ip', '-n', ns, 'route'],
                ['ip', '-n', qr, 'addr'], ['ip', 'netns', 'exec', qr, 'ss', '-ltnp'],
                ['ip', 'netns', 'exec', qr, 'iptables-save'],
                ['ip', 'netns', 'exec', ns, 'ping', '-c1', '-W1', GATEWAY]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        out.append(' '.join(cmd) + ':\n' + res.stdout + res.stderr)
    return '\n'.join(out)


def test_probes_behind_routers_get_their_own_metadata(l3_stack):
    s = l3_stack
    found = []
    for name in ('x', 'y'):
        net, subnet = s.network(f'md-{name}', CIDR, GATEWAY)
        router = s.router(f'md-router-{name}')
        s.add_interface(router['id'], subnet['id'])
        ns, port, _ = s.vm(net['id'], subnet, name=f'md-vm-{name}')
        device = str(uuid.uuid4())
        s.api('PUT', f'/ports/{port["id"]}', {'port': {
            'device_id': device,
            'fixed_ips': [{'subnet_id': subnet['id'], 'ip_address': SAME_IP}]}})
        dev = next(line.split(':')[1].strip().split('@')[0] for line in in_ns(
            ns, 'ip', '-o', 'link').stdout.splitlines() if 'lo:' not in line)
        in_ns(ns, 'ip', 'addr', 'flush', 'dev', dev)
        in_ns(ns, 'ip', 'addr', 'add', f'{SAME_IP}/24', 'dev', dev)
        in_ns(ns, 'ip', 'route', 'replace', 'default', 'via', GATEWAY)
        code, _, err = s.server.cli('instance-set', device, '--hostname', f'vm-{name}')
        assert code == 0, err
        found.append((ns, device, name, router))
    for ns, device, name, router in found:
        try:
            status, body = wait_for(
                lambda: (lambda r: r if r[0] == 200 else None)(
                    curl(ns, '/openstack/latest/meta_data.json')),
                30, 0.2, f'metadata through router {name}')
        except AssertionError:
            raise AssertionError(diagnose(s, ns, router)) from None
        md = json.loads(body)
        assert md['uuid'] == device and md['hostname'] == f'vm-{name}'
        assert bool(haproxies(s, router)) == (s.metadata_proxy_mode == 'haproxy')
        assert curl(ns, '/latest/meta-data/local-ipv4') == (200, SAME_IP.encode())
        other = found[1][3] if router is found[0][3] else found[0][3]
        status, body = curl(ns, '/openstack/latest/meta_data.json',
                            f'X-Neutron-Router-ID: {other["id"]}',
                            'X-Forwarded-For: 10.89.0.99')
        assert status == 200 and json.loads(body)['uuid'] == device


def router_in_mode(s, mode, name, cidr):
    """A router with an interface on a new network, for a test of ``mode`` only."""
    if s.metadata_proxy_mode != mode:
        pytest.skip(f'metadata_proxy_mode = {mode} only')
    _, subnet = s.network(f'md-{name}', cidr, cidr.replace('0/24', '1'))
    router = s.router(f'md-router-{name}')
    s.add_interface(router['id'], subnet['id'])
    return router, subnet


def test_shared_proxy_outlives_a_restart_and_leaves_with_the_router(l3_stack):
    s = l3_stack
    router, subnet = router_in_mode(s, 'shared', 'z', '10.89.7.0/24')

    def delete():
        s.api('PUT', f'/routers/{router["id"]}/remove_router_interface',
              {'subnet_id': subnet['id']})
        s.api('DELETE', f'/routers/{router["id"]}')
        s.routers.discard(router['id'])

    check_shared_proxy_outlives_a_restart(s, 'l3', router['id'], delete)


def listening_pid(router):
    out = in_ns(f'qrouter-{router["id"]}', 'ss', '-ltnpH', 'sport = :9697',
                check=False).stdout
    pids = [int(p) for p in re.findall(r'pid=(\d+)', out)]
    return pids[0] if len(set(pids)) == 1 else None


def shared_pid(s):
    from agent.metadata import node_proxy
    from agent.process.manager import ProcessManager
    spec = node_proxy.process_spec(s.state_path, 'l3', s.host, '/unused', 'x', 'x')
    return ProcessManager().observe(spec).pid


def restart_in_mode(s, mode):
    s.stop_agent()
    s.extra_agent_conf = f'metadata_proxy_mode = {mode}'
    s.write_agent_conf()
    s.start_agent()


def test_switching_modes_hands_the_port_over(l3_stack):
    """haproxy -> shared -> haproxy across agent restarts: each time the other
    mode's proxy goes and the new one holds the router's port 9697 (the INPUT
    guard drops a local test request: the probes' test covers serving)."""
    s = l3_stack
    router, _ = router_in_mode(s, 'haproxy', 'w', '10.89.8.0/24')
    wait_for(lambda: haproxies(s, router) and listening_pid(router) in haproxies(s, router),
             30, 0.1, 'haproxy on 9697')
    try:
        restart_in_mode(s, 'shared')
        wait_for(lambda: not haproxies(s, router) and listening_pid(router) is not None
                 and listening_pid(router) == shared_pid(s), 30, 0.1,
                 'the shared proxy on 9697 instead')
    finally:
        restart_in_mode(s, 'haproxy')
    wait_for(lambda: shared_pid(s) is None and listening_pid(router) in haproxies(s, router),
             30, 0.1, 'haproxy on 9697 again, the shared proxy stopped')
