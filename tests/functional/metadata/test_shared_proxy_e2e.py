"""The shared metadata proxy (agent.metadata.node_proxy + shared_proxy) in front of
the real metadata agent, reached with curl from "VM" namespaces.

The same two VMs as test_metadata_proxy_e2e (10.77.0.10 behind a router-id
listener of router a, and behind a network-id listener of network b), each
listener made by the agent's side inside its proxy namespace and held by ONE
proxy process in the host's namespace.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from agent.metadata import haproxy, node_proxy
from agent.process import manager as pm
from tests.functional.helpers.host import add_namespace, metadata_veth, sh, wait_for
from tests.functional.metadata.test_metadata_proxy_e2e import (
    PROXY_IP, VM_IP, _make_ns, check_each_vm_gets_its_own, check_spoofing_changes_nothing,
    curl, proxy_and_vm_namespaces)

pytestmark = pytest.mark.functional

def _listener(rid, kind, namespace):
    return node_proxy.ListenerSpec(rid, kind, namespace, haproxy.METADATA_V4_IP, 80)


@pytest.fixture(scope='module')
def shared(stack, world, leaks):
    """{'a': (vm ns, listener), 'b': ..., 'proxy': NodeProxy}: one proxy, two listeners."""
    created, manager = [], pm.ProcessManager()
    spec = node_proxy.process_spec(stack.state_path, 'l3', 'shared-e2e', stack.socket_path,
                                   'root', 'root')
    proxy = node_proxy.NodeProxy(manager, spec)
    found = {'proxy': proxy, 'manager': manager, 'created': created}
    try:
        for name, kind, rid, ns, vm in proxy_and_vm_namespaces(world, leaks, created,
                                                               'md-s'):
            listener = _listener(rid, kind, ns)
            assert not proxy.current(listener)
            proxy.ensure(listener)
            found[name] = (vm, listener)
        proxy.start()
        yield found
    finally:
        proxy.stop()
        manager.stop(spec)
        for ns in created:
            sh('ip', 'netns', 'delete', ns, check=False)


def test_one_process_in_the_host_namespace_serves_both(shared):
    proxy, manager = shared['proxy'], shared['manager']
    pid = manager.observe(proxy.spec).pid
    assert pid is not None
    assert os.readlink(f'/proc/{pid}/ns/net') == os.readlink('/proc/self/ns/net')
    assert set(proxy.served()) == {shared['a'][1].resource_id, shared['b'][1].resource_id}
    assert all(proxy.current(shared[n][1]) for n in 'ab')
    # nothing of the project's packages (oslo, pyroute2) in the proxy: its memory
    with open(f'/proc/{pid}/status') as f:
        rss_kib = int(next(line for line in f if line.startswith('VmRSS')).split()[1])
    assert rss_kib < 24 * 1024, rss_kib


def test_each_vm_gets_its_own_metadata(world, shared):
    check_each_vm_gets_its_own(world, {n: shared[n][0] for n in 'ab'})


def test_spoofed_headers_change_nothing(world, shared):
    check_spoofing_changes_nothing(world, shared['a'][0], shared['b'][0])


def _raw(vm, payload: bytes, timeout=5) -> bytes:
    """Send raw bytes to 169.254.169.254:80 from ``vm``; what came back."""
    code = ('import socket,sys;s=socket.create_connection(("169.254.169.254",80),5);'
            's.sendall(sys.stdin.buffer.read());out=b""\n'
            'while True:\n d=s.recv(65536)\n if not d: break\n out+=d\n'
            'sys.stdout.buffer.write(out)')
    return subprocess.run(['ip', 'netns', 'exec', vm, sys.executable, '-c', code],
                          input=payload, capture_output=True, timeout=timeout + 10).stdout


def test_smuggling_is_refused_and_only_one_request_goes_through(world, shared):
    vm_a, _ = shared['a']
    chunked = (b'POST /openstack/latest/meta_data.json HTTP/1.1\r\nHost: x\r\n'
               b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    assert _raw(vm_a, chunked).startswith(b'HTTP/1.0 411 ')
    folded = (b'GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n X-Neutron-Router-ID: '
              + str(uuid.uuid4()).encode() + b'\r\n\r\n')
    assert _raw(vm_a, folded).startswith(b'HTTP/1.0 400 ')
    # a second request on the connection (with spoofed ids) is never forwarded
    two = (b'GET /latest/meta-data/local-ipv4 HTTP/1.1\r\nHost: x\r\n\r\n'
           b'GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: x\r\n'
           b'X-Neutron-Network-ID: ' + world['b']['net']['id'].encode() + b'\r\n\r\n')
    out = _raw(vm_a, two)
    assert out.count(b'HTTP/1.') == 1 and out.endswith(VM_IP.encode()), out


def test_idle_connections_of_one_vm_do_not_hold_the_others(world, shared):
    vm_a, _ = shared['a']
    vm_b, _ = shared['b']
    hog = subprocess.Popen(
        ['ip', 'netns', 'exec', vm_a, sys.executable, '-c',
         'import socket,time\ns=[socket.create_connection(("169.254.169.254",80),5) '
         'for _ in range(300)]\n[c.sendall(b"GET / HTTP/1.1\\r\\n") for c in s]\n'
         'print(len(s),flush=True)\ntime.sleep(60)'],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert hog.stdout.readline().strip() == b'300'
        started = time.monotonic()
        status, body = curl(vm_b, '/openstack/latest/meta_data.json')
        assert status == 200 and json.loads(body)['uuid'] == world['b']['device']
        assert time.monotonic() - started < 3.0
        # and past its share (MAX_CONNS_PER_LISTENER) the hog itself gets a quick 503
        assert curl(vm_a, '/latest/meta-data/local-ipv4')[0] == 503
    finally:
        hog.kill()
        hog.wait()
    wait_for(lambda: curl(vm_a, '/latest/meta-data/local-ipv4') == (200, VM_IP.encode()),
             10, 0.2, 'router a answered again once the idle connections closed')


def test_agent_down_is_a_quick_5xx_and_back_is_ok(stack, world, shared):
    vm_a, _ = shared['a']
    stack.stop_agent()
    try:
        started = time.monotonic()
        status, _ = curl(vm_a, '/openstack/latest/meta_data.json')
        assert 500 <= status < 600 and time.monotonic() - started < 2.0, status
    finally:
        stack.start_agent()
    status, body = curl(vm_a, '/openstack/latest/meta_data.json')
    assert status == 200 and json.loads(body)['uuid'] == world['a']['device']


def test_a_restarted_agent_verifies_and_does_not_redo(shared):
    """A new NodeProxy (a restarted agent) finds the listeners current: nothing is
    handed over again, the process is the same; stopping it leaves the proxy."""
    old, manager = shared['proxy'], shared['manager']
    pid = manager.observe(old.spec).pid
    again = node_proxy.NodeProxy(manager, old.spec,
                                 listen=lambda *a: pytest.fail('listened again'))
    for name in ('a', 'b'):
        assert again.current(shared[name][1])
        again.register(shared[name][1])
    again.start()
    again.stop()
    assert manager.observe(old.spec).pid == pid


def test_a_lost_pid_file_is_rewritten_not_a_second_proxy_started(shared):
    proxy, manager = shared['proxy'], shared['manager']
    pid = manager.observe(proxy.spec).pid
    os.unlink(proxy.spec.pid_file)
    again = node_proxy.NodeProxy(manager, proxy.spec)
    assert again.sweep(manager.scan(), True) == 0
    assert manager.observe(proxy.spec).pid == pid
    os.unlink(proxy.spec.pid_file)
    again.ensure(shared['a'][1])        # no start beside it: adopted first
    assert manager.observe(proxy.spec).pid == pid and proxy.current(shared['a'][1])


def test_a_namespace_made_again_gets_a_new_listener(leaks, shared):
    proxy = shared['proxy']
    ns = _make_ns(leaks, 'md-sproxy-', shared['created'])
    listener = _listener(str(uuid.uuid4()), 'network', ns)
    proxy.ensure(listener)
    assert proxy.current(listener)
    sh('ip', 'netns', 'delete', ns)
    assert not proxy.current(listener)
    add_namespace(ns)
    assert not proxy.current(listener)
    proxy.ensure(listener)
    assert proxy.current(listener)
    assert proxy.remove(listener.resource_id)
    assert listener.resource_id not in proxy.served()


def test_netns_cleanup_closes_a_listener_and_leaves_the_proxy(stack, leaks, shared):
    """netnode-netns-cleanup's children of a namespace include the shared proxy's
    listener in it (its socket holds the namespace): stopping it closes that one."""
    from agent.cleanup.children import LISTENER, ChildProcesses
    proxy, manager = shared['proxy'], shared['manager']
    ns = _make_ns(leaks, 'md-sproxy-', shared['created'])
    listener = _listener(str(uuid.uuid4()), 'router', ns)
    proxy.ensure(listener)
    pid = manager.observe(proxy.spec).pid
    children = ChildProcesses(stack.state_path)
    found = children.find(listener.resource_id)
    assert [(p.service, p.pid) for p in found] == [(LISTENER, pid)]
    assert children.stop(found[0])
    assert listener.resource_id not in proxy.served()
    assert manager.observe(proxy.spec).pid == pid and proxy.current(shared['a'][1])


def test_killed_proxy_is_respawned_with_its_listeners(world, shared):
    proxy, manager = shared['proxy'], shared['manager']
    old = manager.observe(proxy.spec).pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: manager.observe(proxy.spec).pid not in (None, old), 10, 0.05,
             'the shared proxy respawned')
    wait_for(lambda: all(proxy.current(shared[n][1]) for n in 'ab'), 10, 0.05,
             'its listeners handed over again')
    for name in ('a', 'b'):
        status, body = curl(shared[name][0], '/openstack/latest/meta_data.json')
        assert status == 200 and json.loads(body)['uuid'] == world[name]['device']


def test_rate_limit_per_source_address(stack, world, shared, leaks):
    rate = haproxy.RateLimit(120, 3, 120, 3, 4)
    spec = node_proxy.process_spec(stack.state_path, 'dhcp', 'shared-e2e-rate',
                                   stack.socket_path, 'root', 'root', rate_limit=rate)
    manager = shared['manager']
    limited = node_proxy.NodeProxy(manager, spec)
    ns = _make_ns(leaks, 'md-sproxy-', shared['created'])
    vm = _make_ns(leaks, 'md-svm-', shared['created'])
    metadata_veth(ns, vm, 'mdp0', PROXY_IP, VM_IP)
    try:
        limited.ensure(_listener(world['b']['net']['id'], 'network', ns))
        codes = [curl(vm, '/latest/meta-data/local-ipv4')[0] for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429], codes
        # another listener of the first proxy is not limited
        assert [curl(shared['b'][0], '/latest/meta-data/local-ipv4')[0]
                for _ in range(5)] == [200] * 5
    finally:
        manager.stop(spec)
