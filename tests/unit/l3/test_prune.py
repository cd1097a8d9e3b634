"""The L3 agent's mark and sweep: the pure orphan table, and the pruner on fakes."""

import pytest

from agent.drivers.fake import FakeDrivers
from agent.drivers.state import PortSpec
from agent.l3.prune import HostView, L3Pruner, orphans
from agent.l3.settings import L3Settings
from agent.process import ProcessManager
from tests.unit.process.fakes import FakeProcessTable

A = 'aaaaaaaa-0000-4000-8000-000000000001'
B = 'bbbbbbbb-0000-4000-8000-000000000002'
C = 'cccccccc-0000-4000-8000-000000000003'


@pytest.mark.parametrize('view, known, expected', [
    (HostView(), frozenset(), frozenset()),
    (HostView(namespaces=frozenset({A, B})), frozenset({A}), {B}),
    (HostView(proxies=frozenset({C})), frozenset(), {C}),      # namespace gone already
    (HostView(radvd=frozenset({C}), keepalived=frozenset({B})), frozenset({A}), {B, C}),
    (HostView(namespaces=frozenset({A}), proxies=frozenset({A})), frozenset({A}),
     frozenset()),
])
def test_orphans(view, known, expected):
    assert orphans(view, known) == expected


def test_namespaces_of_ours_not_fetched_are_queued_another_agents_left(tmp_path):
    fakes = FakeDrivers.create()
    for router in (A, B, C):
        fakes.netns.create(f'qrouter-{router}')
    (tmp_path / 'routers' / B).mkdir(parents=True)             # ours: a state dir
    fakes.ovs.plug_ports('br-int', [PortSpec('qr-c', 'pc', 'fa:16:3e:00:00:03', 3)])
    fakes.links.move_to_namespace('qr-c', f'qrouter-{C}')       # ours: our port inside
    queued = []
    pruner = L3Pruner(L3Settings(state_path=str(tmp_path)), fakes,
                      ProcessManager(FakeProcessTable()),
                      lambda: fakes.ovs.list_ports('br-int'), queued.append, set,
                      sweep=lambda known: set(), radvd=lambda known: set())
    assert pruner([('router', A)]) == {B, C}
    assert queued == [B, C]
