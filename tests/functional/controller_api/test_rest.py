"""Every resource through HTTP against a real netnode-server (SQLite, PostgreSQL)."""

import uuid

import pytest

pytestmark = pytest.mark.functional


def _name(prefix):
    return f'{prefix}-{uuid.uuid4().hex[:6]}'


def _err(body):
    return body['NeutronError']


def test_versions_resources_extensions(server):
    status, doc = server.call('GET', '/')
    assert status == 200
    assert doc['versions'][0]['links'][0]['href'] == server.url + '/v2.0/'
    status, doc = server.call('GET', '/v2.0/')
    assert {'networks', 'ports'} <= {r['collection'] for r in doc['resources']}
    status, doc = server.call('GET', '/v2.0/extensions.json')
    assert 'router' in {e['alias'] for e in doc['extensions']}


def test_network_crud_filters_fields_sort(server):
    names = [_name('net') for _ in range(3)]
    ids = []
    for name in names:
        status, doc = server.call('POST', '/v2.0/networks', {'network': {'name': name}})
        assert status == 201, doc
        assert doc['network']['name'] == name and doc['network']['admin_state_up'] is True
        ids.append(doc['network']['id'])
    status, doc = server.call('GET', f'/v2.0/networks?name={names[0]}&name={names[1]}')
    assert sorted(n['id'] for n in doc['networks']) == sorted(ids[:2])
    status, doc = server.call('GET', f'/v2.0/networks/{ids[0]}?fields=name&fields=id')
    assert doc['network'] == {'id': ids[0], 'name': names[0]}
    status, doc = server.call(
        'GET', f'/v2.0/networks?admin_state_up=true&fields=name&sort_key=name&sort_dir=desc')
    mine = [n['name'] for n in doc['networks'] if n['name'] in names]
    assert mine == sorted(names, reverse=True)
    assert all(set(n) == {'name'} for n in doc['networks'])
    status, doc = server.call('PUT', f'/v2.0/networks/{ids[0]}',
                              {'network': {'name': names[0] + '-x', 'mtu': 1400}})
    assert status == 200 and doc['network']['name'] == names[0] + '-x'
    assert doc['network']['mtu'] == 1400
    for net_id in ids:
        assert server.call('DELETE', f'/v2.0/networks/{net_id}')[0] == 204
    status, doc = server.call('GET', f'/v2.0/networks/{ids[0]}')
    assert status == 404 and _err(doc)['type'] == 'NetworkNotFound'


def test_bulk_networks_and_pagination(server):
    prefix = _name('bulk')
    body = {'networks': [{'name': f'{prefix}-{i}'} for i in range(5)]}
    status, doc = server.call('POST', '/v2.0/networks', body)
    assert status == 201 and len(doc['networks']) == 5
    seen, path = [], f'/v2.0/networks?sort_key=name&limit=2&fields=id&fields=name'
    while path:
        status, page = server.call('GET', path)
        assert status == 200
        seen += [n['name'] for n in page['networks']]
        nxt = [link['href'] for link in page.get('networks_links', [])
               if link['rel'] == 'next']
        path = nxt[0].replace(server.url, '') if nxt else None
    assert [s for s in seen if s.startswith(prefix)] == [f'{prefix}-{i}' for i in range(5)]
    for net in doc['networks']:
        server.call('DELETE', f'/v2.0/networks/{net["id"]}')


def test_bad_requests_name_the_problem(server):
    status, doc = server.call('POST', '/v2.0/networks', b'{"network": ')
    assert status == 400 and 'Malformed JSON' in _err(doc)['message']
    status, doc = server.call('POST', '/v2.0/networks', {'netwrk': {}})
    assert status == 400 and "'network'" in _err(doc)['message']
    status, doc = server.call('GET', '/v2.0/nothing-here')
    assert status == 404 and _err(doc)['type'] == 'HTTPNotFound'
    status, doc = server.call('DELETE', '/v2.0/networks')
    assert status == 405
    status, net = server.call('POST', '/v2.0/networks', {'network': {'name': _name('n')}})
    net_id = net['network']['id']
    status, doc = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': net_id, 'cidr': '10.0.0.0/33', 'ip_version': 4}})
    assert status == 400 and 'cidr' in _err(doc)['message']
    status, doc = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': str(uuid.uuid4()), 'cidr': '10.0.0.0/24', 'ip_version': 4}})
    assert status == 404 and _err(doc)['type'] == 'NetworkNotFound'
    server.call('DELETE', f'/v2.0/networks/{net_id}')


