"""Routing, bodies, errors and list options of the v2.0 API over a fake plugin."""

import json

import pytest

from agent.controller.api import create_app
from tests.unit.controller.fakes import FakePlugin


@pytest.fixture
def plugin():
    return FakePlugin()


@pytest.fixture
def client(plugin):
    return create_app(plugin).test_client()


def _error(resp):
    return resp.get_json()['NeutronError']


def test_versions_document(client):
    resp = client.get('/')
    assert resp.status_code == 200
    version = resp.get_json()['versions'][0]
    assert version['id'] == 'v2.0' and version['status'] == 'CURRENT'
    assert version['links'] == [{'href': 'http://localhost/v2.0/', 'rel': 'self'}]


def test_resource_list_and_extensions(client):
    names = {r['collection'] for r in client.get('/v2.0/').get_json()['resources']}
    assert {'networks', 'subnets', 'ports', 'routers', 'floatingips', 'agents'} <= names
    aliases = {e['alias'] for e in client.get('/v2.0/extensions').get_json()['extensions']}
    assert {'router', 'external-net', 'provider', 'agent', 'extraroute'} <= aliases
    assert client.get('/v2.0/extensions/router').get_json()['extension']['alias'] == 'router'
    assert client.get('/v2.0/extensions/nope').status_code == 404


def test_crud_cycle_with_json_suffix(client):
    resp = client.post('/v2.0/networks.json', json={'network': {'name': 'n1'}})
    assert resp.status_code == 201
    net = resp.get_json()['network']
    assert client.get(f'/v2.0/networks/{net["id"]}.json').get_json()['network'] == net
    resp = client.put(f'/v2.0/networks/{net["id"]}', json={'network': {'name': 'n2'}})
    assert resp.get_json()['network']['name'] == 'n2'
    assert client.delete(f'/v2.0/networks/{net["id"]}').status_code == 204
    resp = client.get(f'/v2.0/networks/{net["id"]}')
    assert resp.status_code == 404
    assert _error(resp)['type'] == 'NetworkNotFound'
    assert _error(resp)['detail'] == ''


def test_bulk_create(client, plugin):
    resp = client.post('/v2.0/networks', json={'networks': [{'name': 'a'}, {'name': 'b'}]})
    assert resp.status_code == 201
    assert [n['name'] for n in resp.get_json()['networks']] == ['a', 'b']


def test_bulk_create_is_all_or_nothing(client, plugin):
    resp = client.post('/v2.0/networks', json={'networks': [{'name': 'a'},
                                                            {'name': 'b', 'fail': True}]})
    assert resp.status_code == 409
    assert _error(resp)['type'] == 'IpAddressGenerationFailure'
    assert plugin.rows['network'] == {}


@pytest.mark.parametrize('data,needle', [
    ('{"network": ', 'Malformed JSON'),
    ('', 'empty'),
    ('{"net": {}}', "'network'"),
    ('{"network": []}', "'network' must be a JSON object"),
    ('{"networks": []}', "'networks' must be a non-empty list"),
])
def test_bad_bodies_are_400_naming_the_problem(client, data, needle):
    resp = client.post('/v2.0/networks', data=data, content_type='application/json')
    assert resp.status_code == 400
    assert needle in _error(resp)['message']


def test_plugin_validation_error_is_rendered(client):
    resp = client.post('/v2.0/networks', json={'network': {'name': 5}})
    assert resp.status_code == 400
    assert _error(resp)['type'] == 'InvalidInput'
    assert "'name'" in _error(resp)['message']


def test_unknown_path_and_wrong_method(client):
    resp = client.get('/v2.0/bananas')
    assert resp.status_code == 404 and _error(resp)['type'] == 'HTTPNotFound'
    resp = client.post('/v2.0/agents', json={'agent': {}})
    assert resp.status_code == 405 and _error(resp)['type'] == 'HTTPMethodNotAllowed'
    resp = client.patch('/v2.0/networks')
    assert resp.status_code == 405


def test_filters_are_typed_and_multi_valued(client, plugin):
    client.get('/v2.0/networks?name=x&name=y&admin_state_up=True&mtu=1450')
    name, filters, fields = plugin.calls[-1]
    assert filters == {'name': ['x', 'y'], 'admin_state_up': [True], 'mtu': [1450]}
    resp = client.get('/v2.0/networks?admin_state_up=maybe')
    assert resp.status_code == 400 and 'admin_state_up' in _error(resp)['message']


def test_fields_sort_and_pagination(client):
    for name in ('c', 'a', 'b', 'd'):
        client.post('/v2.0/networks', json={'network': {'name': name}})
    resp = client.get('/v2.0/networks?fields=name&fields=id&sort_key=name&sort_dir=desc')
    nets = resp.get_json()['networks']
    assert [n['name'] for n in nets] == ['d', 'c', 'b', 'a']
    assert set(nets[0]) == {'name', 'id'}
    page = client.get('/v2.0/networks?sort_key=name&limit=2').get_json()
    assert [n['name'] for n in page['networks']] == ['a', 'b']
    nxt = [link for link in page['networks_links'] if link['rel'] == 'next'][0]
    path = nxt['href'].replace('http://localhost', '')
    page2 = client.get(path).get_json()
    assert [n['name'] for n in page2['networks']] == ['c', 'd']
    assert not [link for link in page2.get('networks_links', []) if link['rel'] == 'next']


