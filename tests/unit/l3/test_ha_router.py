"""HA routers, pure parts: keepalived.conf as literal text, the planner's tables
for an HA router (primary and backup), the options refused, the state batch,
the watcher's messages and netlink parsing, the codec's HA fields."""

import dataclasses
import ipaddress
import os
import socket
import struct
import time

import pytest

from agent.dataplane import device as dev
from agent.drivers.state import LinkState, OvsPort, RouteState
from agent.l3 import desired as want
from agent.l3 import ha_state, ha_watcher, keepalived
from agent.l3 import plan as p
from agent.l3.settings import L3Settings
from agent.model.router import Route, RouterPort, RouterSubnet
from agent.rpc import codec
from agent.process.actions import ObservedChild
from tests.unit.l3.golden import QG_DEV, QG_PORT, QR_DEV, QR_PORT, golden_router
from tests.unit.process.fakes import RUNNING

IP = ipaddress.ip_address
IF = ipaddress.ip_interface
HA_PORT = 'c3c3c3c3-1111-4222-8333-444455556666'
HA_DEV = 'ha-c3c3c3c3-11'
HA_NET = '9a9a9a9a-0000-4000-8000-000000000009'
HA = keepalived.HaSettings('/var/lib/netnode/ha_confs', advert_int=2, auth_type='PASS',
                           auth_password='s3cret')
SETTINGS = L3Settings(state_path='/var/lib/netnode', ha_settings=HA)
ROUTER_DIR = '/var/lib/netnode/ha_confs/4d7648cf-ebbd-4567-b336-bf7f0af13042'


def ha_router(**changes):
    ha_port = RouterPort(
        id=HA_PORT, network_id=HA_NET, mac_address='fa:16:3e:00:00:0a',
        fixed_ips=((IP('169.254.192.12'), 18, 'c0c0c0c0-0000-4000-8000-00000000000c'),),
        subnets=(RouterSubnet('c0c0c0c0-0000-4000-8000-00000000000c',
                              ipaddress.ip_network('169.254.192.0/18')),))
    fields = dict(ha=True, ha_vr_id=3, ha_port=ha_port, ha_state='standby')
    fields.update(changes)
    return golden_router(**fields)


KEEPALIVED_CONF = f"""\
global_defs {{
    notification_email_from neutron@openstack.local
    router_id neutron
    vrrp_higher_prio_send_advert true
}}
vrrp_instance VR_3 {{
    state BACKUP
    interface {HA_DEV}
    virtual_router_id 3
    priority 200
    garp_master_delay 60
    garp_lower_prio_delay 2
    garp_master_refresh 10
    nopreempt
    advert_int 2
    authentication {{
        auth_type PASS
        auth_pass s3cret
    }}
    track_interface {{
        {HA_DEV}
    }}
    virtual_ipaddress {{
        169.254.0.3/24 dev {HA_DEV}
    }}
    virtual_ipaddress_excluded {{
        172.24.4.139/24 dev {QG_DEV} no_track
        172.24.4.162/32 dev {QG_DEV} no_track
        192.168.10.1/24 dev {QR_DEV} no_track
    }}
    virtual_routes {{
        0.0.0.0/0 via 172.24.4.1 dev {QG_DEV} no_track protocol static
        10.9.0.0/16 via 192.168.10.7 no_track protocol static
    }}
}}
"""


def test_keepalived_conf_is_neutron_s_layout():
    router = ha_router(routes=(Route(ipaddress.ip_network('10.9.0.0/16'),
                                     IP('192.168.10.7')),))
    d = want.desired_router(router, SETTINGS, {})
    spec = d.keepalived
    assert spec.config_files == ((f'{ROUTER_DIR}/keepalived.conf', KEEPALIVED_CONF),)
    assert spec.config_mode == 0o600
    assert spec.argv == ('keepalived', '-P', '-f', f'{ROUTER_DIR}/keepalived.conf',
                         '-p', f'{ROUTER_DIR}.pid.keepalived',
                         '-r', f'{ROUTER_DIR}.pid.keepalived-vrrp')
    assert spec.namespace == 'qrouter-4d7648cf-ebbd-4567-b336-bf7f0af13042'
    assert spec.reload_signal is not None          # SIGHUP, never a restart


def test_keepalived_conf_without_password_gateway_or_routes():
    router = ha_router(gw_port=None, floating_ips=())
    text = keepalived.render_config(router, dataclasses.replace(HA, auth_password=None,
                                                                advert_int=1))
    assert 'authentication' not in text and 'virtual_routes' not in text
    assert '    advert_int 1\n' in text
    assert f'        192.168.10.1/24 dev {QR_DEV} no_track\n' in text


