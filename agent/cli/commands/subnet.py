"""subnet-create, subnet-list, subnet-show, subnet-update, subnet-delete."""

import argparse

from agent.cli.commands import common

COLUMNS = ['id', 'name', 'cidr', 'allocation_pools']


def _pool(text):
    pool = common.parse_kv(text, ('start', 'end'), '--allocation-pool')
    if set(pool) != {'start', 'end'}:
        raise common.CommandError(f"--allocation-pool: '{text}' needs start=IP,end=IP")
    return pool


def _route(text):
    route = common.parse_kv(text, ('destination', 'nexthop'), '--host-route')
    if set(route) != {'destination', 'nexthop'}:
        raise common.CommandError(
            f"--host-route: '{text}' needs destination=CIDR,nexthop=IP")
    return route


def _nameservers(args):
    servers = list(args.dns_nameserver or [])
    for value in args.dns_nameservers or []:
        if value.lower() not in ('list=true', 'list=false'):
            servers.append(value)
    return servers


def _common_attrs(args):
    body: dict = {}
    common.set_if(body, 'name', args.name)
    if args.no_gateway:
        body['gateway_ip'] = None
    else:
        common.set_if(body, 'gateway_ip', args.gateway)
    if args.allocation_pool:
        body['allocation_pools'] = [_pool(p) for p in args.allocation_pool]
    servers = _nameservers(args)
    if servers or args.no_dns_nameservers:
        body['dns_nameservers'] = servers
    if args.host_route or args.no_host_routes:
        body['host_routes'] = [_route(r) for r in args.host_route or []]
    common.set_if(body, 'enable_dhcp', args.enable_dhcp)
    return body


def create(client, args):
    body = _common_attrs(args)
    body['network_id'] = client.find_id('network', 'networks', args.network)
    body['cidr'] = args.cidr
    body['ip_version'] = args.ip_version or (6 if ':' in args.cidr else 4)
    common.set_if(body, 'ipv6_address_mode', args.ipv6_address_mode)
    common.set_if(body, 'ipv6_ra_mode', args.ipv6_ra_mode)
    common.set_if(body, 'project_id', args.project_id)
    return common.Shown(client.create('subnet', 'subnets', body), 'Created a new subnet:')


def update(client, args):
    subnet_id = client.find_id('subnet', 'subnets', args.ref)
    body = _common_attrs(args)
    if not body:
        raise common.CommandError('subnet-update: nothing to update')
    client.update('subnet', 'subnets', subnet_id, body)
    return common.Message(f'Updated subnet: {args.ref}')


def list_(client, args):
    network = (client.find_id('network', 'networks', args.network_id)
               if args.network_id else None)
    items = client.list('subnets', name=args.name, network_id=network,
                        cidr=args.cidr, ip_version=args.ip_version)
    return common.Listed(items, COLUMNS)


def _attr_options(p):
    p.add_argument('--name')
    gw = p.add_mutually_exclusive_group()
    gw.add_argument('--gateway', '--gateway-ip', '--gateway_ip', metavar='IP')
    gw.add_argument('--no-gateway', action='store_true', help='No gateway for the subnet.')
    p.add_argument('--allocation-pool', '--allocation_pool', action='append',
                   metavar='start=IP,end=IP')
    p.add_argument('--dns-nameserver', '--dns_nameserver', action='append', metavar='IP')
    p.add_argument('--dns-nameservers', '--dns_nameservers', nargs='+', metavar='IP',
                   help='neutron-client style: list=true IP [IP ...]')
    p.add_argument('--no-dns-nameservers', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--host-route', '--host_route', action='append',
                   metavar='destination=CIDR,nexthop=IP')
    p.add_argument('--no-host-routes', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--disable-dhcp', dest='enable_dhcp', action='store_const',
                   const=False, default=None)
    p.add_argument('--enable-dhcp', dest='enable_dhcp', action='store_const', const=True)


def register(sub):
    p = common.command(sub, 'subnet-create', create, 'Create a subnet.')
    p.add_argument('network', metavar='NETWORK')
    p.add_argument('cidr', metavar='CIDR')
    _attr_options(p)
    p.add_argument('--ip-version', '--ip_version', type=int, choices=(4, 6))
    p.add_argument('--ipv6-address-mode', '--ipv6_address_mode',
                   choices=('slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'))
    p.add_argument('--ipv6-ra-mode', '--ipv6_ra_mode',
                   choices=('slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'))
    common.add_project(p)

    p = common.command(sub, 'subnet-update', update, 'Update a subnet.')
    p.add_argument('ref', metavar='SUBNET')
    _attr_options(p)

    p = common.command(sub, 'subnet-list', list_, 'List subnets.')
    p.add_argument('--name', action='append')
    p.add_argument('--network-id', '--network_id', '--network', metavar='NETWORK')
    p.add_argument('--cidr')
    p.add_argument('--ip-version', '--ip_version', type=int, choices=(4, 6))

    common.show_command(sub, 'subnet', 'subnets')
    common.delete_command(sub, 'subnet', 'subnets')
