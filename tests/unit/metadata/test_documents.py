"""The documents against the published formats (Nova's metadata API documentation,
the OpenStack network_data.json schema cloud-init reads, the EC2 listings).

The strict checks below hold for every dated version; ``test_cloudinit_readers``
additionally runs cloud-init's own readers when cloud-init is importable.
"""

import base64
import ipaddress
import json
import re

import pytest

from agent.metadata import documents as d
from agent.metadata import ec2
from tests.unit.metadata.views import DEVICE, KEY, NET, PORT, instance, view

UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
MAC_RE = re.compile(r'^([0-9a-f]{2}:){5}[0-9a-f]{2}$')


def prefixlen(mask: str) -> int:
    """The prefix length of a netmask written as an address (v4 or v6); contiguous."""
    address = ipaddress.ip_address(mask)
    bits = bin(int(address))[2:].zfill(address.max_prefixlen)
    assert '01' not in bits, f'{mask} is not a contiguous netmask'
    return bits.count('1')


def get(v, path):
    doc = d.lookup(v, path)
    return doc.status, doc.body


def as_json(v, path):
    doc = d.lookup(v, path)
    assert doc.status == 200 and doc.content_type == 'application/json', path
    return json.loads(doc.body)


# --- OpenStack format ---------------------------------------------------------------

def check_meta_data(md, version):
    """meta_data.json as Nova documents it: required keys and their types."""
    assert UUID_RE.match(md['uuid'])
    assert isinstance(md['name'], str) and md['name']
    assert isinstance(md['hostname'], str) and md['hostname']
    assert isinstance(md['launch_index'], int)
    assert isinstance(md['availability_zone'], str)
    assert isinstance(md['meta'], dict)
    if 'public_keys' in md:
        assert all(isinstance(k, str) and isinstance(v, str)
                   for k, v in md['public_keys'].items())
        assert [k['name'] for k in md['keys']] == list(md['public_keys'])
        assert all(set(k) == {'name', 'type', 'data'} and k['type'] in ('ssh', 'x509')
                   for k in md['keys'])
    since = d.OPENSTACK_VERSIONS.index(version)
    assert ('random_seed' in md) == (since >= 1)
    if 'random_seed' in md:
        assert len(base64.b64decode(md['random_seed'], validate=True)) == 512
    assert ('project_id' in md) == (since >= 3)
    assert ('devices' in md) == (since >= 4)
    if 'devices' in md:
        assert md['devices'] == []
    assert ('dedicated_cpus' in md) == (since >= 8)


def check_network_data(nd):
    """network_data.json: links, networks and services with their documented fields."""
    assert set(nd) == {'links', 'networks', 'services'}
    links = {}
    for link in nd['links']:
        assert set(link) == {'id', 'vif_id', 'type', 'mtu', 'ethernet_mac_address'}
        assert link['type'] in ec2.LEGACY_VIF_TYPES + ('phy',)
        assert MAC_RE.match(link['ethernet_mac_address'])
        assert link['mtu'] is None or 68 <= link['mtu'] <= 65535
        assert UUID_RE.match(link['vif_id']) and len(link['id']) <= 14
        links[link['id']] = link
    ids = [n['id'] for n in nd['networks']]
    assert ids == [f'network{i}' for i in range(len(ids))]
    for net in nd['networks']:
        assert net['link'] in links and UUID_RE.match(net['network_id'])
        if net['type'] in ('ipv4_dhcp', 'ipv6_dhcp'):
            assert set(net) == {'id', 'type', 'link', 'network_id'}
            continue
        assert net['type'] in ('ipv4', 'ipv6', 'ipv6_slaac', 'ipv6_dhcpv6-stateless',
                               'ipv6_dhcpv6-stateful')
        assert set(net) == {'id', 'type', 'link', 'ip_address', 'netmask', 'routes',
                            'network_id', 'services'}
        address = ipaddress.ip_address(net['ip_address'])
        assert address.version == (4 if net['type'] == 'ipv4' else 6)
        assert ipaddress.ip_address(net['netmask']).version == address.version
        ipaddress.ip_network(f'{address}/{prefixlen(net["netmask"])}', strict=False)
        for route in net['routes']:
            assert set(route) == {'network', 'netmask', 'gateway'}
            ipaddress.ip_network(f'{route["network"]}/{prefixlen(route["netmask"])}')
            ipaddress.ip_address(route['gateway'])
        for svc in net['services']:
            assert svc['type'] == 'dns' and ipaddress.ip_address(svc['address'])
    for svc in nd['services']:
        assert set(svc) == {'type', 'address'} and svc['type'] == 'dns'


