"""port-create, port-list, port-show, port-update, port-delete."""

from agent.cli.commands import common

COLUMNS = ['id', 'name', 'mac_address', 'fixed_ips']


def fixed_ips(client, values, option='--fixed-ip'):
    """``subnet_id=S,ip_address=I`` (subnet by name or id) → fixed_ips entries."""
    result = []
    for text in values:
        entry = common.parse_kv(text, ('subnet_id', 'subnet', 'ip_address'), option)
        subnet = entry.pop('subnet', None) or entry.pop('subnet_id', None)
        if subnet:
            entry['subnet_id'] = client.find_id('subnet', 'subnets', subnet)
        if not entry:
            raise common.CommandError(f"{option}: '{text}' needs subnet_id= and/or "
                                      f"ip_address=")
        result.append(entry)
    return result


def _dhcp_opts(values):
    opts = []
    for text in values:
        opt = common.parse_kv(text, ('opt_name', 'opt_value', 'ip_version'),
                              '--extra-dhcp-opt')
        if 'opt_name' not in opt or 'opt_value' not in opt:
            raise common.CommandError(
                f"--extra-dhcp-opt: '{text}' needs opt_name=NAME,opt_value=VALUE")
        if 'ip_version' in opt:
            try:
                opt['ip_version'] = int(opt['ip_version'])
            except ValueError:
                raise common.CommandError(
                    f"--extra-dhcp-opt: ip_version '{opt['ip_version']}' is not 4 or 6") \
                    from None
        opts.append(opt)
    return opts


def _attrs(client, args):
    body: dict = {}
    common.set_if(body, 'name', args.name)
    if args.fixed_ip:
        body['fixed_ips'] = fixed_ips(client, args.fixed_ip)
    elif getattr(args, 'no_fixed_ips', False):
        body['fixed_ips'] = []
    common.set_if(body, 'device_owner', args.device_owner)
    common.set_if(body, 'device_id', args.device_id)
    common.set_if(body, 'binding:host_id', args.host_id)
    if args.extra_dhcp_opt:
        body['extra_dhcp_opts'] = _dhcp_opts(args.extra_dhcp_opt)
    common.set_if(body, 'admin_state_up', args.admin_state_up)
    return body


def create(client, args):
    body = _attrs(client, args)
    body['network_id'] = client.find_id('network', 'networks', args.network)
    common.set_if(body, 'mac_address', args.mac_address)
    common.set_if(body, 'project_id', args.project_id)
    return common.Shown(client.create('port', 'ports', body), 'Created a new port:')


def update(client, args):
    port_id = client.find_id('port', 'ports', args.ref)
    body = _attrs(client, args)
    if not body:
        raise common.CommandError('port-update: nothing to update')
    client.update('port', 'ports', port_id, body)
    return common.Message(f'Updated port: {args.ref}')


def list_(client, args):
    network = (client.find_id('network', 'networks', args.network_id)
               if args.network_id else None)
    items = client.list('ports', name=args.name, network_id=network,
                        device_id=args.device_id, device_owner=args.device_owner,
                        mac_address=args.mac_address,
                        **{'binding:host_id': args.host_id})
    return common.Listed(items, COLUMNS)


def _attr_options(p):
    p.add_argument('--name')
    p.add_argument('--fixed-ip', '--fixed_ip', action='append',
                   metavar='subnet_id=SUBNET,ip_address=IP')
    p.add_argument('--device-owner', '--device_owner')
    p.add_argument('--device-id', '--device_id')
    p.add_argument('--binding:host_id', '--binding:host-id', '--host', dest='host_id',
                   metavar='HOST')
    p.add_argument('--extra-dhcp-opt', '--extra_dhcp_opt', action='append',
                   metavar='opt_name=NAME,opt_value=VALUE[,ip_version=4|6]')
    p.add_argument('--admin-state-down', dest='admin_state_up', action='store_const',
                   const=False, default=None)


def register(sub):
    p = common.command(sub, 'port-create', create, 'Create a port.')
    p.add_argument('network', metavar='NETWORK')
    _attr_options(p)
    p.add_argument('--mac-address', '--mac_address', metavar='MAC')
    common.add_project(p)

    p = common.command(sub, 'port-update', update, 'Update a port.')
    p.add_argument('ref', metavar='PORT')
    _attr_options(p)
    p.add_argument('--no-fixed-ips', action='store_true')
    p.add_argument('--admin-state-up', dest='admin_state_up', action='store_const',
                   const=True)

    p = common.command(sub, 'port-list', list_, 'List ports.')
    p.add_argument('--name', action='append')
    p.add_argument('--network-id', '--network_id', '--network', metavar='NETWORK')
    p.add_argument('--device-id', '--device_id')
    p.add_argument('--device-owner', '--device_owner')
    p.add_argument('--mac-address', '--mac_address')
    p.add_argument('--binding:host_id', '--host', dest='host_id')

    common.show_command(sub, 'port', 'ports')
    common.delete_command(sub, 'port', 'ports')
