"""cloud-init's own readers against our documents, served over loopback HTTP.

cloud-init is not on PyPI; ``tools/fetch-cloud-init.sh`` unpacks Debian's package
(and configobj) into ``~/.cache/netnode/cloud-init`` or ``$NETNODE_CLOUDINIT_PATH``.
Without it these tests skip (the strict format checks of test_documents.py still
run).  What runs: the OpenStack ``MetadataReader.read_v2`` (version discovery,
meta_data/user_data/vendor_data/network_data), ``convert_net_json`` (the
network_data.json → network config conversion cloud-init applies) and the EC2
crawler that walks our listings (``public-keys/`` with ``0=name`` included).
"""

import http.server
import json
import os
import sys
import threading
import urllib.request

import pytest

from agent.metadata import documents, ec2
from tests.unit.metadata.cloudinit_path import PATHS
from tests.unit.metadata.views import DEVICE, KEY, view

def _import_cloudinit():
    for path in PATHS.split(':'):
        if path and os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
    try:
        from cloudinit.sources.helpers import ec2 as ci_ec2
        from cloudinit.sources.helpers import openstack as ci_os
    except ImportError as exc:
        pytest.skip(f'cloud-init not importable ({exc}); run tools/fetch-cloud-init.sh')
    return ci_os, ci_ec2


@pytest.fixture
def served():
    """(base url, set_view) of a loopback server answering documents.lookup."""
    current = {'view': view(v6=True)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            doc = documents.lookup(current['view'], self.path)
            self.send_response(doc.status)
            self.send_header('Content-Type', doc.content_type)
            self.send_header('Content-Length', str(len(doc.body)))
            self.end_headers()
            self.wfile.write(doc.body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}', current
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_openstack_reader_and_network_conversion(served, monkeypatch):
    ci_os, ci_ec2 = _import_cloudinit()
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    url, _ = served

    class Reader(ci_os.MetadataReader):
        def _read_ec2_metadata(self):       # ours is at url, not 169.254.169.254
            return ci_ec2.get_instance_metadata(metadata_address=self.base_path,
                                                retries=0, timeout=5)

    result = Reader(url, retries=0, timeout=5).read_v2()
    md = result['metadata']
    assert md['instance-id'] == DEVICE and md['local-hostname'] == 'web-1'
    assert md['public_keys'] == {'mykey': KEY}
    assert len(md['random_seed']) == 512
    assert result['userdata'] == b'#cloud-config\n'
    assert result['vendordata'] == {} and result['vendordata2'] == {}
    assert result['ec2-metadata']['instance-id'] == ec2.instance_id(DEVICE)
    assert result['ec2-metadata']['local-ipv4'] == '10.0.0.5'
    assert result['ec2-metadata']['public-keys'] == {'mykey': KEY}
    assert result['ec2-metadata']['placement'] == {'availability-zone': 'az1'}

    config = ci_os.convert_net_json(result['networkdata'], known_macs={
        'fa:16:3e:00:00:01': 'eth0', 'fa:16:3e:00:00:02': 'eth1'})
    physical = {c['name']: c for c in config['config'] if c['type'] == 'physical'}
    assert set(physical) == {'eth0', 'eth1'}
    assert physical['eth0']['mtu'] == 1450
    v4 = physical['eth0']['subnets'][0]
    assert v4['type'] == 'static' and v4['address'] == '10.0.0.5'
    assert v4['netmask'] == '255.255.255.0'
    assert v4['routes'] == [
        {'network': '0.0.0.0', 'netmask': '0.0.0.0', 'gateway': '10.0.0.1'},
        {'network': '172.16.0.0', 'netmask': '255.240.0.0', 'gateway': '10.0.0.254'}]
    assert {'network': '172.16.0.0', 'netmask': '255.240.0.0',
            'gateway': '10.0.0.254'} in v4['routes']
    assert physical['eth1']['subnets'][0]['type'] == 'ipv6_slaac'
    assert {'type': 'nameserver', 'address': '192.0.2.53'} in config['config']
    assert {'type': 'nameserver', 'address': '2001:db8::53'} in config['config']


def test_dhcp_network_converts_to_dhcp4(served, monkeypatch):
    ci_os, _ = _import_cloudinit()
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    url, current = served
    current['view'] = view(dhcp_server=True)
    with urllib.request.urlopen(url + '/openstack/latest/network_data.json') as resp:
        nd = json.load(resp)
    config = ci_os.convert_net_json(nd, known_macs={'fa:16:3e:00:00:01': 'eth0'})
    eth0 = next(c for c in config['config'] if c.get('name') == 'eth0')
    assert eth0['subnets'][0]['type'] == 'dhcp4'
