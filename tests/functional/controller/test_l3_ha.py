"""HA routers on the database (SQLite and PostgreSQL): the HA network, VRIDs, HA
ports, scheduling, the agents' RPC answers and states, and what the API shows."""

import threading

import pytest
import sqlalchemy as sa

from agent.controller import exceptions as exc
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.notify import RecordingNotifier
from agent.controller.plugin import Plugin
from tests.functional.controller.conftest import make_conf
from tests.functional.controller.test_failover import silence
from tests.functional.controller.test_plugin_l3_and_agents import l3_state, now_str

pytestmark = pytest.mark.functional

L3 = 'L3 agent'
HA_OWNER = 'network:router_ha_interface'
PROJECT = Context(project_id='proj-ha')


def hosts_states(plugin, router_id):
    return sorted((a['host'], a.get('ha_state'))
                  for a in plugin.list_l3_agents_hosting_router(Context.admin(), router_id))


def ha_ports(plugin, router_id):
    return sorted(plugin.get_ports(Context.admin(), filters={
        'device_id': [router_id], 'device_owner': [HA_OWNER]}),
        key=lambda p: p['binding:host_id'])


def rows(plugin, model):
    return plugin.db.read(lambda s: list(s.scalars(sa.select(model))))


@pytest.fixture
def ha(plugin):
    """l3_ha on, two agents per router, three live L3 agents."""
    plugin.conf.set_override('l3_ha', True)
    plugin.conf.set_override('max_l3_agents_per_router', 2)
    plugin.conf.set_override('agent_down_time', 10)
    for host in ('ha1', 'ha2', 'ha3'):
        assert plugin.report_state(l3_state(host), now_str()) == 'new'
    return plugin


