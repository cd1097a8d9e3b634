"""openstacksdk, auth-less with an endpoint override, against netnode-server."""

import uuid

import pytest

pytestmark = pytest.mark.functional


@pytest.fixture
def conn(server, monkeypatch):
    import openstack.connection
    for var in [v for v in __import__('os').environ if v.startswith('OS_')]:
        monkeypatch.delenv(var)
    return openstack.connection.Connection(
        auth_type='none', network_endpoint_override=server.url + '/')


def test_sdk_creates_and_lists(conn):
    tag = uuid.uuid4().hex[:6]
    net = conn.network.create_network(name=f'sdk-{tag}')
    assert conn.network.find_network(f'sdk-{tag}').id == net.id
    subnet = conn.network.create_subnet(network_id=net.id, cidr='10.60.0.0/24',
                                        ip_version=4, name=f'sdk-{tag}')
    assert subnet.gateway_ip == '10.60.0.1'
    port = conn.network.create_port(network_id=net.id, name=f'sdk-{tag}')
    assert port.fixed_ips[0]['subnet_id'] == subnet.id
    router = conn.network.create_router(name=f'sdk-{tag}')
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    assert net.id in {n.id for n in conn.network.networks()}
    assert subnet.id in {s.id for s in conn.network.subnets(network_id=net.id)}
    assert port.id in {p.id for p in conn.network.ports(network_id=net.id)}
    assert router.id in {r.id for r in conn.network.routers()}
    conn.network.remove_interface_from_router(router, subnet=subnet.id)
    conn.network.delete_router(router)
    conn.network.delete_port(port)
    conn.network.delete_subnet(subnet)
    conn.network.delete_network(net)
    assert conn.network.find_network(f'sdk-{tag}') is None
