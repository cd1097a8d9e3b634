import dataclasses
import signal

import pytest

from agent.process import manager as pm
from agent.process.spec import InvalidSpec, ProcessSpec
from tests.unit.process.fakes import FakeProcessTable

NET = '524952ab-eb76-4838-8490-3a60a5746dcb'
OTHER = '4d7648cf-ebbd-4567-b336-bf7f0af13042'
DIR = f'/state/dhcp/{NET}'


def dnsmasq_spec(extra=(), host='aa,1.2.3.4'):
    return ProcessSpec(
        service='dnsmasq', uuid=NET, namespace=f'qdhcp-{NET}',
        argv=('dnsmasq', '--no-hosts', f'--pid-file={DIR}/pid',
              f'--dhcp-hostsfile={DIR}/host', *extra),
        pid_file=f'{DIR}/pid', config_files=((f'{DIR}/host', host),))


def haproxy_spec(content='cfg'):
    cfg = f'/state/ns-metadata-proxy/{NET}.conf'
    return ProcessSpec(service='haproxy', uuid=NET, namespace=None,
                       argv=('haproxy', '-f', cfg),
                       pid_file=f'/state/external/pids/{NET}.pid.haproxy',
                       config_files=((cfg, content),), config_mode=0o640)


class HaproxyTable(FakeProcessTable):
    def pid_file_hook(self, argv, pid):
        if argv[0] == 'haproxy':
            self.files[f'/state/external/pids/{NET}.pid.haproxy'] = str(pid)


@pytest.fixture
def table():
    return HaproxyTable()


@pytest.fixture
def manager(table):
    return pm.ProcessManager(table, spawn_timeout=0.05, stop_timeout=0.05,
                             poll_interval=0.001)


def test_start_writes_config_and_spawns_with_process_tag(table, manager):
    spec = dnsmasq_spec()
    assert manager.ensure(spec) == pm.STARTED
    ns, argv, env = table.spawned[0]
    assert ns == f'qdhcp-{NET}' and argv == spec.argv
    assert env == (('PROCESS_TAG', f'dnsmasq-{NET}'),)
    assert table.files[f'{DIR}/host'] == 'aa,1.2.3.4'
    state = manager.observe(spec)
    assert state.running and state.argv_matches and state.pid in table.procs


def test_nothing_changed_is_unchanged(table, manager):
    spec = dnsmasq_spec()
    manager.ensure(spec)
    pid = manager.observe(spec).pid
    assert manager.ensure(spec) == pm.UNCHANGED
    assert table.signals == [] and len(table.spawned) == 1
    assert manager.observe(spec).pid == pid


def test_config_change_sends_sighup_to_dnsmasq(table, manager):
    manager.ensure(dnsmasq_spec())
    pid = manager.observe(dnsmasq_spec()).pid
    assert manager.ensure(dnsmasq_spec(host='bb,1.2.3.5')) == pm.RELOADED
    assert table.signals == [(pid, signal.SIGHUP)]
    assert len(table.spawned) == 1


def test_config_change_restarts_dnsmasq_when_asked(table, manager):
    manager.ensure(dnsmasq_spec())
    old = manager.observe(dnsmasq_spec()).pid
    spec = dnsmasq_spec(host='bb,1.2.3.5')
    assert manager.ensure(spec, restart_on_change=True) == pm.RESTARTED
    assert table.signals == [(old, signal.SIGTERM)]
    assert table.files[f'{DIR}/host'] == 'bb,1.2.3.5'
    assert manager.observe(spec).pid not in (None, old)
    # nothing changed: nothing to restart for
    assert manager.ensure(spec, restart_on_change=True) == pm.UNCHANGED


def test_config_change_restarts_haproxy(table, manager):
    manager.ensure(haproxy_spec())
    old = manager.observe(haproxy_spec()).pid
    assert table.modes[f'/state/ns-metadata-proxy/{NET}.conf'] == 0o640
    assert manager.ensure(haproxy_spec('cfg2')) == pm.RESTARTED
    assert table.signals == [(old, signal.SIGTERM)]
    new = manager.observe(haproxy_spec('cfg2')).pid
    assert new != old and new in table.procs


def test_argv_change_restarts(table, manager):
    manager.ensure(dnsmasq_spec())
    old = manager.observe(dnsmasq_spec()).pid
    spec = dnsmasq_spec(extra=('--dhcp-lease-max=16',))
    assert manager.ensure(spec) == pm.RESTARTED
    assert (old, signal.SIGTERM) in table.signals
    assert (old, signal.SIGHUP) not in table.signals
    state = manager.observe(spec)
    assert state.pid != old and state.argv_matches


