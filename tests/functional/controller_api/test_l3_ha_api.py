"""HA routers through a real netnode-server (SQLite and PostgreSQL): ``ha`` on
routers, ``ha_state`` per agent in /routers/<id>/l3-agents, and the CLI's --ha."""

import json

import pytest

from agent.controller.notify import RecordingNotifier
from agent.controller.plugin import Plugin
from tests.functional.controller.conftest import make_conf
from tests.functional.controller.test_plugin_l3_and_agents import l3_state, now_str
from tests.functional.controller_api.conftest import start_server

pytestmark = pytest.mark.functional


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def server(request, tmp_path_factory, run_id, leaks):
    return start_server(request, tmp_path_factory, run_id, leaks, request.param,
                        name='ha', extra_conf='l3_ha = true\nmax_l3_agents_per_router = 2')


@pytest.fixture(scope='module')
def agents(server, tmp_path_factory):
    """Two L3 agents in the server's database, registered as their heartbeats do
    (the server runs without a bus)."""
    conf = make_conf(tmp_path_factory.mktemp('ha-agents'), server.connection or
                     'sqlite:///' + server.state_path + '/netnode.sqlite')
    plugin = Plugin(conf, RecordingNotifier())
    for host in ('api-ha-1', 'api-ha-2'):
        plugin.report_state(l3_state(host), now_str())
    yield plugin
    plugin.close()


def ok(server, *args):
    code, out, err = server.cli(*args)
    assert code == 0, f'netnode {" ".join(args)} failed: {err}'
    return out


def test_rest_shows_ha_and_ha_state(server, agents):
    status, doc = server.call('POST', '/v2.0/routers', {'router': {'name': 'ha-rest'}})
    assert status == 201 and doc['router']['ha'] is True
    router_id = doc['router']['id']
    status, doc = server.call('GET', f'/v2.0/routers/{router_id}/l3-agents')
    assert status == 200
    assert sorted((a['host'], a['ha_state']) for a in doc['agents']) == [
        ('api-ha-1', 'standby'), ('api-ha-2', 'standby')]
    agents.update_ha_routers_states('api-ha-2', {router_id: 'active'})
    _, doc = server.call('GET', f'/v2.0/routers/{router_id}/l3-agents')
    assert {a['host']: a['ha_state'] for a in doc['agents']}['api-ha-2'] == 'active'
    # Changing ha of an active router: Neutron's 400.
    status, doc = server.call('PUT', f'/v2.0/routers/{router_id}', {'router': {'ha': False}})
    assert status == 400 and 'admin_state_up to False' in doc['NeutronError']['message']
    # A project does not see its HA network; an admin does.
    status, doc = server.call('GET', '/v2.0/networks',
                              headers={'X-Project-Id': 'someone-else'})
    assert not any(n['name'].startswith('HA network') for n in doc['networks'])
    assert server.call('DELETE', f'/v2.0/routers/{router_id}')[0] == 204


def test_cli_ha_flags_and_hosting_listing(server, agents):
    legacy = json.loads(ok(server, 'router-create', 'cli-legacy', '--no-ha', '-f', 'json'))
    assert legacy['ha'] is False
    router = json.loads(ok(server, 'router-create', 'cli-ha', '--ha', '-f', 'json'))
    assert router['ha'] is True
    table = ok(server, 'l3-agent-list-hosting-router', 'cli-ha')
    assert 'ha_state' in table.splitlines()[1] and table.count('standby') == 2
    code, _, err = server.cli('router-update', 'cli-ha', '--no-ha')
    assert code == 1 and 'Cannot change HA attribute' in err
    ok(server, 'router-update', 'cli-ha', '--admin-state-up', 'false', '--no-ha')
    shown = json.loads(ok(server, 'router-show', 'cli-ha', '-f', 'json'))
    assert shown['ha'] is False
    assert 'ha_state' not in ok(server, 'l3-agent-list-hosting-router', 'cli-legacy')
    for name in ('cli-ha', 'cli-legacy'):
        ok(server, 'router-delete', name)