def test_project_header_sets_context(client, plugin):
    resp = client.post('/v2.0/networks', json={'network': {'name': 'p'}},
                       headers={'X-Project-Id': 'proj1', 'X-Auth-Token': 'junk'})
    assert resp.get_json()['network']['project_id'] == 'proj1'
    resp = client.post('/v2.0/networks', json={'network': {'name': 'q'}})
    assert resp.get_json()['network']['project_id'] == 'admin-project'


def test_router_interface_and_scheduler_views(client):
    router = client.post('/v2.0/routers', json={'router': {'name': 'r'}}).get_json()['router']
    resp = client.put(f'/v2.0/routers/{router["id"]}/add_router_interface',
                      json={'subnet_id': 's1'})
    assert resp.status_code == 200 and resp.get_json()['subnet_id'] == 's1'
    resp = client.put(f'/v2.0/routers/{router["id"]}/remove_router_interface', data='[]',
                      content_type='application/json')
    assert resp.status_code == 400
    assert client.get(f'/v2.0/agents/a1/l3-routers').get_json()['routers'][0]['id'] == \
        router['id']
    assert client.get('/v2.0/agents/a1/dhcp-networks').get_json() == {'networks': []}
    assert client.get(f'/v2.0/routers/{router["id"]}/l3-agents').get_json() == {'agents': []}
    assert client.get('/v2.0/networks/n1/dhcp-agents').get_json() == {'agents': []}


def test_access_log_at_info_with_the_request_id_in_olso_context(client, caplog):
    from oslo_context import context as oslo_context
    seen = []

    class Plugin(FakePlugin):
        def get_networks(self, ctx, filters=None, fields=None):
            seen.append(oslo_context.get_current().request_id)   # while serving
            return []
    client = create_app(Plugin()).test_client()
    caplog.set_level('INFO', logger='agent.controller.api.app')
    resp = client.get('/v2.0/networks?name=x')
    resp.close()                       # what a WSGI server does once it has sent it
    request_id = resp.headers['X-OpenStack-Request-ID']
    assert request_id.startswith('req-') and seen == [request_id]
    lines = [r for r in caplog.records if r.name == 'agent.controller.api.app']
    assert len(lines) == 1 and lines[0].levelname == 'INFO'
    message = lines[0].getMessage()
    assert message.startswith('127.0.0.1 "GET /v2.0/networks?name=x HTTP/1.1" status: 200 ')
    assert f' len: {len(resp.data)} time: ' in message


def test_unknown_filter_is_refused_as_neutron_filter_validation(client):
    client.post('/v2.0/networks', json={'network': {'name': 'a'}})
    resp = client.get('/v2.0/networks?name=a&bogus=1&tags=blue')
    assert resp.status_code == 400
    assert _error(resp) == {'type': 'HTTPBadRequest', 'detail': '',
                            'message': "['bogus', 'tags'] is invalid attribute for filtering"}
    for path in ('/v2.0/networks?router:external=true&fields=id&limit=2&sort_key=name',
                 '/v2.0/ports?fixed_ips=ip_address%3D10.0.0.5&device_owner=',
                 '/v2.0/agents?agent_type=L3+agent&alive=true'):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize('path, named', [
    ('/v2.0/security-groups', "'security-group'"),
    ('/v2.0/security-group-rules/abc', "'security-group'"),
    ('/v2.0/quotas/p1', "'quotas'"),
    ('/v2.0/subnetpools', "'subnet_allocation'"),
    ('/v2.0/networks/n1/tags', "'standard-attr-tag'"),
    ('/v2.0/ports/p1/tags/blue', "'standard-attr-tag'"),
])
def test_unimplemented_extension_resources_are_named(client, path, named):
    for method in ('GET', 'PUT', 'POST', 'DELETE'):
        resp = client.open(path, method=method, json={})
        assert resp.status_code == 404, (method, path)
        error = _error(resp)
        assert error['type'] == 'HTTPNotFound' and named in error['message']
        assert 'does not implement' in error['message']


def test_healthcheck_defaults_are_neutrons_api_paste():
    from oslo_config import cfg
    from agent.conf import healthcheck
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    create_app(FakePlugin(), conf)
    assert conf.healthcheck.backends == ['disable_by_file']
    assert conf.healthcheck.disable_by_file_path == healthcheck.DISABLE_BY_FILE_PATH


