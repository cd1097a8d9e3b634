"""Ports: fixed IPs and MAC allocation, create, update, delete inside a transaction."""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from agent.common import names
from agent.controller import events, ipam
from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.names_util import new_id, owner_project
from agent.controller.txn import Txn, bump

PORT_FIELDS = frozenset({
    'id', 'name', 'project_id', 'tenant_id', 'network_id', 'mac_address', 'fixed_ips',
    'device_id', 'device_owner', 'binding:host_id', 'binding:vnic_type', 'binding:profile',
    'extra_dhcp_opts', 'admin_state_up', 'description', 'status', 'security_groups',
    'port_security_enabled', 'allowed_address_pairs', 'dns_name'})
ROUTER_OWNED = (wire.DEVICE_OWNER_ROUTER_INTF, wire.DEVICE_OWNER_ROUTER_GW,
                wire.DEVICE_OWNER_FLOATINGIP, wire.DEVICE_OWNER_ROUTER_HA_INTF)
DHCP_NOTIFY_FIELDS = ('fixed_ips', 'mac_address', 'extra_dhcp_opts')


# Addresses -------------------------------------------------------------------------

# The statements of every port create, built once (building costs more than running).
_SUBNETS_OF_NETWORK = (sa.select(models.Subnet)
                       .where(models.Subnet.network_id == sa.bindparam('network_id'))
                       .order_by(models.Subnet.id))
# A Core select on the session's connection: the ORM's row processing cost ~1 µs
# per used address, on every create.
_USED_IN_SUBNET = (sa.select(models.IPAllocation.__table__.c.ip_address)
                   .where(models.IPAllocation.__table__.c.subnet_id
                          == sa.bindparam('subnet_id')))


def network_subnets(txn: Txn, network_id: str) -> dict[str, models.Subnet]:
    return {s.id: s for s in txn.session.scalars(_SUBNETS_OF_NETWORK,
                                                 {'network_id': network_id})}


def _lock_subnets(txn: Txn, subnet_ids) -> None:
    """Serialise allocations per subnet (PostgreSQL; SQLite has BEGIN IMMEDIATE)."""
    if subnet_ids and not txn.session.get_bind().dialect.name == 'sqlite':
        txn.session.execute(sa.select(models.Subnet.id)
                            .where(models.Subnet.id.in_(sorted(subnet_ids)))
                            .order_by(models.Subnet.id).with_for_update(key_share=True))


def _used(txn: Txn, subnet: models.Subnet) -> set[str]:
    used = set(txn.session.connection().execute(
        _USED_IN_SUBNET, {'subnet_id': subnet.id}).scalars().all())
    if subnet.gateway_ip:
        used.add(subnet.gateway_ip)
    return used


def _ip_taken(txn: Txn, network_id: str, ip: str) -> bool:
    return txn.session.scalar(
        sa.select(sa.func.count()).select_from(models.IPAllocation)
        .where(models.IPAllocation.network_id == network_id,
               models.IPAllocation.ip_address == ip)) > 0


def _subnet_of_ip(ip, subnets: dict[str, models.Subnet]) -> models.Subnet | None:
    for subnet in subnets.values():
        if ip in ipaddress.ip_network(subnet.cidr):
            return subnet
    return None


def _default_requests(subnets: dict[str, models.Subnet]) -> list[dict]:
    """Nothing asked: one address of every IPv4 and stateful IPv6 subnet, SLAAC on the rest."""
    return [{'subnet_id': s.id} for s in subnets.values()]


