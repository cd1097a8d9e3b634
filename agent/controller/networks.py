"""Networks and subnets: create, update, delete inside a transaction."""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from agent.controller import events, ipam, segments
from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.names_util import new_id, owner_project
from agent.controller.txn import Txn, bump

NETWORK_FIELDS = frozenset({
    'id', 'name', 'project_id', 'tenant_id', 'admin_state_up', 'shared', 'mtu',
    'router:external', 'provider:network_type', 'provider:physical_network',
    'provider:segmentation_id', 'availability_zone_hints', 'description',
    'port_security_enabled', 'status', 'subnets'})
SUBNET_FIELDS = frozenset({
    'id', 'name', 'project_id', 'tenant_id', 'network_id', 'cidr', 'ip_version',
    'gateway_ip', 'allocation_pools', 'dns_nameservers', 'host_routes', 'enable_dhcp',
    'ipv6_address_mode', 'ipv6_ra_mode', 'subnetpool_id', 'description', 'segment_id',
    'service_types', 'prefixlen', 'use_default_subnetpool'})
NETWORK_UNSUPPORTED = {'port_security_enabled': ((False,), v.NO_PORT_SECURITY)}
SUBNET_UNSUPPORTED: dict[str, tuple[tuple, str]] = {
    'segment_id': ((None,), 'routed networks (segments) are not implemented'),
    'service_types': (([],), 'subnet service types are not implemented'),
    'prefixlen': ((None,), 'subnet pools are not supported'),
}
PORTS_ALLOWED_ON_NETWORK_DELETE = (wire.DEVICE_OWNER_DHCP,)


def _apply_network_fields(net: models.Network, body: dict, conf) -> None:
    if 'name' in body:
        net.name = v.parse_string(body['name'], 'name')
    if 'description' in body:
        net.description = v.parse_string(body['description'], 'description')
    if 'admin_state_up' in body:
        net.admin_state_up = v.parse_bool(body['admin_state_up'], 'admin_state_up')
    if 'shared' in body:
        net.shared = v.parse_bool(body['shared'], 'shared')
    if 'router:external' in body:
        net.external = v.parse_bool(body['router:external'], 'router:external')
    if 'mtu' in body and body['mtu'] is not None:
        mtu = body['mtu']
        if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= conf.global_physnet_mtu:
            raise v.invalid('mtu', f'{mtu!r} is not an integer between 68 and '
                                   f'{conf.global_physnet_mtu} (global_physnet_mtu)')
        net.mtu = mtu


def create_network(txn: Txn, body: dict) -> dict:
    v.check_known_fields(body, NETWORK_FIELDS, 'network')
    v.check_unsupported(body, NETWORK_UNSUPPORTED, 'network')
    net = models.Network(id=new_id(body), project_id=owner_project(txn.ctx, body),
                         mtu=txn.conf.global_physnet_mtu, name='', description='',
                         admin_state_up=True, shared=False, external=False,
                         availability_zone_hints=[], revision_number=0, status='ACTIVE')
    _apply_network_fields(net, body, txn.conf)
    segment = segments.assign(txn, body, net.external)
    net.network_type = segment.network_type
    net.physical_network = segment.physical_network
    net.segmentation_id = segment.segmentation_id
    net.availability_zone_hints = v.parse_zone_hints(body.get('availability_zone_hints'))
    txn.session.add(net)
    txn.session.flush()
    return wire.network_dict(net, [])


# provider:segmentation_id per provider:network_type (ML2's type drivers' ranges).
def network_has_gateways(txn: Txn, network_id: str) -> bool:
    return txn.session.scalar(sa.select(sa.func.count()).select_from(models.Port).where(
        models.Port.network_id == network_id,
        models.Port.device_owner.in_([wire.DEVICE_OWNER_ROUTER_GW,
                                      wire.DEVICE_OWNER_FLOATINGIP]))) > 0


def update_network(txn: Txn, network_id: str, body: dict) -> dict:
    v.check_known_fields(body, NETWORK_FIELDS, 'network')
    v.check_unsupported(body, NETWORK_UNSUPPORTED, 'network')
    net = txn.load(models.Network, network_id, lock=True)
    was_external = net.external
    for field in ('id', 'project_id', 'tenant_id', 'provider:network_type',
                  'provider:physical_network', 'provider:segmentation_id'):
        if field in body and body[field] != wire.network_dict(net).get(field):
            raise v.invalid(field, f'{field} of network {network_id} cannot be updated')
    _apply_network_fields(net, body, txn.conf)
    if was_external and not net.external and network_has_gateways(txn, network_id):
        raise exc.NetworkInUse(
            f'Unable to complete operation on network {network_id}. There are one or more '
            f'router gateways or floating IPs still in use on the network.')
    bump(net)
    txn.session.flush()
    result = wire.network_dict(net)
    events.to_dhcp_agents(txn, network_id, 'network_update_end', {'network': result})
    txn.outbox.network_update(result)        # L3 agents: MTU and the like (ML2's fanout)
    for router_id in routers_on_network(txn, network_id):
        events.routers_updated(txn, router_id)
    return result


