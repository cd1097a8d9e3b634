"""RouterAdvertisements over the in-memory process table: radvd started, reloaded
with SIGHUP on a config change, left alone when converged, stopped with its config
removed when no RA subnet is left; the monitor registration follows.  No mocks."""

import ipaddress
import signal

from agent.l3 import ra, radvd
from agent.model.router import Router, RouterPort, RouterSubnet
from agent.process.actions import StartChild, StopChild
from agent.process.children import Children
from agent.process.manager import ProcessManager
from agent.process.monitor import ProcessMonitor
from tests.unit.process.fakes import FakeProcessTable

STATE = '/var/lib/netnode-test'
RID = '11111111-2222-3333-4444-555555555555'
PORT = 'aaaaaaaa-0000-0000-0000-000000000001'
NET = 'bbbbbbbb-0000-0000-0000-000000000001'
SUB = 'cccccccc-0000-0000-0000-000000000001'


class Table(FakeProcessTable):
    def pid_file_hook(self, argv, pid):
        if argv[0] == 'radvd':
            self.files[argv[argv.index('-p') + 1]] = str(pid)


def router(mode='slaac', dns=()):
    subnet = RouterSubnet(SUB, ipaddress.ip_network('2001:db8:1::/64'), None,
                          tuple(ipaddress.ip_address(d) for d in dns), mode)
    return Router(RID, interfaces=(RouterPort(PORT, NET, 'fa:16:3e:00:00:01', (),
                                              (subnet,)),))


def make():
    table = Table()
    manager = ProcessManager(table, poll_interval=0, stop_timeout=0.1)
    monitor = ProcessMonitor(1, 'respawn', manager)
    ras = ra.RouterAdvertisements(Children(manager, monitor), radvd.RaSettings.default(STATE))
    return table, monitor, ras


def test_started_reloaded_then_removed():
    table, monitor, ras = make()
    conf = f'{STATE}/ra/{RID}.radvd.conf'
    assert [type(a) for a in ras.reconcile(router())] == [StartChild]
    [(ns, argv, _)] = table.spawned
    assert ns == f'qrouter-{RID}' and argv[:3] == ('radvd', '-C', conf)
    assert 'prefix 2001:db8:1::/64' in table.files[conf]
    assert [s.service for s in monitor.registered()] == ['radvd']
    assert ras.reconcile(router()).empty                      # converged
    [pid] = table.procs
    ras.reconcile(router(dns=('2001:db8::53',)))
    assert table.signals == [(pid, signal.SIGHUP)] and len(table.spawned) == 1
    assert 'RDNSS 2001:db8::53 {};' in table.files[conf]
    assert [type(a) for a in ras.reconcile(router(mode=None))] == [StopChild]
    assert not table.procs and conf not in table.files
    assert monitor.registered() == []
    assert ras.reconcile(router(mode=None)).empty


def test_remove_stops_an_adopted_radvd():
    table, monitor, ras = make()
    ras.reconcile(router())
    other = ra.RouterAdvertisements(Children(ras.children.processes), ras.settings)
    assert [type(a) for a in other.remove(RID)] == [StopChild]   # a new agent
    assert not table.procs and not [f for f in table.files if 'radvd' in f]
    assert other.remove(RID).empty


def test_a_dead_radvd_is_started_again():
    table, monitor, ras = make()
    ras.reconcile(router())
    table.procs.clear()
    assert monitor.check_once() == 1 and len(table.procs) == 1


def test_orphans_are_the_running_radvds_of_unknown_routers():
    table, monitor, ras = make()
    ras.reconcile(router())
    assert ras.orphans({RID}) == set()
    assert ras.orphans(set()) == {RID}
    table.procs.clear()
    assert ras.orphans(set()) == set()