def test_ha_router_gets_network_vrid_ports_and_agents(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    assert router['ha'] is True and router['distributed'] is False
    # The HA network and subnet: Neutron's names, no project, hidden from the project.
    assert ha.get_networks(PROJECT) == [] and ha.get_subnets(PROJECT) == []
    [net] = ha.get_networks(admin)
    assert net['name'] == 'HA network tenant proj-ha' and net['project_id'] == ''
    [sub] = ha.get_subnets(admin)
    assert (sub['name'], sub['cidr'], sub['enable_dhcp'], sub['gateway_ip'],
            sub['project_id']) == ('HA subnet tenant proj-ha', '169.254.192.0/18', False,
                                   None, '')
    [vrid] = rows(ha, models.HARouterVRIdAllocation)
    assert (vrid.network_id, vrid.vr_id) == (net['id'], 1)
    # Two agents (max_l3_agents_per_router) of three, an HA port on each.
    assert hosts_states(ha, router['id']) == [('ha1', 'standby'), ('ha2', 'standby')]
    ports = ha_ports(ha, router['id'])
    assert [(p['binding:host_id'], p['name'], p['network_id'], p['project_id'])
            for p in ports] == [('ha1', 'HA port tenant proj-ha', net['id'], ''),
                                ('ha2', 'HA port tenant proj-ha', net['id'], '')]
    assert ha.get_ports(PROJECT) == []
    for host in ('ha1', 'ha2'):
        [call] = ha.notifier.find('router_added_to_agent', host)
        assert call.kwargs['payload'] == [router['id']]
    assert ha.notifier.find('router_added_to_agent', 'ha3') == []
    # A second router of the project: same network, next VRID.
    second = ha.create_router(PROJECT, {'name': 'r2'})
    assert len(ha.get_networks(admin)) == 1
    assert sorted(a.vr_id for a in rows(ha, models.HARouterVRIdAllocation)) == [1, 2]
    # The least loaded agents: ha3 (none), then ha1 (one; ties by host).
    assert hosts_states(ha, second['id']) == [('ha1', 'standby'), ('ha3', 'standby')]


def test_ha_flag_default_override_and_policy(ha, admin):
    legacy = ha.create_router(admin, {'name': 'legacy', 'ha': False})
    assert legacy['ha'] is False and ha.get_networks(admin) == []
    assert ha.list_l3_agents_hosting_router(admin, legacy['id']) == []   # no port yet
    with pytest.raises(exc.NotAuthorized, match=r'create_router:ha'):
        ha.create_router(PROJECT, {'name': 'x', 'ha': True})
    with pytest.raises(exc.InvalidInput, match='distributed'):
        ha.create_router(admin, {'name': 'x', 'distributed': True})
    ha.conf.set_override('l3_ha', False)
    assert ha.create_router(PROJECT, {'name': 'plain'})['ha'] is False
    assert ha.create_router(admin, {'name': 'asked', 'ha': True,
                                    'project_id': 'p2'})['ha'] is True


def test_sync_routers_payload_of_an_ha_router(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    net = ha.create_network(admin, {'name': 'inside'})
    sub = ha.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.1.0.0/24',
                                   'ip_version': 4})
    ha.add_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    [ha_net] = [n for n in ha.get_networks(admin) if n['name'].startswith('HA network')]
    for host in ('ha1', 'ha2'):
        [synced] = ha.sync_routers(host)
        assert synced['id'] == router['id'] and synced['ha'] is True
        assert synced['ha_vr_id'] == 1 and synced['_ha_state'] == 'standby'
        port = synced['_ha_interface']
        assert port['device_owner'] == HA_OWNER and port['binding:host_id'] == host
        assert port['device_id'] == router['id']
        [ip] = port['fixed_ips']
        assert ip['prefixlen'] == 18 and ip['ip_address'].startswith('169.254.')
        assert [s['cidr'] for s in port['subnets']] == ['169.254.192.0/18']
        assert port['subnets'][0]['gateway_ip'] is None
        assert port['extra_subnets'] == [] and port['mtu'] == ha_net['mtu']
        assert port['provider:network_type'] == ha_net['provider:network_type']
        # Its interfaces are as a legacy router's.
        [intf] = synced['_interfaces']
        assert intf['fixed_ips'][0]['subnet_id'] == sub['id']
    assert (ha.sync_routers('ha1')[0]['_ha_interface']['fixed_ips'] !=
            ha.sync_routers('ha2')[0]['_ha_interface']['fixed_ips'])
    # ha3 hosts no HA port of it: it is not given the router.
    assert ha.sync_routers('ha3') == []
    ha.add_router_to_l3_agent(admin, ha.get_agents(admin, filters={'host': ['ha3']})[0]['id'],
                              router['id'])
    assert [r['id'] for r in ha.sync_routers('ha3')] == [router['id']]
    # A legacy router has none of the HA keys.
    legacy = ha.create_router(admin, {'name': 'legacy', 'ha': False})
    ha.add_router_interface(admin, legacy['id'], {'subnet_id': ha.create_subnet(admin, {
        'network_id': net['id'], 'cidr': '10.2.0.0/24', 'ip_version': 4})['id']})
    [host] = [a['host'] for a in ha.list_l3_agents_hosting_router(admin, legacy['id'])]
    [synced] = [r for r in ha.sync_routers(host) if r['id'] == legacy['id']]
    assert synced['ha'] is False and synced['ha_vr_id'] == 0
    assert '_ha_interface' not in synced and '_ha_state' not in synced