@pytest.mark.parametrize('version', d.OPENSTACK_VERSIONS + ('latest',))
def test_openstack_versions_are_complete_and_valid(version):
    v = view(v6=True)
    files = get(v, f'/openstack/{version}')[1].decode().splitlines()
    real = d.openstack_version(version)
    expected = ['meta_data.json', 'user_data']
    expected += ['password'] if real >= d.GRIZZLY else []
    expected += ['vendor_data.json'] if real >= d.HAVANA else []
    expected += ['network_data.json'] if real >= d.LIBERTY else []
    expected += ['vendor_data2.json'] if real >= d.NEWTON_TWO else []
    assert files == expected
    check_meta_data(as_json(v, f'/openstack/{version}/meta_data.json'), real)
    for name in files:
        assert get(v, f'/openstack/{version}/{name}')[0] == 200
        assert get(v, f'/openstack/{version}/{name}/')[0] == 200
    if 'network_data.json' in files:
        check_network_data(as_json(v, f'/openstack/{version}/network_data.json'))


def test_openstack_version_listing():
    body = get(view(), '/openstack')[1].decode().splitlines()
    assert body == list(d.OPENSTACK_VERSIONS) + ['latest']
    assert body == sorted(body[:-1]) + ['latest']
    assert get(view(), '/openstack/')[1].decode().splitlines() == body


def test_meta_data_values():
    md = as_json(view(), '/openstack/latest/meta_data.json')
    assert md['uuid'] == DEVICE and md['hostname'] == 'web-1' and md['name'] == 'web 1'
    assert md['public_keys'] == {'mykey': KEY}
    assert md['project_id'] == 'p1' and md['availability_zone'] == 'az1'


def test_meta_data_defaults_without_stored_data():
    bare = view(instance(name='', hostname='', public_keys=(), user_data=None,
                         availability_zone=None))
    md = as_json(bare, '/openstack/latest/meta_data.json')
    assert md['hostname'] == 'host-10-0-0-5' and md['name'] == 'host-10-0-0-5'
    assert md['availability_zone'] == 'nova'
    assert 'public_keys' not in md and 'keys' not in md
    assert 'user_data' not in get(bare, '/openstack/latest')[1].decode().splitlines()
    assert get(bare, '/openstack/latest/user_data')[0] == 404
    assert d.hostname(view(instance(hostname='', name='My Web_Server 1'))) == \
        'my-web-server-1'


def test_network_data_values():
    nd = as_json(view(v6=True), '/openstack/latest/network_data.json')
    check_network_data(nd)
    assert nd['links'][0] == {'id': 'tap' + PORT[:11], 'vif_id': PORT, 'type': 'ovs',
                              'mtu': 1450, 'ethernet_mac_address': 'fa:16:3e:00:00:01'}
    assert nd['links'][1]['type'] == 'phy'
    assert nd['networks'][0]['routes'] == [
        {'network': '0.0.0.0', 'netmask': '0.0.0.0', 'gateway': '10.0.0.1'},
        {'network': '172.16.0.0', 'netmask': '255.240.0.0', 'gateway': '10.0.0.254'}]
    assert nd['networks'][0]['network_id'] == NET
    assert nd['networks'][1]['type'] == 'ipv6_slaac'
    assert nd['networks'][1]['netmask'] == 'ffff:ffff:ffff:ffff::'
    assert nd['services'] == [{'type': 'dns', 'address': '192.0.2.53'},
                              {'type': 'dns', 'address': '2001:db8::53'}]


def test_network_data_dhcp_subnet_is_ipv4_dhcp():
    nd = as_json(view(dhcp_server=True), '/openstack/latest/network_data.json')
    check_network_data(nd)
    assert nd['networks'] == [{'id': 'network0', 'type': 'ipv4_dhcp',
                               'link': 'tap' + PORT[:11], 'network_id': NET}]


def test_vendor_data():
    assert as_json(view(), '/openstack/latest/vendor_data.json') == {}
    assert as_json(view(), '/openstack/latest/vendor_data2.json') == {}
    v = view(instance(vendor_data='{"cloud-init": "#cloud-config\\n"}'))
    assert as_json(v, '/openstack/latest/vendor_data.json') == {
        'cloud-init': '#cloud-config\n'}
    assert as_json(v, '/openstack/latest/vendor_data2.json') == {
        'static': {'cloud-init': '#cloud-config\n'}}


