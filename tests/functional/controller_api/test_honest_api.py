"""What the controller does not implement is refused, never stored and ignored;
scheduling calls answer as Neutron's do (real netnode-server, SQLite and PostgreSQL).

The bodies are those openstackclient 10.5 sends (``port create
--enable-port-security``, ``--allowed-address``, ``--no-security-group``,
``network create --enable-port-security``); openstacksdk drives the scheduling.
"""

import datetime
import uuid

import pytest

pytestmark = pytest.mark.functional


def _name(prefix):
    return f'{prefix}-{uuid.uuid4().hex[:6]}'


def _err(doc):
    return doc['NeutronError']


@pytest.fixture
def network(server):
    _, doc = server.call('POST', '/v2.0/networks', {'network': {'name': _name('hon')}})
    yield doc['network']
    for port in server.call('GET', f"/v2.0/ports?network_id={doc['network']['id']}")[1][
            'ports']:
        server.call('DELETE', f"/v2.0/ports/{port['id']}")
    server.call('DELETE', f"/v2.0/networks/{doc['network']['id']}")


def test_port_security_is_false_everywhere_and_true_is_refused(server, network):
    assert network['port_security_enabled'] is False
    status, doc = server.call('POST', '/v2.0/networks', {'network': {
        'name': _name('hon'), 'port_security_enabled': True}})
    assert status == 400 and _err(doc)['type'] == 'InvalidInput'
    assert _err(doc)['message'].startswith(
        'Invalid input for network port_security_enabled: true is not supported')
    for body, field in (({'port_security_enabled': True}, 'port_security_enabled'),
                        ({'allowed_address_pairs': [{'ip_address': '10.9.0.50'}]},
                         'allowed_address_pairs'),
                        ({'security_groups': [str(uuid.uuid4())]}, 'security_groups'),
                        ({'binding:vnic_type': 'direct'}, 'binding:vnic_type')):
        status, doc = server.call('POST', '/v2.0/ports', {'port': {
            'network_id': network['id'], 'name': _name('p'), **body}})
        assert status == 400, doc
        assert f'Invalid input for port {field}: ' in _err(doc)['message']
    status, doc = server.call('GET', f"/v2.0/ports?network_id={network['id']}")
    assert doc['ports'] == []                  # nothing half-made
    status, doc = server.call('POST', '/v2.0/ports', {'port': {
        'network_id': network['id'], 'port_security_enabled': False,
        'security_groups': []}})
    assert status == 201, doc
    port = doc['port']
    assert port['port_security_enabled'] is False and port['security_groups'] == []
    assert 'tags' not in port
    status, doc = server.call('PUT', f"/v2.0/ports/{port['id']}", {'port': {
        'allowed_address_pairs': [{'ip_address': '10.9.0.51'}]}})
    assert status == 400 and 'allowed_address_pairs' in _err(doc)['message']
    assert server.call('GET', f"/v2.0/ports/{port['id']}")[1]['port'][
        'revision_number'] == port['revision_number']


def test_unknown_filters_and_unimplemented_resources(server, network):
    status, doc = server.call('GET', '/v2.0/networks?tags=blue&name=x')
    assert (status, doc) == (400, {'NeutronError': {
        'type': 'HTTPBadRequest', 'detail': '',
        'message': "['tags'] is invalid attribute for filtering"}})
    status, doc = server.call('GET', f"/v2.0/networks?name={network['name']}"
                                     '&port_security_enabled=false&fields=id')
    assert status == 200 and doc['networks'] == [{'id': network['id']}]
    for method, path in (('GET', '/v2.0/security-groups'), ('GET', '/v2.0/quotas'),
                         ('GET', '/v2.0/subnetpools'),
                         ('PUT', f"/v2.0/networks/{network['id']}/tags")):
        status, doc = server.call(method, path, {'tags': ['blue']} if method == 'PUT'
                                  else None)
        assert status == 404 and 'does not implement' in _err(doc)['message'], path
    status, doc = server.call('GET', '/v2.0/extensions')
    aliases = {e['alias'] for e in doc['extensions']}
    assert 'filter-validation' in aliases and 'port-security' not in aliases


@pytest.fixture
def agents(server):
    """A DHCP and an L3 agent reported into the server's database."""
    from agent.conf import service
    from agent.controller.notify import RecordingNotifier
    from agent.controller.plugin import Plugin
    conf = service.make_conf(['--config-file', server.conf_path],
                             groups=service.SERVER_GROUPS)
    plugin = Plugin(conf, RecordingNotifier())
    host = _name('opa-host')
    ids = {}
    try:
        for kind, binary, topic in (('DHCP agent', 'neutron-dhcp-agent', 'dhcp_agent'),
                                    ('L3 agent', 'neutron-l3-agent', 'l3_agent')):
            now = datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y-%m-%dT%H:%M:%S.%f')
            plugin.report_state({'agent_state': {
                'agent_type': kind, 'binary': binary, 'topic': topic, 'host': host,
                'start_flag': True, 'configurations': {}}}, now)
        for agent in plugin.get_agents(plugin_admin_context(), filters={'host': [host]}):
            ids[agent['agent_type']] = agent['id']
        yield ids
    finally:
        for agent_id in ids.values():
            server.call('DELETE', f'/v2.0/agents/{agent_id}')
        plugin.close()


def plugin_admin_context():
    from agent.controller.context import Context
    return Context.admin()


def test_scheduling_answers_json_and_openstacksdk_drives_it(server, agents, network,
                                                            monkeypatch):
    import openstack.connection
    for var in [v for v in __import__('os').environ if v.startswith('OS_')]:
        monkeypatch.delenv(var)
    conn = openstack.connection.Connection(auth_type='none',
                                           network_endpoint_override=server.url + '/')
    dhcp, l3 = agents['DHCP agent'], agents['L3 agent']
    _, doc = server.call('POST', '/v2.0/routers', {'router': {'name': _name('r')}})
    router = doc['router']
    try:
        # What openstackclient's "network agent add router --l3" gets: JSON.
        assert server.call('POST', f'/v2.0/agents/{l3}/l3-routers',
                           {'router_id': router['id']}) == (201, None)
        _, doc = server.call('GET', f'/v2.0/agents/{l3}/l3-routers')
        assert [r['id'] for r in doc['routers']] == [router['id']]
        assert server.call('DELETE', f"/v2.0/agents/{l3}/l3-routers/{router['id']}") == \
            (204, None)

        agent = conn.network.get_agent(l3)
        conn.network.add_router_to_agent(agent, conn.network.get_router(router['id']))
        assert [r.id for r in conn.network.agent_hosted_routers(agent)] == [router['id']]
        conn.network.remove_router_from_agent(agent, conn.network.get_router(router['id']))
        assert list(conn.network.agent_hosted_routers(agent)) == []

        agent = conn.network.get_agent(dhcp)
        net = conn.network.get_network(network['id'])
        conn.network.add_dhcp_agent_to_network(agent, net)
        assert [a.id for a in conn.network.network_hosting_dhcp_agents(net)] == [dhcp]
        conn.network.remove_dhcp_agent_from_network(agent, net)
        assert list(conn.network.network_hosting_dhcp_agents(net)) == []
    finally:
        server.call('DELETE', f"/v2.0/routers/{router['id']}")