def test_states_reported_shown_and_ports_follow_the_active(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    ext = ha.create_network(admin, {'name': 'public', 'router:external': True})
    ha.create_subnet(admin, {'network_id': ext['id'], 'cidr': '198.51.100.0/24',
                             'ip_version': 4, 'enable_dhcp': False})
    ha.update_router(admin, router['id'], {'external_gateway_info': {'network_id': ext['id']}})
    stranger = '6a1b0d36-6f55-4b6e-8a4e-3c1f4b2b7d11'
    ha.update_ha_routers_states('ha1', {router['id']: 'active', stranger: 'standby'})
    ha.update_ha_routers_states('ha2', {router['id']: 'standby'})
    assert hosts_states(ha, router['id']) == [('ha1', 'active'), ('ha2', 'standby')]
    assert ha.sync_routers('ha1')[0]['_ha_state'] == 'active'
    [gw] = ha.get_ports(admin, filters={'device_id': [router['id']],
                                        'device_owner': ['network:router_gateway']})
    assert (gw['binding:host_id'], gw['status']) == ('ha1', 'ACTIVE')
    assert [p['status'] for p in ha_ports(ha, router['id'])] == ['ACTIVE', 'ACTIVE']
    # The primary moves: the gateway follows.
    ha.update_ha_routers_states('ha2', {router['id']: 'active'})
    ha.update_ha_routers_states('ha1', {router['id']: 'standby'})
    assert ha.get_port(admin, gw['id'])['binding:host_id'] == 'ha2'
    # A host with no L3 agent changes nothing.
    ha.update_ha_routers_states('nowhere', {router['id']: 'active'})
    assert hosts_states(ha, router['id']) == [('ha1', 'standby'), ('ha2', 'active')]
    assert ha.get_host_ha_router_count('ha2') == 1 and ha.get_host_ha_router_count('ha3') == 0
    ha.update_all_ha_network_port_statuses('ha2')
    assert [p['status'] for p in ha_ports(ha, router['id'])] == ['ACTIVE', 'DOWN']


def test_dead_agents_states_as_neutron_shows_them(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    ha.update_ha_routers_states('ha1', {router['id']: 'active'})
    silence(ha, 'ha1', L3, 30)                 # the active one dies, ha2 lives
    assert hosts_states(ha, router['id']) == [('ha1', 'standby'), ('ha2', 'standby')]
    [agent] = [a for a in ha.list_l3_agents_hosting_router(admin, router['id'])
               if a['host'] == 'ha1']
    assert agent['alive'] is False
    ha.report_state(l3_state('ha1', start=False), now_str())
    ha.update_ha_routers_states('ha1', {router['id']: 'active'})
    silence(ha, 'ha1', L3, 30)
    silence(ha, 'ha2', L3, 30)                 # all dead: a bus outage, most likely
    assert hosts_states(ha, router['id']) == [('ha1', 'unknown'), ('ha2', 'standby')]


def test_two_live_agents_active_at_once_is_a_warning(ha, admin, caplog):
    router = ha.create_router(PROJECT, {'name': 'r'})
    ha.update_ha_routers_states('ha1', {router['id']: 'active'})
    ha.update_ha_routers_states('ha2', {router['id']: 'standby'})
    assert 'active on' not in caplog.text
    # VRRP cut between the nodes: ha2 takes the router while ha1 still holds it.
    ha.update_ha_routers_states('ha2', {router['id']: 'active'})
    assert (f'HA router {router["id"]} is active on ha2 and on ha1 at once'
            in caplog.text)
    assert hosts_states(ha, router['id']) == [('ha1', 'active'), ('ha2', 'active')]
    caplog.clear()
    ha.update_ha_routers_states('ha1', {router['id']: 'standby'})
    assert 'at once' not in caplog.text
    # An active left by a dead agent is no split brain.
    ha.update_ha_routers_states('ha1', {router['id']: 'active'})
    ha.update_ha_routers_states('ha2', {router['id']: 'standby'})
    silence(ha, 'ha1', L3, 30)
    caplog.clear()
    ha.update_ha_routers_states('ha2', {router['id']: 'active'})
    assert 'at once' not in caplog.text


def test_late_agent_gets_under_scheduled_routers(plugin, admin):
    plugin.conf.set_override('l3_ha', True)
    plugin.conf.set_override('max_l3_agents_per_router', 3)
    plugin.report_state(l3_state('one'), now_str())
    router = plugin.create_router(PROJECT, {'name': 'r'})
    assert hosts_states(plugin, router['id']) == [('one', 'standby')]
    assert [r['id'] for r in plugin.sync_routers('one')] == [router['id']]
    for host in ('two', 'three', 'four'):
        plugin.report_state(l3_state(host), now_str())
        plugin.get_router_ids(host)
    # Three at most: the fourth asked too late.
    assert [h for h, _ in hosts_states(plugin, router['id'])] == ['one', 'three', 'two']
    assert plugin.get_router_ids('four') == []
    assert len(ha_ports(plugin, router['id'])) == 3


def test_manual_add_and_remove_make_and_delete_ha_ports(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    ids = {a['host']: a['id'] for a in ha.get_agents(admin)}
    ha.notifier.clear()
    ha.add_router_to_l3_agent(admin, ids['ha3'], router['id'])     # beyond the maximum
    ha.add_router_to_l3_agent(admin, ids['ha3'], router['id'])     # again: nothing
    assert [p['binding:host_id'] for p in ha_ports(ha, router['id'])] == ['ha1', 'ha2', 'ha3']
    assert len(ha.notifier.find('router_added_to_agent', 'ha3')) == 1
    ha.remove_router_from_l3_agent(admin, ids['ha1'], router['id'])
    assert [p['binding:host_id'] for p in ha_ports(ha, router['id'])] == ['ha2', 'ha3']
    [removed] = ha.notifier.find('router_removed_from_agent', 'ha1')
    assert removed.kwargs['payload'] == {'router_id': router['id']}
    assert ha.sync_routers('ha1') == []
    with pytest.raises(exc.NotFound):
        ha.remove_router_from_l3_agent(admin, ids['ha1'], router['id'])
    # Every hosting agent hears of a change.
    ha.notifier.clear()
    ha.update_router(admin, router['id'], {'name': 'renamed'})
    assert sorted(n.host for n in ha.notifier.find('routers_updated')) == ['ha2', 'ha3']


def test_delete_takes_ports_vrid_and_the_last_router_the_network(ha, admin):
    first = ha.create_router(PROJECT, {'name': 'a'})
    second = ha.create_router(PROJECT, {'name': 'b'})
    ha.delete_router(PROJECT, first['id'])
    assert ha_ports(ha, first['id']) == []
    assert [a.vr_id for a in rows(ha, models.HARouterVRIdAllocation)] == [2]
    assert len(ha.get_networks(admin)) == 1
    ha.delete_router(PROJECT, second['id'])
    assert ha.get_networks(admin) == [] and ha.get_ports(admin) == []
    for model in (models.HARouterNetwork, models.HARouterVRIdAllocation,
                  models.HARouterAgentPortBinding, models.RouterL3AgentBinding):
        assert rows(ha, model) == []
    # The next HA router makes a new one.
    ha.create_router(PROJECT, {'name': 'c'})
    assert len(ha.get_networks(admin)) == 1


def test_changing_ha_needs_admin_down_and_migrates(ha, admin):
    router = ha.create_router(admin, {'name': 'r', 'project_id': 'proj-ha'})
    with pytest.raises(exc.BadRequest, match='Cannot change HA attribute of active routers'):
        ha.update_router(admin, router['id'], {'ha': False})
    ha.notifier.clear()
    updated = ha.update_router(admin, router['id'], {'ha': False, 'admin_state_up': False})
    assert updated['ha'] is False
    assert ha_ports(ha, router['id']) == [] and ha.get_networks(admin) == []
    assert sorted(n.host for n in ha.notifier.find('router_removed_from_agent')) == [
        'ha1', 'ha2']
    # Back on one agent as a legacy router (Neutron schedules it again).
    [(host, state)] = hosts_states(ha, router['id'])
    assert state is None and ha.notifier.find('router_added_to_agent', host)
    back = ha.update_router(admin, router['id'], {'ha': True})
    assert back['ha'] is True and len(ha_ports(ha, router['id'])) == 2
    with pytest.raises(exc.NotAuthorized, match='update_router:ha'):
        ha.update_router(PROJECT, router['id'], {'ha': False})


def test_no_vrid_left(ha, admin):
    ha.create_router(PROJECT, {'name': 'first'})
    [net] = ha.get_networks(admin)

    def take_all(session):
        for vrid in range(2, 255):
            session.add(models.HARouterVRIdAllocation(network_id=net['id'], vr_id=vrid))
    ha.db.write(take_all)
    with pytest.raises(exc.NoVRIDAvailable, match='254'):
        ha.create_router(PROJECT, {'name': 'one too many'})
    assert [r['name'] for r in ha.get_routers(PROJECT)] == ['first']


def test_failover_moves_only_the_failed_agents_binding(ha, admin):
    router = ha.create_router(PROJECT, {'name': 'r'})
    silence(ha, 'ha1', L3, 30)
    decision = ha.fail_over_dead_agents(L3)
    assert [(m.resource_id, m.to_agent) for m in decision.moves] == [
        (router['id'], ha.get_agents(admin, filters={'host': ['ha3']})[0]['id'])]
    assert [h for h, _ in hosts_states(ha, router['id'])] == ['ha2', 'ha3']
    assert [p['binding:host_id'] for p in ha_ports(ha, router['id'])] == ['ha2', 'ha3']
    assert ha.notifier.find('router_removed_from_agent', 'ha2') == []


def test_ha_network_on_vlan_ranges(plugin, admin):
    plugin.conf.set_override('l3_ha', True)
    plugin.conf.set_override('network_vlan_ranges', ['physnet1:100:101'])
    plugin.report_state(l3_state('v1'), now_str())
    # tenant_network_types = local: the HA network would stay on one node.
    with pytest.raises(exc.NoNetworkAvailable, match='HA network of project proj-ha.*local'):
        plugin.create_router(PROJECT, {'name': 'refused'})
    assert plugin.get_routers(admin) == [] and plugin.get_networks(admin) == []
    plugin.conf.set_override('l3_ha_network_type', 'vlan')
    router = plugin.create_router(PROJECT, {'name': 'r'})
    [net] = plugin.get_networks(admin)
    assert (net['provider:network_type'], net['provider:physical_network'],
            net['provider:segmentation_id']) == ('vlan', 'physnet1', 100)
    [synced] = plugin.sync_routers('v1')
    port = synced['_ha_interface']
    assert (port['provider:network_type'], port['provider:physical_network'],
            port['provider:segmentation_id']) == ('vlan', 'physnet1', 100)
    assert synced['id'] == router['id']
    # Another project takes the other VLAN; a third finds none.
    plugin.create_router(Context(project_id='p2'), {'name': 'r2'})
    with pytest.raises(exc.NoNetworkAvailable, match='HA network of project p3.*VLAN'):
        plugin.create_router(Context(project_id='p3'), {'name': 'r3'})


def test_concurrent_first_ha_routers_share_one_network(ha, admin, conf, tmp_path):
    """Two servers (Plugins) create a new project's first HA routers at once: one HA
    network, distinct VRIDs, an HA port per agent each (lost races are retried)."""
    other = Plugin(make_conf(tmp_path / 'other', conf.database.connection, l3_ha=True,
                             max_l3_agents_per_router=2, agent_down_time=10),
                   RecordingNotifier())
    project = Context(project_id='proj-race')
    outcome = []

    def create(plugin, n):
        for i in range(n):
            try:
                outcome.append(plugin.create_router(project, {'name': f'race-{i}'})['id'])
            except Exception as error:      # reported below: the test fails on it
                outcome.append(error)
    threads = [threading.Thread(target=create, args=(p, 3)) for p in (ha, other, ha, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.close()
    assert [o for o in outcome if not isinstance(o, str)] == []
    assert len(outcome) == 12
    [net] = ha.get_networks(admin)
    assert net['name'] == 'HA network tenant proj-race'
    vrids = sorted(a.vr_id for a in rows(ha, models.HARouterVRIdAllocation))
    assert vrids == list(range(1, 13))
    for router_id in outcome:
        assert len(ha_ports(ha, router_id)) == 2
