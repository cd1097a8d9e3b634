"""Isolated metadata end to end: probes on networks without a router get their own
documents through the DHCP agent's own proxy in qdhcp- (issue 5 acceptance).

netnode-server, netnode-dhcp-agent (the DHCP engineers' stack, used as is) and
netnode-metadata-agent as processes on the run's vhost; the metadata agent
serves ``$state_path/metadata_proxy`` of the DHCP agent's state path.  Two probes
on two networks with the same subnet are pinned to the same address; each
learns its address and the route to 169.254.169.254 by DHCP (dhclient).
"""

import json
import os
import subprocess
import uuid

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack
from tests.functional.helpers.host import sh, wait_for
from tests.functional.metadata.stack import (
    check_shared_proxy_outlives_a_restart, curl, with_metadata_agent)

pytestmark = pytest.mark.functional

CIDR, GATEWAY, SAME_IP = '10.88.0.0/24', '10.88.0.1', '10.88.0.50'


@pytest.fixture(scope='module', params=['haproxy', 'shared'])
def dhcp_stack(request, run_id, leaks):
    """With a haproxy per network, then with the agent's one shared proxy."""
    mode = request.param
    with with_metadata_agent(DhcpStack(run_id, 'mdd' if mode == 'haproxy' else 'mdds',
                                       leaks, agent_conf=f'metadata_proxy_mode = {mode}')
                             .start()) as s:
        s.metadata_proxy_mode = mode
        yield s


def conf_path(s, net):
    return os.path.join(s.state_path, 'ns-metadata-proxy', f'{net["id"]}.conf')


def diagnose(s, net, probe):
    ns = probe['namespace']
    out = [f'curl: {curl(ns, "/openstack/latest/meta_data.json")}']
    for cmd in (['ip', '-n', ns, 'route'], ['ip', '-n', ns, 'addr'],
                ['ip', '-n', f'qdhcp-{net["id"]}', 'addr'],
                ['ip', 'netns', 'exec', f'qdhcp-{net["id"]}', 'ss', '-ltnp']):
        res = subprocess.run(cmd, capture_output=True, text=True)
        out.append(' '.join(cmd) + ':\n' + res.stdout + res.stderr)
    conf = conf_path(s, net)
    out.append(f'{conf} exists: {os.path.exists(conf)}')
    return '\n'.join(out)


def test_probes_get_their_own_metadata_through_qdhcp(dhcp_stack, tmp_path):
    s = dhcp_stack
    found = []
    for name in ('x', 'y'):
        net, subnet = s.create_network(f'md-{name}', CIDR, GATEWAY)
        probe = s.probe_create(net['id'], name=f'md-probe-{name}')
        device = str(uuid.uuid4())
        s.api('PUT', f'/ports/{probe["id"]}', {'port': {
            'device_id': device,
            'fixed_ips': [{'subnet_id': subnet['id'], 'ip_address': SAME_IP}]}})
        code, _, err = s.cli('instance-set', device, '--hostname', f'probe-{name}')
        assert code == 0, err
        found.append((net, probe, device, name))
    for net, probe, device, name in found:
        # The agent applies the address change with its next (coalesced) dnsmasq
        # reload, a moment after the update returned: until then the old one is leased.
        wait_for(lambda: (got := clients.dhclient(probe['namespace'],
                                                  probe['device']))
                 and got.get('fixed-address') == SAME_IP, 40, 0.5,
                 f'a dhclient lease of {SAME_IP}')
        # the test's dhclient configures nothing: apply the lease, and the route to
        # the metadata address via the DHCP port (what dnsmasq's option 121 says)
        dhcp_ip = s.dhcp_port(net['id'])['fixed_ips'][0]['ip_address']
        ns, dev = probe['namespace'], probe['device']
        sh('ip', '-n', ns, 'addr', 'add', f'{SAME_IP}/24', 'dev', dev)
        sh('ip', '-n', ns, 'route', 'add', '169.254.169.254/32', 'via', dhcp_ip)
        try:
            status, body = wait_for(
                lambda: (lambda r: r if r[0] == 200 else None)(
                    curl(probe['namespace'], '/openstack/latest/meta_data.json')),
                20, 0.2, f'metadata for probe {name}')
        except AssertionError:
            raise AssertionError(diagnose(s, net, probe)) from None
        md = json.loads(body)
        assert md['uuid'] == device and md['hostname'] == f'probe-{name}'
        assert os.path.exists(conf_path(s, net)) == (s.metadata_proxy_mode == 'haproxy')
        assert curl(probe['namespace'], '/latest/meta-data/local-ipv4') == (
            200, SAME_IP.encode())
        other = found[0][0] if net is not found[0][0] else found[1][0]
        status, body = curl(probe['namespace'], '/openstack/latest/meta_data.json',
                            f'X-Neutron-Network-ID: {other["id"]}',
                            'X-Forwarded-For: 10.88.0.99')
        assert status == 200 and json.loads(body)['uuid'] == device
    for _, probe, _, _ in found:
        s.probe_delete(probe)


def test_shared_proxy_outlives_a_restart_and_leaves_with_the_network(dhcp_stack):
    s = dhcp_stack
    if s.metadata_proxy_mode != 'shared':
        pytest.skip('the shared proxy only')
    net, _ = s.create_network('md-z', '10.88.7.0/24', '10.88.7.1')
    check_shared_proxy_outlives_a_restart(
        s, 'dhcp', net['id'], lambda: s.api('DELETE', f'/networks/{net["id"]}'))
