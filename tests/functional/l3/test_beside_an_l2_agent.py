"""The L3 agent beside an L2 agent that tags ports (``[ovs] local_vlan_tagging =
false``, as under neutron-server with Neutron's Open vSwitch agent), on real OVS.

A stand-in for the OVS agent binds the router's qr- port, a test VM's port and a
VM tap named like Nova's (``tap`` + a compute port's id) on VLAN 1.  A floating-IP
change, periodic full syncs and an agent restart must leave the qr-/qg- ports and
the VM tap exactly as they are (same rows, tag, other_config, vlan_mode, trunks,
ofport): the VM keeps reaching its gateway (it lost it at every reconcile when the
agent set tag=4095 on the qr- port).
"""

import uuid

import pytest

from agent.common import names
from tests.functional.helpers import l2_agent
from tests.functional.helpers.host import in_ns, wait_for
from tests.functional.l3.stack import L3Stack

pytestmark = pytest.mark.functional

SYNC_DONE = 'l3-full-sync done'
GATEWAY = '192.168.40.1'
TaggedByL2AgentStack = l2_agent.beside_an_l2_agent(L3Stack)


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = TaggedByL2AgentStack(run_id, 'l2l3', leaks, resync_interval=3).start()
    yield s
    s.close()


def _default_route(ns):
    res = in_ns(ns, 'ip', 'route', 'show', 'default', check=False)
    return res.returncode == 0 and 'default via' in res.stdout


@pytest.fixture(scope='module')
def bound(stack):
    """A router with an interface and a gateway, its qr- port, a VM's port and a
    Nova-like VM tap bound on VLAN 1 by the 'L2 agent'."""
    net, sub = stack.network('l2-net', '192.168.40.0/24', GATEWAY)
    ext, _ = stack.network('l2-public', '198.51.100.0/24', '198.51.100.1', external=True)
    router = stack.router('l2-router')
    intf = stack.add_interface(router['id'], sub['id'])
    stack.set_gateway(router['id'], ext['id'])
    gw_port = stack.api('GET', f'/ports?device_id={router["id"]}'
                               '&device_owner=network:router_gateway')['ports'][0]
    ns = names.router_namespace(router['id'])
    qr = names.internal_device_name(intf['port_id'])
    qg = names.gateway_device_name(gw_port['id'])
    wait_for(lambda: _default_route(ns), 30, 0.05, 'the router converged')
    for name in (qr, qg):
        wait_for(lambda: l2_agent.ofport(name), 10, 0.05, f'{name} has an ofport')
    plugged = l2_agent.snapshot([qr, qg])
    assert plugged[qr]['port.tag'] == 4095 and plugged[qg]['port.tag'] == ['set', []]
    l2_agent.bind(qr, net['id'], 1)
    vm_ns, vm_port, _ = stack.vm(net['id'], sub)
    vm_dev = names.device_name('prb', vm_port['id'])
    l2_agent.bind(vm_dev, net['id'], 1)
    compute = stack.api('POST', '/ports', {'port': {
        'network_id': net['id'], 'name': 'nova-vm', 'device_owner': 'compute:nova',
        'device_id': str(uuid.uuid4())}})['port']
    vm_tap = l2_agent.plug_vm_tap(stack.int_bridge, compute, 1)
    assert stack.ping(vm_ns, GATEWAY, count=2)
    watched = [qr, qg, vm_dev, vm_tap]
    return {'ext': ext, 'ns': ns, 'vm_ns': vm_ns, 'vm_port': vm_port, 'vm_tap': vm_tap,
            'watched': watched, 'before': l2_agent.snapshot(watched)}


def _wait_syncs(stack, count):
    l2_agent.wait_full_syncs(stack, SYNC_DONE, count)


def _assert_untouched(stack, bound, log_since=0):
    assert l2_agent.snapshot(bound['watched']) == bound['before']
    assert bound['vm_tap'] in l2_agent.ports_on(stack.int_bridge)
    log = stack.agent_log_text(since_start=True)[log_since:]
    for word in ('set Port', 'del-port', 'deleting orphan port'):
        assert word not in log, log[-3000:]
    assert stack.ping(bound['vm_ns'], GATEWAY, count=2)


def test_floating_ip_change_leaves_the_ports_bound(stack, bound):
    mark = len(stack.agent_log_text(since_start=True))
    fip = stack.floatingip(bound['ext']['id'], bound['vm_port']['id'])
    address = fip['floating_ip_address']
    wait_for(lambda: address in in_ns(bound['ns'], 'iptables-save', '-t', 'nat').stdout,
             20, 0.05, 'the floating IP rules')
    _assert_untouched(stack, bound, mark)


def test_periodic_resyncs_leave_the_ports_bound(stack, bound):
    mark = len(stack.agent_log_text(since_start=True))
    _wait_syncs(stack, 2)
    _assert_untouched(stack, bound, mark)


def test_restart_leaves_the_ports_bound(stack, bound):
    stack.stop_agent()
    stack.start_agent()
    _wait_syncs(stack, 1)
    _assert_untouched(stack, bound)
