"""net-create, net-list, net-show, net-update, net-delete."""

from agent.cli.commands import common

COLUMNS = ['id', 'name', 'subnets', 'router:external', 'shared']


def _provider_options(p):
    p.add_argument('--provider:network_type', '--provider:network-type',
                   dest='network_type', metavar='TYPE',
                   help='flat, vlan, gre, vxlan, geneve or local.')
    p.add_argument('--provider:physical_network', '--provider:physical-network',
                   dest='physical_network', metavar='PHYSNET')
    p.add_argument('--provider:segmentation_id', '--provider:segmentation-id',
                   dest='segmentation_id', type=int, metavar='ID')


def _attrs(args):
    body: dict = {}
    common.set_if(body, 'name', getattr(args, 'name', None))
    common.set_if(body, 'provider:network_type', getattr(args, 'network_type', None))
    common.set_if(body, 'provider:physical_network',
                  getattr(args, 'physical_network', None))
    common.set_if(body, 'provider:segmentation_id', getattr(args, 'segmentation_id', None))
    common.set_if(body, 'mtu', args.mtu)
    common.set_if(body, 'router:external', args.external)
    common.set_if(body, 'shared', args.shared)
    common.set_if(body, 'admin_state_up', args.admin_state_up)
    common.set_if(body, 'project_id', getattr(args, 'project_id', None))
    return body


def create(client, args):
    return common.Shown(client.create('network', 'networks', _attrs(args)),
                        'Created a new network:')


def update(client, args):
    net_id = client.find_id('network', 'networks', args.ref)
    attrs = _attrs(args)
    if not attrs:
        raise common.CommandError('net-update: nothing to update (give --name, '
                                  '--shared, --router:external, --mtu ...)')
    client.update('network', 'networks', net_id, attrs)
    return common.Message(f'Updated network: {args.ref}')


def list_(client, args):
    items = client.list('networks', name=args.name,
                        **{'router:external': args.external, 'shared': args.shared})
    return common.Listed(items, COLUMNS)


def _flags(p):
    p.add_argument('--router:external', '--router-external', '--external',
                   dest='external', action='store_const', const=True,
                   default=None, help='An external network (router gateways, '
                                      'floating IPs).')
    p.add_argument('--shared', dest='shared', action='store_const', const=True,
                   default=None, help='Shared with every project.')
    p.add_argument('--no-router:external', '--internal', dest='external',
                   action='store_const', const=False, help='Not an external network.')
    p.add_argument('--no-shared', dest='shared', action='store_const', const=False,
                   help='Not shared.')


def register(sub):
    p = common.command(sub, 'net-create', create, 'Create a network.')
    p.add_argument('name', metavar='NAME')
    _provider_options(p)
    _flags(p)
    p.add_argument('--mtu', type=int)
    p.add_argument('--admin-state-down', dest='admin_state_up', action='store_const',
                   const=False, default=None)
    common.add_project(p)

    p = common.command(sub, 'net-update', update, 'Update a network.')
    p.add_argument('ref', metavar='NETWORK')
    p.add_argument('--name')
    _flags(p)
    p.add_argument('--mtu', type=int)
    p.add_argument('--admin-state-up', dest='admin_state_up',
                   type=lambda v: common.parse_bool(v, '--admin-state-up'))

    p = common.command(sub, 'net-list', list_, 'List networks.')
    p.add_argument('--name', action='append')
    p.add_argument('--router:external', '--external', dest='external',
                   action='store_const', const='True', default=None)
    p.add_argument('--shared', action='store_const', const='True', default=None)

    common.show_command(sub, 'network', 'networks')
    common.delete_command(sub, 'network', 'networks')