def _resolve_request(item, subnets, network_id: str,
                     field: str = 'fixed_ips') -> tuple[models.Subnet, str | None]:
    if not isinstance(item, dict) or not set(item) <= {'subnet_id', 'ip_address'} or not item:
        raise v.invalid(field, f'{item!r:.80} must have subnet_id and/or ip_address')
    if 'subnet_id' in item and not isinstance(item['subnet_id'], str):
        raise v.invalid(f'{field}.subnet_id', f"{item['subnet_id']!r:.80} is not a string")
    ip = v.parse_ip(item['ip_address'], f'{field}.ip_address') if 'ip_address' in item \
        else None
    if 'subnet_id' in item:
        subnet = subnets.get(item['subnet_id'])
        if subnet is None:
            raise exc.InvalidInput(
                f"Invalid input for fixed_ips: subnet {item['subnet_id']} is not on "
                f"network {network_id}")
        if ip is not None and ip not in ipaddress.ip_network(subnet.cidr):
            raise exc.InvalidIpForSubnet(
                f'IP address {ip} is not a valid IP for the specified subnet.')
    else:
        subnet = _subnet_of_ip(ip, subnets)
        if subnet is None:
            raise exc.InvalidIpForNetwork(
                f'IP address {ip} is not a valid IP for any of the subnets on the '
                f'specified network.')
    return subnet, (str(ip) if ip is not None else None)


def allocate(txn: Txn, port: models.Port, requests: list | None,
             keep: set[tuple[str, str]] = frozenset(),
             subnets: dict[str, models.Subnet] | None = None) -> list[models.IPAllocation]:
    """IPAllocation rows for ``requests`` (None: Neutron's default) on ``port``'s network.

    ``keep`` holds (subnet_id, ip) pairs the port already owns: they are not re-checked.
    ``subnets``: the network's, by id, if the caller loaded them in this transaction.
    """
    if subnets is None:
        subnets = network_subnets(txn, port.network_id)
    if requests is None:
        requests = _default_requests(subnets)
    if not isinstance(requests, list):
        raise v.invalid('fixed_ips', f'{requests!r} is not a list')
    resolved = [_resolve_request(item, subnets, port.network_id,
                                 f'port {port.id}: fixed_ips[{i}]')
                for i, item in enumerate(requests)]
    _lock_subnets(txn, {s.id for s, ip in resolved if ip is None})
    rows, seen = [], set()
    for subnet, ip in resolved:
        if ip is None and ipam.is_auto_address_subnet(subnet.ip_version,
                                                      subnet.ipv6_address_mode):
            ip = ipam.eui64_address(ipaddress.ip_network(subnet.cidr), port.mac_address)
        if ip is None:
            ip = ipam.choose_address(subnet.id, subnet.ip_version, subnet.allocation_pools,
                                     _used(txn, subnet) | {i for _, i in seen})
        elif (subnet.id, ip) not in keep and (_ip_taken(txn, port.network_id, ip)
                                              or (subnet.id, ip) in seen):
            raise exc.IpAddressInUse(
                f'Unable to complete operation for network {port.network_id}. The IP '
                f'address {ip} is in use.')
        seen.add((subnet.id, ip))
        rows.append(models.IPAllocation(port_id=port.id, subnet_id=subnet.id,
                                        network_id=port.network_id, ip_address=ip))
    return rows


def _mac(txn: Txn, network_id: str, requested) -> str:
    def taken(mac):
        return txn.session.scalar(sa.select(sa.func.count()).select_from(models.Port).where(
            models.Port.network_id == network_id, models.Port.mac_address == mac)) > 0
    if requested is not None:
        mac = v.parse_mac(requested)
        if taken(mac):
            raise exc.MacAddressInUse(
                f'Unable to complete operation for network {network_id}. The mac address '
                f'{mac} is in use.')
        return mac
    # A generated MAC is not checked first: a collision (1 in 16 million per port)
    # violates unique (network_id, mac_address) and the transaction is retried.
    return ipam.random_mac(txn.conf.base_mac)


# Create / update / delete -----------------------------------------------------------------

