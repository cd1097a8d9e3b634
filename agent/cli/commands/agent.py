"""agent-list/-show/-update/-delete and the scheduler listings."""

from agent.cli.commands import common

COLUMNS = ['id', 'agent_type', 'host', 'alive', 'admin_state_up', 'binary']
NETWORK_COLUMNS = ['id', 'name', 'subnets']
ROUTER_COLUMNS = ['id', 'name', 'external_gateway_info']


def _agent_rows(agents):
    """``alive`` shown as neutron-client shows it: ``:-)`` or ``xxx``."""
    return [{**a, 'alive': ':-)' if a.get('alive') else 'xxx'} for a in agents]


def _agent_id(client, ref):
    return client.find_id('agent', 'agents', ref, by_name=False)


def list_(client, args):
    agents = client.list('agents', host=args.host, agent_type=args.agent_type,
                         binary=args.binary)
    return common.Listed(_agent_rows(agents), COLUMNS)


def update(client, args):
    body = {}
    common.set_if(body, 'admin_state_up', args.admin_state_up)
    common.set_if(body, 'description', args.description)
    if not body:
        raise common.CommandError('agent-update: nothing to update (give '
                                  '--admin-state-down/--admin-state-up or --description)')
    client.update('agent', 'agents', _agent_id(client, args.ref), body)
    return common.Message(f'Updated agent: {args.ref}')


def hosting_net(client, args):
    net_id = client.find_id('network', 'networks', args.network)
    agents = client.request('GET', f'/networks/{net_id}/dhcp-agents')['agents']
    return common.Listed(_agent_rows(agents), ['id', 'host', 'admin_state_up', 'alive'])


def hosting_router(client, args):
    router_id = client.find_id('router', 'routers', args.router)
    agents = client.request('GET', f'/routers/{router_id}/l3-agents')['agents']
    columns = ['id', 'host', 'admin_state_up', 'alive']
    if any('ha_state' in a for a in agents):      # an HA router (as neutronclient)
        columns.append('ha_state')
    return common.Listed(_agent_rows(agents), columns)


def nets_on_agent(client, args):
    nets = client.request('GET', f'/agents/{_agent_id(client, args.ref)}/dhcp-networks')
    return common.Listed(nets['networks'], NETWORK_COLUMNS)


def routers_on_agent(client, args):
    routers = client.request('GET', f'/agents/{_agent_id(client, args.ref)}/l3-routers')
    return common.Listed(routers['routers'], ROUTER_COLUMNS)


def register(sub):
    p = common.command(sub, 'agent-list', list_, 'List agents.')
    p.add_argument('--host')
    p.add_argument('--agent-type', '--agent_type', metavar='TYPE',
                   help="e.g. 'DHCP agent', 'L3 agent'")
    p.add_argument('--binary')

    p = common.command(sub, 'agent-update', update, 'Enable or disable an agent.')
    p.add_argument('ref', metavar='AGENT')
    state = p.add_mutually_exclusive_group()
    state.add_argument('--admin-state-down', dest='admin_state_up', action='store_const',
                       const=False, default=None)
    state.add_argument('--admin-state-up', dest='admin_state_up', action='store_const',
                       const=True)
    p.add_argument('--description')

    p = common.command(sub, 'dhcp-agent-list-hosting-net', hosting_net,
                       'List the DHCP agents hosting a network.')
    p.add_argument('network', metavar='NETWORK')
    p = common.command(sub, 'l3-agent-list-hosting-router', hosting_router,
                       'List the L3 agents hosting a router.')
    p.add_argument('router', metavar='ROUTER')
    p = common.command(sub, 'net-list-on-dhcp-agent', nets_on_agent,
                       'List the networks on a DHCP agent.')
    p.add_argument('ref', metavar='AGENT')
    p = common.command(sub, 'router-list-on-l3-agent', routers_on_agent,
                       'List the routers on an L3 agent.')
    p.add_argument('ref', metavar='AGENT')

    common.show_command(sub, 'agent', 'agents', by_name=False)
    common.delete_command(sub, 'agent', 'agents', by_name=False)
