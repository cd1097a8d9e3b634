"""The DHCP agent beside an L2 agent that tags ports (``[ovs] local_vlan_tagging =
false``, as under neutron-server with Neutron's Open vSwitch agent), on real OVS.

A stand-in for the OVS agent binds the DHCP tap (tag, other_config, vlan_mode and
trunks cleared) and a VM's tap named like Nova's (``tap`` + the id of a compute
port of the network).  Periodic full syncs and an agent restart must leave both
exactly as they are (same rows, tag, other_config, vlan_mode, trunks, ofport), keep
dnsmasq, and never unplug the VM's tap; a new network's tap is plugged on the
dead VLAN.
"""

import uuid

import pytest

from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, wait_for
from tests.functional.helpers import l2_agent

pytestmark = pytest.mark.functional

SYNC_DONE = 'dhcp-full-sync done'
TaggedByL2AgentStack = l2_agent.beside_an_l2_agent(DhcpStack)


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = TaggedByL2AgentStack(run_id, 'l2dhcp', leaks).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def bound(stack):
    """A served network whose DHCP tap and a VM's tap the 'L2 agent' bound on VLAN 1."""
    net, _ = stack.create_network('l2-net', '192.168.30.0/24', '192.168.30.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.02, 'dnsmasq serving')
    dhcp_port = wait_for(lambda: stack.dhcp_port(net['id']), 10, what='the DHCP port')
    tap = 'tap' + dhcp_port['id'][:11]
    wait_for(lambda: l2_agent.ofport(tap), 10, 0.05, f'{tap} has an ofport')
    assert l2_agent.snapshot([tap])[tap]['port.tag'] == 4095    # plugged on the dead VLAN
    l2_agent.bind(tap, net['id'], 1)
    vm_port = stack.api('POST', '/ports', {'port': {
        'network_id': net['id'], 'name': 'vm', 'device_owner': 'compute:nova',
        'device_id': str(uuid.uuid4())}})['port']
    vm_tap = l2_agent.plug_vm_tap(stack.bridge, vm_port, 1)
    return {'net': net, 'tap': tap, 'vm_tap': vm_tap,
            'before': l2_agent.snapshot([tap, vm_tap])}


def _wait_syncs(stack, count):
    l2_agent.wait_full_syncs(stack, SYNC_DONE, count)


def _assert_untouched(stack, bound, log_since):
    now = l2_agent.snapshot([bound['tap'], bound['vm_tap']])
    assert now == bound['before']
    assert bound['vm_tap'] in l2_agent.ports_on(stack.bridge)
    log = stack.agent_log_text(since_start=True)[log_since:]
    for word in ('unplugging orphan', 'del-port', 'set Port'):
        assert word not in log, log[-3000:]


def test_periodic_resyncs_leave_the_l2_agents_fields_and_the_vm_tap(stack, bound):
    mark = len(stack.agent_log_text(since_start=True))
    pid = dnsmasq_pid(stack, bound['net']['id'])
    _wait_syncs(stack, 2)
    _assert_untouched(stack, bound, mark)
    assert dnsmasq_pid(stack, bound['net']['id']) == pid


def test_restart_keeps_the_served_tap_plugged_as_it_is(stack, bound):
    """Start-up does not re-plug the taps it serves (it did, on VLAN 4095)."""
    pid = dnsmasq_pid(stack, bound['net']['id'])
    stack.stop_agent()
    stack.start_agent()
    _wait_syncs(stack, 1)
    _assert_untouched(stack, bound, 0)
    assert dnsmasq_pid(stack, bound['net']['id']) == pid


def test_a_tap_plugged_by_an_older_agent_is_recognised_by_its_port(stack, bound):
    """Unmarked (an older netnode, Neutron's DHCP agent): its iface-id is our DHCP
    port, so a restart keeps it as it is and does not mark it either."""
    tap = bound['tap']
    l2_agent.ovs_vsctl('remove', 'Interface', tap, 'external_ids', 'netnode-owner')
    before = l2_agent.snapshot([tap, bound['vm_tap']])
    stack.stop_agent()
    stack.start_agent()
    _wait_syncs(stack, 2)
    assert l2_agent.snapshot([tap, bound['vm_tap']]) == before
    assert 'unplugging orphan' not in stack.agent_log_text()


def test_a_new_network_gets_its_tap_on_the_dead_vlan_and_the_vm_tap_stays(stack, bound):
    net, _ = stack.create_network('l2-net-2', '192.168.31.0/24', '192.168.31.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.02, 'dnsmasq serving')
    port = stack.dhcp_port(net['id'])
    tap = 'tap' + port['id'][:11]
    # ovs-vswitchd numbers the port after the agent's transaction, on its own time
    # (seconds under load): the fields the agent owns are compared once it has
    wait_for(lambda: l2_agent.ofport(tap), 30, 0.05, f'{tap} has an ofport')
    row = l2_agent.snapshot([tap])[tap]
    assert row['port.tag'] == 4095 and row['port.vlan_mode'] == 'trunk'
    assert row['iface.external_ids'][1].count(
        ['netnode-owner', f'dhcp:{stack.host}:{net["id"]}']) == 1
    _wait_syncs(stack, 1)
    assert l2_agent.snapshot([tap])[tap] == row     # not bound yet: still not ours to tag
    assert bound['vm_tap'] in l2_agent.ports_on(stack.bridge)
