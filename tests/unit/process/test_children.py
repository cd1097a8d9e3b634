"""Child actions: the pure diff as a table, their shell forms, and the executor over
the in-memory process table (start, SIGHUP, restart, adopt, stop; the monitor
registration follows).  No mocks."""

import dataclasses
import signal

import pytest

from agent.process import actions as ch
from agent.process.children import Children
from agent.process.manager import ProcessManager
from agent.process.monitor import ProcessMonitor
from tests.unit.process.fakes import GONE, RUNNING
from tests.unit.process.test_manager import NET, HaproxyTable, dnsmasq_spec, haproxy_spec

DNSMASQ = dnsmasq_spec()
HAPROXY = haproxy_spec()


def seen(**changes):
    return dataclasses.replace(RUNNING, **changes)


@pytest.mark.parametrize('spec, wanted, observed, why, plan', [
    (DNSMASQ, True, seen(), '', []),
    (DNSMASQ, True, ch.ObservedChild(), '', [ch.StartChild(DNSMASQ)]),
    (DNSMASQ, True, seen(running=False, argv_matches=False), '', [ch.StartChild(DNSMASQ)]),
    (DNSMASQ, True, seen(watch_current=False), '', [ch.AdoptChild(DNSMASQ)]),
    (DNSMASQ, True, seen(config_current=False), '', [ch.ReloadChild(DNSMASQ)]),
    (DNSMASQ, True, seen(config_current=False, watch_current=False), '',
     [ch.ReloadChild(DNSMASQ)]),
    (DNSMASQ, True, seen(config_current=False), 'tagged lease',
     [ch.RestartChild(DNSMASQ, 'configuration changed; tagged lease')]),
    (DNSMASQ, True, seen(), 'tagged lease', []),           # no change: no restart
    (DNSMASQ, True, seen(argv_matches=False), '',
     [ch.RestartChild(DNSMASQ, 'command line changed')]),
    (DNSMASQ, True, seen(elsewhere=True), '',
     [ch.RestartChild(DNSMASQ, 'it runs in a namespace that is gone')]),
    (HAPROXY, True, seen(config_current=False), '',
     [ch.RestartChild(HAPROXY, 'configuration changed')]),
    (DNSMASQ, False, seen(), '', [ch.StopChild(DNSMASQ)]),
    (DNSMASQ, False, ch.ObservedChild(config_present=True, watch_current=True), '',
     [ch.StopChild(DNSMASQ)]),
    (DNSMASQ, False, ch.ObservedChild(), '', [ch.StopChild(DNSMASQ)]),   # still watched
    (DNSMASQ, False, ch.ObservedChild(watch_current=True), '', []),
])
def test_diff(spec, wanted, observed, why, plan):
    assert list(ch.diff(spec, wanted, observed, why)) == plan


def test_describe_as_shell():
    ns = f'qdhcp-{NET}'
    assert ch.StartChild(DNSMASQ).describe() == (
        f'cat > /state/dhcp/{NET}/host <<EOF ...; ip netns exec {ns} dnsmasq --no-hosts '
        f'--pid-file=/state/dhcp/{NET}/pid --dhcp-hostsfile=/state/dhcp/{NET}/host')
    assert ch.ReloadChild(DNSMASQ).describe().endswith(
        f'kill -HUP $(cat /state/dhcp/{NET}/pid)')
    assert ch.RestartChild(HAPROXY, 'why').describe() == (
        f'kill $(cat /state/external/pids/{NET}.pid.haproxy); '
        f'cat > /state/ns-metadata-proxy/{NET}.conf <<EOF ...; '
        f'haproxy -f /state/ns-metadata-proxy/{NET}.conf  # why')
    assert ch.StopChild(HAPROXY).describe() == (
        f'kill $(cat /state/external/pids/{NET}.pid.haproxy); rm -f '
        f'/state/external/pids/{NET}.pid.haproxy /state/ns-metadata-proxy/{NET}.conf')
    assert ch.AdoptChild(DNSMASQ).describe().startswith('# dnsmasq for ')


