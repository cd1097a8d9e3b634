"""Routers, floating IPs, agents, scheduling, notifications and the agent RPC answers."""

import datetime

import pytest

from agent.common import names
from agent.controller import exceptions as exc

pytestmark = pytest.mark.functional


def now_str(delta=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta)
    return t.strftime('%Y-%m-%dT%H:%M:%S.%f')


def dhcp_state(host, networks=0, start=True):
    state = {'binary': 'neutron-dhcp-agent', 'host': host, 'topic': 'dhcp_agent',
             'agent_type': 'DHCP agent', 'availability_zone': 'nova',
             'configurations': {'networks': networks, 'dhcp_driver': 'dnsmasq'}}
    if start:
        state['start_flag'] = True
    return {'agent_state': state}


def l3_state(host, start=True):
    state = {'binary': 'neutron-l3-agent', 'host': host, 'topic': 'l3_agent',
             'agent_type': 'L3 agent', 'availability_zone': 'nova',
             'configurations': {'agent_mode': 'legacy', 'routers': 0}}
    if start:
        state['start_flag'] = True
    return {'agent_state': state}


@pytest.fixture
def topo(plugin, admin):
    """A tenant network and subnet, an external network and subnet, agents on host-a."""
    assert plugin.report_state(dhcp_state('host-a'), now_str()) == 'new'
    assert plugin.report_state(l3_state('host-a'), now_str()) == 'new'
    net = plugin.create_network(admin, {'name': 'private'})
    sub = plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.0.0.0/24',
                                       'ip_version': 4})
    ext = plugin.create_network(admin, {'name': 'public', 'router:external': True})
    ext_sub = plugin.create_subnet(admin, {'network_id': ext['id'], 'ip_version': 4,
                                           'cidr': '198.51.100.0/24', 'enable_dhcp': False})
    return {'net': net, 'sub': sub, 'ext': ext, 'ext_sub': ext_sub}


def test_report_state_semantics(plugin, admin):
    assert plugin.report_state(dhcp_state('h1'), now_str()) == 'new'
    assert plugin.report_state(dhcp_state('h1', start=False), now_str()) == 'alive'
    assert plugin.report_state(dhcp_state('h1'), now_str(-3600)) is None   # before server start
    [agent] = plugin.get_agents(admin)
    assert agent['alive'] is True and agent['agent_type'] == 'DHCP agent'
    assert agent['configurations']['networks'] == 0 and agent['topic'] == 'dhcp_agent'
    plugin.conf.set_override('agent_down_time', 1)
    import time
    time.sleep(1.2)
    assert plugin.get_agent(admin, agent['id'])['alive'] is False
    assert plugin.report_state(dhcp_state('h1', start=False), now_str()) == 'revived'
    updated = plugin.update_agent(admin, agent['id'], {'admin_state_up': False,
                                                       'description': 'maintenance'})
    assert updated['admin_state_up'] is False and updated['description'] == 'maintenance'
    assert plugin.notifier.find('agent_updated', 'h1')
    plugin.delete_agent(admin, agent['id'])
    assert plugin.get_agents(admin) == []


def test_dhcp_scheduling_and_notifications(plugin, admin, topo):
    notes = plugin.notifier
    net, sub = topo['net'], topo['sub']
    [agent] = plugin.list_dhcp_agents_hosting_network(admin, net['id'])
    assert agent['host'] == 'host-a'
    assert [n['id'] for n in plugin.list_networks_on_dhcp_agent(admin, agent['id'])] == [net['id']]
    methods = [n.method for n in notes.sent if n.kind == 'cast_dhcp']
    assert methods[:2] == ['network_create_end', 'subnet_create_end']
    assert notes.sent[0].payload == {'network': {'id': net['id']}, 'priority': 0}
    notes.clear()
    port = plugin.create_port(admin, {'network_id': net['id']})
    [n] = notes.find('port_create_end')
    assert n.host == 'host-a' and n.payload['priority'] == 5 and n.payload['port']['id'] == port['id']
    notes.clear()
    plugin.update_port(admin, port['id'], {'name': 'no dhcp change'})
    assert notes.sent == []
    plugin.update_port(admin, port['id'], {'extra_dhcp_opts': [
        {'opt_name': 'mtu', 'opt_value': '1400'}]})
    assert notes.methods() == ['port_update_end']
    notes.clear()
    plugin.delete_port(admin, port['id'])
    [n] = notes.find('port_delete_end')
    assert set(n.payload) == {'port_id', 'network_id', 'fixed_ips', 'priority'}
    notes.clear()
    plugin.delete_subnet(admin, sub['id'])
    assert notes.find('subnet_delete_end')[0].payload['priority'] == 4
    plugin.delete_network(admin, net['id'])
    [n] = notes.find('network_delete_end')
    assert n.host is None and n.payload == {'network_id': net['id'], 'priority': 2}