def test_gateway_outside_its_subnet_gets_an_onlink_route_first():
    router = ha_router()
    gw = router.gw_port
    subnet = dataclasses.replace(gw.subnets[0], gateway_ip=IP('172.24.5.1'))
    assert keepalived.gateway_routes(dataclasses.replace(gw, subnets=(subnet,))) == [
        f'172.24.5.1 dev {QG_DEV} scope link', f'0.0.0.0/0 via 172.24.5.1 dev {QG_DEV}']


# -- the planner -------------------------------------------------------------------

def _link(name, mac, *addrs):
    interfaces = frozenset(IF(a) for a in addrs)
    brd = tuple(sorted(((a, a.network.broadcast_address) for a in interfaces), key=str))
    return LinkState(name=name, index=3, mac=mac, mtu=1500, up=True,
                     addresses=interfaces, broadcasts=brd)


PORTS = (OvsPort(QR_DEV, 'br-int', QR_PORT, 'fa:16:3e:b8:63:26', 5, 1),
         OvsPort(QG_DEV, 'br-ex', QG_PORT, 'fa:16:3e:9d:a8:af', None, 2),
         OvsPort(HA_DEV, 'br-int', HA_PORT, 'fa:16:3e:00:00:0a', 6, 3))
DEFAULT = RouteState(dst=ipaddress.ip_network('0.0.0.0/0'), gateway=IP('172.24.4.1'),
                     dev=QG_DEV)
EXTRA = RouteState(dst=ipaddress.ip_network('10.9.0.0/16'), gateway=IP('192.168.10.7'))
PRIMARY_LINKS = (_link(QR_DEV, 'fa:16:3e:b8:63:26', '192.168.10.1/24'),
                 _link(QG_DEV, 'fa:16:3e:9d:a8:af', '172.24.4.139/24', '172.24.4.162/32'),
                 _link(HA_DEV, 'fa:16:3e:00:00:0a', '169.254.192.12/18', '169.254.0.3/24'))
BACKUP_LINKS = (_link(QR_DEV, 'fa:16:3e:b8:63:26'), _link(QG_DEV, 'fa:16:3e:9d:a8:af'),
                _link(HA_DEV, 'fa:16:3e:00:00:0a', '169.254.192.12/18'))


def desired(primary=True, **changes):
    return want.desired_router(ha_router(**changes), SETTINGS,
                               {'760d0e4a-bd6a-4c41-9a0c-1e5e7bbd7c1e': 5, HA_NET: 6},
                               primary)


def observed(d, links, routes=(), **changes):
    sysctls = tuple((k, str(v)) for k, v in d.sysctls + d.device_sysctls)
    fields = dict(namespace_exists=True, links=links, ovs_ports=PORTS, routes=routes,
                  sysctls=sysctls, proxy=RUNNING, keepalived=RUNNING)
    fields.update(changes)
    return p.ObservedRouter(**fields)


def kinds(plan):
    return [type(a).__name__ for a in plan]


ROUTES = (Route(ipaddress.ip_network('10.9.0.0/16'), IP('192.168.10.7')),)
DEAD = ObservedChild()
CHANGED = dataclasses.replace(RUNNING, config_current=False)

# (primary?, links, routes, observed changes) -> action kinds: keepalived's
# addresses and routes are never touched, whichever node holds them.
CASES = [
    (True, PRIMARY_LINKS, (DEFAULT, EXTRA), {}, []),
    (False, BACKUP_LINKS, (), {'proxy': DEAD}, []),
    # a backup that still holds them (keepalived about to take them off): left
    (False, PRIMARY_LINKS, (DEFAULT, EXTRA), {'proxy': DEAD}, []),
    # a changed config (or keepalived dead): ensure it (SIGHUP or start)
    (True, PRIMARY_LINKS, (DEFAULT, EXTRA), {'keepalived': CHANGED}, ['ReloadChild']),
    (True, PRIMARY_LINKS, (DEFAULT, EXTRA), {'keepalived': DEAD}, ['StartChild']),
    # the primary's proxy is started; a backup's is not
    (True, PRIMARY_LINKS, (DEFAULT,), {'proxy': DEAD}, ['StartChild']),
    # the HA address is the agent's, always
    (False, (*BACKUP_LINKS[:2], _link(HA_DEV, 'fa:16:3e:00:00:0a')), (),
     {'proxy': DEAD}, ['AddAddress', 'GratuitousArp']),
]