def test_read_only_attributes_are_refused_in_neutrons_words(client, plugin):
    resp = client.post('/v2.0/networks', json={'network': {'name': 'n', 'status': 'DOWN'}})
    assert resp.status_code == 400 and _error(resp) == {
        'type': 'HTTPBadRequest', 'detail': '',
        'message': "Attribute 'status' not allowed in POST"}
    resp = client.post('/v2.0/ports', json={'ports': [{'name': 'a'},
                                                      {'name': 'b', 'status': 'ACTIVE'}]})
    assert resp.status_code == 400 and plugin.rows['port'] == {}
    net = client.post('/v2.0/networks', json={'network': {'name': 'n'}}).get_json()['network']
    resp = client.put(f"/v2.0/networks/{net['id']}", json={'network': {'subnets': []}})
    assert resp.status_code == 400
    assert _error(resp)['message'] == 'Cannot update read-only attribute subnets'


def test_extensions_list_only_what_works(client):
    aliases = {e['alias'] for e in client.get('/v2.0/extensions').get_json()['extensions']}
    assert {'filter-validation', 'project-id', 'net-mtu-writable',
            'standard-attr-description'} <= aliases
    assert not aliases & {'port-security', 'security-group', 'allowed-address-pairs',
                          'quotas', 'subnet_allocation', 'standard-attr-tag', 'tag'}
    assert 'tags' not in client.post('/v2.0/networks', json={
        'network': {'name': 'n'}}).get_json()['network']


def test_scheduling_answers_json_as_neutron(client, plugin):
    resp = client.post('/v2.0/agents/a1/dhcp-networks', json={'network_id': 'n1'})
    assert resp.status_code == 201 and resp.mimetype == 'application/json'
    assert resp.data == b'null'          # Neutron's plugin returns None, serialized
    resp = client.post('/v2.0/agents/a1/l3-routers', json={'router_id': 'r1'})
    assert resp.status_code == 201 and resp.get_json() is None and resp.data == b'null'
    assert client.delete('/v2.0/agents/a1/dhcp-networks/n1').status_code == 204
    assert client.delete('/v2.0/agents/a1/l3-routers/r1').status_code == 204
    assert plugin.scheduled == [('add_network_to_dhcp_agent', 'a1', 'n1'),
                                ('add_router_to_l3_agent', 'a1', 'r1'),
                                ('remove_network_from_dhcp_agent', 'a1', 'n1'),
                                ('remove_router_from_l3_agent', 'a1', 'r1')]
    resp = client.post('/v2.0/agents/a1/l3-routers', json={'network_id': 'r1'})
    assert resp.status_code == 400 and "'router_id'" in _error(resp)['message']


def test_healthcheck_is_oslo_middleware_and_disabled_by_file(tmp_path):
    from oslo_config import cfg
    from oslo_middleware.healthcheck import opts
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    conf.register_opts(opts.HEALTHCHECK_OPTS + opts.DISABLE_BY_FILE_OPTS,
                       group='healthcheck')
    flag = tmp_path / 'healthcheck_disable'
    conf.set_override('backends', ['disable_by_file'], group='healthcheck')
    conf.set_override('disable_by_file_path', str(flag), group='healthcheck')
    app = create_app(FakePlugin(), conf)
    flask_hits = []
    app.before_request(lambda: flask_hits.append(1))
    client = app.test_client()
    resp = client.get('/healthcheck')
    assert resp.status_code == 200 and resp.data == b'OK'
    assert resp.headers['X-OpenStack-Request-ID'].startswith('req-')
    assert client.head('/healthcheck').status_code == 204
    flag.write_text('')
    resp = client.get('/healthcheck')
    assert resp.status_code == 503 and resp.data == b'DISABLED BY FILE'
    assert flask_hits == []            # answered before the API, its plugin and DB
    assert client.get('/v2.0/networks').status_code == 200 and flask_hits == [1]


def test_unknown_sort_key_is_400(client):
    client.post('/v2.0/networks', json={'network': {'name': 'a'}})
    resp = client.get('/v2.0/networks?sort_key=bogus')
    assert resp.status_code == 400 and "'bogus' is not a valid sort_key" in \
        _error(resp)['message']


def test_oversized_body_is_413(client):
    from agent.controller.api import app as app_module
    resp = client.post('/v2.0/networks', data=b' ' * (app_module.MAX_BODY_BYTES + 1),
                       content_type='application/json')
    assert resp.status_code == 413
    assert _error(resp)['type'] == 'HTTPRequestEntityTooLarge'


def test_the_answer_waits_for_the_requests_notifications(plugin):
    """The plugin's notifier is asked, once per request and before the answer,
    to let the request's notifications go out (Neutron casts before answering)."""
    from agent.controller.delivery import QueuedNotifier
    from agent.controller.notify import RecordingNotifier

    bus = RecordingNotifier()
    plugin.notifier = QueuedNotifier(bus)
    calls = []
    real = plugin.notifier.wait_sent

    def wait_sent(timeout=None):
        calls.append(timeout)
        return real(timeout)
    plugin.notifier.wait_sent = wait_sent
    try:
        client = create_app(plugin).test_client()
        plugin.notifier.cast_dhcp('h1', 'network_create_end', {'network': {'id': 'n'}})
        resp = client.get('/v2.0/networks')
        assert resp.status_code == 200 and calls == [None]
        # the test client serves in this thread: the cast above was this request's
        assert bus.methods() == ['network_create_end']
    finally:
        plugin.notifier.close()
