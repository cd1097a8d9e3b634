import dataclasses

import pytest

from agent.common.names import InvalidId
from agent.dhcp import dnsmasq, render
from agent.dhcp.settings import DhcpPaths, DnsmasqSettings
from agent.model import network as m
from tests.unit.dhcp import golden as g
from tests.unit.dhcp.test_render import SID2, SID6, V6_SLAAC, V6_STATEFUL, V6_STATELESS, vm

STATE = '/var/lib/netnode'
S = DnsmasqSettings(state_path=STATE)
D = f'{STATE}/dhcp/{g.NET_ID}'


def test_golden_cmdline():
    expected = tuple(a.replace('<state_path>', STATE) for a in g.golden_cmdline())
    assert dnsmasq.dnsmasq_argv(g.NETWORK, 'tape9f30b29-bf', S) == expected


def argv_tail(network, settings=S):
    """What follows --bind-dynamic."""
    argv = dnsmasq.dnsmasq_argv(network, 'tap', settings)
    return argv[argv.index('--bind-dynamic') + 1:]


RANGE4 = f'--dhcp-range=set:subnet-{g.SUBNET_ID},192.168.10.0,static,255.255.255.0,86400s'
RANGE6 = f'--dhcp-range=set:subnet-{SID6},fd00:10::,static,64,86400s'