def test_dhcp_rpc(plugin, admin, topo):
    net, sub = topo['net'], topo['sub']
    infos = plugin.get_active_networks_info(host='host-a', enable_dhcp_filter=False)
    assert [i['id'] for i in infos] == [net['id']]
    info = plugin.get_network_info(net['id'], 'host-a')
    assert set(info) >= {'id', 'project_id', 'admin_state_up', 'subnets', 'ports', 'mtu',
                         'non_local_subnets'}
    assert [s['id'] for s in info['subnets']] == [sub['id']] and info['mtu'] == 1500
    assert plugin.get_network_info('3f1b6c2e-0000-4000-8000-000000000000', 'host-a') is None
    device_id = names.dhcp_port_device_id('host-a', net['id'])
    port = plugin.create_dhcp_port(port={'port': {
        'name': '', 'admin_state_up': True, 'device_id': device_id, 'network_id': net['id'],
        'project_id': net['project_id'], 'fixed_ips': [{'subnet_id': sub['id']}]}},
        host='host-a')
    assert port['device_owner'] == 'network:dhcp' and port['binding:host_id'] == 'host-a'
    assert port['status'] == 'ACTIVE'
    assert plugin.get_dhcp_port(port['id'])['id'] == port['id']
    gone = plugin.create_dhcp_port({'port': {
        'device_id': 'other', 'network_id': net['id'],
        'fixed_ips': [{'subnet_id': '3f1b6c2e-0000-4000-8000-000000000000'}]}}, 'host-a')
    assert gone['fixed_ips'] == []          # a vanished subnet is dropped, not an error
    plugin.delete_port(admin, gone['id'])
    updated = plugin.update_dhcp_port(port['id'], {'port': {
        'network_id': net['id'], 'fixed_ips': [{'subnet_id': sub['id'], 'ip_address': '10.0.0.9'}]}},
        'host-a')
    assert updated['fixed_ips'] == [{'subnet_id': sub['id'], 'ip_address': '10.0.0.9'}]
    with pytest.raises(exc.NetworkNotFound):   # host-b does not host the network
        plugin.update_dhcp_port(port['id'], {'port': {}}, 'host-b')
    vm = plugin.create_port(admin, {'network_id': net['id']})
    assert vm['status'] == 'DOWN'
    plugin.dhcp_ready_on_ports([vm['id']])
    assert plugin.get_port(admin, vm['id'])['status'] == 'ACTIVE'
    plugin.release_dhcp_port(net['id'], device_id, 'host-a')
    with pytest.raises(exc.PortNotFound):
        plugin.get_port(admin, port['id'])


def test_the_agent_creating_a_dhcp_port_is_not_told_of_it(plugin, admin, topo):
    """It has the port from the reply (Neutron's DHCP agents ignore DHCP ports' events)."""
    notes = plugin.notifier
    net, sub = topo['net'], topo['sub']
    plugin.report_state(dhcp_state('host-b'), now_str())
    [agent_b] = plugin.get_agents(admin, {'host': ['host-b']})
    plugin.add_network_to_dhcp_agent(admin, agent_b['id'], net['id'])
    notes.clear()
    plugin.create_dhcp_port({'port': {
        'device_id': names.dhcp_port_device_id('host-a', net['id']), 'network_id': net['id'],
        'fixed_ips': [{'subnet_id': sub['id']}]}}, 'host-a')
    assert [n.host for n in notes.find('port_create_end')] == ['host-b']


def test_auto_schedule_on_get_active_networks(plugin, admin):
    net = plugin.create_network(admin, {})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': '10.5.0.0/24', 'ip_version': 4})
    assert plugin.list_dhcp_agents_hosting_network(admin, net['id']) == []
    plugin.report_state(dhcp_state('late'), now_str())
    assert [i['id'] for i in plugin.get_active_networks_info('late')] == [net['id']]


