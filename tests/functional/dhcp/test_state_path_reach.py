"""A state_path dnsmasq's user cannot search stops the DHCP agent at start with an
error naming the path and the user (issue 10 item 8: it used to start, and
dnsmasq, which re-reads its files as nobody, stopped answering after its first
reload with nothing logged)."""

import os

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack
from tests.functional.helpers.host import wait_for

pytestmark = pytest.mark.functional


@pytest.fixture
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'reach', leaks)
    private = os.path.join(s.base, 'private')
    os.makedirs(private)
    os.chmod(private, 0o700)
    s.state_path = os.path.join(private, 'agent-state')
    s.private = private
    try:
        s.start_controller()
        s.write_agent_conf()
        yield s
    finally:
        s.close()


def test_unreachable_state_path_stops_the_agent_with_a_clear_error(stack):
    s = stack
    agent = s.start_agent(wait=False)
    assert agent.wait(60) == 1
    with open(s.agent_log + '.stderr', errors='replace') as f:
        said = f.read()
    assert 'dnsmasq runs as user nobody' in said, said
    assert f'{s.private} (mode 0700' in said, said
    assert 'ERROR' in s.agent_log_text() and s.private in s.agent_log_text()
    # searchable (not listable) is enough: the agent starts and serves
    os.chmod(s.private, 0o711)
    s.start_agent()
    net, _ = s.create_network('reach', '10.95.0.0/24', '10.95.0.1')
    probe = s.probe_create(net['id'])
    wait_for(lambda: clients.dhclient(probe['namespace'], probe['device']).get(
        'fixed-address'), 60, 0.5, 'a lease under the 0711 state path')
    s.probe_delete(probe)
