"""A real haproxy metadata proxy (agent.metadata.haproxy + agent.process) in front of
the real metadata agent, reached with curl from "VM" namespaces.

Two VMs with the same address 10.77.0.10: one behind a router-id proxy (the
router has an interface on network a), one behind a network-id proxy of network
b.  Each proxy namespace is joined to its VM namespace by a veth pair and holds
169.254.169.254; the proxies forward to the agent's ``$state_path/metadata_proxy``.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from agent.metadata import haproxy
from agent.process import manager as pm
from agent.process.monitor import ProcessMonitor
from tests.functional.helpers.host import add_namespace, metadata_veth, sh, wait_for
from tests.unit.metadata import cloudinit_path

pytestmark = pytest.mark.functional

VM_IP = '10.77.0.10'
PROXY_IP = '10.77.0.2'


def curl(vm, path, *headers, timeout=5):
    cmd = ['ip', 'netns', 'exec', vm, 'curl', '-s', '-m', str(timeout),
           '-w', '\n%{http_code}']
    for h in headers:
        cmd += ['-H', h]
    res = subprocess.run([*cmd, f'http://169.254.169.254{path}'], capture_output=True,
                         timeout=timeout + 10)
    body, _, code = res.stdout.rpartition(b'\n')
    return int(code or 0), body


def _make_ns(leaks, prefix, created):
    name = leaks.namespace(f'{prefix}{uuid.uuid4()}')
    created.append(name)
    return add_namespace(name)


def proxy_and_vm_namespaces(world, leaks, created, prefix='md-'):
    """(name, kind, id, proxy namespace, VM namespace) of VM a behind router a and
    VM b behind network b, each pair joined by a veth (metadata_veth)."""
    for name, kind, rid in (('a', 'router', world['router']['id']),
                            ('b', 'network', world['b']['net']['id'])):
        proxy = _make_ns(leaks, f'{prefix}proxy-', created)
        vm = _make_ns(leaks, f'{prefix}vm-', created)
        metadata_veth(proxy, vm, 'mdp0', PROXY_IP, VM_IP)
        yield name, kind, rid, proxy, vm


@pytest.fixture(scope='module')
def proxies(stack, world, leaks):
    """{'a': (vm ns, spec), 'b': (vm ns, spec)}, haproxies running."""
    created, specs, manager = [], [], pm.ProcessManager()
    found = {}
    try:
        for name, kind, rid, proxy, vm in proxy_and_vm_namespaces(world, leaks, created):
            spec = haproxy.metadata_proxy_spec(rid, kind, proxy, stack.state_path,
                                               haproxy.METADATA_V4_IP, 80, 'root', 'root')
            specs.append(spec)
            assert manager.ensure(spec) == pm.STARTED
            found[name] = (vm, spec)
        found['manager'] = manager
        yield found
    finally:
        for spec in specs:
            manager.stop(spec)
        for ns in created:
            sh('ip', 'netns', 'delete', ns, check=False)


def test_proxy_socket_is_the_agents(stack, proxies):
    _, spec = proxies['a']
    assert f'server metadata {stack.socket_path}\n' in spec.config_files[0][1]


def check_each_vm_gets_its_own(world, vms):
    """``vms``: {'a': VM namespace behind router a, 'b': behind network b}."""
    for name, vm in vms.items():
        status, body = curl(vm, '/openstack/latest/meta_data.json')
        assert status == 200, body
        md = json.loads(body)
        assert md['uuid'] == world[name]['device']
        assert md['hostname'] == f'vm-{name}'
        assert curl(vm, '/latest/meta-data/local-ipv4') == (200, VM_IP.encode())
    assert curl(vms['a'], '/latest/user-data') == (200, world['a']['user_data'])
    assert curl(vms['b'], '/latest/user-data')[0] == 404


def test_each_vm_gets_its_own_metadata_through_its_proxy(world, proxies):
    check_each_vm_gets_its_own(world, {n: proxies[n][0] for n in 'ab'})
    vm_a, _ = proxies['a']
    assert curl(vm_a, '/latest/meta-data/public-ipv4') == (
        200, world['fip']['floating_ip_address'].encode())


def check_spoofing_changes_nothing(world, vm_a, vm_b):
    """VM a behind router a, VM b behind network b: each claims the other's ids."""
    spoof = (f'X-Neutron-Network-ID: {world["b"]["net"]["id"]}',
             f'X-Neutron-Router-ID: {uuid.uuid4()}', 'X-Forwarded-For: 10.77.0.99',
             'Forwarded: for=10.77.0.99', f'X-Instance-ID: {world["b"]["device"]}',
             'X-Instance-ID-Signature: 00', 'X-Tenant-ID: evil',
             'x-neutron-ROUTER-id: 00000000-0000-0000-0000-000000000000')
    status, body = curl(vm_a, '/openstack/latest/meta_data.json', *spoof)
    assert status == 200 and json.loads(body)['uuid'] == world['a']['device']
    status, body = curl(vm_b, '/openstack/latest/meta_data.json',
                        f'x-neutron-router-id: {world["router"]["id"]}',
                        f'x-neutron-network-id: {world["a"]["net"]["id"]}')
    assert status == 200 and json.loads(body)['uuid'] == world['b']['device']