def test_subnet_port_crud_and_conflicts(server):
    _, net = server.call('POST', '/v2.0/networks', {'network': {'name': _name('n')}})
    net_id = net['network']['id']
    status, doc = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': net_id, 'cidr': '10.20.0.0/24', 'ip_version': 4, 'name': 's',
        'allocation_pools': [{'start': '10.20.0.10', 'end': '10.20.0.20'}],
        'dns_nameservers': ['192.0.2.53'], 'enable_dhcp': False}})
    assert status == 201, doc
    subnet = doc['subnet']
    assert subnet['gateway_ip'] == '10.20.0.1' and subnet['dns_nameservers'] == ['192.0.2.53']
    status, doc = server.call('GET', f'/v2.0/subnets?network_id={net_id}')
    assert [s['id'] for s in doc['subnets']] == [subnet['id']]
    status, doc = server.call('PUT', f'/v2.0/subnets/{subnet["id"]}',
                              {'subnet': {'name': 's2'}})
    assert status == 200 and doc['subnet']['name'] == 's2'

    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net_id, 'name': 'p1', 'binding:host_id': 'h1',
        'fixed_ips': [{'subnet_id': subnet['id'], 'ip_address': '10.20.0.15'}],
        'extra_dhcp_opts': [{'opt_name': 'mtu', 'opt_value': '1400'}]}})
    assert status == 201, doc
    port = doc['port']
    assert port['fixed_ips'][0]['ip_address'] == '10.20.0.15'
    assert port['mac_address'].startswith('fa:16:3e')
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': net_id,
        'fixed_ips': [{'subnet_id': subnet['id'], 'ip_address': '10.20.0.15'}]}})
    assert status == 409 and _err(doc)['type'] == 'IpAddressInUse', doc
    status, doc = server.call('GET', f'/v2.0/ports?network_id={net_id}&fields=id')
    assert doc['ports'] == [{'id': port['id']}]
    status, doc = server.call('PUT', f'/v2.0/ports/{port["id"]}',
                              {'port': {'name': 'p2', 'device_id': 'vm1'}})
    assert status == 200 and doc['port']['device_id'] == 'vm1'
    status, doc = server.call('DELETE', f'/v2.0/subnets/{subnet["id"]}')
    assert status == 409 and _err(doc)['type'] == 'SubnetInUse'
    assert server.call('DELETE', f'/v2.0/ports/{port["id"]}')[0] == 204
    assert server.call('DELETE', f'/v2.0/subnets/{subnet["id"]}')[0] == 204
    assert server.call('DELETE', f'/v2.0/networks/{net_id}')[0] == 204


