"""Every agent exits soon after SIGTERM, whatever it waits for, and its children
keep serving (issue 11 item 6: the DHCP agent took 22.9 s mid-sync with the
controller unreachable, 4 s idle).

The bound asserted is generous (this machine is shared); the agents' own deadline
is agent.cmd.run.STOP_DEADLINE, and ``tools/bench-restart.py --stop-only``
prints the figures."""

import os

import pytest

from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid
from tests.functional.helpers import stop_timing
from tests.functional.helpers.host import wait_for
from tests.functional.l3.stack import L3Stack
from tests.functional.metadata.stack import MetadataStack

pytestmark = pytest.mark.functional

BOUND = 10.0      # seconds; the agents' deadline is 1.5 s


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def assert_quick(times, agent):
    print(f'{agent} SIGTERM -> exit:',
          ', '.join(f'{case} {seconds:.2f} s' for case, seconds in times.items()))
    slow = {case: seconds for case, seconds in times.items() if seconds > BOUND}
    assert not slow, f'{agent} took too long to exit: {slow}'


def test_dhcp_agent_exits_quickly_and_dnsmasq_keeps_serving(run_id, leaks):
    stack = DhcpStack(run_id, 'stop', leaks).start()
    try:
        net, _ = stack.create_network('stop', '10.61.0.0/24', '10.61.0.1')
        wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.05, 'dnsmasq')
        pid = dnsmasq_pid(stack, net['id'])
        times = stop_timing.agent_stop_times(stack)
        assert alive(pid) and dnsmasq_pid(stack, net['id']) == pid
    finally:
        stack.close()
    assert_quick(times, 'DHCP agent')


def test_l3_agent_exits_quickly(run_id, leaks):
    stack = L3Stack(run_id, 'stopl3', leaks).start()
    try:
        net, sub = stack.network('stop-int', '10.62.0.0/24', '10.62.0.1')
        router = stack.router('stop-router')
        stack.add_interface(router['id'], sub['id'])
        times = stop_timing.agent_stop_times(stack)
    finally:
        stack.close()
    assert_quick(times, 'L3 agent')


def test_metadata_agent_exits_quickly(run_id, leaks):
    stack = MetadataStack(run_id, leaks).start()
    try:
        times = stop_timing.metadata_stop_times(stack)
    finally:
        stack.close()
    assert_quick(times, 'metadata agent')