def test_user_data_is_raw_bytes():
    v = view(instance(user_data=b'\x00\xffbinary'))
    doc = d.lookup(v, '/openstack/2012-08-10/user_data')
    assert doc.body == b'\x00\xffbinary' and doc.content_type == 'application/octet-stream'


# --- EC2 format ---------------------------------------------------------------------

def test_ec2_root_and_version_listings():
    assert get(view(), '/')[1].decode().splitlines() == list(ec2.VERSIONS) + ['latest']
    assert get(view(), '/latest')[1] == b'meta-data/\nuser-data'
    assert get(view(instance(user_data=None)), '/latest/')[1] == b'meta-data/'
    assert get(view(instance(user_data=None)), '/latest/user-data')[0] == 404
    assert get(view(), '/ec2/latest/user-data') == (200, b'#cloud-config\n')


@pytest.mark.parametrize('version', ec2.VERSIONS + ('latest',))
def test_ec2_tree_is_walkable_from_its_listings(version):
    """Every listed entry resolves; directories end with '/'; leaves are text."""
    v = view()
    seen = 0

    def walk(path):
        nonlocal seen
        status, body = get(v, path)
        assert status == 200, path
        for line in body.decode().splitlines():
            name = line.split('=', 1)[0] if '=' in line else line
            if line.endswith('/') or '=' in line:
                walk(path + name.rstrip('/') + '/')
            else:
                assert get(v, path + name)[0] == 200, path + name
                seen += 1
    walk(f'/{version}/meta-data/')
    assert seen >= 9


def test_ec2_values():
    v = view()
    md = '/latest/meta-data/'
    assert get(v, md + 'instance-id') == (200, ec2.instance_id(DEVICE).encode())
    assert re.fullmatch(r'i-[0-9a-f]{8}', ec2.instance_id(DEVICE))
    assert ec2.instance_id(DEVICE) == ec2.instance_id(DEVICE)
    assert ec2.instance_id(DEVICE) != ec2.instance_id(PORT)
    assert get(v, md + 'local-ipv4') == (200, b'10.0.0.5')
    assert get(v, md + 'public-ipv4') == (200, b'198.51.100.7')
    assert get(view(floating=False), md + 'public-ipv4') == (200, b'')
    for name in ('hostname', 'local-hostname', 'public-hostname'):
        assert get(v, md + name) == (200, b'web-1')
    assert get(v, md + 'placement/') == (200, b'availability-zone')
    assert get(v, md + 'placement/availability-zone') == (200, b'az1')
    assert get(v, md + 'public-keys/') == (200, b'0=mykey')
    assert get(v, md + 'public-keys/0') == (200, b'openssh-key')
    assert get(v, md + 'public-keys/0/openssh-key') == (200, KEY.encode())
    assert re.fullmatch(rb'r-[0-9a-f]{8}', get(v, md + 'reservation-id')[1])
    assert get(v, md + 'ami-id')[1].startswith(b'ami-')


def test_ec2_keys_appear_with_versions():
    assert b'public-ipv4' not in get(view(), '/1.0/meta-data/')[1]
    assert b'local-hostname' in get(view(), '/2007-01-19/meta-data/')[1]
    assert b'placement/' not in get(view(), '/2007-12-15/meta-data/')[1]
    assert b'placement/' in get(view(), '/2008-02-01/meta-data/')[1]
    assert b'public-keys/' not in get(view(instance(public_keys=())), '/latest/meta-data/')[1]


@pytest.mark.parametrize('path', [
    '/nope', '/latest/meta-data/nope', '/2010-01-01/meta-data/', '/latest/meta-data/_name',
    '/latest/meta-data/public-keys/1/openssh-key', '/latest/meta-data/public-keys/0/_name',
    '/openstack/latest/nope', '/openstack/2011-01-01', '/openstack/latest/meta_data.json/x',
    '/openstack/2012-08-10/network_data.json', '/openstack/2013-04-04/vendor_data.json',
    '/../etc/passwd', '/latest/../../x', '/latest/meta-data/local-ipv4/x',
])
def test_unknown_paths_are_404(path):
    assert get(view(), path)[0] == 404