@pytest.mark.parametrize('name, subs, mtu, settings, expected', [
    ('defaults, no mtu', [g.subnet()], 0, S,
     (RANGE4, '--dhcp-lease-max=256', '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('infinite lease', [g.subnet()], 0, DnsmasqSettings(lease_duration=-1),
     (RANGE4.replace('86400s', 'infinite'), '--dhcp-lease-max=256',
      '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('all the options', [g.subnet()], 1500,
     DnsmasqSettings(dns_servers=('8.8.8.8', '1.1.1.1'), renewal_time=300,
                     rebinding_time=600, config_file=' /etc/dnsmasq.extra ',
                     broadcast_reply=True, dns_domain='', lease_max=100),
     (RANGE4, '--dhcp-option-force=option:mtu,1500', '--dhcp-lease-max=100',
      '--dhcp-option-force=option:T1,300s', '--dhcp-option-force=option:T2,600s',
      '--conf-file=/etc/dnsmasq.extra', '--server=8.8.8.8', '--server=1.1.1.1',
      '--dhcp-broadcast')),
    ('dhcp disabled subnet: no range', [g.subnet(enable_dhcp=False)], 0, S,
     ('--dhcp-lease-max=0', '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('two subnets sum their sizes',
     [g.subnet(), g.subnet(id=SID2, cidr=g.net('10.20.0.0/28'))], 0, S,
     (RANGE4, f'--dhcp-range=set:subnet-{SID2},10.20.0.0,static,255.255.255.240,86400s',
      '--dhcp-lease-max=272', '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('ipv6 stateful: prefixlen, lease-max capped', [V6_STATEFUL], 0, S,
     (RANGE6, f'--dhcp-lease-max={2 ** 24}', '--conf-file=/dev/null',
      '--domain=openstacklocal')),
    ('ipv6 stateless gets a range', [V6_STATELESS], 0, S,
     (RANGE6, f'--dhcp-lease-max={2 ** 24}', '--conf-file=/dev/null',
      '--domain=openstacklocal')),
    ('ipv6 no modes gets a range',
     [dataclasses.replace(V6_STATEFUL, ipv6_address_mode=None, ipv6_ra_mode=None)], 0, S,
     (RANGE6, f'--dhcp-lease-max={2 ** 24}', '--conf-file=/dev/null',
      '--domain=openstacklocal')),
    ('ipv6 slaac: none', [V6_SLAAC], 0, S,
     ('--dhcp-lease-max=0', '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('ipv6 ra only: none',
     [dataclasses.replace(V6_STATEFUL, ipv6_address_mode=None)], 0, S,
     ('--dhcp-lease-max=0', '--conf-file=/dev/null', '--domain=openstacklocal')),
    ('ipv6 prefix < 64: none',
     [dataclasses.replace(V6_STATEFUL, cidr=g.net('fd00:10::/56'))], 0, S,
     ('--dhcp-lease-max=0', '--conf-file=/dev/null', '--domain=openstacklocal')),
])
def test_argv_tail(name, subs, mtu, settings, expected):
    network = dataclasses.replace(g.NETWORK, subnets=tuple(subs), mtu=mtu)
    assert argv_tail(network, settings) == expected


def test_no_resolv_left_out_only_with_local_resolv_and_no_servers():
    local = DnsmasqSettings(local_resolv=True)
    assert '--no-resolv' not in dnsmasq.dnsmasq_argv(g.NETWORK, 'tap', local)
    with_servers = DnsmasqSettings(local_resolv=True, dns_servers=('9.9.9.9',))
    assert '--no-resolv' in dnsmasq.dnsmasq_argv(g.NETWORK, 'tap', with_servers)


def test_paths():
    paths = DhcpPaths.of(S, g.NET_ID)
    assert (paths.directory, paths.host, paths.addn_hosts, paths.opts, paths.leases,
            paths.pid, paths.interface) == (
        D, f'{D}/host', f'{D}/addn_hosts', f'{D}/opts', f'{D}/leases', f'{D}/pid',
        f'{D}/interface')


@pytest.mark.parametrize('bad', ['../../etc', '', 'ABCDEF00-0000-0000-0000-000000000000'])
def test_paths_reject_bad_ids(bad):
    with pytest.raises(InvalidId):
        DhcpPaths(S.confs_dir, bad)


# -- reload versus restart ---------------------------------------------------

def net(**kw):
    return dataclasses.replace(g.NETWORK, **kw)


NEW_VM = g.port('22222222-3333-4444-8555-666666666666', 'fa:16:3e:00:00:07',
                (g.SUBNET_ID, '192.168.10.7'))
SECOND = g.subnet(id=SID2, cidr=g.net('10.20.0.0/24'), gateway_ip=g.ip('10.20.0.1'))


@pytest.mark.parametrize('name, old, new, expected', [
    ('unchanged', g.NETWORK, g.NETWORK, dnsmasq.NONE),
    ('port added', g.NETWORK, net(ports=g.NETWORK.ports + (NEW_VM,)), dnsmasq.RELOAD),
    ('port extra opts', g.NETWORK,
     net(ports=(g.ROUTER_PORT, vm(m.DhcpOpt('tftp-server', '1.2.3.4')), g.DHCP_PORT)),
     dnsmasq.RELOAD),
    ('dns servers changed', g.NETWORK,
     net(subnets=(g.subnet(dns_nameservers=('8.8.8.8',)),)), dnsmasq.RELOAD),
    ('router interface removed: routes change', g.NETWORK,
     net(ports=(g.VM_PORT, g.DHCP_PORT)), dnsmasq.RELOAD),
    ('subnet added', g.NETWORK, net(subnets=(g.subnet(), SECOND)), dnsmasq.RESTART),
    ('dhcp-disabled subnet added', g.NETWORK,
     net(subnets=(g.subnet(), dataclasses.replace(SECOND, enable_dhcp=False))),
     dnsmasq.RELOAD),
    ('subnet order changed', net(subnets=(g.subnet(), SECOND)),
     net(subnets=(SECOND, g.subnet())), dnsmasq.RESTART),
    ('same cidr, new subnet id', g.NETWORK,
     net(subnets=(g.subnet(id=SID2),)), dnsmasq.RESTART),
    ('mtu changed', g.NETWORK, net(mtu=1400), dnsmasq.RESTART),
    ('first subnet: spawn', net(subnets=()), g.NETWORK, dnsmasq.RESTART),
    ('not running yet', None, g.NETWORK, dnsmasq.RESTART),
    ('dhcp disabled everywhere', g.NETWORK,
     net(subnets=(g.subnet(enable_dhcp=False),)), dnsmasq.DISABLE),
    ('network gone', g.NETWORK, None, dnsmasq.DISABLE),
    ('admin down', g.NETWORK, net(admin_state_up=False), dnsmasq.DISABLE),
    ('nothing to nothing', None, net(subnets=()), dnsmasq.NONE),
])
def test_decision(name, old, new, expected):
    assert dnsmasq.dnsmasq_decision(old, new, S) == expected


TAGGED = net(ports=(g.ROUTER_PORT, vm(m.DhcpOpt('tftp-server', '1.2.3.4')), g.DHCP_PORT))
SEED = '0 fa:16:3e:b8:c1:5b 192.168.10.93 * *\n'
LEASED = '1795750347 fa:16:3e:b8:c1:5b 192.168.10.93 host-a 01:fa:16:3e:b8:c1:5b\n'


@pytest.mark.parametrize('name, old, new, leases, expected', [
    ('extra opts cleared', TAGGED, g.NETWORK, LEASED, dnsmasq.RESTART),
    ('extra opt changed, tag kept', TAGGED,
     net(ports=(g.ROUTER_PORT, vm(m.DhcpOpt('tftp-server', '1.2.3.5')), g.DHCP_PORT)),
     LEASED, dnsmasq.RESTART),
    ('port added next to a tagged one', TAGGED, net(ports=TAGGED.ports + (NEW_VM,)),
     LEASED, dnsmasq.RESTART),
    ('extra opts cleared, never asked for', TAGGED, g.NETWORK, SEED, dnsmasq.RELOAD),
    ('tagged, unchanged', TAGGED, TAGGED, LEASED, dnsmasq.NONE),
])
def test_decision_a_served_host_tag_restarts(name, old, new, leases, expected):
    assert dnsmasq.dnsmasq_decision(old, new, S, leases=leases) == expected


def files(host, opts=''):
    return render.DnsmasqFiles(host=host, addn_hosts='', opts=opts)


PORT_TAG = 'set:port-8d7f3a10-51b2-4c3e-a0b9-2f6e4d1c9a77'
TAGGED_HOST = f'fa:16:3e:b8:c1:5b,host-a,192.168.10.93,{PORT_TAG}\n'
PLAIN_HOST = 'fa:16:3e:b8:c1:5b,host-a,192.168.10.93\n'
V6_HOST = 'fa:16:3e:b8:c1:5c,tag:dhcpv6,host-b,[fd00::5]\n'
V6_TAGGED = f'fa:16:3e:b8:c1:5c,tag:dhcpv6,host-b,[fd00::5],{PORT_TAG}\n'
V6_LEASE = '1795750347 1234 fd00::5 host-b 00:04:ab\n'
STATELESS_TAGGED = f'fa:16:3e:b8:c1:5c,tag:dhcpv6,{PORT_TAG}\n'


@pytest.mark.parametrize('name, old, new, leases, expected', [
    ('same files', files(TAGGED_HOST, 'o'), files(TAGGED_HOST, 'o'), LEASED, dnsmasq.NONE),
    ('tag dropped after a lease', files(TAGGED_HOST, 'tag:port-x,option:ntp-server,1.2.3.4'),
     files(PLAIN_HOST), LEASED, dnsmasq.RESTART),
    ('tagged and leased, only opts changed', files(TAGGED_HOST, 'a'),
     files(TAGGED_HOST, 'b'), LEASED, dnsmasq.RESTART),
    ('tagged, only the seed: never answered', files(TAGGED_HOST, 'a'),
     files(TAGGED_HOST, 'b'), SEED, dnsmasq.RELOAD),
    ('tagged, no lease at all', files(TAGGED_HOST), files(PLAIN_HOST), '', dnsmasq.RELOAD),
    ('leased by address', files(TAGGED_HOST), files(PLAIN_HOST),
     '1795750347 fa:16:3e:00:00:99 192.168.10.93 * *\n', dnsmasq.RESTART),
    ('another host leased', files(TAGGED_HOST), files(PLAIN_HOST),
     '1795750347 fa:16:3e:00:00:99 192.168.10.94 * *\n', dnsmasq.RELOAD),
    ('tag added', files(PLAIN_HOST), files(TAGGED_HOST), LEASED, dnsmasq.RELOAD),
    ('no tags: port churn', files(PLAIN_HOST), files(PLAIN_HOST + V6_HOST), LEASED,
     dnsmasq.RELOAD),
    ('tag: match (not set:) in the hosts file', files(V6_HOST), files(PLAIN_HOST),
     V6_LEASE, dnsmasq.RELOAD),
    ('tagged IPv6 host leased', files(V6_TAGGED), files(V6_HOST), 'duid 00:01\n' + V6_LEASE,
     dnsmasq.RESTART),
    ('tagged stateless host: no lease to tell', files(STATELESS_TAGGED), files(''), '',
     dnsmasq.RESTART),
])
def test_avoid_host_tag_reload_crash(name, old, new, leases, expected):
    assert dnsmasq.avoid_host_tag_reload_crash(old, new, leases) == expected


def test_dhcp_cidrs_ordered_dhcp_enabled_only():
    network = net(subnets=(SECOND, dataclasses.replace(V6_STATEFUL, enable_dhcp=False),
                           g.subnet()))
    assert dnsmasq.dhcp_cidrs(network) == ('10.20.0.0/24', '192.168.10.0/24')
    assert dnsmasq.dhcp_cidrs(None) == ()



def test_a_network_served_by_several_servers_is_authoritative():
    """Two DHCP ports (dhcp_agents_per_network = 2): each dnsmasq answers a REBIND
    for a lease the other gave (--dhcp-authoritative); one: Neutron 29's argv."""
    dhcp = [p for p in g.NETWORK.ports if p.device_owner == m.DEVICE_OWNER_DHCP]
    assert len(dhcp) == 1
    assert '--dhcp-authoritative' not in dnsmasq.dnsmasq_argv(g.NETWORK, 'tap', S)
    second = dataclasses.replace(dhcp[0], id='0' * 8 + dhcp[0].id[8:],
                                 mac_address='fa:16:3e:00:00:99')
    two = dataclasses.replace(g.NETWORK, ports=g.NETWORK.ports + (second,))
    assert dnsmasq.dnsmasq_argv(two, 'tap', S)[-1] == '--dhcp-authoritative'