def test_argv_and_config_change_restart_without_hup(table, manager):
    manager.ensure(dnsmasq_spec())
    spec = dnsmasq_spec(extra=('--x',), host='new')
    assert manager.ensure(spec) == pm.RESTARTED
    assert [s for _, s in table.signals] == [signal.SIGTERM]


def test_foreign_pid_is_not_ours_and_never_signalled(table, manager):
    foreign = table.start_foreign(['sleep', '1000'])
    table.files[f'{DIR}/pid'] = str(foreign)
    spec = dnsmasq_spec()
    assert manager.observe(spec) == pm.ProcessState(None, False, False)
    assert manager.ensure(spec) == pm.STARTED
    assert manager.stop(spec) is True
    assert all(pid != foreign for pid, _ in table.signals)
    assert foreign in table.procs


def test_stale_pid_file_of_dead_process_is_removed_before_spawn(table, manager):
    table.files[f'{DIR}/pid'] = '99999'
    assert manager.ensure(dnsmasq_spec()) == pm.STARTED
    assert table.files[f'{DIR}/pid'] != '99999'


def test_stop_escalates_to_sigkill(table, manager):
    manager.ensure(dnsmasq_spec())
    pid = manager.observe(dnsmasq_spec()).pid
    table.ignore_sigterm.add(pid)
    assert manager.stop(dnsmasq_spec()) is True
    assert table.signals == [(pid, signal.SIGTERM), (pid, signal.SIGKILL)]
    assert f'{DIR}/pid' not in table.files
    assert manager.stop(dnsmasq_spec()) is False


def test_spawn_failure_names_process_and_error(table, manager):
    table.spawn_fails = (1, 'Cannot open network namespace')
    with pytest.raises(pm.ProcessError, match=f'dnsmasq for {NET}.*status 1.*Cannot open'):
        manager.ensure(dnsmasq_spec())


def test_spawn_without_pid_file_times_out_with_clear_error(table, manager):
    table.spawn_fails = (0, '')
    with pytest.raises(pm.ProcessError, match=f'dnsmasq for {NET}.*no live process'):
        manager.ensure(dnsmasq_spec())


def test_reload_starts_a_dead_child(table, manager):
    assert manager.reload(dnsmasq_spec()) == pm.STARTED
    assert manager.reload(dnsmasq_spec()) == pm.RELOADED


def test_list_running_finds_both_layouts_and_skips_foreign(table, manager):
    manager.ensure(dnsmasq_spec())
    manager.ensure(haproxy_spec())
    foreign = table.start_foreign(['sleep', '1000'])
    table.files[f'/state/dhcp/{OTHER}/pid'] = str(foreign)
    table.files['/state/dhcp/not-a-uuid/pid'] = str(manager.observe(dnsmasq_spec()).pid)
    found = manager.list_running('dnsmasq', '/state/dhcp')
    assert [(f.uuid, f.pid_file) for f in found] == [(NET, f'{DIR}/pid')]
    found = manager.list_running('haproxy', '/state/external/pids')
    assert [f.uuid for f in found] == [NET]
    assert manager.stop_running(found[0]) is True
    assert not manager.observe(haproxy_spec()).running


@pytest.mark.parametrize('kwargs, match', [
    ({'uuid': '../etc'}, 'not a valid UUID'),
    ({'service': 'Bad Name'}, 'invalid service'),
    ({'argv': ('dnsmasq',)}, 'uuid must appear'),
    ({'pid_file': 'relative/pid'}, 'not absolute'),
    ({'namespace': '../x'}, 'invalid namespace'),
    ({'env': (('A B', 'x'),)}, 'environment'),
])
def test_invalid_specs_are_rejected(kwargs, match):
    base = dict(service='dnsmasq', uuid=NET, namespace=None,
                argv=('dnsmasq', f'--pid-file={DIR}/pid'), pid_file=f'{DIR}/pid')
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ProcessSpec(**base)


def test_spec_reload_signal_by_service():
    assert dnsmasq_spec().reload_signal == signal.SIGHUP
    assert haproxy_spec().reload_signal is None
    assert InvalidSpec.__mro__[1] is ValueError


def test_spawn_files_are_written_only_when_the_child_starts(table, manager):
    import dataclasses
    lease = f'{DIR}/leases'
    spec = dataclasses.replace(dnsmasq_spec(), spawn_files=((lease, '0 aa 1.2.3.4 * *'),))
    assert manager.ensure(spec) == pm.STARTED
    assert table.files[lease] == '0 aa 1.2.3.4 * *'
    table.files[lease] = 'written by dnsmasq'
    changed = dataclasses.replace(spec, spawn_files=((lease, 'new seed'),))
    assert manager.ensure(changed) == pm.UNCHANGED
    assert manager.ensure(dataclasses.replace(changed, config_files=(
        (f'{DIR}/host', 'other'),))) == pm.RELOADED
    assert table.files[lease] == 'written by dnsmasq'
    manager.stop(changed)
    assert manager.ensure(changed) == pm.STARTED
    assert table.files[lease] == 'new seed'


