"""agent-list/-show/-update/-delete and the scheduler listings."""

from agent.cli.commands import common

COLUMNS = ['id', 'agent_type', 'host', 'alive', 'admin_state_up', 'binary']
# -f json also carries what the agents report of themselves (state, child counts).
JSON_COLUMNS = COLUMNS + ['availability_zone', 'heartbeat_timestamp', 'configurations']
HOSTING_COLUMNS = ['id', 'host', 'admin_state_up', 'alive']
NETWORK_COLUMNS = ['id', 'name', 'subnets']
ROUTER_COLUMNS = ['id', 'name', 'external_gateway_info']


def _alive(value):
    return ':-)' if value else 'xxx'


# ``alive`` in tables as openstackclient and neutron-client show it, ``:-)`` or
# ``xxx``; -f json and -f value keep the boolean, in lists and agent-show alike.
HUMAN = {'alive': _alive}


def _agent_id(client, ref):
    return client.find_id('agent', 'agents', ref, by_name=False)


def list_(client, args):
    agents = client.list('agents', host=args.host, agent_type=args.agent_type,
                         binary=args.binary)
    return common.Listed(agents, COLUMNS, HUMAN, JSON_COLUMNS)


def show(client, args):
    return common.Shown(client.find('agent', 'agents', args.ref, by_name=False),
                        human=HUMAN)


def update(client, args):
    body: dict = {}
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
    return common.Listed(agents, HOSTING_COLUMNS, HUMAN)


def hosting_router(client, args):
    router_id = client.find_id('router', 'routers', args.router)
    agents = client.request('GET', f'/routers/{router_id}/l3-agents')['agents']
    columns = list(HOSTING_COLUMNS)
    if any('ha_state' in a for a in agents):      # an HA router (as neutronclient)
        columns.append('ha_state')
    return common.Listed(agents, columns, HUMAN)


def nets_on_agent(client, args):
    nets = client.request('GET', f'/agents/{_agent_id(client, args.ref)}/dhcp-networks')
    return common.Listed(nets['networks'], NETWORK_COLUMNS)


def routers_on_agent(client, args):
    routers = client.request('GET', f'/agents/{_agent_id(client, args.ref)}/l3-routers')
    return common.Listed(routers['routers'], ROUTER_COLUMNS)


# (verb, agent path, resource, body key, what) of neutron-client's scheduling verbs.
_SCHEDULING = (
    ('dhcp-agent-network', 'dhcp-networks', 'network', 'network_id', 'DHCP agent'),
    ('l3-agent-router', 'l3-routers', 'router', 'router_id', 'L3 agent'),
)


def _scheduling_commands(sub):
    for verb, path, resource, key, what in _SCHEDULING:
        def add(client, args, _path=path, _res=resource, _key=key, _what=what):
            agent_id = _agent_id(client, args.agent)
            item_id = client.find_id(_res, _res + 's', args.item)
            client.request('POST', f'/agents/{agent_id}/{_path}', {_key: item_id})
            return common.Message(f'Added {_res} {args.item} to {_what}')

        def remove(client, args, _path=path, _res=resource, _what=what):
            agent_id = _agent_id(client, args.agent)
            item_id = client.find_id(_res, _res + 's', args.item)
            client.request('DELETE', f'/agents/{agent_id}/{_path}/{item_id}')
            return common.Message(f'Removed {_res} {args.item} from {_what}')

        for action, func, text in (('add', add, f'Add a {resource} to a {what}.'),
                                   ('remove', remove,
                                    f'Remove a {resource} from a {what}.')):
            p = common.command(sub, f'{verb}-{action}', func, text)
            p.add_argument('agent', metavar='AGENT')
            p.add_argument('item', metavar=resource.upper())


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

    _scheduling_commands(sub)
    p = common.command(sub, 'agent-show', show, 'Show an agent.')
    p.add_argument('ref', metavar='AGENT')
    common.delete_command(sub, 'agent', 'agents', by_name=False)