def test_router_flow(plugin, admin, topo):
    notes = plugin.notifier
    net, sub, ext, ext_sub = topo['net'], topo['sub'], topo['ext'], topo['ext_sub']
    router = plugin.create_router(admin, {'name': 'r1'})
    assert router['external_gateway_info'] is None and router['routes'] == []
    notes.clear()
    info = plugin.add_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    assert info['subnet_id'] == sub['id'] and info['id'] == router['id']
    port = plugin.get_port(admin, info['port_id'])
    assert port['device_owner'] == 'network:router_interface'
    assert port['fixed_ips'] == [{'subnet_id': sub['id'], 'ip_address': '10.0.0.1'}]
    [call] = notes.find('router_added_to_agent')
    assert call.kind == 'call_l3' and call.host == 'host-a' and call.kwargs == {'payload': [router['id']]}
    assert notes.find('port_create_end')
    [l3] = plugin.list_l3_agents_hosting_router(admin, router['id'])
    assert l3['host'] == 'host-a'
    assert plugin.get_router_ids('host-a') == [router['id']]
    notes.clear()
    updated = plugin.update_router(admin, router['id'], {'external_gateway_info': {
        'network_id': ext['id']}})
    gw = updated['external_gateway_info']
    assert gw['network_id'] == ext['id'] and gw['enable_snat'] is True
    assert gw['external_fixed_ips'][0]['subnet_id'] == ext_sub['id']
    assert notes.find('routers_updated', 'host-a')[0].kwargs == {'routers': [router['id']]}

    # overlapping interface, bad nexthop, in use
    other = plugin.create_network(admin, {})
    other_sub = plugin.create_subnet(admin, {'network_id': other['id'], 'cidr': '10.0.0.0/25',
                                             'ip_version': 4})
    with pytest.raises(exc.BadRequest, match='overlaps'):
        plugin.add_router_interface(admin, router['id'], {'subnet_id': other_sub['id']})
    with pytest.raises(exc.InvalidRoutes):
        plugin.update_router(admin, router['id'], {'routes': [
            {'destination': '172.16.0.0/16', 'nexthop': '192.168.9.9'}]})
    routed = plugin.update_router(admin, router['id'], {'routes': [
        {'destination': '172.16.0.0/16', 'nexthop': '10.0.0.20'}]})
    assert routed['routes'] == [{'destination': '172.16.0.0/16', 'nexthop': '10.0.0.20'}]
    with pytest.raises(exc.RouterInUse):
        plugin.delete_router(admin, router['id'])
    with pytest.raises(exc.PortInUse):
        plugin.delete_port(admin, info['port_id'])

    # floating IP
    vm = plugin.create_port(admin, {'network_id': net['id']})
    fip = plugin.create_floatingip(admin, {'floating_network_id': ext['id'], 'port_id': vm['id']})
    assert fip['router_id'] == router['id'] and fip['status'] == 'DOWN'
    assert fip['fixed_ip_address'] == vm['fixed_ips'][0]['ip_address']
    assert fip['floating_ip_address'].startswith('198.51.100.')
    with pytest.raises(exc.FloatingIPPortAlreadyAssociated):
        plugin.create_floatingip(admin, {'floating_network_id': ext['id'], 'port_id': vm['id']})
    with pytest.raises(exc.BadRequest):
        plugin.create_floatingip(admin, {'floating_network_id': net['id']})
    with pytest.raises(exc.RouterExternalGatewayInUseByFloatingIp):
        plugin.update_router(admin, router['id'], {'external_gateway_info': {}})
    with pytest.raises(exc.RouterInterfaceInUseByFloatingIP):
        plugin.remove_router_interface(admin, router['id'], {'subnet_id': sub['id']})

    # sync_routers shape
    [r] = plugin.sync_routers('host-a', [router['id']])
    assert r['id'] == router['id'] and r['distributed'] is False and r['ha'] is False
    assert r['gw_port_id'] == r['gw_port']['id'] and r['enable_snat'] is True
    assert r['gw_port']['mtu'] == 1500 and r['gw_port']['fixed_ips'][0]['prefixlen'] == 24
    assert r['gw_port']['subnets'][0]['id'] == ext_sub['id']
    assert r['gw_port']['address_scopes'] == {'4': None, '6': None}
    [intf] = r['_interfaces']
    assert intf['id'] == info['port_id'] and intf['subnets'][0]['cidr'] == '10.0.0.0/24'
    assert intf['binding:host_id'] == 'host-a' and intf['status'] == 'ACTIVE'
    [f] = r['_floatingips']
    assert f['id'] == fip['id'] and f['port_id'] == vm['id']
    assert r['routes'] == routed['routes']
    plugin.update_floatingip_statuses(router['id'], {fip['id']: 'ACTIVE'})
    assert plugin.get_floatingip(admin, fip['id'])['status'] == 'ACTIVE'
    assert plugin.sync_routers('host-b') == []

    # tear down
    notes.clear()
    fip = plugin.update_floatingip(admin, fip['id'], {'port_id': None})
    assert fip['router_id'] is None and fip['status'] == 'DOWN'
    assert notes.find('routers_updated', 'host-a')
    plugin.delete_floatingip(admin, fip['id'])
    with pytest.raises(exc.RouterInterfaceInUseByRoute):
        plugin.remove_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    plugin.update_router(admin, router['id'], {'routes': []})
    notes.clear()
    removed = plugin.remove_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    assert removed['port_id'] == info['port_id']
    assert notes.find('port_delete_end') and notes.find('routers_updated')
    with pytest.raises(exc.RouterInterfaceNotFoundForSubnet):
        plugin.remove_router_interface(admin, router['id'], {'subnet_id': sub['id']})
    plugin.delete_router(admin, router['id'])
    [n] = notes.find('router_deleted')
    assert n.host is None and n.kwargs == {'router_id': router['id']}
    assert plugin.get_ports(admin, {'network_id': [ext['id']]}) == []


