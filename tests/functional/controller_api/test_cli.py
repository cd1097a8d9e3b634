"""The reference scenario's verbs through the netnode CLI, as a subprocess."""

import json
import uuid

import pytest

pytestmark = pytest.mark.functional


def ok(server, *args):
    code, out, err = server.cli(*args)
    assert code == 0, f'netnode {" ".join(args)} failed: {err}'
    return out


def value(server, *args):
    return ok(server, *args, '-f', 'value', '-c', 'id').strip()


def test_reference_scenario_verbs(server):
    tag = uuid.uuid4().hex[:6]
    net, ext, router = f'private-{tag}', f'public-{tag}', f'router-{tag}'
    net_id = value(server, 'net-create', net, '--provider:network_type', 'gre',
                   '--provider:segmentation_id', '1')
    out = ok(server, 'net-show', net)
    assert net_id in out and '| name ' in out
    ok(server, 'subnet-create', net, '10.40.0.0/24', '--name', f'{net}-subnet',
       '--gateway', '10.40.0.1', '--dns_nameservers', 'list=true', '8.8.8.8')
    value(server, 'net-create', ext, '--router:external')
    ok(server, 'subnet-create', ext, '198.51.100.0/24', '--disable-dhcp',
       '--allocation-pool', 'start=198.51.100.10,end=198.51.100.50')
    ok(server, 'router-create', router)
    assert 'Added interface' in ok(server, 'router-interface-add', router,
                                   f'{net}-subnet')
    ok(server, 'router-gateway-set', router, ext)
    shown = json.loads(ok(server, 'router-show', router, '-f', 'json'))
    assert shown['external_gateway_info']['network_id'] == value(server, 'net-show', ext)
    port_id = value(server, 'port-create', net, '--name', f'vm-{tag}',
                    '--binding:host_id', 'compute1')
    fip_id = value(server, 'floatingip-create', ext, '--port-id', port_id)
    listed = json.loads(ok(server, 'floatingip-list', '-f', 'json'))
    assert any(f['id'] == fip_id and f['port_id'] == port_id for f in listed)
    ok(server, 'floatingip-disassociate', fip_id)
    ok(server, 'floatingip-associate', fip_id, f'vm-{tag}')
    ports = json.loads(ok(server, 'port-list', '--network-id', net, '-f', 'json'))
    assert port_id in {p['id'] for p in ports}
    table = ok(server, 'net-list')
    assert net in table and table.splitlines()[1].startswith('| id ')
    assert 'alive' in ok(server, 'agent-list')
    ok(server, 'l3-agent-list-hosting-router', router)
    ok(server, 'dhcp-agent-list-hosting-net', net)

    code, _, err = server.cli('router-delete', router)
    assert code == 1 and 'RouterInUse' in err
    ok(server, 'floatingip-delete', fip_id)
    ok(server, 'port-delete', f'vm-{tag}')
    ok(server, 'router-gateway-clear', router)
    ok(server, 'router-interface-remove', router, f'{net}-subnet')
    ok(server, 'router-delete', router)
    ok(server, 'net-delete', net, ext)
    code, _, err = server.cli('net-show', net)
    assert code == 1 and 'Unable to find network' in err


def test_cli_errors(server):
    code, _, err = server.cli('subnet-create', str(uuid.uuid4()), '10.0.0.0/24')
    assert code == 1 and 'Unable to find network' in err
    code, _, err = server.cli('net-create', 'x', '--mtu', 'big')
    assert code == 2 and 'mtu' in err
