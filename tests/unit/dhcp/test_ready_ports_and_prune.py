"""Ready-port batching and the pure orphan sweep."""

import dataclasses
import types

from agent.dhcp.prune import HostView, orphans
from agent.dhcp.ready_ports import ReadyPortsReporter
from agent.drivers.state import OvsPort

A = 'aaaaaaaa-0000-4000-8000-000000000001'
B = 'bbbbbbbb-0000-4000-8000-000000000002'
C = 'cccccccc-0000-4000-8000-000000000003'


def test_ready_ports_go_in_batches_of_64():
    sent = []
    reporter = ReadyPortsReporter(sent.append)
    reporter.add(f'p{i}' for i in range(100))
    assert reporter.send_once() == 64
    assert reporter.send_once() == 36
    assert reporter.send_once() == 0
    assert [len(b) for b in sent] == [64, 36]
    assert sent[0][:2] == ['p0', 'p1']


def test_ready_ports_are_put_back_on_failure():
    calls = []

    def send(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise TimeoutError('bus away')
    reporter = ReadyPortsReporter(send)
    reporter.add(['x', 'y'])
    assert reporter.send_once() == 0
    assert reporter.pending() == ['x', 'y'] and reporter.failures == 1
    assert reporter.send_once() == 2
    assert calls[1] == ['x', 'y'] and reporter.pending() == []


def test_duplicates_are_sent_once():
    sent = []
    reporter = ReadyPortsReporter(sent.append)
    reporter.add(['x', 'x', 'y'])
    reporter.add(['y'])
    reporter.send_once()
    assert sent == [['x', 'y']]


def tap(name, tag):
    return OvsPort(name, 'br-int', 'iface', 'fa:16:3e:00:00:01', tag, 1)


def test_everything_of_unassigned_networks_is_an_orphan():
    view = HostView(namespaces=frozenset({A, B}), state_dirs=frozenset({C}),
                    dnsmasq=frozenset({B}), proxies=frozenset({B}))
    found = orphans(view, frozenset({A}), frozenset())
    assert found.networks == {B, C}
    assert found.taps == ()


def test_taps_of_assigned_networks_and_served_taps_are_kept():
    """Whatever their tags: only taps positively ours of no assigned network go
    (the full table is tests/unit/dhcp/test_taps.py)."""
    def ours(name, net, tag):
        return dataclasses.replace(tap(name, tag), external_ids=types.MappingProxyType(
            {'iface-id': 'iface', 'attached-mac': 'fa:16:3e:00:00:01',
             'netnode-owner': f'dhcp:h1:{net}'}))
    view = HostView(taps=(ours('tapserved', B, 9), ours('tapnew', A, 4095),
                          ours('tapgone', B, 1), ours('tapnotag', C, None),
                          tap('tapvm', 1)))
    found = orphans(view, frozenset({A}), frozenset({'tapserved'}), 'h1')
    assert found.taps == ('tapgone', 'tapnotag')


def test_nothing_assigned_and_nothing_found_is_quiet():
    found = orphans(HostView(), frozenset(), frozenset())
    assert found.networks == frozenset() and found.taps == ()


def test_another_agents_namespaces_are_left_alone(tmp_path):
    from agent.dataplane.ports import BridgePorts
    from agent.dhcp.prune import DhcpPruner
    from agent.dhcp.settings import DnsmasqSettings
    from agent.drivers.fake import FakeDrivers
    from agent.drivers.state import PortSpec
    from agent.process import ProcessManager
    from tests.unit.process.fakes import FakeProcessTable
    fakes = FakeDrivers.create()
    for net in (A, B, C):
        fakes.netns.create(f'qdhcp-{net}')
    (tmp_path / 'dhcp' / A).mkdir(parents=True)              # ours: a state dir
    fakes.ovs.plug_ports('br-int', [PortSpec('tapb', 'pb', 'fa:16:3e:00:00:02', 3)])
    fakes.links.move_to_namespace('tapb', f'qdhcp-{B}')        # ours: our tap inside
    fakes.ovs.ensure_bridge('br-other')                        # C: another agent's
    queued = []
    pruner = DhcpPruner(DnsmasqSettings(state_path=str(tmp_path)), fakes,
                        ProcessManager(FakeProcessTable()),
                        BridgePorts(fakes.ovs, 'br-int'), queued.append,
                        frozenset, frozenset)
    found = pruner()
    assert found.networks == {A, B}
    assert sorted(queued) == sorted([A, B])
