"""Tables of (desired router, observed host) -> plan.  Pure, no mocks."""

import dataclasses
import ipaddress

import pytest

from agent.dataplane import device as dev
from agent.drivers.state import LinkState, NextHop, OvsPort, RouteState
from agent.l3 import desired as want
from agent.l3 import plan as p
from agent.l3.settings import L3Settings
from agent.model.router import Route
from agent.process.actions import ObservedChild, StopChild
from tests.unit.process.fakes import RUNNING
from tests.unit.l3.golden import QG_DEV, QG_PORT, QR_DEV, QR_PORT, fip, golden_router

SETTINGS = L3Settings(state_path='/var/lib/netnode', integration_bridge='br-int',
                      external_bridge='br-ex')
BRIDGES = ('br-int', 'br-ex')
NET = '760d0e4a-bd6a-4c41-9a0c-1e5e7bbd7c1e'
IP = ipaddress.ip_address
IF = ipaddress.ip_interface


def desired(router=None, tags=None):
    return want.desired_router(router or golden_router(), SETTINGS, tags or {NET: 5})


def link(name, mac, *addrs):
    interfaces = frozenset(IF(a) for a in addrs)
    brd = tuple(sorted(((a, a.network.broadcast_address) for a in interfaces), key=str))
    return LinkState(name=name, index=3, mac=mac, mtu=1500, up=True,
                     addresses=interfaces, broadcasts=brd)


def port(name, bridge, iface_id, mac, tag):
    return OvsPort(name=name, bridge=bridge, iface_id=iface_id, mac=mac, tag=tag, ofport=1)


QR_LINK = link(QR_DEV, 'fa:16:3e:b8:63:26', '192.168.10.1/24')
QG_LINK = link(QG_DEV, 'fa:16:3e:9d:a8:af', '172.24.4.139/24', '172.24.4.162/32')
PORTS = (port(QR_DEV, 'br-int', QR_PORT, 'fa:16:3e:b8:63:26', 5),
         port(QG_DEV, 'br-ex', QG_PORT, 'fa:16:3e:9d:a8:af', None))
DEFAULT = RouteState(dst=ipaddress.ip_network('0.0.0.0/0'), gateway=IP('172.24.4.1'),
                     dev=QG_DEV)


def converged(d=None, **changes):
    d = d or desired()
    sysctls = tuple((k, str(v)) for k, v in d.sysctls + d.device_sysctls)
    fields = dict(namespace_exists=True, links=(QR_LINK, QG_LINK), ovs_ports=PORTS,
                  routes=(DEFAULT,), sysctls=sysctls, iptables_converged=True,
                  proxy=RUNNING, listener_current=True)
    fields.update(changes)
    return p.ObservedRouter(**fields)


def kinds(plan):
    return [type(a).__name__ for a in plan]


def test_desired_golden_router():
    d = desired()
    assert d.namespace == 'qrouter-4d7648cf-ebbd-4567-b336-bf7f0af13042'
    qr, qg = d.devices
    assert (qr.name, qr.bridge, qr.port.tag) == (QR_DEV, 'br-int', 5)
    assert qr.addresses == {IF('192.168.10.1/24')} and qr.gateways == ()
    assert (qg.name, qg.bridge, qg.port.tag) == (QG_DEV, 'br-ex', None)
    assert qg.addresses == {IF('172.24.4.139/24'), IF('172.24.4.162/32')}
    assert qg.gateways == (IP('172.24.4.1'),)
    assert dict(d.sysctls)['net.ipv4.ip_forward'] == 1
    assert dict(d.device_sysctls) == {f'net.ipv6.conf.{QG_DEV}.accept_ra': 2,
                                      f'net.ipv6.conf.{QG_DEV}.forwarding': 1}
    assert d.floating_ips == {IP('172.24.4.162'): IP('192.168.10.93')}
    assert d.proxy.argv[0] == 'haproxy' and d.proxy.namespace == d.namespace


def test_nothing_on_the_host_plans_everything_in_order():
    plan = p.diff(desired(), p.ObservedRouter(False), None, BRIDGES)
    assert kinds(plan) == [
        'CreateNamespace', 'SetSysctls',
        'PlugPort', 'MoveToNamespace', 'SetMac', 'SetMtu', 'SetUp', 'AddAddress',
        'GratuitousArp',
        'PlugPort', 'MoveToNamespace', 'SetMac', 'SetMtu', 'SetUp', 'AddAddress',
        'AddAddress', 'SetDefaultGateway', 'GratuitousArp', 'GratuitousArp',
        'SetSysctls', 'ApplyIptables', 'StartChild']
    text = str(plan)
    assert 'ip netns add qrouter-4d7648cf' in text
    assert 'add-port br-ex qg-4e604425-c0' in text and 'add-port br-int qr-0c5ed35a-7b' in text
    assert 'addr add 172.24.4.162/32 brd 172.24.4.162 dev qg-4e604425-c0' in text


