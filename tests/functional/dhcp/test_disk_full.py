"""A full state path: the agent keeps serving what it serves and catches up once
there is room again (the state path is a small tmpfs of this test's own)."""

import os

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, sh, wait_for
from tests.functional.dhcp.test_agent_e2e import dnsmasq_pid, port_ip

pytestmark = pytest.mark.functional


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'full', leaks, state_tmpfs='4m').start()
    yield s
    s.close()


def test_disk_full_keeps_serving_then_catches_up(stack):
    net, _ = stack.create_network('full', '192.168.30.0/24', '192.168.30.1')
    wait_for(lambda: dnsmasq_pid(stack, net['id']), 10, 0.02, 'dnsmasq')
    probe = stack.probe_create(net['id'])
    ns, dev = probe['namespace'], probe['device']
    assert wait_for(lambda: clients.udhcpc(ns, dev), 20, 0.2)['ip'] == port_ip(probe)
    pid = dnsmasq_pid(stack, net['id'])
    filler = os.path.join(stack.state_path, 'filler')
    sh('dd', 'if=/dev/zero', f'of={filler}', 'bs=64k', check=False)   # until ENOSPC
    mark = len(stack.agent_log_text())
    stack.api('PUT', f'/ports/{probe["id"]}', {'port': {'extra_dhcp_opts': [
        {'opt_name': 'ntp-server', 'opt_value': '192.0.2.77'}]}})
    wait_for(lambda: 'No space left' in stack.agent_log_text()[mark:], 10, 0.05,
             'the write failure logged')
    # still serving, same dnsmasq, agent alive (udhcpc retried: one run's three
    # 1 s tries were not enough on a loaded machine once)
    assert wait_for(lambda: clients.udhcpc(ns, dev), 20, 0.2)['ip'] == port_ip(probe)
    assert dnsmasq_pid(stack, net['id']) == pid and stack.agent.poll() is None
    os.unlink(filler)
    opts = os.path.join(stack.state_path, 'dhcp', net['id'], 'opts')
    wait_for(lambda: '192.0.2.77' in open(opts).read(), 30, 0.1, 'the change applied')
    assert dnsmasq_pid(stack, net['id']) == pid
    stack.probe_delete(probe)
    stack.api('DELETE', f'/networks/{net["id"]}')
    wait_for(lambda: not os.path.exists(os.path.join(stack.state_path, 'dhcp', net['id'])),
             10, 0.05, 'the network removed')