@pytest.fixture
def world():
    table = HaproxyTable()
    manager = ProcessManager(table, poll_interval=0, stop_timeout=0.1)
    monitor = ProcessMonitor(1, 'respawn', manager)
    return table, monitor, Children(manager, monitor)


def converge(children, spec, wanted=True, why=''):
    plan = children.plan(spec, wanted, why)
    return [type(a).__name__ for a in plan], children.run(plan, 'test')


def test_started_reloaded_restarted_and_stopped(world, caplog):
    caplog.set_level('INFO')
    table, monitor, children = world
    assert converge(children, DNSMASQ) == (['StartChild'], 'started')
    [pid] = table.procs
    assert monitor.watches(DNSMASQ)
    assert converge(children, DNSMASQ) == ([], 'unchanged')
    changed = dnsmasq_spec(host='bb,1.2.3.5')
    assert converge(children, changed) == (['ReloadChild'], 'reloaded')
    assert table.signals == [(pid, signal.SIGHUP)] and list(table.procs) == [pid]
    again = dnsmasq_spec(host='cc,1.2.3.6')
    assert converge(children, again, why='tagged') == (['RestartChild'], 'restarted')
    [new] = table.procs
    assert new != pid and table.files[f'/state/dhcp/{NET}/host'] == 'cc,1.2.3.6'
    assert f'dnsmasq for {NET} in qdhcp-{NET}: configuration changed; tagged, restarting' \
        in caplog.text
    assert converge(children, again, wanted=False) == (['StopChild'], 'stopped')
    assert not table.procs and not monitor.watches(again) and monitor.registered() == []
    assert f'/state/dhcp/{NET}/host' not in table.files
    assert converge(children, again, wanted=False) == ([], 'unchanged')


def test_stopping_by_a_spec_with_another_command_line(world):
    """A teardown knows the child by its pid file only (dhcp.desired.stop_spec):
    the monitor forgets the child whatever command line it was watched with."""
    table, monitor, children = world
    children.run(children.plan(DNSMASQ), 'test')
    table.procs.clear()                             # dead, not yet respawned
    stop = dataclasses.replace(DNSMASQ, argv=('dnsmasq', f'--pid-file={DNSMASQ.pid_file}'),
                               config_files=())
    assert converge(children, stop, wanted=False) == (['StopChild'], 'stopped')
    assert monitor.registered() == [] and monitor.check_once() == 0 and not table.procs


def test_a_previous_agents_child_is_adopted_not_respawned(world):
    table, monitor, children = world
    children.run(children.plan(DNSMASQ), 'test')
    [pid] = table.procs
    fresh = ProcessMonitor(1, 'respawn', children.processes)    # the restarted agent's
    after = Children(children.processes, fresh)
    assert converge(after, DNSMASQ) == (['AdoptChild'], 'adopted')
    assert list(table.procs) == [pid] and len(table.spawned) == 1 and not table.signals
    assert fresh.watches(DNSMASQ) and converge(after, DNSMASQ) == ([], 'unchanged')
    table.procs.clear()                                         # then it dies
    assert fresh.check_once() == 1 and len(table.procs) == 1


def test_a_child_in_a_namespace_made_again_is_restarted(world):
    table, _, children = world
    children.run(children.plan(DNSMASQ), 'test')
    [pid] = table.procs
    table.netns[pid] = GONE
    assert converge(children, DNSMASQ) == (['RestartChild'], 'restarted')
    [new] = table.procs
    assert new != pid and table.netns[new] == DNSMASQ.namespace


def test_haproxy_restarted_on_a_config_change(world):
    table, _, children = world
    children.run(children.plan(HAPROXY), 'test')
    [pid] = table.procs
    assert converge(children, haproxy_spec('cfg2')) == (['RestartChild'], 'restarted')
    assert list(table.procs) != [pid] and (pid, signal.SIGHUP) not in table.signals