def test_converged_router_plans_nothing():
    assert p.diff(desired(), converged(), desired().floating_ips, BRIDGES).empty


CASES = [
    # (name, change to the router, change to the observation, expected action kinds)
    ('iptables flushed', {}, dict(iptables_converged=False), ['ApplyIptables']),
    ('proxy dead', {}, dict(proxy=ObservedChild()), ['StartChild']),
    ('proxy config changed', {}, dict(proxy=dataclasses.replace(RUNNING, config_current=False)),
     ['RestartChild']),
    ('proxy left by the previous agent', {}, dict(proxy=dataclasses.replace(
        RUNNING, watch_current=False)), ['AdoptChild']),
    ('sysctl reset', {}, dict(sysctls=(('net.ipv4.ip_forward', '0'),) + tuple(
        (k, str(v)) for k, v in desired().sysctls[1:] + desired().device_sysctls)),
     ['SetSysctls']),
    ('default route gone', {}, dict(routes=()), ['SetDefaultGateway']),
    ('new floating ip', dict(floating_ips=(fip('172.24.4.162', '192.168.10.93'),
                                           fip('172.24.4.170', '192.168.10.94',
                                               '7b5b7c4e-0b1e-4a0e-9f3e-2f1f1a1a1a1a'))),
     dict(iptables_converged=False), ['AddAddress', 'GratuitousArp', 'ApplyIptables']),
    ('floating ip removed', dict(floating_ips=()), dict(iptables_converged=False),
     ['DeleteAddress', 'ApplyIptables', 'ClearConntrack']),
    ('floating ip moved', dict(floating_ips=(fip('172.24.4.162', '192.168.10.99'),)),
     dict(iptables_converged=False), ['ApplyIptables', 'ClearConntrack']),
    ('extra route', dict(routes=(Route(ipaddress.ip_network('10.0.0.0/8'),
                                       IP('192.168.10.254')),)), {}, ['ReplaceRoute']),
    ('stale interface', {}, dict(links=(QR_LINK, QG_LINK,
                                        link('qr-11111111-11', 'fa:16:3e:00:00:01')),
                                 ovs_ports=PORTS + (port('qr-11111111-11', 'br-int',
                                                         '11111111-1111-4111-8111-111111111111',
                                                         'fa:16:3e:00:00:01', 5),)),
     ['UnplugPort']),
    ('stray device without port', {}, dict(links=(QR_LINK, QG_LINK,
                                                 link('qg-22222222-22', 'fa:16:3e:00:00:02'))),
     ['DeleteDevice']),
    ('qr- lost its tag', {}, dict(ovs_ports=(dataclasses.replace(PORTS[0], tag=7),
                                             PORTS[1])), ['SetTag']),
]


@pytest.mark.parametrize('name,router_change,observed_change,expected', CASES,
                         ids=[c[0] for c in CASES])
def test_table(name, router_change, observed_change, expected):
    d = desired(golden_router(**router_change))
    plan = p.diff(d, converged(d, **observed_change),
                  {IP('172.24.4.162'): IP('192.168.10.93')}, BRIDGES)
    assert kinds(plan) == expected, str(plan)


def test_ecmp_route_and_removed_route():
    router = golden_router(routes=(Route(ipaddress.ip_network('10.0.0.0/8'), IP('192.168.10.8')),
                                   Route(ipaddress.ip_network('10.0.0.0/8'), IP('192.168.10.9'))))
    d = desired(router)
    old = RouteState(dst=ipaddress.ip_network('172.16.0.0/12'), gateway=IP('192.168.10.7'),
                     dev=QR_DEV)
    plan = p.diff(d, converged(d, routes=(DEFAULT, old)), d.floating_ips, BRIDGES)
    assert kinds(plan) == ['DeleteRoute', 'ReplaceRoute']
    assert plan.actions[1].route.nexthops == (IP('192.168.10.8'), IP('192.168.10.9'))
    assert 'nexthop via 192.168.10.8' in str(plan) and 'nexthop via 192.168.10.9' in str(plan)
    multipath = RouteState(dst=ipaddress.ip_network('10.0.0.0/8'), dev=None,
                           nexthops=(NextHop(IP('192.168.10.8'), QR_DEV),
                                     NextHop(IP('192.168.10.9'), QR_DEV)))
    assert p.diff(d, converged(d, routes=(DEFAULT, multipath)), d.floating_ips,
                  BRIDGES).empty


