"""floatingip-create/-list/-show/-delete, -associate and -disassociate."""

from agent.cli.commands import common

COLUMNS = ['id', 'fixed_ip_address', 'floating_ip_address', 'port_id']


def _fip_id(client, ref):
    return client.find_id('floatingip', 'floatingips', ref, by_name=False)


def create(client, args):
    body = {'floating_network_id': client.find_id('network', 'networks', args.network)}
    if args.port_id:
        body['port_id'] = client.find_id('port', 'ports', args.port_id)
    common.set_if(body, 'fixed_ip_address', args.fixed_ip_address)
    common.set_if(body, 'floating_ip_address', args.floating_ip_address)
    common.set_if(body, 'project_id', args.project_id)
    return common.Shown(client.create('floatingip', 'floatingips', body),
                        'Created a new floatingip:')


def associate(client, args):
    body = {'port_id': client.find_id('port', 'ports', args.port)}
    common.set_if(body, 'fixed_ip_address', args.fixed_ip_address)
    client.update('floatingip', 'floatingips', _fip_id(client, args.fip), body)
    return common.Message(f'Associated floating IP {args.fip}')


def disassociate(client, args):
    client.update('floatingip', 'floatingips', _fip_id(client, args.fip),
                  {'port_id': None})
    return common.Message(f'Disassociated floating IP {args.fip}')


def list_(client, args):
    port = client.find_id('port', 'ports', args.port_id) if args.port_id else None
    network = (client.find_id('network', 'networks', args.floating_network_id)
               if args.floating_network_id else None)
    items = client.list('floatingips', port_id=port, floating_network_id=network,
                        floating_ip_address=args.floating_ip_address,
                        router_id=args.router_id)
    return common.Listed(items, COLUMNS)


def register(sub):
    p = common.command(sub, 'floatingip-create', create, 'Create a floating IP.')
    p.add_argument('network', metavar='EXTERNAL-NETWORK')
    p.add_argument('--port-id', '--port_id', metavar='PORT')
    p.add_argument('--fixed-ip-address', '--fixed_ip_address', metavar='IP')
    p.add_argument('--floating-ip-address', '--floating_ip_address', metavar='IP')
    common.add_project(p)

    p = common.command(sub, 'floatingip-associate', associate,
                       'Associate a floating IP with a port.')
    p.add_argument('fip', metavar='FLOATINGIP_ID')
    p.add_argument('port', metavar='PORT')
    p.add_argument('--fixed-ip-address', '--fixed_ip_address', metavar='IP')

    p = common.command(sub, 'floatingip-disassociate', disassociate,
                       'Remove the port of a floating IP.')
    p.add_argument('fip', metavar='FLOATINGIP_ID')

    p = common.command(sub, 'floatingip-list', list_, 'List floating IPs.')
    p.add_argument('--port-id', '--port_id', metavar='PORT')
    p.add_argument('--floating-network-id', '--floating_network_id', metavar='NETWORK')
    p.add_argument('--floating-ip-address', '--floating_ip_address', metavar='IP')
    p.add_argument('--router-id', '--router_id', metavar='ROUTER_ID')

    common.show_command(sub, 'floatingip', 'floatingips', by_name=False)
    common.delete_command(sub, 'floatingip', 'floatingips', by_name=False)
