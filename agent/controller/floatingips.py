"""Floating IPs: an address on an external network, NATed to a port's fixed IP."""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from agent.controller import events, ports
from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.names_util import new_id, owner_project
from agent.controller.txn import Txn, bump

FLOATINGIP_FIELDS = frozenset({
    'id', 'project_id', 'tenant_id', 'floating_network_id', 'floating_ip_address',
    'subnet_id', 'port_id', 'fixed_ip_address', 'description', 'dns_name', 'dns_domain',
    'qos_policy_id'})

FLOATINGIP_UNSUPPORTED = {'qos_policy_id': ((None,), 'QoS is not implemented')}


def _router_for(txn: Txn, external_network_id: str, port: models.Port,
                fixed_ip: str) -> str:
    """The router with an interface on the fixed IP's subnet and a gateway on the net."""
    subnet_id = next(a.subnet_id for a in port.fixed_ips if a.ip_address == fixed_ip)
    rows = txn.session.scalars(
        sa.select(models.Router)
        .join(models.Port, models.Port.device_id == models.Router.id)
        .join(models.IPAllocation, models.IPAllocation.port_id == models.Port.id)
        .where(models.Port.device_owner == wire.DEVICE_OWNER_ROUTER_INTF,
               models.IPAllocation.subnet_id == subnet_id)
        .order_by(models.Router.id))
    for router in rows:
        gw = txn.session.get(models.Port, router.gw_port_id) if router.gw_port_id else None
        if gw is not None and gw.network_id == external_network_id:
            return router.id
    raise exc.ExternalGatewayForFloatingIPNotFound(
        f'External network {external_network_id} is not reachable from subnet '
        f'{subnet_id}. Therefore, cannot associate Port {port.id} with a Floating IP.')


def _fixed_ip_of(port: models.Port, requested) -> str:
    v4 = [a.ip_address for a in port.fixed_ips
          if ipaddress.ip_address(a.ip_address).version == 4]
    if requested is not None:
        ip = str(v.parse_ip(requested, 'fixed_ip_address'))
        if ip not in v4:
            raise exc.BadRequest(f'Bad floatingip request: Port {port.id} does not have '
                                 f'fixed ip {ip}.')
        return ip
    if not v4:
        raise exc.BadRequest(f'Bad floatingip request: Port {port.id} does not have any '
                             f'IPv4 address.')
    return v4[0]


def _associate(txn: Txn, fip: models.FloatingIP, port_id, fixed_ip) -> None:
    if port_id is None:
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        return
    port = txn.load(models.Port, port_id)
    if port.device_owner in ports.ROUTER_OWNED:
        raise exc.BadRequest(f'Bad floatingip request: Port {port.id} has owner '
                             f'{port.device_owner} and cannot have a floating IP.')
    ip = _fixed_ip_of(port, fixed_ip)
    other = txn.session.scalar(sa.select(models.FloatingIP).where(
        models.FloatingIP.fixed_port_id == port.id, models.FloatingIP.fixed_ip_address == ip,
        models.FloatingIP.floating_network_id == fip.floating_network_id,
        models.FloatingIP.id != fip.id))
    if other is not None:
        raise exc.FloatingIPPortAlreadyAssociated(
            f'Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port '
            f'{port.id} using fixed IP {ip}, as that fixed IP already has a floating IP on '
            f'external network {fip.floating_network_id}.')
    fip.router_id = _router_for(txn, fip.floating_network_id, port, ip)
    fip.last_known_router_id = fip.router_id
    fip.fixed_port_id, fip.fixed_ip_address = port.id, ip


def create_floatingip(txn: Txn, body: dict) -> dict:
    v.check_known_fields(body, FLOATINGIP_FIELDS, 'floatingip')
    v.check_unsupported(body, FLOATINGIP_UNSUPPORTED, 'floatingip')
    for field in ('dns_name', 'dns_domain'):
        v.parse_dns_name(body.get(field), field)
    if not body.get('floating_network_id'):
        raise v.invalid('floating_network_id', 'floating_network_id is required')
    net = txn.load(models.Network, body['floating_network_id'])
    if not net.external:
        raise exc.BadRequest(f'Bad floatingip request: Network {net.id} is not a valid '
                             f'external network.')
    fip_id = new_id(body)
    request = {}
    if body.get('subnet_id'):
        request['subnet_id'] = body['subnet_id']
    if body.get('floating_ip_address'):
        request['ip_address'] = body['floating_ip_address']
    port = ports.create_port_row(txn, {
        'network_id': net.id, 'device_owner': wire.DEVICE_OWNER_FLOATINGIP,
        'device_id': fip_id, 'project_id': '', 'name': '',
        'fixed_ips': [request] if request else None}, status='N/A')
    v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if not v4:
        raise exc.BadRequest(f'Bad floatingip request: Network {net.id} has no IPv4 subnet.')
    for extra in port.fixed_ips:
        if extra is not v4[0]:
            port.fixed_ips.remove(extra)
    fip = models.FloatingIP(
        id=fip_id, project_id=owner_project(txn.ctx, body), name='',
        description=v.parse_string(body.get('description'), 'description'),
        floating_ip_address=v4[0].ip_address, floating_network_id=net.id,
        floating_port_id=port.id, status='DOWN', revision_number=0)
    txn.session.add(fip)
    txn.session.flush()
    _associate(txn, fip, body.get('port_id'), body.get('fixed_ip_address'))
    txn.session.flush()
    events.routers_updated(txn, fip.router_id)
    return wire.floatingip_dict(fip)


def update_floatingip(txn: Txn, fip_id: str, body: dict) -> dict:
    v.check_known_fields(body, FLOATINGIP_FIELDS, 'floatingip')
    v.check_unsupported(body, FLOATINGIP_UNSUPPORTED, 'floatingip')
    fip = txn.load(models.FloatingIP, fip_id, lock=True)
    old_router = fip.router_id
    if 'description' in body:
        fip.description = v.parse_string(body['description'], 'description')
    if 'port_id' in body:
        _associate(txn, fip, body['port_id'], body.get('fixed_ip_address'))
        if fip.router_id is None:
            fip.status = 'DOWN'
    bump(fip)
    txn.session.flush()
    for router_id in {old_router, fip.router_id} - {None}:
        events.routers_updated(txn, router_id)
    return wire.floatingip_dict(fip)


def delete_floatingip(txn: Txn, fip_id: str) -> None:
    fip = txn.load(models.FloatingIP, fip_id, lock=True)
    router_id = fip.router_id
    port = txn.session.get(models.Port, fip.floating_port_id)
    txn.session.delete(fip)
    txn.session.flush()
    if port is not None:
        ports.delete_port_row(txn, port)
    events.routers_updated(txn, router_id)
