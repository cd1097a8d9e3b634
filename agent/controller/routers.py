"""Routers: gateway, interfaces and extra routes, inside a transaction."""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from agent.controller import agents, events, l3_ha, ports, scheduler
from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.names_util import new_id, owner_project
from agent.controller.txn import Txn, bump

ROUTER_FIELDS = frozenset({
    'id', 'name', 'project_id', 'tenant_id', 'admin_state_up', 'external_gateway_info',
    'routes', 'description', 'distributed', 'ha', 'availability_zone_hints', 'status',
    'flavor_id'})
ROUTER_UNSUPPORTED = {'flavor_id': ((None,), 'router flavors are not implemented')}
GATEWAY_FIELDS = frozenset({'network_id', 'enable_snat', 'external_fixed_ips'})


def interface_ports(txn: Txn, router_id: str) -> list[models.Port]:
    return list(txn.session.scalars(
        sa.select(models.Port).where(models.Port.device_id == router_id,
                                     models.Port.device_owner == wire.DEVICE_OWNER_ROUTER_INTF)
        .order_by(models.Port.id)))


def gateway_port(txn: Txn, router: models.Router) -> models.Port | None:
    return txn.session.get(models.Port, router.gw_port_id) if router.gw_port_id else None


def router_dict(txn: Txn, router: models.Router) -> dict:
    return wire.router_dict(router, gateway_port(txn, router))


def router_dicts(txn: Txn, rows: list[models.Router]) -> list[dict]:
    """Many routers' dicts, their gateway ports loaded in one query per 500."""
    ids = [r.gw_port_id for r in rows if r.gw_port_id]
    ports: dict = {}
    for chunk in range(0, len(ids), 500):
        ports.update((p.id, p) for p in txn.session.scalars(
            sa.select(models.Port).where(models.Port.id.in_(ids[chunk:chunk + 500]))))
    return [wire.router_dict(r, ports.get(r.gw_port_id)) for r in rows]


def _attached_subnets(txn: Txn, router_id: str) -> dict[str, str]:
    """subnet id -> cidr of every interface of the router."""
    rows = txn.session.execute(
        sa.select(models.Subnet.id, models.Subnet.cidr)
        .join(models.IPAllocation, models.IPAllocation.subnet_id == models.Subnet.id)
        .join(models.Port, models.Port.id == models.IPAllocation.port_id)
        .where(models.Port.device_id == router_id,
               models.Port.device_owner == wire.DEVICE_OWNER_ROUTER_INTF))
    return dict(rows.all())


def _connected_cidrs(txn: Txn, router: models.Router) -> list[str]:
    cidrs = list(_attached_subnets(txn, router.id).values())
    gw = gateway_port(txn, router)
    if gw is not None:
        cidrs += [txn.session.get(models.Subnet, a.subnet_id).cidr for a in gw.fixed_ips]
    return cidrs


# Gateway -------------------------------------------------------------------------------

def _clear_gateway(txn: Txn, router: models.Router) -> None:
    gw = gateway_port(txn, router)
    if gw is None:
        return
    in_use = txn.session.scalar(sa.select(sa.func.count()).select_from(models.FloatingIP)
                                .where(models.FloatingIP.router_id == router.id))
    if in_use:
        raise exc.RouterExternalGatewayInUseByFloatingIp(
            f'Gateway cannot be updated for router {router.id}, since a gateway to '
            f'external network {gw.network_id} is required by one or more floating IPs.')
    router.gw_port_id = None
    txn.session.flush()
    ports.delete_port_row(txn, gw)


def _set_gateway(txn: Txn, router: models.Router, info) -> None:
    if info is None or info == {}:
        _clear_gateway(txn, router)
        return
    v.check_known_fields(info, GATEWAY_FIELDS, 'router external_gateway_info')
    if not info.get('network_id'):
        raise v.invalid('external_gateway_info', 'network_id is required')
    net = txn.load(models.Network, info['network_id'])
    if not net.external:
        raise exc.BadRequest(f'Bad router request: Network {net.id} is not an external '
                             f'network.')
    current = gateway_port(txn, router)
    if 'enable_snat' in info:
        router.enable_snat = v.parse_bool(info['enable_snat'], 'enable_snat')
    wanted_ips = info.get('external_fixed_ips')
    if current is not None and current.network_id == net.id:
        if wanted_ips is not None and sorted(
                (i.get('subnet_id'), i.get('ip_address')) for i in wanted_ips) != sorted(
                (a.subnet_id, a.ip_address) for a in current.fixed_ips):
            ports.update_port_row(txn, current, {'fixed_ips': wanted_ips})
        return
    _clear_gateway(txn, router)
    body = {'network_id': net.id, 'device_owner': wire.DEVICE_OWNER_ROUTER_GW,
            'device_id': router.id, 'project_id': '', 'name': ''}
    if wanted_ips is not None:
        body['fixed_ips'] = wanted_ips
    gw = ports.create_port_row(txn, body)
    if not gw.fixed_ips:
        raise exc.BadRequest(f'Bad router request: No IPs available on external network '
                             f'{net.id}.')
    router.gw_port_id = gw.id