def test_floatingip_needs_gateway(plugin, admin, topo):
    router = plugin.create_router(admin, {'name': 'nogw'})
    plugin.add_router_interface(admin, router['id'], {'subnet_id': topo['sub']['id']})
    vm = plugin.create_port(admin, {'network_id': topo['net']['id']})
    with pytest.raises(exc.ExternalGatewayForFloatingIPNotFound):
        plugin.create_floatingip(admin, {'floating_network_id': topo['ext']['id'],
                                         'port_id': vm['id']})
    assert plugin.get_floatingips(admin) == []
    assert len(plugin.get_ports(admin, {'network_id': [topo['ext']['id']]})) == 0


def test_router_interface_by_port(plugin, admin, topo):
    router = plugin.create_router(admin, {'name': 'r2'})
    port = plugin.create_port(admin, {'network_id': topo['net']['id'],
                                      'fixed_ips': [{'ip_address': '10.0.0.77'}]})
    info = plugin.add_router_interface(admin, router['id'], {'port_id': port['id']})
    assert info['port_id'] == port['id'] and info['subnet_ids'] == [topo['sub']['id']]
    with pytest.raises(exc.PortInUse):
        plugin.add_router_interface(admin, router['id'], {'port_id': port['id']})
    with pytest.raises(exc.RouterInterfaceNotFound):
        plugin.remove_router_interface(admin, router['id'],
                                       {'port_id': '3f1b6c2e-0000-4000-8000-000000000000'})
    plugin.remove_router_interface(admin, router['id'], {'port_id': port['id']})


def test_router_scheduling_on_get_router_ids(plugin, admin):
    router = plugin.create_router(admin, {'name': 'lonely'})
    plugin.report_state(l3_state('l3-late'), now_str())
    assert plugin.get_router_ids('l3-late') == [router['id']]
    [agent] = plugin.get_agents(admin, {'agent_type': ['L3 agent']})
    assert [r['id'] for r in plugin.list_routers_on_l3_agent(admin, agent['id'])] == [router['id']]
    plugin.update_router(admin, router['id'], {'admin_state_up': False})
    assert plugin.sync_routers('l3-late') == []


def test_manual_scheduling(plugin, admin, topo):
    notes = plugin.notifier
    plugin.report_state(dhcp_state('host-b'), now_str())
    plugin.report_state(l3_state('host-b'), now_str())
    dhcp_b = plugin.get_agents(admin, {'host': ['host-b'], 'agent_type': ['DHCP agent']})[0]
    l3_b = plugin.get_agents(admin, {'host': ['host-b'], 'agent_type': ['L3 agent']})[0]
    net = topo['net']
    notes.clear()
    plugin.add_network_to_dhcp_agent(admin, dhcp_b['id'], net['id'])
    assert notes.find('network_create_end', 'host-b')
    with pytest.raises(exc.Conflict):
        plugin.add_network_to_dhcp_agent(admin, dhcp_b['id'], net['id'])
    assert {a['host'] for a in plugin.list_dhcp_agents_hosting_network(admin, net['id'])} == {
        'host-a', 'host-b'}
    plugin.remove_network_from_dhcp_agent(admin, dhcp_b['id'], net['id'])
    [n] = notes.find('network_delete_end', 'host-b')
    assert n.payload == {'network_id': net['id'], 'priority': 2}
    router = plugin.create_router(admin, {'name': 'manual'})
    plugin.add_router_to_l3_agent(admin, l3_b['id'], router['id'])
    assert notes.find('router_added_to_agent', 'host-b')[0].kwargs == {'payload': [router['id']]}
    with pytest.raises(exc.Conflict):
        plugin.add_router_to_l3_agent(admin, l3_b['id'], router['id'])
    plugin.remove_router_from_l3_agent(admin, l3_b['id'], router['id'])
    assert notes.find('router_removed_from_agent', 'host-b')[0].kwargs == {
        'payload': {'router_id': router['id']}}