@pytest.mark.parametrize('primary,links,routes,changes,expected', CASES)
def test_ha_router_plan(primary, links, routes, changes, expected):
    d = desired(primary, routes=ROUTES)
    assert kinds(p.diff(d, observed(d, links, routes, **changes), None,
                        ('br-int', 'br-ex'))) == expected


def test_ha_router_desired_devices_and_proxy():
    d = desired(primary=False)
    qr, qg, ha = d.devices
    assert (qr.manage_addresses, qg.manage_addresses, ha.manage_addresses) == (
        False, False, True)
    assert (ha.name, ha.bridge, ha.port.tag, ha.addresses) == (
        HA_DEV, 'br-int', 6, {IF('169.254.192.12/18')})
    assert ('net.ipv4.ip_nonlocal_bind', 1) in d.sysctls
    assert d.proxy is None and d.routes == ()
    assert desired(primary=True).proxy is not None


def test_fresh_ha_router_plugs_ha_port_and_starts_keepalived_after_devices():
    d = desired(primary=False)
    plan = kinds(p.diff(d, p.ObservedRouter(False), None, ('br-int', 'br-ex')))
    assert plan.count('PlugPort') == 3 and plan[-1] == 'StartChild'
    assert 'AddAddress' in plan and plan.count('AddAddress') == 1   # ha- only
    assert 'SetDefaultGateway' not in plan and 'ReplaceRoute' not in plan


def test_stale_address_on_ha_device_goes_but_the_primary_vip_stays():
    device = desired().device(HA_DEV)
    link = _link(HA_DEV, 'fa:16:3e:00:00:0a', '169.254.192.12/18', '169.254.0.3/24',
                 '10.0.0.9/24')
    seen = dev.ObservedDevice(True, PORTS[2], link)
    assert [(type(a).__name__, str(a.address)) for a in dev.diff(device, seen)] == [
        ('DeleteAddress', '10.0.0.9/24')]


def test_teardown_stops_keepalived_first():
    d = desired()
    plan = p.teardown(d.namespace, observed(d, PRIMARY_LINKS),
                      ((d.keepalived, RUNNING), (d.proxy, RUNNING)))
    assert kinds(plan)[:2] == ['StopChild', 'StopChild']
    assert plan.actions[0].spec.service == 'keepalived'


# -- options ---------------------------------------------------------------------------

class Conf:
    ha_confs_path = '/var/lib/netnode/ha_confs'
    ha_vrrp_advert_int = 2
    ha_vrrp_auth_type = 'PASS'
    ha_vrrp_auth_password = None
    ha_vrrp_health_check_interval = 0
    ha_conntrackd_enabled = False


@pytest.mark.parametrize('changes,error', [
    ({}, None),
    ({'ha_vrrp_health_check_interval': 5}, 'ha_vrrp_health_check_interval = 5'),
    ({'ha_conntrackd_enabled': True}, 'ha_conntrackd_enabled = true'),
    ({'ha_vrrp_auth_password': 'two words'}, 'ha_vrrp_auth_password'),
    ({'ha_vrrp_auth_password': 'br{ace'}, 'ha_vrrp_auth_password'),
    ({'ha_vrrp_auth_type': 'MD5'}, 'ha_vrrp_auth_type'),
    ({'ha_confs_path': 'relative'}, None),      # made absolute, as Neutron does
])
def test_ha_settings_from_conf(changes, error):
    conf = Conf()
    for key, value in changes.items():
        setattr(conf, key, value)
    if error is None:
        assert keepalived.HaSettings.from_conf(conf).advert_int == 2
    else:
        with pytest.raises(keepalived.InvalidHaSettings, match=error):
            keepalived.HaSettings.from_conf(conf)


# -- states ----------------------------------------------------------------------------

R1, R2 = '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'


def test_batch_reports_changes_once_and_drops_a_flip_flop():
    batch = ha_state.StateBatch()
    batch.known(R1, 'standby')
    batch.add(R1, 'backup')
    assert batch.take() == {}                                  # the server knows it
    batch.add(R1, 'primary')
    batch.add(R2, 'fault')
    assert batch.take() == {R1: 'active', R2: 'standby'}
    batch.add(R1, 'backup')
    batch.add(R1, 'primary')                                   # flip-flop: nothing
    assert batch.take() == {}
    batch.known(R1, 'standby')                                 # only before a report
    assert batch.take() == {}


def test_batch_retries_a_failed_report_unless_newer():
    batch = ha_state.StateBatch()
    batch.add(R1, 'primary')
    batch.add(R2, 'primary')
    sent = batch.take()
    batch.add(R2, 'backup')
    batch.failed(sent)
    assert batch.take() == {R1: 'active', R2: 'standby'}
    batch.forget(R1)
    batch.add(R1, 'primary')
    assert batch.take() == {R1: 'active'}


