"""How long an agent process takes to exit on SIGTERM, in the states that used to
make it slow: idle, in the middle of a full sync, and with the controller
unreachable while a full sync waits on it.  Used by tests/functional/
test_agent_stop.py and tools/bench-restart.py --stop-only."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

from tests.functional.metadata.stack import unix_get

MID_SYNC = 'mid-sync'
UNREACHABLE = 'controller unreachable'
IDLE = 'idle'


def sigterm_seconds(proc: subprocess.Popen, timeout: float = 60.0) -> float:
    """SIGTERM ``proc``; the seconds until it exited (SIGKILL after ``timeout``)."""
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float('inf')
    return time.monotonic() - start


def full_sync_then_sigterm(proc: subprocess.Popen, settle: float = 0.3) -> float:
    """SIGHUP (the agents resync in full on it), then SIGTERM once it is under way."""
    proc.send_signal(signal.SIGHUP)
    time.sleep(settle)
    return sigterm_seconds(proc)


def agent_stop_times(stack, restart=None) -> dict[str, float]:
    """The three cases on an AgentStack (DHCP or L3) started and in sync; the
    controller is stopped for the last one.  ``restart()`` starts the agent again
    (default: ``stack.start_agent()``)."""
    restart = restart or stack.start_agent
    times = {IDLE: sigterm_seconds(stack.agent)}
    restart()
    times[MID_SYNC] = full_sync_then_sigterm(stack.agent)
    restart()
    stack.server.stop()
    # Its periodic resync and heartbeat now wait on calls that get no answer.
    times[UNREACHABLE] = full_sync_then_sigterm(stack.agent, settle=1.5)
    return times


def metadata_stop_times(stack) -> dict[str, float]:
    """On a MetadataStack: idle, and with the controller stopped while a metadata
    request that asks it (an unknown network's port) is in flight."""
    def request():
        try:
            unix_get(stack.socket_path, '/openstack/latest/meta_data.json',
                     {'X-Forwarded-For': '10.0.0.5',
                      'X-Neutron-Network-ID': str(uuid.uuid4())}, timeout=30)
        except OSError:
            pass
    times = {IDLE: sigterm_seconds(stack.agent.proc)}
    stack.start_agent()
    stack.server.stop()
    threading.Thread(target=request, daemon=True, name='md-request').start()
    time.sleep(1.0)
    times[UNREACHABLE] = sigterm_seconds(stack.agent.proc)
    return times


def restart_server(stack) -> None:
    """Start a stack's stopped controller again on the same database."""
    stack.server.stop()
    # ServerProcess reads its port from the first listen line of its log
    os.replace(stack.server.log_path, stack.server.log_path + '.old')
    stack.server.port = None
    stack.server.start()