# Create / update / delete ------------------------------------------------------------------

def _requested_ha(txn: Txn, body: dict, action: str) -> bool | None:
    """The ``ha`` of the body (None: not given).  Neutron's policy: admins only."""
    if body.get('distributed'):
        raise v.invalid('distributed', 'distributed routers are not supported')
    if body.get('ha') is None:
        return None
    if not txn.ctx.is_admin:
        raise exc.NotAuthorized(f'(rule:{action}_router:ha) is disallowed by policy')
    return v.parse_bool(body['ha'], 'ha')


def create_router(txn: Txn, body: dict) -> dict:
    v.check_known_fields(body, ROUTER_FIELDS, 'router')
    ha = _requested_ha(txn, body, 'create')
    v.check_unsupported(body, ROUTER_UNSUPPORTED, 'router')
    router = models.Router(
        id=new_id(body), project_id=owner_project(txn.ctx, body),
        name=v.parse_string(body.get('name'), 'name'),
        description=v.parse_string(body.get('description'), 'description'),
        admin_state_up=v.parse_bool(body.get('admin_state_up', True), 'admin_state_up'),
        availability_zone_hints=v.parse_zone_hints(body.get('availability_zone_hints')),
        enable_snat=True, routes=[], status='ACTIVE', revision_number=0, ha=False,
        ha_vr_id=0)
    txn.session.add(router)
    txn.session.flush()
    if txn.conf.l3_ha if ha is None else ha:
        l3_ha.setup_router(txn, router)
        events.router_needs_agent(txn, router.id)    # HA routers at once, as Neutron
    if body.get('external_gateway_info'):
        _set_gateway(txn, router, body['external_gateway_info'])
        events.router_needs_agent(txn, router.id)
    if body.get('routes'):
        router.routes = v.parse_routes(body['routes'], 'routes')
        v.check_router_routes(router.routes, _connected_cidrs(txn, router), router.id)
    txn.session.flush()
    return router_dict(txn, router)


def update_router(txn: Txn, router_id: str, body: dict) -> dict:
    v.check_known_fields(body, ROUTER_FIELDS, 'router')
    v.check_unsupported(body, ROUTER_UNSUPPORTED, 'router')
    router = txn.load(models.Router, router_id, lock=True)
    ha = _requested_ha(txn, body, 'update')
    for field in ('name', 'description'):
        if field in body:
            setattr(router, field, v.parse_string(body[field], field))
    if 'admin_state_up' in body:
        router.admin_state_up = v.parse_bool(body['admin_state_up'], 'admin_state_up')
    ha_changed = ha is not None and ha != router.ha
    if ha_changed:
        _change_ha(txn, router, ha)
    gateway_changed = 'external_gateway_info' in body
    if gateway_changed:
        _set_gateway(txn, router, body['external_gateway_info'])
    if 'routes' in body:
        router.routes = v.parse_routes(body['routes'] or [], 'routes')
    v.check_router_routes(router.routes, _connected_cidrs(txn, router), router.id)
    bump(router)
    txn.session.flush()
    if (gateway_changed and router.gw_port_id) or ha_changed:
        events.router_needs_agent(txn, router.id)
    else:
        events.routers_updated(txn, router.id)
    return router_dict(txn, router)


def delete_router(txn: Txn, router_id: str) -> None:
    router = txn.load(models.Router, router_id, lock=True)
    if interface_ports(txn, router_id):
        raise exc.RouterInUse(f'Router {router_id} still has ports')
    for fip in txn.session.scalars(sa.select(models.FloatingIP)
                                   .where(models.FloatingIP.router_id == router_id)):
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
    txn.session.flush()
    gw = gateway_port(txn, router)
    router.gw_port_id = None
    txn.session.flush()
    if gw is not None:
        ports.delete_port_row(txn, gw)
    if router.ha:
        l3_ha.teardown_router(txn, router)
    txn.session.delete(router)
    txn.session.flush()
    events.router_deleted(txn, router_id)


def _change_ha(txn: Txn, router: models.Router, ha: bool) -> None:
    """Neutron's migration: only an admin-down router changes; it leaves its agents
    (their HA ports go), gets or gives back its VRID (and the HA network), and is
    scheduled again by the caller."""
    if router.admin_state_up:
        raise exc.BadRequest('Bad router request: Cannot change HA attribute of active '
                             'routers. Please set router admin_state_up to False prior '
                             'to upgrade')
    for agent in scheduler.l3_agents_of_router(txn.session, router.id):
        agents.remove_router(txn, agent.id, router.id)
    if ha:
        l3_ha.setup_router(txn, router)
    else:
        l3_ha.teardown_router(txn, router)


# Interfaces ------------------------------------------------------------------------------