def test_gateway_removed_unplugs_qg_and_drops_its_rules():
    d = desired(golden_router(gw_port=None, floating_ips=()))
    plan = p.diff(d, converged(d, iptables_converged=False), None, BRIDGES)
    # The kernel drops the default route with the device.
    assert kinds(plan) == ['UnplugPort', 'ApplyIptables', 'ClearConntrack']
    assert plan.actions[0] == dev.UnplugPort('br-ex', QG_DEV)


def test_internal_only_router_is_hosted_only_if_allowed():
    router = golden_router(gw_port=None)
    assert want.hosted(router, SETTINGS)
    assert not want.hosted(router, dataclasses.replace(
        SETTINGS, handle_internal_only_routers=False))
    assert not want.hosted(None, SETTINGS)


def test_teardown_removes_proxy_ports_and_namespace():
    d = desired()
    plan = p.teardown(d.namespace, converged(), ((d.proxy, RUNNING),))
    assert kinds(plan) == ['StopChild', 'UnplugPort', 'UnplugPort', 'DeleteNamespace']
    assert plan.actions[0] == StopChild(d.proxy)
    assert p.teardown(d.namespace, p.ObservedRouter(False),
                      ((d.proxy, ObservedChild(watch_current=True)),)).empty


def test_metadata_proxy_disabled():
    settings = dataclasses.replace(SETTINGS, nat=dataclasses.replace(
        SETTINGS.nat, enable_metadata_proxy=False))
    d = want.desired_router(golden_router(), settings, {NET: 5})
    assert d.proxy is None
    assert p.diff(d, converged(d, proxy=ObservedChild()), d.floating_ips, BRIDGES).empty


# -- device-name collisions: another port's device is never taken ---------------------

OTHER = QR_PORT[:11] + ('e' if QR_PORT[11] == 'f' else 'f') + QR_PORT[12:]  # same qr- name


def test_qr_device_of_another_routers_port_is_refused_not_moved():
    """Another router's port already has our qr- name: our port is refused, that
    device is neither replugged nor moved here; the rest of the router converges."""
    assert OTHER != QR_PORT and OTHER[:11] == QR_PORT[:11]
    observed = p.ObservedRouter(False, ovs_ports=(port(QR_DEV, 'br-int', OTHER,
                                                       'fa:16:3e:00:00:01', 7),))
    plan = p.diff(desired(), observed, None, BRIDGES)
    refused = dev.refusals(plan)
    assert [(r.name, r.port_id, r.holder_id) for r in refused] == [(QR_DEV, QR_PORT, OTHER)]
    assert not [a for a in plan if getattr(a, 'name', None) == QR_DEV
                and not isinstance(a, dev.RefuseDevice)]
    assert not [a for a in plan if isinstance(a, dev.PlugPort) and a.port.name == QR_DEV]
    assert 'PlugPort' in kinds(plan) and 'ApplyIptables' in kinds(plan)    # qg- and rules


def test_two_interfaces_of_one_router_sharing_a_device_name(caplog):
    router = golden_router()
    first = router.interfaces[0]
    second = dataclasses.replace(first, id=OTHER, mac_address='fa:16:3e:00:00:02')
    d = desired(dataclasses.replace(router, interfaces=(first, second)))
    assert [x.port.iface_id for x in d.devices if x.name == QR_DEV] == [QR_PORT]
    assert f'port {OTHER} refused' in caplog.text and QR_PORT in caplog.text


NS = 'qrouter-x'
MOVE, MAC, MTU, UP = (dev.MoveToNamespace('qr-a', NS), dev.SetMac(NS, 'qr-a', 'fa:16:3e:00:00:01'),
                      dev.SetMtu(NS, 'qr-a', 1450), dev.SetUp(NS, 'qr-a'))
ADDR = dev.AddAddress(NS, 'qr-a', ipaddress.ip_interface('10.0.0.1/24'))


@pytest.mark.parametrize('actions, expected', [
    ((MOVE, MAC, MTU, UP, ADDR),
     (p.MoveDevice('qr-a', NS, 'fa:16:3e:00:00:01', 1450, True), ADDR)),
    ((MOVE, MAC, UP), (p.MoveDevice('qr-a', NS, 'fa:16:3e:00:00:01', None, True),)),
    ((MOVE, ADDR), (MOVE, ADDR)),                                  # nothing to fold
    ((MAC, MOVE, UP), (MAC, p.MoveDevice('qr-a', NS, up=True))),   # only what follows
    ((MOVE, dev.SetUp(NS, 'qg-b'), MAC), (MOVE, dev.SetUp(NS, 'qg-b'), MAC)),  # another device
    ((MOVE, UP, UP), (p.MoveDevice('qr-a', NS, up=True), UP)),     # each field once
    ((), ()),
])
def test_coalesce_folds_a_move_and_the_link_settings_right_after_it(actions, expected):
    assert p.coalesce(p.Plan.of(actions)).actions == expected


