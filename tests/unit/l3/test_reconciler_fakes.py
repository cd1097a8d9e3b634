"""The router reconciler over the in-memory fakes: converges, then plans nothing;
changes plan only their difference; teardown leaves nothing.  No mocks."""

import dataclasses
import os

import pytest

from agent.dataplane.executor import HostDrivers
from agent.drivers.fake import FakeDrivers
from agent.drivers.iptables import IptablesManager
from agent.drivers.iptables_fake import FakeIptables
from agent.l3.host import RouterHost
from agent.l3.reconciler import RouterReconciler, Stopping
from agent.l3.settings import L3Settings
from agent.process.manager import ProcessManager
from agent.reconcile.plan import ActionFailed
from tests.unit.l3.golden import QG_DEV, QR_DEV, fip, golden_router
from tests.unit.process.fakes import FakeProcessTable

STATE = '/var/lib/netnode-test'


class ProcessTable(FakeProcessTable):
    def pid_file_hook(self, argv, pid):
        if argv[0] == 'keepalived':                 # -p <pid file>
            self.files[argv[argv.index('-p') + 1]] = str(pid)
            return
        # haproxy writes <state>/external/pids/<uuid>.pid.haproxy (named in its config)
        uuid = os.path.basename(argv[-1])[:-len('.conf')]
        self.files[f'{STATE}/external/pids/{uuid}.pid.haproxy'] = str(pid)


class FakeStateDirs:
    def __init__(self, files):
        self.files = files

    def mark(self, path):
        self.files[path + '/'] = ''

    def unmark(self, path):
        self.files.pop(path + '/', None)


def make():
    fakes = FakeDrivers.create(bridges=('br-int', 'br-ex'))
    table = ProcessTable()
    iptables = {}

    def manager(ns):
        return IptablesManager(ns, backend=iptables.setdefault(ns, FakeIptables()))

    host = RouterHost(
        HostDrivers(fakes.netns, fakes.links, fakes.ovs), ProcessManager(table, poll_interval=0),
        ('br-int', 'br-ex'), iptables_factory=manager, clear_conntrack=lambda ns, ip: 0,
        read_sysctls=lambda ns, keys: tuple((k, fakes.netns.sysctl_get(ns, k)) for k in keys),
        state_dirs=FakeStateDirs(table.files))
    settings = L3Settings(state_path=STATE, integration_bridge='br-int',
                          external_bridge='br-ex')
    return fakes, table, iptables, RouterReconciler(host, settings, fakes.vlans)


def test_converges_then_plans_nothing():
    fakes, table, iptables, rec = make()
    router = golden_router()
    first = rec.reconcile(router)
    assert len(first) > 10
    ns = 'qrouter-' + router.id
    assert sorted(fakes.netns.devices_in(ns)) == [QG_DEV, QR_DEV]
    assert {p.name for p in fakes.ovs.list_ports('br-ex')} == {QG_DEV}
    assert [p.tag for p in fakes.ovs.list_ports('br-int')] == [1]
    assert len(table.spawned) == 1
    assert rec.reconcile(router).empty
    assert rec.counts() == {'routers': 1, 'ex_gw_ports': 1, 'interfaces': 1,
                            'floating_ips': 1}


def test_a_new_floating_ip_changes_only_its_parts():
    fakes, table, iptables, rec = make()
    router = golden_router()
    rec.reconcile(router)
    restores = len(iptables['qrouter-' + router.id].restores)
    more = dataclasses.replace(router, floating_ips=router.floating_ips + (
        fip('172.24.4.170', '192.168.10.94', '7b5b7c4e-0b1e-4a0e-9f3e-2f1f1a1a1a1a'),))
    plan = rec.reconcile(more)
    assert [type(a).__name__ for a in plan] == ['AddAddress', 'GratuitousArp',
                                                'ApplyIptables']
    assert len(iptables['qrouter-' + router.id].restores) == restores + 1   # IPv4 only
    assert rec.reconcile(more).empty
    assert len(table.spawned) == 1                                       # proxy kept


