"""ChildProcesses: which processes count as ours, over the in-memory process table."""

from agent.cleanup.children import ChildProcesses
from agent.process.manager import ProcessManager
from tests.unit.process.fakes import FakeProcessTable

STATE = '/var/lib/netnode'
NET = '11111111-2222-4333-8444-555555555555'
SUBNET = '99999999-2222-4333-8444-555555555555'
ROUTER = '66666666-7777-4888-8999-aaaaaaaaaaaa'


def children(table):
    return ChildProcesses(STATE, manager=ProcessManager(table, stop_timeout=0.1,
                                                        poll_interval=0.001),
                          driver=table, list_pids=lambda: list(table.procs))


def test_pid_file_children_and_orphans_found_strictly():
    table = FakeProcessTable()
    dnsmasq = table.start_foreign(['dnsmasq', f'--pid-file={STATE}/dhcp/{NET}/pid',
                                   f'--dhcp-range=set:subnet-{SUBNET},192.0.2.0'])
    table.files[f'{STATE}/dhcp/{NET}/pid'] = str(dnsmasq)
    # pid file lost: found through /proc
    proxy = table.start_foreign(['haproxy', '-f', f'{STATE}/ns-metadata-proxy/{NET}.conf'])
    # not ours: other state path, other program, uuid missing, state path as a prefix
    table.start_foreign(['dnsmasq', f'--pid-file=/other/dhcp/{NET}/pid'])
    table.start_foreign(['sleep', '100', f'{STATE}/dhcp/{NET}/pid'])
    table.start_foreign(['haproxy', '-f', f'{STATE}/ns-metadata-proxy/x.conf'])
    table.start_foreign(['haproxy', '-f', f'{STATE}2/ns-metadata-proxy/{NET}.conf'])
    found = children(table).find(NET)
    assert [(p.service, p.pid) for p in found] == [('dnsmasq', dnsmasq), ('haproxy', proxy)]
    assert found[1].pid_file == f'{STATE}/external/pids/{NET}.pid.haproxy'
    assert children(table).find(ROUTER) == []


def test_a_stale_pid_file_pointing_at_a_foreign_process_is_ignored():
    table = FakeProcessTable()
    foreign = table.start_foreign(['sshd'])
    table.files[f'{STATE}/external/pids/{ROUTER}.pid.haproxy'] = str(foreign)
    assert children(table).find(ROUTER) == []


def test_stop_signals_only_the_child_and_the_snapshot_is_refreshed_on_demand():
    table = FakeProcessTable()
    kids = children(table)
    assert kids.find(ROUTER) == []
    proxy = table.start_foreign(['haproxy', '-f',
                                 f'{STATE}/ns-metadata-proxy/{ROUTER}.conf'])
    assert kids.find(ROUTER) == []           # snapshot taken before it started
    kids.refresh()
    [found] = kids.find(ROUTER)
    assert kids.stop(found) and proxy not in table.procs
    assert {pid for pid, _ in table.signals} == {proxy}


def test_a_routers_radvd_is_found_by_pid_file_and_by_proc():
    table = FakeProcessTable()
    pid_file = f'{STATE}/external/pids/{ROUTER}.pid.radvd'
    argv = ['radvd', '-C', f'{STATE}/ra/{ROUTER}.radvd.conf', '-p', pid_file,
            '-m', 'syslog']
    radvd = table.start_foreign(argv)
    table.files[pid_file] = str(radvd)
    lost = table.start_foreign(argv)          # its pid file gone: found through /proc
    table.start_foreign(['radvd', '-C', f'/etc/radvd-{ROUTER}.conf'])   # not ours
    found = children(table).find(ROUTER)
    assert [(p.service, p.pid, p.pid_file) for p in found] == [
        ('radvd', radvd, pid_file), ('radvd', lost, pid_file)]