def test_spoofed_headers_change_nothing(world, proxies):
    check_spoofing_changes_nothing(world, proxies['a'][0], proxies['b'][0])


def test_agent_down_is_a_quick_5xx_and_back_is_ok(stack, world, proxies):
    vm_a, _ = proxies['a']
    stack.stop_agent()
    try:
        assert not os.path.exists(stack.socket_path)
        started = time.monotonic()
        status, _ = curl(vm_a, '/openstack/latest/meta_data.json')
        elapsed = time.monotonic() - started
        assert 500 <= status < 600 and elapsed < 2.0, (status, elapsed)
    finally:
        stack.start_agent()
    status, body = curl(vm_a, '/openstack/latest/meta_data.json')
    assert status == 200 and json.loads(body)['uuid'] == world['a']['device']


def test_killed_proxy_is_respawned_by_the_monitor(world, proxies):
    vm_b, spec = proxies['b']
    manager = proxies['manager']
    monitor = ProcessMonitor(0.2, 'respawn', manager)
    monitor.register(spec)
    monitor.start()
    try:
        old = manager.observe(spec).pid
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: (manager.observe(spec).running
                          and manager.observe(spec).pid != old), 10, 0.05,
                 'haproxy respawned')
        status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            curl(vm_b, '/openstack/latest/meta_data.json')), 10, 0.1, 'metadata again')
        assert json.loads(body)['uuid'] == world['b']['device']
    finally:
        monitor.stop()


_CLOUD_INIT_CRAWL = '''
import json, sys
from cloudinit.sources.helpers import openstack
result = openstack.MetadataReader("http://169.254.169.254", retries=0, timeout=5).read_v2()
net = openstack.convert_net_json(result["networkdata"], known_macs={sys.argv[1]: "eth0"})
print(json.dumps({"metadata": {k: v for k, v in result["metadata"].items()
                               if k != "random_seed"},
                  "ec2": result["ec2-metadata"], "net": net,
                  "userdata": result["userdata"].decode(errors="replace")}))
'''


@pytest.mark.skipif(not cloudinit_path.available(),
                    reason='cloud-init not fetched (tools/fetch-cloud-init.sh)')
def test_cloud_init_reads_its_instance_through_the_proxy(world, proxies):
    """cloud-init's OpenStack and EC2 readers, run inside the VM namespace."""
    vm_a, _ = proxies['a']
    a = world['a']
    res = subprocess.run(
        ['ip', 'netns', 'exec', vm_a, sys.executable, '-c', _CLOUD_INIT_CRAWL,
         a['port']['mac_address']],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, 'PYTHONPATH': cloudinit_path.PATHS})
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.splitlines()[-1])
    assert got['metadata']['instance-id'] == a['device']
    assert got['metadata']['local-hostname'] == 'vm-a'
    assert got['metadata']['public_keys'] == {'mykey': a['key']}
    assert got['userdata'] == a['user_data'].decode()
    assert got['ec2']['local-ipv4'] == VM_IP
    assert got['ec2']['public-ipv4'] == world['fip']['floating_ip_address']
    eth0 = next(c for c in got['net']['config'] if c.get('name') == 'eth0')
    assert eth0['subnets'][0]['address'] == VM_IP
