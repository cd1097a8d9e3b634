"""router-create/-list/-show/-update/-delete, interfaces and gateways."""

from agent.cli.commands import common
from agent.cli.commands.port import fixed_ips

COLUMNS = ['id', 'name', 'external_gateway_info', 'routes']


def _route(text):
    route = common.parse_kv(text, ('destination', 'nexthop'), '--route')
    if set(route) != {'destination', 'nexthop'}:
        raise common.CommandError(f"--route: '{text}' needs destination=CIDR,nexthop=IP")
    return route


def create(client, args):
    body = {'name': args.name}
    common.set_if(body, 'admin_state_up', args.admin_state_up)
    common.set_if(body, 'project_id', args.project_id)
    common.set_if(body, 'ha', args.ha)
    return common.Shown(client.create('router', 'routers', body), 'Created a new router:')


def update(client, args):
    router_id = client.find_id('router', 'routers', args.ref)
    body: dict = {}
    common.set_if(body, 'name', args.name)
    common.set_if(body, 'admin_state_up', args.admin_state_up)
    common.set_if(body, 'ha', args.ha)
    if args.route or args.no_routes:
        body['routes'] = [_route(r) for r in args.route or []]
    if not body:
        raise common.CommandError('router-update: nothing to update (give --name, '
                                  '--admin-state-up, --ha/--no-ha, --route or '
                                  '--no-routes)')
    client.update('router', 'routers', router_id, body)
    return common.Message(f'Updated router: {args.ref}')


def _interface_body(client, ref):
    """``SUBNET``, ``subnet=SUBNET`` or ``port=PORT`` → the action body."""
    kind, sep, value = ref.partition('=')
    if sep and kind in ('subnet', 'port'):
        plural = kind + 's'
        return {f'{kind}_id': client.find_id(kind, plural, value)}, value
    return {'subnet_id': client.find_id('subnet', 'subnets', ref)}, ref


def interface(client, args):
    router_id = client.find_id('router', 'routers', args.router)
    body, label = _interface_body(client, args.interface)
    action = 'add_router_interface' if args.add else 'remove_router_interface'
    client.request('PUT', f'/routers/{router_id}/{action}', body)
    if args.add:
        return common.Message(f'Added interface {label} to router {args.router}.')
    return common.Message(f'Removed interface from router {args.router}.')


def gateway_set(client, args):
    router_id = client.find_id('router', 'routers', args.router)
    info = {'network_id': client.find_id('network', 'networks', args.network)}
    if args.disable_snat:
        info['enable_snat'] = False
    if args.fixed_ip:
        info['external_fixed_ips'] = fixed_ips(client, args.fixed_ip)
    client.update('router', 'routers', router_id, {'external_gateway_info': info})
    return common.Message(f'Set gateway for router {args.router}')


def gateway_clear(client, args):
    router_id = client.find_id('router', 'routers', args.router)
    client.update('router', 'routers', router_id, {'external_gateway_info': {}})
    return common.Message(f'Removed gateway from router {args.router}')


def list_(client, args):
    return common.Listed(client.list('routers', name=args.name), COLUMNS)


def _add_ha(parser, note: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--ha', dest='ha', action='store_const', const=True, default=None,
                       help=f'A highly available router (VRRP across L3 agents; '
                            f'admins only; {note}).')
    group.add_argument('--no-ha', dest='ha', action='store_const', const=False,
                       help='A legacy router on one L3 agent.')


def register(sub):
    p = common.command(sub, 'router-create', create, 'Create a router.')
    p.add_argument('name', metavar='NAME')
    p.add_argument('--admin-state-down', dest='admin_state_up', action='store_const',
                   const=False, default=None)
    common.add_project(p)
    _add_ha(p, 'default: the server\'s l3_ha')

    p = common.command(sub, 'router-update', update, 'Update a router.')
    p.add_argument('ref', metavar='ROUTER')
    p.add_argument('--name')
    p.add_argument('--admin-state-up', dest='admin_state_up',
                   type=lambda v: common.parse_bool(v, '--admin-state-up'))
    p.add_argument('--route', action='append', metavar='destination=CIDR,nexthop=IP')
    p.add_argument('--no-routes', action='store_true', help='Remove all extra routes.')
    _add_ha(p, 'the router must be admin-state-down first')

    for name, add in (('router-interface-add', True), ('router-interface-delete', False),
                      ('router-interface-remove', False)):
        p = common.command(sub, name, interface,
                           'Add an interface (subnet or port) to a router.' if add else
                           'Remove an interface from a router.')
        p.add_argument('router', metavar='ROUTER')
        p.add_argument('interface', metavar='INTERFACE',
                       help='SUBNET, subnet=SUBNET or port=PORT')
        p.set_defaults(add=add)

    p = common.command(sub, 'router-gateway-set', gateway_set,
                       "Set a router's external network gateway.")
    p.add_argument('router', metavar='ROUTER')
    p.add_argument('network', metavar='EXTERNAL-NETWORK')
    p.add_argument('--disable-snat', action='store_true')
    p.add_argument('--fixed-ip', action='append', metavar='subnet_id=SUBNET,ip_address=IP')

    p = common.command(sub, 'router-gateway-clear', gateway_clear,
                       "Remove a router's external network gateway.")
    p.add_argument('router', metavar='ROUTER')

    p = common.command(sub, 'router-list', list_, 'List routers.')
    p.add_argument('--name', action='append')

    common.show_command(sub, 'router', 'routers')
    common.delete_command(sub, 'router', 'routers')