SHARED = dataclasses.replace(SETTINGS, metadata_proxy_mode='shared')


def test_shared_mode_wants_a_listener_where_haproxy_would_listen():
    d = want.desired_router(golden_router(), SHARED, {NET: 5})
    assert d.proxy == want.listener_spec(d.router_id, SHARED)
    assert (d.proxy.kind, d.proxy.namespace, d.proxy.address, d.proxy.port) == (
        'router', d.namespace, '::', 9697)
    assert p.diff(d, converged(d), d.floating_ips, BRIDGES).empty
    assert kinds(p.diff(d, converged(d, listener_current=False), d.floating_ips,
                        BRIDGES)) == ['EnsureListener']


def test_shared_mode_teardown_removes_the_listener_before_the_namespace():
    d = want.desired_router(golden_router(), SHARED, {NET: 5})
    plan = p.teardown(d.namespace, converged(d), listener=d.proxy)
    assert kinds(plan) == ['RemoveListener', 'UnplugPort', 'UnplugPort',
                           'DeleteNamespace']


GW = ipaddress.ip_address('10.0.0.254')
ADDR2 = dev.AddAddress(NS, 'qr-a', ipaddress.ip_interface('10.0.0.2/32'))
SETGW = dev.SetDefaultGateway(NS, 'qr-a', GW)
ARP = p.GratuitousArp(NS, 'qr-a', ADDR.address.ip)
ARP2 = p.GratuitousArp(NS, 'qr-a', ADDR2.address.ip)


@pytest.mark.parametrize('actions, expected', [
    ((MOVE, ADDR, ADDR2, SETGW, ARP, ARP2),
     (MOVE, p.ConfigureDevice(NS, 'qr-a', (ADDR.address, ADDR2.address), (GW,),
                              (ADDR.address.ip, ADDR2.address.ip)))),
    ((ADDR, ARP), (p.ConfigureDevice(NS, 'qr-a', (ADDR.address,), (),
                                     (ADDR.address.ip,)),)),
    ((ADDR,), (ADDR,)),                                            # one: left as it is
    ((ARP, ADDR), (ARP, ADDR)),                                    # not the planner's order
    ((ADDR, dev.AddAddress(NS, 'qg-b', ADDR2.address)),           # another device
     (ADDR, dev.AddAddress(NS, 'qg-b', ADDR2.address))),
    ((ADDR, dev.DeleteDefaultRoute(NS, 6), ARP), (ADDR, dev.DeleteDefaultRoute(NS, 6), ARP)),
    ((), ()),
])
def test_fold_device_config_makes_one_visit_of_a_devices_addresses_routes_and_arps(
        actions, expected):
    assert p.fold_device_config(p.Plan.of(actions)).actions == expected


def test_a_fresh_routers_folded_plan_configures_each_device_once():
    plan = p.diff(desired(golden_router()), p.ObservedRouter(False), {}, ('br-int', 'br-ex'))
    folded = p.fold_device_config(p.coalesce(plan))
    configured = {a.name: a for a in folded if isinstance(a, p.ConfigureDevice)}
    assert list(configured) == [QR_DEV, QG_DEV]
    assert not [a for a in folded if isinstance(a, (dev.AddAddress, p.GratuitousArp,
                                                    dev.SetDefaultGateway))]
    qg = configured[QG_DEV]
    assert len(qg.addresses) == 2 and len(qg.gateways) == 1      # gateway IP and the FIP
    assert qg.announce == tuple(a.ip for a in qg.addresses)
    assert qg.describe().count('arping') == 2


def test_early_plugs_are_those_no_earlier_action_touches_by_name():
    spec = lambda name: dev.PortSpec(name, 'id-' + name, 'fa:16:3e:00:00:01', 1)  # noqa: E731
    fresh, replug = dev.PlugPort('br-int', spec('qr-a')), dev.PlugPort('br-ex', spec('qg-b'))
    plan = p.Plan.of([dev.CreateNamespace(NS), dev.UnplugPort('br-ex', 'qg-b'), fresh,
                      dev.MoveToNamespace('qr-a', NS), replug])
    assert p.early_plugs(plan) == [fresh]
    assert p.early_plugs(p.Plan.of([p.DeleteDevice(NS, 'qr-a'), fresh])) == []
