"""NamespaceCleaner and OvsPortCleaner over the in-memory driver fakes."""

import pytest

from agent.cleanup import namespaces as ns_cleanup
from agent.cleanup.namespaces import NamespaceCleaner, namespace_id
from agent.cleanup.ports import OvsPortCleaner, dhcp_taps_of, is_our_port
from agent.common import names
from agent.drivers.fake import FakeDrivers
from agent.drivers.state import OvsPort, PortSpec
from agent.process.manager import RunningProcess

NET = '11111111-2222-4333-8444-555555555555'
ROUTER = '66666666-7777-4888-8999-aaaaaaaaaaaa'
PORT = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff'


class FakeChildren:
    def __init__(self):
        self.running = {}          # uuid -> [RunningProcess]
        self.stopped = []

    def add(self, uuid, service, pid):
        self.running.setdefault(uuid, []).append(
            RunningProcess(service, uuid, pid, f'/state/{uuid}.pid', (service, uuid)))

    def refresh(self):
        self.refreshed = getattr(self, 'refreshed', 0) + 1

    def find(self, uuid):
        return list(self.running.get(uuid, []))

    def stop(self, proc):
        self.running[proc.uuid].remove(proc)
        self.stopped.append(proc.pid)
        return True


@pytest.fixture
def host():
    drivers = FakeDrivers.create()
    drivers.children = FakeChildren()
    drivers.sleeps = []
    return drivers


def cleaner(host, **kwargs):
    return NamespaceCleaner(host.netns, host.links, host.ovs, host.children,
                            bridges=['br-int', 'br-ex'], sleep=host.sleeps.append,
                            settle=0, **kwargs)


def plug_into(host, ns, bridge='br-int', port_id=PORT, prefix=names.TAP_PREFIX):
    dev = names.device_name(prefix, port_id)
    host.ovs.plug_ports(bridge, [PortSpec(dev, port_id, 'fa:16:3e:00:00:01')])
    host.links.move_to_namespace(dev, ns)
    return dev


def test_namespace_id_knows_our_prefixes_only():
    assert namespace_id(f'qdhcp-{NET}') == NET
    assert namespace_id(f'qrouter-{ROUTER}') == ROUTER
    assert namespace_id(f'snat-{ROUTER}', 'l3') == ROUTER
    assert namespace_id(f'fip-{NET}', 'l3') == NET
    assert namespace_id(f'qdhcp-{NET}', 'l3') is None
    assert namespace_id(f'qrouter-{ROUTER}', 'dhcp') is None
    assert namespace_id('qdhcp-not-a-uuid') is None
    assert namespace_id(f'x-qdhcp-{NET}') is None
    assert namespace_id(f'qrouter-{ROUTER.upper()}') is None


def test_empty_namespace_is_deleted_after_the_delay_foreign_kept(host):
    for name in (f'qdhcp-{NET}', 'foreign', f'qdhcp-{NET}x'):
        host.netns.create(name)
    report = cleaner(host, delay=2.0).run()
    assert report.deleted == [f'qdhcp-{NET}']
    assert host.sleeps[0] == 2.0
    assert host.netns.list_namespaces() == ['foreign', f'qdhcp-{NET}x']
    assert report.ok


def test_without_force_a_namespace_with_devices_or_children_is_kept(host):
    busy, running = f'qdhcp-{NET}', f'qrouter-{ROUTER}'
    host.netns.create(busy)
    host.netns.create(running)
    plug_into(host, busy)
    host.children.add(ROUTER, 'haproxy', 4242)
    report = cleaner(host).run()
    assert report.deleted == []
    assert set(report.kept) == {busy, running}
    assert 'holds devices' in report.kept[busy] and 'haproxy' in report.kept[running]
    assert host.sleeps == []
    assert host.children.stopped == []
    assert report.ok


def test_second_pass_keeps_a_namespace_that_got_a_device_meanwhile(host):
    name = f'qdhcp-{NET}'
    host.netns.create(name)
    c = cleaner(host)
    report = ns_cleanup.NamespaceCleanupReport()
    assert c.candidates(report) == [name]
    plug_into(host, name)                       # an agent started using it
    c.clean(name, report)
    assert host.netns.exists(name) and name in report.kept


