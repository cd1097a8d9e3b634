"""radvd's config and spec from the router model, and the radvd plan (pure)."""

import dataclasses
import ipaddress

import pytest

from agent.l3 import radvd
from agent.model.router import Router, RouterPort, RouterSubnet
from agent.process import actions as child
from agent.process.actions import ObservedChild
from agent.rpc.codec import WireError, router_port_from_wire
from tests.unit.process.fakes import RUNNING

RID = '11111111-2222-3333-4444-555555555555'
P1 = 'aaaaaaaa-0000-0000-0000-000000000001'
P2 = 'dddddddd-0000-0000-0000-000000000002'
NET = 'bbbbbbbb-0000-0000-0000-000000000001'
S = ['cccccccc-0000-0000-0000-00000000000%d' % i for i in range(5)]
RA = radvd.RaSettings('/var/lib/nn/ra', '/var/lib/nn/external/pids')
ip = ipaddress.ip_address
net = ipaddress.ip_network


def subnet(i, cidr, mode=None, dns=()):
    return RouterSubnet(S[i], net(cidr), None, tuple(ip(d) for d in dns), mode)


def port(pid, *subnets, mtu=1450):
    return RouterPort(pid, NET, 'fa:16:3e:00:00:01', (), tuple(subnets), mtu=mtu)


def router(*ports):
    return Router(RID, interfaces=tuple(ports))


def test_slaac_port_golden():
    r = router(port(P1, subnet(0, '10.0.0.0/24'),
                    subnet(1, '2001:db8:1::/64', 'slaac', ('2001:db8::53', '192.0.2.53'))))
    assert radvd.render_config(r, RA) == '''\
interface qr-aaaaaaaa-00
{
    AdvSendAdvert on;
    MinRtrAdvInterval 30;
    MaxRtrAdvInterval 100;
    AdvLinkMTU 1450;
    RDNSS 2001:db8::53 {};
    prefix 2001:db8:1::/64
    {
        AdvOnLink on;
        AdvAutonomous on;
    };
};
'''


def test_stateful_and_stateless_flags_and_prefixes():
    settings = radvd.RaSettings('/s/ra', '/s/pids', min_interval=3, max_interval=10)
    r = router(port(P1, subnet(0, '2001:db8:1::/64', 'dhcpv6-stateful'),
                    subnet(1, '2001:db8:2::/64', 'dhcpv6-stateless',
                           ('2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4')),
                    mtu=1000),
               port(P2, subnet(2, '2001:db8:3::/64', 'dhcpv6-stateless')))
    assert radvd.render_config(r, settings) == '''\
interface qr-aaaaaaaa-00
{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    AdvManagedFlag on;
    AdvOtherConfigFlag on;
    RDNSS 2001:db8::1 2001:db8::2 2001:db8::3 {};
    prefix 2001:db8:1::/64
    {
        AdvOnLink on;
        AdvAutonomous off;
    };
    prefix 2001:db8:2::/64
    {
        AdvOnLink on;
        AdvAutonomous on;
    };
};

interface qr-dddddddd-00
{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    AdvLinkMTU 1450;
    AdvOtherConfigFlag on;
    prefix 2001:db8:3::/64
    {
        AdvOnLink on;
        AdvAutonomous on;
    };
};
'''


def test_no_ra_subnet_no_radvd():
    r = router(port(P1, subnet(0, '10.0.0.0/24'), subnet(1, '2001:db8:1::/64')))
    assert radvd.render_config(r, RA) is None
    assert radvd.desired_spec(r, RA) is None
    assert radvd.desired_spec(router(), RA) is None


def test_spec():
    r = router(port(P1, subnet(1, '2001:db8:1::/64', 'slaac')))
    spec = radvd.desired_spec(r, RA)
    conf = f'/var/lib/nn/ra/{RID}.radvd.conf'
    pid = f'/var/lib/nn/external/pids/{RID}.pid.radvd'
    assert spec.argv == ('radvd', '-C', conf, '-p', pid, '-m', 'syslog')
    assert spec.namespace == f'qrouter-{RID}'
    assert spec.pid_file == pid
    assert spec.config_files == ((conf, radvd.render_config(r, RA)),)
    user = radvd.RaSettings('/r', '/p', user='radvd')
    assert radvd.process_spec(RID, user).argv[-2:] == ('-u', 'radvd')
    with pytest.raises(ValueError):
        radvd.process_spec('../etc', RA)


@pytest.mark.parametrize('kwargs', [dict(min_interval=80), dict(min_interval=2),
                                    dict(max_interval=2000, min_interval=30),
                                    dict(user='-x'), dict(user='a b')])
def test_bad_settings(kwargs):
    with pytest.raises(radvd.InvalidRaSettings):
        radvd.RaSettings('/r', '/p', **kwargs)
    with pytest.raises(radvd.InvalidRaSettings):
        radvd.RaSettings('relative', '/p')


def test_plan():
    """radvd is a child like any other (agent.process.children): its diff."""
    r = router(port(P1, subnet(1, '2001:db8:1::/64', 'slaac')))
    want = radvd.desired_spec(r, RA)
    stale = radvd.process_spec(RID, RA)
    changed = dataclasses.replace(RUNNING, config_current=False)
    assert child.diff(want, True, ObservedChild()).actions == (child.StartChild(want),)
    assert child.diff(want, True, changed).actions == (child.ReloadChild(want),)
    assert not child.diff(want, True, RUNNING)
    assert child.diff(stale, False, changed).actions == (child.StopChild(stale),)
    unwatched = ObservedChild(watch_current=True)     # as none is wanted
    assert child.diff(stale, False, dataclasses.replace(unwatched, config_present=True)
                      ).actions == (child.StopChild(stale),)
    assert not child.diff(stale, False, unwatched)
    assert child.StopChild(stale).describe() == (
        f'kill $(cat {stale.pid_file}); rm -f {stale.pid_file} {RA.ra_confs}/{RID}.radvd.conf')
    assert child.ReloadChild(want).describe().endswith(f'kill -HUP $(cat {want.pid_file})')


def _wire_port(**subnet):
    return {'id': P1, 'network_id': NET, 'mac_address': 'fa:16:3e:00:00:01',
            'fixed_ips': [{'subnet_id': S[1], 'ip_address': '2001:db8:1::1',
                           'prefixlen': 64}],
            'subnets': [{'id': S[1], 'cidr': '2001:db8:1::/64',
                         'gateway_ip': '2001:db8:1::1', **subnet}]}


def test_codec_reads_ra_mode_and_nameservers():
    p = router_port_from_wire(_wire_port(ipv6_ra_mode='slaac',
                                         dns_nameservers=['2001:db8::53']))
    assert p.subnets[0].ipv6_ra_mode == 'slaac'
    assert p.subnets[0].dns_nameservers == (ip('2001:db8::53'),)
    assert router_port_from_wire(_wire_port()).subnets[0].ipv6_ra_mode is None


@pytest.mark.parametrize('subnet', [dict(ipv6_ra_mode='bogus'),
                                    dict(dns_nameservers=['2001:db8::53; }'])])
def test_codec_rejects_bad_ra_fields(subnet):
    with pytest.raises(WireError):
        router_port_from_wire(_wire_port(**subnet))
