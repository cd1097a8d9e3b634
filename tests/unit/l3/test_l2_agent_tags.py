"""The L3 agent beside an L2 agent that tags (local_vlan_tagging = False): tables of
(tagging, observed tag) -> plan, and of the ports its prune may delete.  Pure."""

import dataclasses
import types

import pytest

from agent.dataplane import device as dev
from agent.drivers.state import DEAD_VLAN
from agent.l3 import desired as want
from agent.l3 import plan as p
from agent.l3 import prune as l3_prune
from tests.unit.l3.golden import QG_DEV, QR_DEV, golden_router
from tests.unit.l3.test_router_plan import BRIDGES, NET, PORTS, SETTINGS, converged, kinds

HOST = 'node-1'


def desired(tagging):
    settings = dataclasses.replace(SETTINGS, host=HOST, local_vlan_tagging=tagging)
    tag = 5 if tagging else DEAD_VLAN
    return want.desired_router(golden_router(), settings, {NET: tag})


def observed_with(d, qr_tag, qg_tag=None):
    ports = tuple(dataclasses.replace(port, tag=qr_tag if port.name == QR_DEV else qg_tag)
                  for port in PORTS)
    return converged(d, ovs_ports=ports)


# (case, tagging, tag of qr- seen, tag of qg- seen, expected plan)
CASES = [
    ('L2 agent bound qr- (tag 1)', False, 1, None, []),
    ('L2 agent not bound yet (dead VLAN)', False, DEAD_VLAN, None, []),
    ('L2 agent tagged qg- too', False, 1, 7, []),
    ('untagged qr-', False, None, None, []),
    ('standalone: our tag', True, 5, None, []),
    ('standalone: a wrong tag is ours to fix', True, 1, None, ['SetTag']),
    ('standalone: qg- stays untagged', True, 5, 7, ['SetTag']),
]


@pytest.mark.parametrize('case,tagging,qr_tag,qg_tag,expected', CASES,
                         ids=[c[0] for c in CASES])
def test_existing_ports_tags(case, tagging, qr_tag, qg_tag, expected):
    d = desired(tagging)
    plan = p.diff(d, observed_with(d, qr_tag, qg_tag), dict(d.floating_ips), BRIDGES)
    assert kinds(plan) == expected


def test_new_ports_plugged_on_the_dead_vlan_with_our_mark():
    d = desired(False)
    plan = p.diff(d, p.ObservedRouter(False), None, BRIDGES)
    plugs = {a.port.name: a.port for a in plan if isinstance(a, dev.PlugPort)}
    assert plugs[QR_DEV].tag == DEAD_VLAN and plugs[QG_DEV].tag is None
    for spec in plugs.values():
        assert spec.external_ids()['netnode-owner'] == (
            f'l3:{HOST}:{golden_router().id}')
    assert not any(isinstance(a, dev.SetTag) for a in plan)


def _router_port(name, iface_id, owner=None):
    ids = {'iface-id': iface_id, 'iface-status': 'active', 'attached-mac': 'fa:16:3e:0:0:1'}
    if owner:
        ids['netnode-owner'] = owner
    return dataclasses.replace(PORTS[0], name=name, iface_id=iface_id,
                               external_ids=types.MappingProxyType(ids))


ROUTER = golden_router().id
WANTED_PORT = '66666666-6666-4666-8666-666666666666'
GONE_PORT = '77777777-7777-4777-8777-777777777777'

# (case, port, prunable?)
PRUNE_CASES = [
    ('ours, not wanted', _router_port('qr-77777777-77', GONE_PORT, f'l3:{HOST}:{ROUTER}'),
     True),
    ('ours, wanted', _router_port('qr-66666666-66', WANTED_PORT, f'l3:{HOST}:{ROUTER}'),
     False),
    ('another host\'s', _router_port('qr-77777777-77', GONE_PORT, f'l3:node-2:{ROUTER}'),
     False),
    ('a DHCP agent\'s mark', _router_port('qr-77777777-77', GONE_PORT,
                                          f'dhcp:{HOST}:{ROUTER}'), False),
    ('unmarked (older netnode, Neutron\'s L3 agent)', _router_port('qg-77777777-77',
                                                                  GONE_PORT), False),
]


@pytest.mark.parametrize('case,port,prunable', PRUNE_CASES, ids=[c[0] for c in PRUNE_CASES])
def test_prunable_router_ports(case, port, prunable):
    assert l3_prune.prunable_ports([port], HOST, {WANTED_PORT}) == (
        [port] if prunable else [])