def test_force_stops_children_unplugs_and_deletes(host):
    dhcp, router = f'qdhcp-{NET}', f'qrouter-{ROUTER}'
    host.netns.create(dhcp)
    host.netns.create(router)
    tap = plug_into(host, dhcp)
    qg = plug_into(host, router, 'br-ex', ROUTER.replace('6', '1'), names.GATEWAY_PREFIX)
    host.links.host.new_device('veth-x', 'fa:16:3e:00:00:09', ns=router)
    host.ovs.plug_ports('br-int', [PortSpec('plain0', PORT, 'fa:16:3e:00:00:02')])
    host.children.add(NET, 'dnsmasq', 100)
    host.children.add(NET, 'haproxy', 101)
    report = cleaner(host, force=True).run()
    assert sorted(report.deleted) == sorted([dhcp, router])
    assert sorted(host.children.stopped) == [100, 101]
    assert host.netns.list_namespaces() == []
    assert [p.name for p in host.ovs.list_ports('br-int')] == ['plain0']
    assert host.ovs.list_ports('br-ex') == []
    assert sorted(report.unplugged) == sorted([f'{dhcp}/{tap}', f'{router}/{qg}',
                                               f'{router}/veth-x'])
    assert report.ok


def test_only_restricts_and_refuses_foreign_names(host):
    mine, other = f'qdhcp-{NET}', f'qrouter-{ROUTER}'
    for name in (mine, other, 'foreign'):
        host.netns.create(name)
    report = cleaner(host, force=True, only=[mine, 'foreign', f'qdhcp-{PORT}']).run()
    assert report.deleted == [mine]
    assert host.netns.list_namespaces() == ['foreign', other]
    assert not report.ok and 'foreign' in report.errors[0]


def test_agent_type_limits_prefixes(host):
    for name in (f'qdhcp-{NET}', f'qrouter-{ROUTER}', f'fip-{NET}', f'snat-{ROUTER}'):
        host.netns.create(name)
    report = cleaner(host, agent_type='l3').run()
    assert sorted(report.deleted) == sorted([f'qrouter-{ROUTER}', f'fip-{NET}',
                                             f'snat-{ROUTER}'])
    assert host.netns.list_namespaces() == [f'qdhcp-{NET}']
    with pytest.raises(ValueError):
        cleaner(host, agent_type='ovs')


def test_second_run_is_a_no_op(host):
    host.netns.create(f'qdhcp-{NET}')
    plug_into(host, f'qdhcp-{NET}')
    cleaner(host, force=True).run()
    host.host.log.clear()
    report = cleaner(host, force=True).run()
    assert report.deleted == [] and report.ok and host.host.log == []


def _port(name, **ids):
    return OvsPort(name=name, bridge='br', iface_id=ids.get('iface-id', ''), mac=None,
                   tag=None, ofport=1, external_ids=ids)


IDS = {'iface-id': PORT, 'attached-mac': 'fa:16:3e:00:00:01'}
VM_IDS = {**IDS, 'vm-uuid': NET}
OURS = {**IDS, 'netnode-owner': f'dhcp:node-1:{NET}'}
DHCP_TAP = 'tap1234'


@pytest.mark.parametrize('name,ids,ours', [
    ('tap5678', OURS, True),                                     # our mark, this host
    ('qr-1234', {**IDS, 'netnode-owner': f'l3:node-1:{NET}'}, True),
    ('tap5678', {**IDS, 'netnode-owner': f'dhcp:node-2:{NET}'}, False),   # other host
    ('tap5678', {**IDS, 'netnode-owner': 'garbage'}, False),
    (DHCP_TAP, IDS, True),                 # unmarked, named by a DHCP state directory
    ('tap5678', IDS, False),               # unmarked, unknown tap: a VM's (Nova)
    ('tap5678', VM_IDS, False),
    ('qr-1234', IDS, True),                # unmarked router devices (older netnode)
    ('qg-1234', IDS, True),
    (DHCP_TAP, {'iface-id': PORT}, False),
    ('qr-1234', {'attached-mac': 'fa:16:3e:00:00:01'}, False),
    ('eth0', IDS, False),
    ('qvo1234', IDS, False),
])
def test_is_our_port(name, ids, ours):
    assert is_our_port(_port(name, **ids), 'node-1', frozenset({DHCP_TAP})) is ours


def test_dhcp_taps_of_reads_the_state_directories(tmp_path):
    for net, content in ((NET, 'tap1234\n'), (PORT, 'eth0'), ('not-a-uuid', 'tap9')):
        (tmp_path / 'dhcp' / net).mkdir(parents=True)
        (tmp_path / 'dhcp' / net / 'interface').write_text(content)
    assert dhcp_taps_of(str(tmp_path)) == {'tap1234'}
    assert dhcp_taps_of(str(tmp_path / 'missing')) == frozenset()