@pytest.mark.parametrize('data,expected', [
    (f'{R1} primary'.encode(), (R1, 'primary')),
    (f'{R1} backup\n'.encode(), (R1, 'backup')),
    (f'{R1} master'.encode(), ValueError),
    (b'../../etc primary', ValueError),
    (b'\xff\xfe', ValueError),
    (f'{R1} primary extra'.encode(), ValueError),
])
def test_watcher_messages(data, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            ha_state.parse(data)
    else:
        assert ha_state.parse(data) == expected
        assert ha_state.parse(ha_state.message(*expected)) == expected


def _nl_addr(kind, index, address, family=socket.AF_INET):
    attr = struct.pack('=HH', 8, ha_watcher.IFA_LOCAL) + ipaddress.ip_address(
        address).packed
    body = struct.pack('=BBBBI', family, 24, 0, 0, index) + attr
    return struct.pack('=IHHII', 16 + len(body), kind, 0, 0, 0) + body


def test_watcher_parses_address_events():
    data = (_nl_addr(ha_watcher.RTM_NEWADDR, 4, '169.254.0.3')
            + _nl_addr(ha_watcher.RTM_DELADDR, 5, '10.0.0.1')
            + struct.pack('=IHHII', 20, 3, 0, 0, 0) + b'\0' * 4)   # NLMSG_DONE
    assert list(ha_watcher.address_events(data)) == [
        (True, 4, IP('169.254.0.3')), (False, 5, IP('10.0.0.1'))]
    assert ha_watcher.dump_request()[4:6] == struct.pack('=H', ha_watcher.RTM_GETADDR)


# -- the codec -------------------------------------------------------------------------

def _wire(**changes):
    router = {'id': R1, 'ha': True, 'ha_vr_id': 7, '_ha_state': 'active',
              '_ha_interface': {'id': R2, 'network_id': R2, 'mac_address': 'fa:16:3e:00:00:01',
                                'fixed_ips': [{'ip_address': '169.254.192.3',
                                               'subnet_id': R2, 'prefixlen': 18}]}}
    router.update(changes)
    return router


def test_codec_reads_neutron_s_ha_fields():
    router = codec.router_from_wire(_wire())
    assert (router.ha, router.ha_vr_id, router.ha_state) == (True, 7, 'active')
    assert router.ha_port.fixed_ips == ((IP('169.254.192.3'), 18, R2),)
    legacy = codec.router_from_wire({'id': R1, 'ha': False, 'ha_vr_id': 0})
    assert (legacy.ha, legacy.ha_port) == (False, None)


@pytest.mark.parametrize('changes,field', [
    ({'ha_vr_id': 0}, 'ha_vr_id'),
    ({'ha_vr_id': 256}, 'ha_vr_id'),
    ({'_ha_interface': None}, '_ha_interface'),
    ({'_ha_state': 'primary'}, '_ha_state'),
])
def test_codec_refuses_a_broken_ha_router_naming_the_field(changes, field):
    with pytest.raises(codec.WireError) as error:
        codec.router_from_wire(_wire(**changes))
    assert error.value.field == field


def test_ha_states_over_its_socket(tmp_path):
    """The agent's end: a watcher's datagram is batched, reported once with
    Neutron's names, its router reconciled; a failed report is retried; routers
    not hosted are neither reported nor reconciled."""
    reports, changed, fail = [], [], []

    def report(states):
        if fail:
            raise RuntimeError('bus down')
        reports.append(states)

    states = ha_state.HaStates(str(tmp_path), 0.05, report, changed.append,
                               hosted=lambda rid: rid != R2)
    states.start()
    try:
        out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for data in (ha_state.message(R1, 'primary'), ha_state.message(R2, 'primary'),
                     b'garbage'):
            out.sendto(data, str(tmp_path / 'ha-state.sock'))
        out.close()
        deadline = time.monotonic() + 10
        while not reports and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        states.stop()
    assert reports == [{R1: 'active'}] and changed == [R1]
    assert oct(os.stat(tmp_path / 'ha-state.sock').st_mode & 0o777) == '0o600'
    fail.append(True)
    states.observed(R1, 'backup', 'active')
    assert states.flush() == {R1: 'standby'} and reports == [{R1: 'active'}]
    fail.clear()
    assert states.flush() == {R1: 'standby'} and reports[-1] == {R1: 'standby'}
    assert states.flush() == {}
