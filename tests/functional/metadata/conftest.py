"""A controller and a metadata agent (module-scoped), and the instances they serve.

``world``: two networks with the same subnet 10.77.0.0/24 and an instance port
with 10.77.0.10 on each (device ids ``a`` and ``b``), a router with an interface
on a's subnet and a gateway on an external network, a floating IP for a's port,
and instance data set through the CLI.
"""

import uuid

import pytest

from tests.functional.metadata.stack import MetadataStack


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = MetadataStack(run_id, leaks).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def world(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('md-world')
    found = {}
    for name in ('a', 'b'):
        net, subnet = stack.network(f'md-{name}', '10.77.0.0/24', '10.77.0.1')
        device = str(uuid.uuid4())
        port = stack.instance_port(net, subnet, '10.77.0.10', device)
        found[name] = {'net': net, 'subnet': subnet, 'device': device, 'port': port}
    a = found['a']
    a['key'] = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMdTestKeyOnlyForNetnodeTests md@test'
    a['user_data'] = b'#cloud-config\nruncmd:\n - echo hello\n'
    (tmp / 'key').write_text(a['key'] + '\n')
    (tmp / 'ud').write_bytes(a['user_data'])
    stack.cli('instance-set', a['device'], '--name', 'VM A', '--hostname', 'vm-a',
              '--user-data', str(tmp / 'ud'), '--key', f'mykey={tmp / "key"}',
              '--availability-zone', 'az-a')
    stack.cli('instance-set', found['b']['device'], '--name', 'vm-b')
    ext, _ = stack.network('md-ext', '198.51.100.0/24', '198.51.100.1', external=True)
    router = stack.api('POST', '/v2.0/routers', {'router': {
        'name': 'md-router', 'external_gateway_info': {'network_id': ext['id']}}})['router']
    stack.api('PUT', f'/v2.0/routers/{router["id"]}/add_router_interface',
              {'subnet_id': a['subnet']['id']})
    fip = stack.api('POST', '/v2.0/floatingips', {'floatingip': {
        'floating_network_id': ext['id'], 'port_id': a['port']['id']}})['floatingip']
    found.update(router=router, ext=ext, fip=fip)
    return found