def create_port_row(txn: Txn, body: dict, status: str = 'DOWN',
                    subnets: dict[str, models.Subnet] | None = None) -> models.Port:
    """Insert a port with its addresses (no notification); ``subnets`` as allocate's."""
    v.check_known_fields(body, PORT_FIELDS, 'port')
    if not body.get('network_id'):
        raise v.invalid('network_id', 'network_id is required')
    net = txn.load(models.Network, body['network_id'])
    port_id = new_id(body)
    v.parse_dns_name(body.get('dns_name'))
    port = models.Port(
        id=port_id, network_id=net.id, project_id=owner_project(txn.ctx, body),
        name=v.parse_string(body.get('name'), 'name'),
        description=v.parse_string(body.get('description'), 'description'),
        device_id=v.parse_device_id(body.get('device_id')),
        device_owner=v.parse_string(body.get('device_owner'), 'device_owner'),
        host=v.parse_string(body.get('binding:host_id'), 'binding:host_id'),
        admin_state_up=v.parse_bool(body.get('admin_state_up', True), 'admin_state_up'),
        extra_dhcp_opts=v.parse_extra_dhcp_opts(body.get('extra_dhcp_opts') or [],
                                                f'port {port_id}'),
        status=status, revision_number=0)
    _check_device_name_free(txn, port_id)
    port.mac_address = _mac(txn, net.id, body.get('mac_address'))
    port.fixed_ips = allocate(txn, port, body.get('fixed_ips'), subnets=subnets)
    txn.session.add(port)
    txn.session.flush()
    return port


def _check_device_name_free(txn: Txn, port_id: str) -> None:
    """409 if another port's devices (tap/qr-/qg- + 11 characters of the id) would
    have this port's names: the agents would move one port's device for the other."""
    prefix = port_id[:names.DEVICE_ID_CHARS]
    if txn.session.get_bind().dialect.name == 'sqlite':
        # A range on the primary key's index (binary collation: '~' sorts last).
        same = sa.and_(models.Port.id >= prefix, models.Port.id < prefix + '~')
    else:
        # Collations with punctuation rules make a range unreliable; a pattern is not.
        same = models.Port.id.like(prefix + '%')
    other = txn.session.scalar(sa.select(models.Port.id).where(same).limit(1))
    if other is not None:
        raise exc.DeviceNameInUse(
            f'Port {port_id} would have the device names of port {other} '
            f'({names.tap_name(other)}, {names.internal_device_name(other)}, ...): '
            f'the first {names.DEVICE_ID_CHARS} characters of port ids must differ')


def create_port(txn: Txn, body: dict) -> dict:
    agents, device_id = None, body.get('device_id') or ''
    if isinstance(body.get('network_id'), str) and isinstance(device_id, str):
        # Asked before the allocation: not under the subnet's lock (PostgreSQL).
        agents = events.port_create_targets(txn, body['network_id'], device_id)
    port = create_port_row(txn, body)
    result = wire.port_dict(port)
    events.port_created(txn, result, agents=agents)
    return result


def _router_of(port: models.Port) -> str | None:
    if port.device_owner in (wire.DEVICE_OWNER_ROUTER_INTF, wire.DEVICE_OWNER_ROUTER_GW):
        return port.device_id or None
    return None


