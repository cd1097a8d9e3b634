"""``systemctl reload`` (SIGHUP) keeps the L3 agent running and resyncs it."""

import signal

import pytest

from tests.functional.l3.stack import L3Stack
from tests.functional.helpers.host import wait_for

pytestmark = pytest.mark.functional


def test_sighup_resyncs_without_stopping_the_agent(run_id, leaks):
    stack = L3Stack(run_id, 'hup', leaks, resync_interval=600).start()
    try:
        stack.agent.send_signal(signal.SIGHUP)
        wait_for(lambda: 'starting: SIGHUP' in stack.agent_log_text(), 15,
                 what='a full sync requested by SIGHUP')
        wait_for(lambda: stack.agent_log_text().count('done:') >= 2, 15,
                 what='the SIGHUP full sync done')
        assert stack.agent.poll() is None
    finally:
        stack.close()