def test_teardown_leaves_nothing():
    fakes, table, iptables, rec = make()
    router = golden_router()
    rec.reconcile(router)
    plan = rec.teardown(router.id)
    assert [type(a).__name__ for a in plan] == ['StopChild', 'UnplugPort', 'UnplugPort',
                                                'DeleteNamespace']
    assert 'qrouter-' + router.id not in fakes.netns.list_namespaces()
    assert fakes.ovs.list_ports('br-int') == [] and fakes.ovs.list_ports('br-ex') == []
    assert not table.procs
    assert rec.teardown(router.id).empty
    assert rec.counts()['routers'] == 0


def test_after_a_restart_a_moved_floating_ip_still_clears_conntrack():
    fakes, table, iptables, rec = make()
    router = golden_router()
    rec.reconcile(router)
    cleared = []
    restarted = RouterReconciler(rec.host, rec.settings, fakes.vlans)
    restarted.host.clear_conntrack = lambda ns, ip: cleared.append(ip) or 0
    assert restarted.reconcile(router).empty          # adopted, nothing to clear
    again = RouterReconciler(rec.host, rec.settings, fakes.vlans)
    moved = golden_router(floating_ips=(fip('172.24.4.162', '192.168.10.99'),))
    plan = again.reconcile(moved)
    assert [type(a).__name__ for a in plan] == ['ApplyIptables', 'ClearConntrack']
    assert cleared == ['172.24.4.162']


def test_ports_plugged_ahead_are_then_moved_not_replugged():
    fakes, table, iptables, rec = make()
    router = golden_router()
    plugs = rec.first_plugs(router, [])
    assert sorted((a.bridge, a.port.name) for a in plugs) == [('br-ex', QG_DEV),
                                                              ('br-int', QR_DEV)]
    for action in plugs:
        fakes.ovs.plug_ports(action.bridge, [action.port])
    ports = [*fakes.ovs.list_ports('br-int'), *fakes.ovs.list_ports('br-ex')]
    plan = rec.reconcile(router, ports)
    kinds = [type(a).__name__ for a in plan]
    assert 'PlugPort' not in kinds and kinds.count('MoveToNamespace') == 2
    assert sorted(fakes.netns.devices_in('qrouter-' + router.id)) == [QG_DEV, QR_DEV]
    assert rec.first_plugs(router, ports) == []         # the namespace exists now
    assert rec.reconcile(router).empty


def test_a_stopping_agent_applies_no_further_action():
    fakes, table, iptables, rec = make()
    router = golden_router()
    rec.stopping.set()
    with pytest.raises(ActionFailed) as failed:
        rec.reconcile(router)
    assert isinstance(failed.value.error, Stopping) and failed.value.index == 0
    assert 'qrouter-' + router.id not in fakes.netns.list_namespaces()
    assert not table.spawned
    rec.stopping.clear()                   # the next start finishes it
    assert len(rec.reconcile(router)) > 10 and rec.reconcile(router).empty


def test_state_directory_made_before_the_namespace_and_removed_with_it():
    fakes, table, iptables, rec = make()
    router = golden_router()
    marker = f'{STATE}/routers/{router.id}/'
    rec.reconcile(router)
    assert marker in table.files
    rec.teardown(router.id)
    assert marker not in table.files


def test_ha_router_backup_runs_keepalived_without_proxy_or_addresses():
    """A backup (no state file yet): ha- with its address, keepalived started, no
    metadata proxy, no qr-/qg- addresses or default route (keepalived's); a second
    reconcile plans nothing."""
    from tests.unit.l3.test_ha_router import HA_DEV, ha_router
    fakes, table, iptables, rec = make()
    router = ha_router()
    rec.reconcile(router)
    ns = 'qrouter-' + router.id
    assert sorted(fakes.netns.devices_in(ns)) == sorted([QG_DEV, QR_DEV, HA_DEV])
    assert [argv[0] for _, argv, _ in table.spawned] == ['keepalived']
    assert {str(a) for a in fakes.links.observe_link(ns, HA_DEV).addresses} == {
        '169.254.192.12/18'}
    assert not fakes.links.observe_link(ns, QR_DEV).addresses
    assert rec.reconcile(router).empty
    rec.teardown(router.id)
    assert not fakes.netns.exists(ns) and not table.procs
