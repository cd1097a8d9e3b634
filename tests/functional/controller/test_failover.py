"""Automatic failover on the database: bindings move from failed agents to live ones
and both agents are told, as for a manual remove/add (Plugin.fail_over_dead_agents)."""

import datetime

import pytest
import sqlalchemy as sa

from agent.common import names
from agent.controller.db import models
from tests.functional.controller.test_plugin_l3_and_agents import (dhcp_state, l3_state,
                                                                   now_str)

pytestmark = pytest.mark.functional

DHCP, L3 = 'DHCP agent', 'L3 agent'


def silence(plugin, host, agent_type, seconds):
    """Make the agent's last heartbeat ``seconds`` old."""
    def fn(session):
        session.execute(sa.update(models.Agent).where(
            models.Agent.host == host, models.Agent.agent_type == agent_type).values(
            heartbeat_timestamp=models.utcnow() - datetime.timedelta(seconds=seconds)))
    plugin.db.write(fn)


def hosts(agents):
    return sorted(a['host'] for a in agents)


@pytest.fixture
def two_dhcp(plugin, admin):
    plugin.conf.set_override('agent_down_time', 10)
    for host in ('h1', 'h2'):
        plugin.report_state(dhcp_state(host), now_str())
    net = plugin.create_network(admin, {'name': 'n'})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.0.0.0/24',
                                 'ip_version': 4})
    assert hosts(plugin.list_dhcp_agents_hosting_network(admin, net['id'])) == ['h1']
    plugin.notifier.clear()
    return net


def test_network_of_a_failed_dhcp_agent_moves_and_both_are_told(plugin, admin, two_dhcp):
    net = two_dhcp
    port = plugin.create_port(admin, {'network_id': net['id'], 'device_owner': 'network:dhcp',
                                      'device_id': names.dhcp_port_device_id('h1', net['id'])})
    plugin.notifier.clear()
    silence(plugin, 'h1', DHCP, 15)           # dead, not failed yet
    assert plugin.fail_over_dead_agents(DHCP).moves == ()
    silence(plugin, 'h1', DHCP, 25)           # dead for longer than agent_down_time
    decision = plugin.fail_over_dead_agents(DHCP)
    assert [m.resource_id for m in decision.moves] == [net['id']]
    assert hosts(plugin.list_dhcp_agents_hosting_network(admin, net['id'])) == ['h2']
    [gone] = plugin.notifier.find('network_delete_end', 'h1')
    assert gone.payload['network_id'] == net['id']
    [added] = plugin.notifier.find('network_create_end', 'h2')
    assert added.payload['network']['id'] == net['id']
    # h1's DHCP port is kept for h2 to adopt (same address and MAC).
    assert plugin.get_port(admin, port['id'])['device_id'] == 'reserved_dhcp_port'
    # Stable: the next round has nothing to do.
    assert plugin.fail_over_dead_agents(DHCP).moves == ()


def test_nothing_moves_when_every_agent_is_dead(plugin, admin, two_dhcp):
    for host in ('h1', 'h2'):
        silence(plugin, host, DHCP, 25)
    decision = plugin.fail_over_dead_agents(DHCP)
    assert decision.moves == () and decision.skipped
    assert hosts(plugin.list_dhcp_agents_hosting_network(admin, two_dhcp['id'])) == ['h1']
    assert plugin.notifier.sent == []


def test_router_of_a_failed_l3_agent_moves(plugin, admin):
    plugin.conf.set_override('agent_down_time', 10)
    for host in ('l1', 'l2'):
        plugin.report_state(l3_state(host), now_str())
    router = plugin.create_router(admin, {'name': 'r'})
    plugin.get_router_ids('l1')                 # schedules it to l1, the asking agent
    [hosting] = plugin.list_l3_agents_hosting_router(admin, router['id'])
    silence(plugin, hosting['host'], L3, 25)
    plugin.notifier.clear()
    assert len(plugin.fail_over_dead_agents(L3).moves) == 1
    [now] = plugin.list_l3_agents_hosting_router(admin, router['id'])
    assert now['host'] != hosting['host']
    assert plugin.notifier.find('router_removed_from_agent', hosting['host'])
    assert plugin.notifier.find('router_added_to_agent', now['host'])
