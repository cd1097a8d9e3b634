import logging
import threading
import time

import pytest

from agent.process import manager as pm
from agent.process.monitor import ProcessMonitor
from tests.unit.process.fakes import FakeProcessTable
from tests.unit.process.test_manager import NET, dnsmasq_spec


@pytest.fixture
def table():
    return FakeProcessTable()


@pytest.fixture
def manager(table):
    return pm.ProcessManager(table, spawn_timeout=0.05, stop_timeout=0.05,
                             poll_interval=0.001)


def kill(table, manager):
    pid = manager.observe(dnsmasq_spec()).pid
    del table.procs[pid]
    return pid


def test_check_once_respawns_dead_child_and_warns(table, manager, caplog):
    mon = ProcessMonitor(1, 'respawn', manager)
    manager.ensure(dnsmasq_spec())
    mon.register(dnsmasq_spec())
    assert mon.check_once() == 0
    old = kill(table, manager)
    with caplog.at_level(logging.WARNING):
        assert mon.check_once() == 1
    assert f'dnsmasq for {NET} died, respawning' in caplog.text
    new = manager.observe(dnsmasq_spec()).pid
    assert new and new != old and mon.respawn_count == 1


def test_the_monitor_keeps_no_file_contents_and_respawns_on_the_files_on_disk(table,
                                                                              manager):
    mon = ProcessMonitor(1, 'respawn', manager)
    spec = dnsmasq_spec(host='the hosts')
    manager.ensure(spec)
    mon.register(spec)
    [kept] = mon.registered()
    assert (kept.config_files, kept.spawn_files) == ((), ())
    assert kept.key == spec.key and kept.argv == spec.argv
    pid = manager.observe(spec).pid
    del table.procs[pid]
    assert mon.check_once() == 1
    assert manager.observe(spec).running
    assert table.files[spec.config_files[0][0]] == 'the hosts'      # left as written


def test_a_child_being_restarted_is_not_respawned(table, manager):
    mon = ProcessMonitor(1, 'respawn', manager)
    manager.ensure(dnsmasq_spec())
    mon.register(dnsmasq_spec())
    checked, checkers, spawn = [], [], table.spawn

    def spawn_with_a_check(namespace, argv, env):
        # the old child is gone and the new one not started: a check now waits
        checker = threading.Thread(target=lambda: checked.append(mon.check_once()))
        checker.start()
        checkers.append(checker)
        checker.join(0.2)          # time to observe the gap (it cannot, holding no lock)
        return spawn(namespace, argv, env)

    table.spawn = spawn_with_a_check
    spec = dnsmasq_spec(host='bb,1.2.3.5')
    assert manager.ensure(spec, restart_on_change=True) == pm.RESTARTED
    checkers[0].join()
    assert checked == [0] and mon.respawn_count == 0
    assert len(table.spawned) == 2


def test_unregistered_child_is_not_respawned(table, manager):
    mon = ProcessMonitor(1, 'respawn', manager)
    manager.ensure(dnsmasq_spec())
    mon.register(dnsmasq_spec())
    mon.unregister(NET, 'dnsmasq')
    kill(table, manager)
    assert mon.check_once() == 0
    assert not manager.observe(dnsmasq_spec()).running


def test_exit_action_calls_exit_callback(table, manager):
    exited = []
    mon = ProcessMonitor(1, 'exit', manager, on_exit=exited.append)
    manager.ensure(dnsmasq_spec())
    mon.register(dnsmasq_spec())
    kill(table, manager)
    mon.check_once()
    assert [s.key for s in exited] == [dnsmasq_spec().key]
    assert not manager.observe(dnsmasq_spec()).running


def test_thread_respawns_within_interval_and_stops(table, manager):
    mon = ProcessMonitor(0.05, 'respawn', manager)
    manager.ensure(dnsmasq_spec())
    mon.register(dnsmasq_spec())
    mon.start()
    try:
        kill(table, manager)
        deadline = time.monotonic() + 2
        while not manager.observe(dnsmasq_spec()).running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert manager.observe(dnsmasq_spec()).running
    finally:
        mon.stop()
    assert mon._thread is None


def test_failed_respawn_is_logged_and_retried(table, manager, caplog):
    mon = ProcessMonitor(1, 'respawn', manager)
    mon.register(dnsmasq_spec())
    table.spawn_fails = (2, 'boom')
    with caplog.at_level(logging.ERROR):
        assert mon.check_once() == 1
    assert 'boom' in caplog.text
    table.spawn_fails = None
    mon.check_once()
    assert manager.observe(dnsmasq_spec()).running


def test_interval_zero_disables_thread(manager):
    mon = ProcessMonitor(0, 'respawn', manager)
    mon.start()
    assert mon._thread is None
    mon.stop()


def test_bad_action_rejected(manager):
    with pytest.raises(ValueError, match='check_child_processes_action'):
        ProcessMonitor(1, 'reboot', manager)


class CountingTable(FakeProcessTable):
    def __init__(self):
        super().__init__()
        self.cmdline_reads = 0

    def cmdline(self, pid):
        self.cmdline_reads += 1
        return super().cmdline(pid)


def test_a_running_child_is_checked_by_its_pid_file_stamp_and_pid():
    """Seen running, a child costs a stat and a signal 0 per check; a pid file
    written again, a pid gone, or REVALIDATE_SECONDS passed: a full observe."""
    table, now = CountingTable(), [0.0]
    manager = pm.ProcessManager(table, spawn_timeout=0.05, stop_timeout=0.05,
                                poll_interval=0.001)
    mon = ProcessMonitor(1, 'respawn', manager, clock=lambda: now[0])
    spec = dnsmasq_spec()
    manager.ensure(spec)
    mon.register(spec)
    assert mon.check_once() == 0
    reads = table.cmdline_reads
    for _ in range(5):
        now[0] += 1
        assert mon.check_once() == 0
    assert table.cmdline_reads == reads                  # stamp and pid only
    now[0] += 30                                         # REVALIDATE_SECONDS
    assert mon.check_once() == 0 and table.cmdline_reads == reads + 1
    # the pid file now names a process that is not ours: respawned at once
    table.files[spec.pid_file] = str(table.start_foreign(['sleep', '100']))
    assert mon.check_once() == 1 and mon.respawn_count == 1
    assert table.cmdline(manager.observe(spec).pid)[0] == 'dnsmasq'
    # the pid file unchanged but its process gone: respawned at once
    kill(table, manager)
    assert mon.check_once() == 1 and mon.respawn_count == 2


def test_watches_a_child_by_its_registration_not_its_files(manager):
    mon = ProcessMonitor(1, 'respawn', manager)
    mon.register(dnsmasq_spec())
    assert mon.watches(dnsmasq_spec()) and mon.watches(dnsmasq_spec(host='bb,1.2.3.5'))
    other = dnsmasq_spec(extra=('--port=0',))
    assert not mon.watches(other) and mon.watches(other, exactly=False)
    assert mon.registered()[0].config_files == ()        # kept without contents
    mon.unregister(NET, 'dnsmasq')
    assert not mon.watches(dnsmasq_spec(), exactly=False)