# -- children the pid file does not name (issue 11 item 2) --------------------------

def test_failed_start_adopts_our_child_that_holds_the_port(table, manager):
    spec = dnsmasq_spec()
    old = table.start_foreign(spec.argv, spec.namespace)
    table.files[spec.pid_file] = 'notapid'
    table.spawn_fails = (2, 'failed to create listening socket: Address already in use')
    assert manager.ensure(spec) == pm.STARTED
    assert table.files[spec.pid_file] == str(old)
    assert (old, signal.SIGHUP) in table.signals       # it re-reads the new files
    assert manager.observe(spec).pid == old


def test_failed_start_restarts_an_adopted_child_with_another_argv(table, manager):
    spec = dnsmasq_spec()
    old = table.start_foreign(spec.argv + ('--old',), spec.namespace)
    table.spawn_fails = (2, 'Address already in use')

    def fail_once(namespace, argv, env, spawn=table.spawn):
        result = spawn(namespace, argv, env)
        table.spawn_fails = None
        return result
    table.spawn = fail_once
    assert manager.ensure(spec) == pm.STARTED
    assert old not in table.procs and manager.observe(spec).argv_matches


def test_failed_start_never_adopts_a_foreign_process(table, manager):
    spec = dnsmasq_spec()
    foreign = table.start_foreign(('dnsmasq', '--pid-file=/elsewhere/pid', NET),
                                  spec.namespace)
    table.spawn_fails = (2, 'Address already in use')
    with pytest.raises(pm.ProcessError, match='Address already in use'):
        manager.ensure(spec)
    assert foreign in table.procs and not table.signals


def test_settle_stops_a_duplicate_and_keeps_the_pid_files_child(table, manager):
    spec = dnsmasq_spec()
    manager.ensure(spec)
    kept = manager.observe(spec).pid
    stray = table.start_foreign(spec.argv, spec.namespace)
    scan = table.scan()
    decision = manager.settle(spec, manager.children(spec, scan), scan, True)
    assert decision.keep == kept and [p for p, _ in decision.stop] == [stray]
    assert stray not in table.procs and kept in table.procs


def test_settle_does_not_signal_a_pid_reused_since_the_scan(table, manager):
    spec = dnsmasq_spec()
    stray = table.start_foreign(spec.argv, 'qdhcp-elsewhere')
    scan = table.scan()
    table.procs[stray] = ('sleep', '100')       # the pid now runs something else
    decision = manager.settle(spec, manager.children(spec, scan), scan, True)
    assert decision.spawn and not table.signals


def test_settle_keeps_a_child_whose_namespace_was_made_after_the_scan(table, manager):
    spec = dnsmasq_spec()
    manager.ensure(spec)
    kept = manager.observe(spec).pid
    scan = table.scan()
    scan = type(scan)(scan.procs, {}, scan.root_netns)    # listed before it existed
    decision = manager.settle(spec, manager.children(spec, scan), scan, True)
    assert decision.keep == kept and not decision.stop and kept in table.procs


def test_a_helper_forked_by_our_child_is_not_a_duplicate(table, manager):
    """radvd's privilege-separation helper has its parent's command line."""
    spec = dnsmasq_spec()
    manager.ensure(spec)
    main = manager.observe(spec).pid
    helper = table.start_foreign(spec.argv, spec.namespace)
    table.parents[helper] = main
    scan = table.scan()
    decision = manager.settle(spec, manager.children(spec, scan), scan, True)
    assert decision.keep == main and not decision.stop and helper in table.procs


def test_start_stops_a_live_companion_and_removes_its_pid_file(table, manager):
    """keepalived's VRRP process left by a parent killed -9: stopped before the new
    start (keepalived refuses to start while its -vrrp pid file names a live pid),
    and a stale companion pid file naming nothing of ours is just removed."""
    vrrp = f'/state/ha_confs/{NET}.pid.keepalived-vrrp'
    spec = dataclasses.replace(haproxy_spec(), companion_pid_files=(vrrp,))
    orphan = table.start_foreign(('keepalived', '-P', '-f', f'/state/ha_confs/{NET}/x'))
    table.files[vrrp] = str(orphan)
    assert manager.ensure(spec) == pm.STARTED
    assert orphan not in table.procs and vrrp not in table.files
    manager.stop(spec)
    table.files[vrrp] = '99999'
    assert manager.ensure(spec) == pm.STARTED and vrrp not in table.files