def update_port_row(txn: Txn, port: models.Port, body: dict) -> tuple[dict, dict]:
    """Apply ``body``; return (before, after) wire dicts."""
    v.check_known_fields(body, PORT_FIELDS, 'port')
    before = wire.port_dict(port)
    for field in ('id', 'network_id', 'project_id', 'tenant_id'):
        if field in body and body[field] != before[field]:
            raise v.invalid(field, f'{field} of port {port.id} cannot be updated')
    for field in ('name', 'description', 'device_owner'):
        if field in body:
            setattr(port, field, v.parse_string(body[field], field))
    if 'device_id' in body:
        port.device_id = v.parse_device_id(body['device_id'])
    if 'dns_name' in body:
        v.parse_dns_name(body['dns_name'])
    if 'binding:host_id' in body:
        port.host = v.parse_string(body['binding:host_id'], 'binding:host_id')
    if 'admin_state_up' in body:
        port.admin_state_up = v.parse_bool(body['admin_state_up'], 'admin_state_up')
    if 'extra_dhcp_opts' in body:
        port.extra_dhcp_opts = v.parse_extra_dhcp_opts(body['extra_dhcp_opts'] or [],
                                                       f'port {port.id}')
    if 'mac_address' in body and body['mac_address'] != port.mac_address:
        port.mac_address = _mac(txn, port.network_id, body['mac_address'])
    if 'fixed_ips' in body:
        owned = {(a.subnet_id, a.ip_address) for a in port.fixed_ips}
        new_rows = allocate(txn, port, _keep_existing(body['fixed_ips'] or [], owned),
                            keep=owned)
        wanted = {(r.subnet_id, r.ip_address) for r in new_rows}
        for alloc in list(port.fixed_ips):
            if (alloc.subnet_id, alloc.ip_address) not in wanted:
                port.fixed_ips.remove(alloc)
        txn.session.flush()
        for row in new_rows:
            if (row.subnet_id, row.ip_address) not in owned:
                port.fixed_ips.append(row)
    bump(port)
    txn.session.flush()
    txn.session.refresh(port)
    return before, wire.port_dict(port)


def _keep_existing(requests, owned: set[tuple[str, str]]):
    """A ``{subnet_id}`` request on a subnet the port has an address on keeps it (Neutron)."""
    if not isinstance(requests, list):
        return requests
    claimed = {r.get('ip_address') for r in requests if isinstance(r, dict)}
    spare = sorted(pair for pair in owned if pair[1] not in claimed)
    result = []
    for req in requests:
        if isinstance(req, dict) and set(req) == {'subnet_id'}:
            match = next((p for p in spare if p[0] == req['subnet_id']), None)
            if match is not None:
                spare.remove(match)
                req = {'subnet_id': match[0], 'ip_address': match[1]}
        result.append(req)
    return result


def update_port(txn: Txn, port_id: str, body: dict) -> dict:
    port = txn.load(models.Port, port_id, lock=True)
    old_router = _router_of(port)
    before, after = update_port_row(txn, port, body)
    if any(before[f] != after[f] for f in DHCP_NOTIFY_FIELDS):
        events.to_dhcp_agents(txn, port.network_id, 'port_update_end', {'port': after})
    for router_id in {old_router, _router_of(port)} - {None}:
        events.routers_updated(txn, router_id)
    if before['fixed_ips'] != after['fixed_ips'] or not port.admin_state_up:
        for router_id in _floating_routers(txn, port.id):
            events.routers_updated(txn, router_id)
    return after


def _floating_routers(txn: Txn, port_id: str) -> set[str]:
    return set(txn.session.scalars(sa.select(models.FloatingIP.router_id).where(
        models.FloatingIP.fixed_port_id == port_id,
        models.FloatingIP.router_id.is_not(None))))


def delete_port_row(txn: Txn, port: models.Port) -> dict:
    """Delete a port, disassociating its floating IPs; notify DHCP agents."""
    result = wire.port_dict(port)
    routers = _floating_routers(txn, port.id)
    for fip in txn.session.scalars(sa.select(models.FloatingIP)
                                   .where(models.FloatingIP.fixed_port_id == port.id)):
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        bump(fip)
    txn.session.delete(port)
    txn.session.flush()
    events.port_deleted(txn, result)
    for router_id in routers:
        events.routers_updated(txn, router_id)
    return result


def delete_port(txn: Txn, port_id: str, allow_router_owned: bool = False) -> None:
    port = txn.load(models.Port, port_id, lock=True)
    if port.device_owner in ROUTER_OWNED and not allow_router_owned:
        raise exc.PortInUse(
            f'Port {port_id} cannot be deleted directly via the port API: has device '
            f'owner {port.device_owner}.')
    delete_port_row(txn, port)