def routers_on_network(txn: Txn, network_id: str) -> list[str]:
    return sorted(set(txn.session.scalars(sa.select(models.Port.device_id).where(
        models.Port.network_id == network_id,
        models.Port.device_owner.in_([wire.DEVICE_OWNER_ROUTER_INTF,
                                      wire.DEVICE_OWNER_ROUTER_GW])))))


def delete_network(txn: Txn, network_id: str) -> None:
    net = txn.load(models.Network, network_id, lock=True)
    ports = list(txn.session.scalars(
        sa.select(models.Port).where(models.Port.network_id == network_id)))
    if any(p.device_owner not in PORTS_ALLOWED_ON_NETWORK_DELETE for p in ports):
        raise exc.NetworkInUse(
            f'Unable to complete operation on network {network_id}. There are one or '
            f'more ports still in use on the network.')
    for port in ports:
        txn.session.delete(port)
    txn.session.flush()
    txn.session.delete(net)
    txn.session.flush()
    events.network_deleted(txn, network_id)


# Subnets -------------------------------------------------------------------------

def _subnet_cidrs(txn: Txn, network_id: str, exclude: str | None = None) -> dict[str, str]:
    rows = txn.session.execute(sa.select(models.Subnet.id, models.Subnet.cidr)
                               .where(models.Subnet.network_id == network_id))
    return {sid: cidr for sid, cidr in rows if sid != exclude}


def _gateway(body: dict, cidr) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if 'gateway_ip' not in body:
        return ipam.default_gateway(cidr)
    if body['gateway_ip'] is None:
        return None
    return v.parse_ip(body['gateway_ip'], 'gateway_ip')


def create_subnet(txn: Txn, body: dict) -> dict:
    v.check_known_fields(body, SUBNET_FIELDS, 'subnet')
    v.check_unsupported(body, SUBNET_UNSUPPORTED, 'subnet')
    if body.get('subnetpool_id') or body.get('use_default_subnetpool'):
        raise v.invalid('subnetpool_id', 'subnet pools are not supported')
    if not body.get('network_id'):
        raise v.invalid('network_id', 'network_id is required')
    if 'cidr' not in body:
        raise v.invalid('cidr', 'cidr is required')
    net = txn.load(models.Network, body['network_id'], lock=True)
    cidr = v.parse_cidr(body['cidr'])
    version = v.check_ip_version(body.get('ip_version', cidr.version), cidr)
    v.check_ipv6_modes(version, body.get('ipv6_address_mode'), body.get('ipv6_ra_mode'))
    gateway = _gateway(body, cidr)
    v.check_gateway(gateway, cidr)
    v.check_no_overlap(cidr, _subnet_cidrs(txn, net.id), net.id)
    if body.get('allocation_pools') is not None:
        ranges = v.parse_pools(body['allocation_pools'], cidr)
        v.check_gateway_not_in_pools(gateway, ranges)
        pools = [{'start': str(s), 'end': str(e)} for s, e in ranges]
    else:
        pools = ipam.default_pools(cidr, gateway)
    subnet = models.Subnet(
        id=new_id(body), network_id=net.id, project_id=owner_project(txn.ctx, body),
        name=v.parse_string(body.get('name'), 'name'),
        description=v.parse_string(body.get('description'), 'description'),
        cidr=str(cidr), ip_version=version,
        gateway_ip=str(gateway) if gateway is not None else None,
        enable_dhcp=v.parse_bool(body.get('enable_dhcp', True), 'enable_dhcp'),
        ipv6_address_mode=body.get('ipv6_address_mode'),
        ipv6_ra_mode=body.get('ipv6_ra_mode'), allocation_pools=pools,
        dns_nameservers=v.parse_nameservers(body.get('dns_nameservers') or []),
        host_routes=v.parse_routes(body.get('host_routes') or [], version=version),
        revision_number=0)
    txn.session.add(subnet)
    bump(net)
    txn.session.flush()
    result = wire.subnet_dict(subnet)
    if subnet.enable_dhcp:
        events.schedule_network(txn, net.id)
    events.to_dhcp_agents(txn, net.id, 'subnet_create_end', {'subnet': result})
    return result