def _interface_info(router: models.Router, port: models.Port) -> dict:
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    return {'id': router.id, 'tenant_id': router.project_id, 'project_id': router.project_id,
            'port_id': port.id, 'network_id': port.network_id,
            'subnet_id': subnet_ids[0] if subnet_ids else None, 'subnet_ids': subnet_ids}


def add_router_interface(txn: Txn, router_id: str, body: dict) -> dict:
    router = txn.load(models.Router, router_id, lock=True)
    if not isinstance(body, dict) or bool(body.get('subnet_id')) == bool(body.get('port_id')):
        raise exc.BadRequest('Bad router request: Either subnet_id or port_id must be '
                             'specified, not both.')
    attached = _attached_subnets(txn, router.id)
    if body.get('port_id'):
        port = txn.load(models.Port, body['port_id'], lock=True)
        if port.device_id or port.device_owner:
            raise exc.PortInUse(f'Unable to complete operation on port {port.id} for '
                                f'network {port.network_id}. Port already has an attached '
                                f'device {port.device_id}.')
        if not port.fixed_ips:
            raise exc.BadRequest('Bad router request: Router port must have at least '
                                 'one fixed IP')
        for alloc in port.fixed_ips:
            cidr = txn.session.get(models.Subnet, alloc.subnet_id).cidr
            v.check_router_interface_overlap(cidr, alloc.subnet_id, attached, router.id)
        port.device_id, port.device_owner = router.id, wire.DEVICE_OWNER_ROUTER_INTF
        bump(port)
    else:
        subnet = txn.load(models.Subnet, body['subnet_id'])
        if not subnet.gateway_ip:
            raise exc.BadRequest(f'Bad router request: Subnet {subnet.id} does not have a '
                                 f'gateway IP.')
        if subnet.id in attached:
            raise exc.BadRequest(f'Bad router request: Router already has a port on '
                                 f'subnet {subnet.id}.')
        v.check_router_interface_overlap(subnet.cidr, subnet.id, attached, router.id)
        port = ports.create_port_row(txn, {
            'network_id': subnet.network_id, 'device_owner': wire.DEVICE_OWNER_ROUTER_INTF,
            'device_id': router.id, 'project_id': router.project_id, 'name': '',
            'fixed_ips': [{'subnet_id': subnet.id, 'ip_address': subnet.gateway_ip}]})
    txn.session.flush()
    events.port_created(txn, wire.port_dict(port))
    events.router_needs_agent(txn, router.id)
    return _interface_info(router, port)


def remove_router_interface(txn: Txn, router_id: str, body: dict) -> dict:
    router = txn.load(models.Router, router_id, lock=True)
    if not isinstance(body, dict) or not (body.get('subnet_id') or body.get('port_id')):
        raise exc.BadRequest('Bad router request: Either subnet_id or port_id must be '
                             'specified.')
    candidates = interface_ports(txn, router.id)
    if body.get('port_id'):
        port = next((p for p in candidates if p.id == body['port_id']), None)
        if port is None:
            raise exc.RouterInterfaceNotFound(
                f"Router {router.id} does not have an interface with id {body['port_id']}")
        if body.get('subnet_id') and body['subnet_id'] not in [a.subnet_id for a in port.fixed_ips]:
            raise exc.SubnetNotFound(f"Subnet {body['subnet_id']} could not be found.")
    else:
        txn.load(models.Subnet, body['subnet_id'])
        port = next((p for p in candidates
                     if body['subnet_id'] in [a.subnet_id for a in p.fixed_ips]), None)
        if port is None:
            raise exc.RouterInterfaceNotFoundForSubnet(
                f"Router {router.id} has no interface on subnet {body['subnet_id']}")
    _check_interface_not_in_use(txn, router.id, port)
    info = _interface_info(router, port)
    ports.delete_port_row(txn, port)
    events.routers_updated(txn, router.id)
    return info


def _check_interface_not_in_use(txn: Txn, router_id: str, port: models.Port) -> None:
    """An interface that floating IPs or extra routes go through must stay."""
    nets = [ipaddress.ip_network(txn.session.get(models.Subnet, a.subnet_id).cidr)
            for a in port.fixed_ips]
    for fip in txn.session.scalars(sa.select(models.FloatingIP)
                                   .where(models.FloatingIP.router_id == router_id)):
        if any(ipaddress.ip_address(fip.fixed_ip_address) in n for n in nets):
            raise exc.RouterInterfaceInUseByFloatingIP(
                f'Router interface for subnet {port.fixed_ips[0].subnet_id} on router '
                f'{router_id} cannot be deleted, as it is required by one or more floating '
                f'IPs.')
    router = txn.session.get(models.Router, router_id)
    for route in router.routes:
        if any(ipaddress.ip_address(route['nexthop']) in n for n in nets):
            raise exc.RouterInterfaceInUseByRoute(
                f'Router interface for subnet {port.fixed_ips[0].subnet_id} on router '
                f'{router_id} cannot be deleted, as it is required by one or more routes.')