def test_router_interfaces_gateway_and_floating_ips(server):
    _, ext = server.call('POST', '/v2.0/networks', {'network': {
        'name': _name('ext'), 'router:external': True}})
    ext_id = ext['network']['id']
    assert ext['network']['router:external'] is True
    _, ext_sub = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': ext_id, 'cidr': '198.51.100.0/24', 'ip_version': 4,
        'enable_dhcp': False}})
    _, net = server.call('POST', '/v2.0/networks', {'network': {'name': _name('n')}})
    net_id = net['network']['id']
    _, sub = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': net_id, 'cidr': '10.30.0.0/24', 'ip_version': 4,
        'enable_dhcp': False}})
    sub_id = sub['subnet']['id']
    status, doc = server.call('POST', '/v2.0/routers', {'router': {'name': _name('r')}})
    assert status == 201, doc
    router_id = doc['router']['id']
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}/add_router_interface',
                              {'subnet_id': sub_id})
    assert status == 200 and doc['subnet_id'] == sub_id, doc
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}', {'router': {
        'external_gateway_info': {'network_id': ext_id}}})
    assert status == 200, doc
    assert doc['router']['external_gateway_info']['network_id'] == ext_id
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}', {'router': {
        'routes': [{'destination': '10.99.0.0/16', 'nexthop': '10.30.0.9'}]}})
    assert status == 200 and doc['router']['routes'][0]['nexthop'] == '10.30.0.9', doc

    _, port = server.call('POST', '/v2.0/ports', {'port': {'network_id': net_id}})
    port_id = port['port']['id']
    status, doc = server.call('POST', '/v2.0/floatingips', {'floatingip': {
        'floating_network_id': ext_id, 'port_id': port_id}})
    assert status == 201, doc
    fip = doc['floatingip']
    assert fip['router_id'] == router_id
    assert fip['fixed_ip_address'] == port['port']['fixed_ips'][0]['ip_address']
    status, doc = server.call('GET', f'/v2.0/floatingips?port_id={port_id}')
    assert [f['id'] for f in doc['floatingips']] == [fip['id']]
    status, doc = server.call('PUT', f'/v2.0/floatingips/{fip["id"]}',
                              {'floatingip': {'port_id': None}})
    assert status == 200 and doc['floatingip']['port_id'] is None
    assert server.call('DELETE', f'/v2.0/floatingips/{fip["id"]}')[0] == 204

    status, doc = server.call('DELETE', f'/v2.0/routers/{router_id}')
    assert status == 409 and _err(doc)['type'] == 'RouterInUse'
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}/remove_router_interface',
                              {'subnet_id': sub_id})
    assert status == 409 and _err(doc)['type'] == 'RouterInterfaceInUseByRoute', doc
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}',
                              {'router': {'external_gateway_info': {}, 'routes': []}})
    assert status == 200 and not doc['router']['external_gateway_info'], doc
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}/remove_router_interface',
                              {'subnet_id': sub_id})
    assert status == 200, doc
    assert server.call('DELETE', f'/v2.0/routers/{router_id}')[0] == 204
    assert server.call('GET', f'/v2.0/routers/{router_id}/l3-agents')[0] == 404
    server.call('DELETE', f'/v2.0/ports/{port_id}')
    for net in (net_id, ext_id):
        assert server.call('DELETE', f'/v2.0/networks/{net}')[0] == 204


def test_agents_and_scheduler_views(server):
    status, doc = server.call('GET', '/v2.0/agents')
    assert status == 200 and isinstance(doc['agents'], list)
    status, doc = server.call('GET', f'/v2.0/agents/{uuid.uuid4()}')
    assert status == 404 and _err(doc)['type'] == 'AgentNotFound'
    _, net = server.call('POST', '/v2.0/networks', {'network': {'name': _name('n')}})
    status, doc = server.call('GET', f'/v2.0/networks/{net["network"]["id"]}/dhcp-agents')
    assert status == 200 and doc == {'agents': []}
    server.call('DELETE', f'/v2.0/networks/{net["network"]["id"]}')


def test_project_header_scopes_resources(server):
    project = uuid.uuid4().hex
    status, doc = server.call('POST', '/v2.0/networks', {'network': {'name': _name('t')}},
                              headers={'X-Project-Id': project, 'X-Auth-Token': 'x'})
    assert status == 201 and doc['network']['project_id'] == project
    status, seen = server.call('GET', '/v2.0/networks',
                               headers={'X-Project-Id': project})
    assert doc['network']['id'] in {n['id'] for n in seen['networks']}
    # Other projects' networks are visible only when shared or external.
    assert all(n['project_id'] == project or n['shared'] or n['router:external']
               for n in seen['networks'])
    server.call('DELETE', f'/v2.0/networks/{doc["network"]["id"]}')
