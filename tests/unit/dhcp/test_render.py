import dataclasses

import pytest

from agent.dhcp import render
from agent.dhcp.settings import DnsmasqSettings
from agent.model import network as m
from tests.unit.dhcp import golden as g

S = DnsmasqSettings()
SID = g.SUBNET_ID
TAG = f'tag:subnet-{SID}'
SID2 = '0a8b3c4d-1111-4222-8333-944455556666'
SID6 = 'f6e5d4c3-2222-4333-8444-a55566667777'
VM = g.VM_PORT_ID


def with_(network=g.NETWORK, **kw):
    return dataclasses.replace(network, **kw)


def subnets(*subs):
    return with_(subnets=subs)


# -- golden files, byte for byte ----------------------------------------

def test_golden_host_file():
    assert render.render_hosts(g.NETWORK, S) == g.golden_file('host')


def test_golden_addn_hosts():
    assert render.render_addn_hosts(g.NETWORK, S) == g.golden_file('addn_hosts')


def test_golden_opts():
    assert render.render_opts(g.NETWORK, S) == g.golden_file('opts')


def test_golden_interface():
    assert render.render_interface('tape9f30b29-bf') == g.golden_file('interface')


def test_golden_lease_seed_has_the_same_allocations():
    # The golden lease file is dnsmasq's own (after a real lease); the seed holds
    # the same (mac, ip) pairs for every IPv4 host, expiry 0.
    seed = render.render_leases(g.NETWORK, S)
    assert seed == ('0 fa:16:3e:b8:63:26 192.168.10.1 * *\n'
                    '0 fa:16:3e:b8:c1:5b 192.168.10.93 * *\n')
    mac, address = g.golden_file('leases').split()[1:3]
    assert f'0 {mac} {address} * *\n' in seed


# -- host file -------------------------------------------------------------

def vm(*opts, ips=((SID, '192.168.10.93'),), **kw):
    return g.port(VM, 'fa:16:3e:b8:c1:5b', *ips, extra_dhcp_opts=tuple(opts), **kw)


V6_STATEFUL = g.subnet(id=SID6, cidr=g.net('fd00:10::/64'), ip_version=6,
                       gateway_ip=g.ip('fd00:10::1'),
                       ipv6_address_mode=m.IPV6_DHCP_STATEFUL,
                       ipv6_ra_mode=m.IPV6_DHCP_STATEFUL)
V6_STATELESS = dataclasses.replace(V6_STATEFUL, ipv6_address_mode=m.IPV6_DHCP_STATELESS,
                                   ipv6_ra_mode=m.IPV6_DHCP_STATELESS)
V6_SLAAC = dataclasses.replace(V6_STATEFUL, ipv6_address_mode=m.IPV6_SLAAC,
                               ipv6_ra_mode=m.IPV6_SLAAC)
DUAL = ((SID, '192.168.10.93'), (SID6, 'fd00:10::5'))
OPT_TFTP = m.DhcpOpt('tftp-server', '10.0.0.9')
OPT_CID = m.DhcpOpt('client-id', '01:aa')
OPT_V6 = m.DhcpOpt('dns-server', '[fd00::53]', ip_version=6)