def test_ovs_port_cleaner_deletes_only_ours_and_skips_missing_bridges(host):
    vm_tap = 'tap' + NET[:11]
    host.ovs.plug_ports('br-int', [
        PortSpec('tap' + PORT[:11], PORT, 'fa:16:3e:00:00:01', owner=f'dhcp:node-1:{NET}'),
        PortSpec(vm_tap, NET, 'fa:16:3e:00:00:04'),
        PortSpec('other0', PORT, 'fa:16:3e:00:00:02')])
    host.ovs.plug_ports('br-ex', [PortSpec('qg-' + PORT[:11], PORT, 'fa:16:3e:00:00:03')])
    report = OvsPortCleaner(host.ovs, 'node-1').clean_bridges(
        ['br-int', 'br-ex', 'br-missing', 'br-int'])
    assert sorted(report.deleted) == [f'br-ex/qg-{PORT[:11]}', f'br-int/tap{PORT[:11]}']
    assert report.kept == ['br-int/other0', f'br-int/{vm_tap}'] and report.ok
    assert [p.name for p in host.ovs.list_ports('br-int')] == ['other0', vm_tap]
    again = OvsPortCleaner(host.ovs, 'node-1').clean_bridges(['br-int', 'br-ex'])
    assert again.deleted == [] and again.ok


def test_force_without_ovs_deletes_the_devices_as_links(host):
    name = f'qdhcp-{NET}'
    host.netns.create(name)
    tap = plug_into(host, name)
    c = NamespaceCleaner(host.netns, host.links, None, host.children, bridges=['br-int'],
                         force=True, sleep=host.sleeps.append, settle=0)
    report = c.run()
    assert report.deleted == [name] and report.unplugged == [f'{name}/{tap}']


def test_command_line_options():
    from agent.cmd import netns_cleanup, ovs_cleanup
    conf = netns_cleanup.parse(['--force', '--agent-type', 'l3', '--only', 'a',
                                '--only', 'b', '--delay', '0.5'])
    assert (conf.force, conf.agent_type, conf.only, conf.delay) == (True, 'l3',
                                                                    ['a', 'b'], 0.5)
    defaults = netns_cleanup.parse([])
    assert (defaults.force, defaults.agent_type, defaults.only) == (False, None, [])
    assert ovs_cleanup.bridges_of(ovs_cleanup.parse([])) == ['br-int', 'br-ex']
    assert ovs_cleanup.bridges_of(ovs_cleanup.parse(['--bridge', 'x', '--bridge', 'y'])
                                  ) == ['x', 'y']


def test_a_bad_command_line_is_a_clear_error(capsys, tmp_path):
    from agent.cmd import netns_cleanup, ovs_cleanup
    missing = str(tmp_path / 'missing.conf')
    assert netns_cleanup.main(['--config-file', missing]) == 2
    assert ovs_cleanup.main(['--config-file', missing]) == 2
    err = capsys.readouterr().err
    assert 'netnode-netns-cleanup: ' in err and missing in err


def test_veth_pairs_go_with_their_ports(host):
    """ovs_use_veth: deleting a pair's port leaves the pair, so both cleaners
    delete its root end (and with it the namespace's end)."""
    ns = f'qdhcp-{NET}'
    host.netns.create(ns)
    tap = names.device_name(names.TAP_PREFIX, PORT)
    host.links.create_veth(ns, tap, 'fa:16:3e:00:00:01')
    host.ovs.plug_ports('br-int', [PortSpec(tap, PORT, 'fa:16:3e:00:00:01',
                                            owner=f'dhcp:node-1:{NET}', internal=False)])
    report = cleaner(host, force=True).run()
    assert report.deleted == [ns] and host.links.observe_link(None, tap) is None

    host.netns.create(ns)
    host.links.create_veth(ns, tap, 'fa:16:3e:00:00:01')
    host.ovs.plug_ports('br-int', [PortSpec(tap, PORT, 'fa:16:3e:00:00:01',
                                            owner=f'dhcp:node-1:{NET}', internal=False)])
    ports = OvsPortCleaner(host.ovs, 'node-1', links=host.links).clean_bridges(['br-int'])
    assert ports.deleted == [f'br-int/{tap}']
    assert host.links.observe_link(None, tap) is None
    assert host.links.observe_link(ns, tap) is None