def _router_port_on_gateway(txn: Txn, subnet: models.Subnet) -> bool:
    return txn.session.scalar(
        sa.select(sa.func.count()).select_from(models.IPAllocation)
        .join(models.Port, models.Port.id == models.IPAllocation.port_id)
        .where(models.IPAllocation.subnet_id == subnet.id,
               models.IPAllocation.ip_address == subnet.gateway_ip,
               models.Port.device_owner == wire.DEVICE_OWNER_ROUTER_INTF)) > 0


def update_subnet(txn: Txn, subnet_id: str, body: dict) -> dict:
    v.check_known_fields(body, SUBNET_FIELDS, 'subnet')
    v.check_unsupported(body, SUBNET_UNSUPPORTED, 'subnet')
    subnet = txn.load(models.Subnet, subnet_id, lock=True)
    cidr = ipaddress.ip_network(subnet.cidr)
    for field in ('id', 'network_id', 'cidr', 'ip_version', 'ipv6_address_mode',
                  'ipv6_ra_mode', 'project_id', 'tenant_id'):
        if field in body and str(body[field]) != str(getattr(subnet, field.replace(
                'tenant_id', 'project_id'))):
            raise v.invalid(field, f'{field} of subnet {subnet_id} cannot be updated')
    was_dhcp = subnet.enable_dhcp
    if 'gateway_ip' in body:
        gateway = None if body['gateway_ip'] is None else v.parse_ip(body['gateway_ip'], 'gateway_ip')
        v.check_gateway(gateway, cidr)
        new = str(gateway) if gateway is not None else None
        if new != subnet.gateway_ip and subnet.gateway_ip and _router_port_on_gateway(txn, subnet):
            raise exc.GatewayIpInUse(
                f'Gateway ip {subnet.gateway_ip} of subnet {subnet_id} is in use by a '
                f'router interface and cannot be changed.')
        subnet.gateway_ip = new
    if 'allocation_pools' in body:
        ranges = v.parse_pools(body['allocation_pools'] or [], cidr)
        subnet.allocation_pools = [{'start': str(s), 'end': str(e)} for s, e in ranges]
    v.check_gateway_not_in_pools(
        ipaddress.ip_address(subnet.gateway_ip) if subnet.gateway_ip else None,
        v.parse_pools(subnet.allocation_pools, cidr))
    if 'dns_nameservers' in body:
        subnet.dns_nameservers = v.parse_nameservers(body['dns_nameservers'] or [])
    if 'host_routes' in body:
        subnet.host_routes = v.parse_routes(body['host_routes'] or [], version=subnet.ip_version)
    if 'enable_dhcp' in body:
        subnet.enable_dhcp = v.parse_bool(body['enable_dhcp'], 'enable_dhcp')
    for field in ('name', 'description'):
        if field in body:
            setattr(subnet, field, v.parse_string(body[field], field))
    bump(subnet)
    txn.session.flush()
    result = wire.subnet_dict(subnet)
    if subnet.enable_dhcp and not was_dhcp:
        events.schedule_network(txn, subnet.network_id)
    events.to_dhcp_agents(txn, subnet.network_id, 'subnet_update_end', {'subnet': result})
    for router_id in routers_on_network(txn, subnet.network_id):
        events.routers_updated(txn, router_id)
    return result


def delete_subnet(txn: Txn, subnet_id: str) -> None:
    subnet = txn.load(models.Subnet, subnet_id, lock=True)
    users = list(txn.session.execute(
        sa.select(models.Port.id, models.Port.device_owner)
        .join(models.IPAllocation, models.IPAllocation.port_id == models.Port.id)
        .where(models.IPAllocation.subnet_id == subnet_id)))
    if any(owner != wire.DEVICE_OWNER_DHCP for _, owner in users):
        raise exc.SubnetInUse(
            f'Unable to complete operation on subnet {subnet_id}: One or more ports have '
            f'an IP allocation from this subnet.')
    dhcp_ports = sorted({port_id for port_id, _ in users})
    txn.session.execute(sa.delete(models.IPAllocation)
                        .where(models.IPAllocation.subnet_id == subnet_id))
    network_id = subnet.network_id
    txn.session.delete(subnet)
    txn.session.flush()
    events.to_dhcp_agents(txn, network_id, 'subnet_delete_end',
                          {'subnet_id': subnet_id, 'network_id': network_id})
    for port_id in dhcp_ports:
        port = txn.session.get(models.Port, port_id)
        txn.session.refresh(port)
        events.to_dhcp_agents(txn, network_id, 'port_update_end',
                              {'port': wire.port_dict(port)})
