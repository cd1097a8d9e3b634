"""The agents' shared life cycle (agent.cmd.run.run_agent): exit statuses, SIGHUP
reload on a thread, SIGTERM stop.  The agent is a recording stand-in."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from agent.cmd import run
from agent.common import service_lock
from agent.conf import service


class Recorder:
    def __init__(self, on_start=None):
        self.events = []
        self.reloaded = threading.Event()
        self.on_start = on_start

    def start(self):
        self.events.append('start')
        if self.on_start:
            self.on_start(self)
        return self

    def reload(self):
        self.events.append('reload')
        self.reloaded.set()

    def stop(self):
        self.events.append('stop')


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    """No oslo.log set-up in the test process; its signal handlers restored after."""
    monkeypatch.setattr(service, 'setup_logging', lambda conf, name: None)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def spec(build, lock_exit=3):
    return run.AgentMain(binary='netnode-test-agent', label='test agent',
                         groups=service.AGENT_GROUPS, build=build, lock_exit=lock_exit)


def argv(tmp_path):
    conf = tmp_path / 'agent.ini'
    conf.write_text(f'[DEFAULT]\nstate_path = {tmp_path}/state\n')
    return ['--config-file', str(conf)]


def test_sighup_during_start_up_reloads_once_started_and_sigterm_stops(tmp_path):
    def signals(agent):
        def send():
            os.kill(os.getpid(), signal.SIGHUP)
            agent.reloaded.wait(5)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=send, daemon=True).start()
    agent = Recorder(on_start=signals)
    assert run.run_agent(spec(lambda conf: agent), argv(tmp_path)) == 0
    assert agent.events == ['start', 'reload', 'stop']


def test_a_held_state_path_gives_the_lock_exit_status(tmp_path, capsys):
    fd = service_lock.acquire(f'{tmp_path}/state', 'netnode-test-agent')
    try:
        assert run.run_agent(spec(lambda conf: Recorder()), argv(tmp_path)) == 3
    finally:
        os.close(fd)
    assert 'only one may use a state_path' in capsys.readouterr().err


def test_an_agent_that_cannot_start_exits_1_and_says_why(tmp_path, capsys):
    def build(conf):
        raise RuntimeError('no bridge br-x')
    assert run.run_agent(spec(build), argv(tmp_path)) == 1
    assert 'netnode-test-agent: cannot start: no bridge br-x' in capsys.readouterr().err


def test_a_missing_config_file_exits_2_and_says_which(tmp_path, capsys):
    missing = str(tmp_path / 'nowhere.ini')
    assert run.run_agent(spec(lambda conf: Recorder()), ['--config-file', missing]) == 2
    assert missing in capsys.readouterr().err


HANGING_AGENT = '''
import sys, threading
from agent.cmd import run
from agent.conf import service

class Hanging:
    def start(self):
        open(sys.argv[2], 'w').close()
        return self
    def reload(self):
        pass
    def stop(self):
        threading.Event().wait()          # a stop that never returns

# and a non-daemon thread that would hold the interpreter's exit
hold = threading.Thread(target=threading.Event().wait, name='holder')
hold.start()
run.main(run.AgentMain(binary='netnode-test-agent', label='test agent',
                       groups=service.AGENT_GROUPS, build=lambda conf: Hanging(),
                       lock_exit=3), ['--config-file', sys.argv[1]])
'''


def test_the_process_exits_by_the_deadline_whatever_the_stop_waits_for(tmp_path):
    started = tmp_path / 'started'
    proc = subprocess.Popen([sys.executable, '-c', HANGING_AGENT, argv(tmp_path)[1],
                             str(started)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        took = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert took < 10, f'{took:.1f} s (deadline {run.STOP_DEADLINE} s)'
