"""An agent process registers through report_state, is alive in ``netnode agent-list``,
and is reported dead once it has stopped for longer than agent_down_time."""

import json
import time

import pytest

from tests.functional.dhcp.stack import DhcpStack, wait_for

pytestmark = pytest.mark.functional

DOWN_TIME = 5


def _agents(stack):
    code, out, err = stack.cli('-f', 'json', 'agent-list')
    assert code == 0, err
    return {a['host']: a for a in json.loads(out)}


def _alive(stack):
    """``alive`` of ``netnode -f json agent-list`` for the stack's agent: a boolean
    (the table shows ``:-)``/``xxx``, as openstackclient)."""
    return (_agents(stack).get(stack.host) or {}).get('alive')


def _agent_row(stack):
    [row] = stack.api('GET', f'/agents?host={stack.host}')['agents']
    return row


@pytest.fixture
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'live', leaks, report_interval=1,
                  server_conf=f'agent_down_time = {DOWN_TIME}').start()
    yield s
    s.close()


def test_agent_alive_then_dead_after_agent_down_time(stack):
    wait_for(lambda: _alive(stack) is True, 10,
             what='the DHCP agent alive in agent-list')
    row = _agent_row(stack)
    assert row['agent_type'] == 'DHCP agent' and row['binary'] == 'neutron-dhcp-agent'
    assert row['topic'] == 'dhcp_agent' and row['admin_state_up'] is True

    stopping = time.monotonic()
    assert stack.stop_agent() == 0          # SIGTERM: a clean exit
    # Reported dead only once agent_down_time has passed since its last heartbeat,
    # which came at most report_interval (1 s) before it was told to stop.  (How
    # soon the CLI shows it is up to the load: only the lower bound is firm.)
    wait_for(lambda: _alive(stack) is False, DOWN_TIME + 10, 0.2,
             what='the stopped agent reported dead')
    assert time.monotonic() - stopping >= DOWN_TIME - 1.5
    assert _agent_row(stack)['alive'] is False
    # Alive again once it reports after a restart (a 'revived' agent).
    stack.start_agent()
    wait_for(lambda: _alive(stack) is True, 10,
             what='the restarted agent alive again')