HOST_CASES = [
    ('plain', [g.subnet()], vm(), '',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'),
    ('extra opts', [g.subnet()], vm(OPT_TFTP), '',
     f'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93,set:port-{VM}\n'),
    ('client-id only', [g.subnet()], vm(OPT_CID), '',
     'fa:16:3e:b8:c1:5b,id:01:aa,host-192-168-10-93.openstacklocal,192.168.10.93\n'),
    ('client-id numeric and more', [g.subnet()], vm(m.DhcpOpt('61', 'ff:01'), OPT_TFTP), '',
     'fa:16:3e:b8:c1:5b,id:ff:01,host-192-168-10-93.openstacklocal,192.168.10.93,'
     f'set:port-{VM}\n'),
    ('dhcp disabled subnet', [g.subnet(enable_dhcp=False)], vm(), '', ''),
    ('dns assignment', [g.subnet()],
     vm(dns_assignment=(('192.168.10.93', 'vm1', 'vm1.example.org.'),)), '',
     'fa:16:3e:b8:c1:5b,vm1.example.org.,192.168.10.93\n'),
    ('no domain', [g.subnet()], vm(), 'nodomain',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93,192.168.10.93\n'),
    ('ipv6 stateful', [g.subnet(), V6_STATEFUL], vm(ips=DUAL), '',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'
     'fa:16:3e:b8:c1:5b,tag:dhcpv6,host-fd00-10--5.openstacklocal,[fd00:10::5]\n'),
    ('ipv6 stateful, no host tags', [g.subnet(), V6_STATEFUL], vm(ips=DUAL), 'notags',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'
     'fa:16:3e:b8:c1:5b,host-fd00-10--5.openstacklocal,[fd00:10::5]\n'),
    ('ipv6 stateless without opts', [g.subnet(), V6_STATELESS], vm(ips=DUAL), '',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'),
    ('ipv6 stateless with opts sorts first', [g.subnet(), V6_STATELESS],
     vm(OPT_V6, ips=DUAL), '',
     f'fa:16:3e:b8:c1:5b,tag:dhcpv6,set:port-{VM}\n'
     f'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93,set:port-{VM}\n'),
    ('ipv6 slaac with opts: nothing', [g.subnet(), V6_SLAAC], vm(OPT_V6, ips=DUAL), '',
     f'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93,set:port-{VM}\n'),
    ('dhcp, floatingip owners skipped', [g.subnet()],
     vm(owner=m.DEVICE_OWNER_FLOATINGIP), '', ''),
    ('no owner kept', [g.subnet()], vm(owner=''), '',
     'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'),
]


@pytest.mark.parametrize('name, subs, port, flags, expected', HOST_CASES,
                         ids=[c[0] for c in HOST_CASES])
def test_host_file(name, subs, port, flags, expected):
    settings = DnsmasqSettings(dns_domain='' if 'nodomain' in flags else 'openstacklocal',
                               host_tag_supported='notags' not in flags)
    network = with_(subnets=tuple(subs), ports=(port,))
    assert render.render_hosts(network, settings) == expected


def test_addn_hosts_lists_every_allocation_including_slaac():
    network = with_(subnets=(g.subnet(), V6_SLAAC), ports=(vm(ips=DUAL),))
    assert render.render_addn_hosts(network, S) == (
        '192.168.10.93\thost-192-168-10-93.openstacklocal host-192-168-10-93\n'
        'fd00:10::5\thost-fd00-10--5.openstacklocal host-fd00-10--5\n')


# -- opts file -------------------------------------------------------------

ROUTED = (g.ROUTER_PORT, g.VM_PORT, g.DHCP_PORT)
ISOLATED = (g.VM_PORT, g.DHCP_PORT)
ROUTES_VIA = '{tag},option:classless-static-route,{r}\n{tag},249,{r}\n{tag},option:router,{gw}'


def routes(r, gw='192.168.10.1'):
    return ROUTES_VIA.format(tag=TAG, r=r, gw=gw)


OPTS_CASES = [
    ('routed: metadata via gateway', ROUTED, [g.subnet()], S,
     routes('169.254.169.254/32,192.168.10.1,0.0.0.0/0,192.168.10.1')),
    ('isolated, isolated metadata off: no routes', ISOLATED, [g.subnet()], S,
     f'{TAG},option:router,192.168.10.1'),
    ('isolated with isolated metadata: via DHCP port', ISOLATED, [g.subnet()],
     DnsmasqSettings(enable_isolated_metadata=True),
     routes('169.254.169.254/32,192.168.10.2,0.0.0.0/0,192.168.10.1')),
    ('routed with isolated metadata: via gateway', ROUTED, [g.subnet()],
     DnsmasqSettings(enable_isolated_metadata=True),
     routes('169.254.169.254/32,192.168.10.1,0.0.0.0/0,192.168.10.1')),
    ('force metadata: via DHCP port even when routed', ROUTED, [g.subnet()],
     DnsmasqSettings(force_metadata=True),
     routes('169.254.169.254/32,192.168.10.2,0.0.0.0/0,192.168.10.1')),
    ('no gateway', ISOLATED, [g.subnet(gateway_ip=None)], S, f'{TAG},option:router'),
    ('no gateway, default host route supplies it', ISOLATED,
     [g.subnet(gateway_ip=None, host_routes=(
         m.HostRoute(g.net('0.0.0.0/0'), g.ip('192.168.10.254')),))], S,
     f'{TAG},option:router,192.168.10.254'),
    ('dns servers suppressed', ISOLATED, [g.subnet(dns_nameservers=('0.0.0.0',))], S,
     f'{TAG},option:dns-server\n{TAG},option:router,192.168.10.1'),
    ('dns servers', ISOLATED, [g.subnet(dns_nameservers=('8.8.8.8', '1.1.1.1'))], S,
     f'{TAG},option:dns-server,8.8.8.8,1.1.1.1\n{TAG},option:router,192.168.10.1'),
    ('host routes', ROUTED, [g.subnet(host_routes=(
        m.HostRoute(g.net('10.0.0.0/8'), g.ip('192.168.10.254')),))], S,
     routes('10.0.0.0/8,192.168.10.254,169.254.169.254/32,192.168.10.1,'
            '0.0.0.0/0,192.168.10.1')),
    ('dhcp disabled: nothing', ROUTED, [g.subnet(enable_dhcp=False)], S, ''),
]


@pytest.mark.parametrize('name, ports, subs, settings, expected', OPTS_CASES,
                         ids=[c[0] for c in OPTS_CASES])
def test_opts_per_subnet(name, ports, subs, settings, expected):
    network = with_(subnets=tuple(subs), ports=ports)
    assert render.render_opts(network, settings) == expected


def test_opts_two_ipv4_subnets_route_each_other_on_link():
    second = g.subnet(id=SID2, cidr=g.net('10.20.0.0/24'), gateway_ip=g.ip('10.20.0.1'))
    network = with_(subnets=(g.subnet(), second), ports=ISOLATED)
    tag2 = f'tag:subnet-{SID2}'
    assert render.render_opts(network, S).split('\n') == [
        f'{TAG},option:classless-static-route,10.20.0.0/24,0.0.0.0,0.0.0.0/0,192.168.10.1',
        f'{TAG},249,10.20.0.0/24,0.0.0.0,0.0.0.0/0,192.168.10.1',
        f'{TAG},option:router,192.168.10.1',
        f'{tag2},option:classless-static-route,192.168.10.0/24,0.0.0.0,0.0.0.0/0,10.20.0.1',
        f'{tag2},249,192.168.10.0/24,0.0.0.0,0.0.0.0/0,10.20.0.1',
        f'{tag2},option:router,10.20.0.1',
    ]


@pytest.mark.parametrize('sub, expected', [
    (V6_STATEFUL, [f'tag:subnet-{SID6},option6:domain-search,openstacklocal']),
    (dataclasses.replace(V6_STATELESS, dns_nameservers=('fd00::53', 'fd00::54')),
     [f'tag:subnet-{SID6},option6:dns-server,[fd00::53],[fd00::54]',
      f'tag:subnet-{SID6},option6:domain-search,openstacklocal']),
    (dataclasses.replace(V6_STATEFUL, dns_nameservers=('::',)),
     [f'tag:subnet-{SID6},option6:dns-server',
      f'tag:subnet-{SID6},option6:domain-search,openstacklocal']),
    (V6_SLAAC, []),
])
def test_opts_ipv6(sub, expected):
    network = with_(subnets=(sub,), ports=())
    assert render.render_opts(network, S) == '\n'.join(expected)


def test_opts_per_port_extra_options():
    opts = (m.DhcpOpt('tftp-server', '10.0.0.9'), m.DhcpOpt('66', '10.0.0.9'),
            m.DhcpOpt('tag:ipxe,bootfile-name', 'http://x/boot.ipxe'),
            m.DhcpOpt('client-id', '01:aa'), OPT_V6,
            m.DhcpOpt('bootfile-name', 'pxelinux.0', ip_version=6))
    network = with_(subnets=(g.subnet(), V6_STATEFUL),
                    ports=(vm(*opts, ips=DUAL), g.DHCP_PORT))
    lines = render.render_opts(network, S).split('\n')
    p = f'tag:port-{VM}'
    assert lines[-5:] == [
        f'{p},option:tftp-server,10.0.0.9',
        f'{p},66,10.0.0.9',
        f'{p},tag:ipxe,option:bootfile-name,http://x/boot.ipxe',
        f'{p},option6:dns-server,[fd00::53]',
        f'{p},option6:bootfile-name,pxelinux.0',
    ]


def test_opts_ipv6_option_dropped_for_a_port_without_ipv6():
    network = with_(ports=(vm(OPT_V6, OPT_TFTP),))
    assert render.render_opts(network, S).split('\n')[-1] == (
        f'tag:port-{VM},option:tftp-server,10.0.0.9')


def test_opts_two_dhcp_ports_serve_dns_when_subnet_has_none():
    other_dhcp = g.port('11111111-2222-4333-8444-555555555555', 'fa:16:3e:00:00:03',
                        (SID, '192.168.10.3'), owner=m.DEVICE_OWNER_DHCP)
    network = with_(ports=ROUTED + (other_dhcp,))
    assert render.render_opts(network, S).split('\n')[-1] == (
        f'{TAG},option:dns-server,192.168.10.2,192.168.10.3')


@pytest.mark.parametrize('option, version, expected', [
    ('router', 4, 'tag:t,option:router'),
    ('249', 4, 'tag:t,249'),
    ('249', 6, 'tag:t,option6:249'),
    ('tag:foo,dns-server', 4, 'tag:t,tag:foo,option:dns-server'),
])
def test_format_option(option, version, expected):
    assert render.format_option(version, 't', option) == expected


# -- lease seed ------------------------------------------------------------

def test_lease_seed_keeps_duid_and_current_ipv6_leases():
    network = with_(subnets=(g.subnet(), V6_STATEFUL), ports=(vm(ips=DUAL), g.DHCP_PORT))
    old = ('1795732616 fa:16:3e:b8:c1:5b 192.168.10.93 host-192-168-10-93 *\n'
           'duid 00:01:00:01:2c:aa\n'
           '1795732616 1234 fd00:10::5 host-fd00-10--5 00:01:00:01\n'
           '1795732616 5678 fd00:10::99 gone 00:01:00:01\n')
    assert render.render_leases(network, S, old) == (
        '0 fa:16:3e:b8:c1:5b 192.168.10.93 * *\n'
        'duid 00:01:00:01:2c:aa\n'
        '1795732616 1234 fd00:10::5 host-fd00-10--5 00:01:00:01\n')


def test_lease_seed_skips_dhcp_disabled_subnets():
    network = with_(subnets=(g.subnet(enable_dhcp=False),))
    assert render.render_leases(network, S) == ''


@pytest.mark.parametrize('assigned, expected', [
    ((('192.168.10.93', 'vm', 'vm.example.org'),), ('vm', 'vm.example.org')),
    ((('fd00:10:0:0::5', 'v6', 'v6.example.org'),), ('host-192-168-10-93',
                                                     'host-192-168-10-93.openstacklocal')),
    ((('10.0.0.1', 'other', 'other.x'),), ('host-192-168-10-93',
                                           'host-192-168-10-93.openstacklocal')),
])
def test_dns_names_v4(assigned, expected):
    port = vm(dns_assignment=assigned)
    assert render.dns_names(g.ip('192.168.10.93'), port, 'openstacklocal') == expected


def test_dns_names_match_uncompressed_ipv6_spelling():
    port = vm(dns_assignment=(('fd00:10:0:0:0:0:0:5', 'v6', 'v6.example.org'),))
    assert render.dns_names(g.ip('fd00:10::5'), port, 'openstacklocal') == (
        'v6', 'v6.example.org')


# -- defence in depth: nothing that decoded badly reaches a file ----------------

INJECT = f'x\n{TAG},option:dns-server,6.6.6.6'


@pytest.mark.parametrize('opt', [
    m.DhcpOpt('mtu', INJECT),
    m.DhcpOpt('router\ndhcp-option=3,6.6.6.6', '1'),
    m.DhcpOpt('mtu', 'a\x00b'),
])
def test_option_with_line_break_or_nul_is_not_written(opt, caplog):
    vm = dataclasses.replace(g.VM_PORT, extra_dhcp_opts=(opt, m.DhcpOpt('mtu', '1400')))
    files = render.render_files(with_(ports=(g.DHCP_PORT, g.ROUTER_PORT, vm)), S)
    assert '6.6.6.6' not in files.opts and '\x00' not in files.opts
    assert f'tag:port-{VM},option:mtu,1400' in files.opts.splitlines()
    assert 'control character' in caplog.text


@pytest.mark.parametrize('cid', ['x\nfa:16:3e:00:00:01,host-evil,192.168.10.99',
                                 '01:aa,host-evil', 'a b'])
def test_client_id_that_adds_a_line_or_field_is_not_written(cid, caplog):
    vm = dataclasses.replace(g.VM_PORT, extra_dhcp_opts=(m.DhcpOpt('client-id', cid),))
    host = render.render_hosts(with_(ports=(g.DHCP_PORT, g.ROUTER_PORT, vm)), S)
    assert 'host-evil' not in host and 'id:' not in host
    assert 'fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93' in host
    assert f'port {VM}' in caplog.text


def test_bad_assigned_names_fall_back_to_address_names(caplog):
    vm = dataclasses.replace(g.VM_PORT, dns_assignment=(
        ('192.168.10.93', 'vm\nevil', 'vm,evil.example.'),))
    files = render.render_files(with_(ports=(g.DHCP_PORT, g.ROUTER_PORT, vm)), S)
    assert 'evil' not in files.host + files.addn_hosts
    assert 'host-192-168-10-93.openstacklocal' in files.host
    for text in (files.host, files.addn_hosts, files.opts):
        assert all(render.dhcp_fields.safe_line(line) for line in text.splitlines())
