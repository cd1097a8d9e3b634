"""Ports: fixed IPs and MAC allocation, create, update, delete inside a transaction."""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.attributes import set_committed_value

from agent.common import names
from agent.controller import address_claim, events, ipam
from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.db.models import utcnow
from agent.controller.names_util import new_id, owner_project
from agent.controller.txn import Txn, bump

PORT_FIELDS = frozenset({
    'id', 'name', 'project_id', 'tenant_id', 'network_id', 'mac_address', 'fixed_ips',
    'device_id', 'device_owner', 'binding:host_id', 'binding:vnic_type', 'binding:profile',
    'extra_dhcp_opts', 'admin_state_up', 'description', 'status', 'security_groups',
    'port_security_enabled', 'allowed_address_pairs', 'dns_name'})
# Neutron port attributes this controller shows with the value that is true here.
PORT_UNSUPPORTED = {
    'port_security_enabled': ((False,), v.NO_PORT_SECURITY),
    'security_groups': (([],), v.NO_PORT_SECURITY),
    'allowed_address_pairs': (([],), v.NO_PORT_SECURITY),
    'binding:vnic_type': (('normal',), 'only normal (OVS) ports are bound'),
    'binding:profile': (({},), 'binding profiles are not used'),
}
ROUTER_OWNED = (wire.DEVICE_OWNER_ROUTER_INTF, wire.DEVICE_OWNER_ROUTER_GW,
                wire.DEVICE_OWNER_FLOATINGIP, wire.DEVICE_OWNER_ROUTER_HA_INTF)
DHCP_NOTIFY_FIELDS = ('fixed_ips', 'mac_address', 'extra_dhcp_opts')


# Addresses -------------------------------------------------------------------------

# The statements of every port create, built once (building costs more than running),
# run on the session's connection: the ORM's execution and row processing cost
# ~0.5 ms of CPU per statement, and a port create runs several (py-spy).
_SUBNETS = models.Subnet.__table__
_SUBNETS_OF_NETWORK = (sa.select(_SUBNETS)
                       .where(_SUBNETS.c.network_id == sa.bindparam('network_id'))
                       .order_by(_SUBNETS.c.id))
_PORT_IDS = models.Port.__table__.c.id
# SQLite: a range on the primary key's index (binary collation: '~' sorts last).
# Elsewhere collations with punctuation rules make a range unreliable; a pattern is not.
_PORT_IN_RANGE = (sa.select(_PORT_IDS).where(_PORT_IDS >= sa.bindparam('low'),
                                             _PORT_IDS < sa.bindparam('high')).limit(1))
_PORT_LIKE = sa.select(_PORT_IDS).where(_PORT_IDS.like(sa.bindparam('pattern'))).limit(1)
# The used addresses of a subnet, read on every create.  One row per address cost
# ~0.85 µs of CPU each (1 ms at 1200 ports); joined into one string by the
# database, 0.35 µs (measured on PostgreSQL, the rest is the split and the set).
_IP_ADDRESS = models.IPAllocation.__table__.c.ip_address
_OF_SUBNET = models.IPAllocation.__table__.c.subnet_id == sa.bindparam('subnet_id')
_USED_IN_SUBNET = sa.select(_IP_ADDRESS).where(_OF_SUBNET)
_USED_IN_SUBNET_JOINED = {
    'postgresql': sa.select(sa.func.string_agg(_IP_ADDRESS, ',')).where(_OF_SUBNET),
    'sqlite': sa.select(sa.func.group_concat(_IP_ADDRESS, ',')).where(_OF_SUBNET)}


def network_subnets(txn: Txn, network_id: str) -> dict[str, sa.Row]:
    """The subnets of a network by id, as read-only rows."""
    return {s.id: s for s in txn.session.connection().execute(
        _SUBNETS_OF_NETWORK, {'network_id': network_id})}


def _dialect(txn: Txn) -> str:
    return txn.session.get_bind().dialect.name


def _lock_subnets(txn: Txn, subnet_ids) -> None:
    """Serialise allocations per subnet on MySQL-compatible databases (SQLite has
    BEGIN IMMEDIATE; PostgreSQL claims addresses one by one, address_claim)."""
    if subnet_ids and _dialect(txn) not in ('sqlite', 'postgresql'):
        txn.session.execute(sa.select(models.Subnet.id)
                            .where(models.Subnet.id.in_(sorted(subnet_ids)))
                            .order_by(models.Subnet.id).with_for_update(key_share=True))


def _used(txn: Txn, subnet: sa.Row) -> set[str]:
    conn, params = txn.session.connection(), {'subnet_id': subnet.id}
    joined = _USED_IN_SUBNET_JOINED.get(_dialect(txn))
    if joined is not None:            # (MySQL's group_concat truncates at 1 KiB)
        text = conn.execute(joined, params).scalar()
        used = set(text.split(',')) if text else set()
    else:
        used = set(conn.execute(_USED_IN_SUBNET, params).scalars().all())
    if subnet.gateway_ip:
        used.add(subnet.gateway_ip)
    return used


def _free_address(txn: Txn, subnet: sa.Row, also_used: set[str]) -> str:
    """The lowest free address of ``subnet`` not in ``also_used`` (this port's
    other picks), or IpAddressGenerationFailure."""
    if _dialect(txn) != 'postgresql':
        return ipam.choose_address(subnet.id, subnet.ip_version, subnet.allocation_pools,
                                   _used(txn, subnet) | also_used)

    def candidates(skip: set[str], count: int) -> list[str]:
        return ipam.first_free(subnet.ip_version, subnet.allocation_pools,
                               _used(txn, subnet) | also_used | skip, count)
    return address_claim.claim(txn.session, subnet.id, subnet.network_id, candidates)


def _ip_taken(txn: Txn, network_id: str, ip: str) -> bool:
    return txn.session.scalar(
        sa.select(sa.func.count()).select_from(models.IPAllocation)
        .where(models.IPAllocation.network_id == network_id,
               models.IPAllocation.ip_address == ip)) > 0


def _subnet_of_ip(ip, subnets: dict[str, sa.Row]) -> sa.Row | None:
    for subnet in subnets.values():
        if ip in ipaddress.ip_network(subnet.cidr):
            return subnet
    return None


def _default_requests(subnets: dict[str, sa.Row]) -> list[dict]:
    """Nothing asked: one address of every IPv4 and stateful IPv6 subnet, SLAAC on the rest."""
    return [{'subnet_id': s.id} for s in subnets.values()]


def _resolve_request(item, subnets, network_id: str,
                     field: str = 'fixed_ips') -> tuple[sa.Row, str | None]:
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
             subnets: dict[str, sa.Row] | None = None) -> list[models.IPAllocation]:
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
    rows: list = []
    seen: set = set()
    for subnet, ip in resolved:
        if ip is None and ipam.is_auto_address_subnet(subnet.ip_version,
                                                      subnet.ipv6_address_mode):
            ip = ipam.eui64_address(ipaddress.ip_network(subnet.cidr), port.mac_address)
        if ip is None:
            ip = _free_address(txn, subnet, {i for _, i in seen})
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

def _network_of(txn: Txn, body: dict) -> sa.Row:
    """The network a port create names, after the body's fields are checked."""
    v.check_known_fields(body, PORT_FIELDS, 'port')
    v.check_unsupported(body, PORT_UNSUPPORTED, 'port')
    if not body.get('network_id'):
        raise v.invalid('network_id', 'network_id is required')
    return txn.load_row(models.Network, body['network_id'])


def create_port_row(txn: Txn, body: dict, status: str = 'DOWN',
                    subnets: dict[str, sa.Row] | None = None,
                    network: sa.Row | None = None) -> models.Port:
    """Insert a port with its addresses (no notification); ``subnets`` as allocate's,
    ``network``: the one the body names, if the caller loaded it."""
    v.check_known_fields(body, PORT_FIELDS, 'port')
    net = network if network is not None else _network_of(txn, body)
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
    _insert(txn, port, allocate(txn, port, body.get('fixed_ips'), subnets=subnets))
    return port


_PORT_COLUMNS = tuple(c.name for c in models.Port.__table__.c)
_ALLOCATION_COLUMNS = ('port_id', 'subnet_id', 'network_id', 'ip_address')
_INSERT_PORT = sa.insert(models.Port.__table__)
_INSERT_ALLOCATION = sa.insert(models.IPAllocation.__table__)


def _insert(txn: Txn, port: models.Port, allocations: list[models.IPAllocation]) -> None:
    """INSERT a new port and its addresses with Core statements, then put the
    objects in the session as loaded from the database (no flush).

    The ORM's flush of a port with one address cost ~1.5 ms of CPU, a third of a
    port create's transaction (py-spy, 8 clients on PostgreSQL).
    """
    port.created_at = port.updated_at = utcnow()
    conn = txn.session.connection()
    conn.execute(_INSERT_PORT, {c: getattr(port, c) for c in _PORT_COLUMNS})
    for alloc in allocations:
        alloc.id = conn.execute(_INSERT_ALLOCATION, {
            c: getattr(alloc, c) for c in _ALLOCATION_COLUMNS}).inserted_primary_key[0]
    for row in (port, *allocations):
        orm.make_transient_to_detached(row)
    set_committed_value(port, 'fixed_ips', allocations)
    txn.session.add(port)              # and, by cascade, the allocations


def _check_device_name_free(txn: Txn, port_id: str) -> None:
    """409 if another port's devices (tap/qr-/qg- + 11 characters of the id) would
    have this port's names: the agents would move one port's device for the other."""
    prefix = port_id[:names.DEVICE_ID_CHARS]
    if _dialect(txn) == 'sqlite':
        stmt, params = _PORT_IN_RANGE, {'low': prefix, 'high': prefix + '~'}
    else:
        stmt, params = _PORT_LIKE, {'pattern': prefix + '%'}
    other = txn.session.connection().execute(stmt, params).scalar()
    if other is not None:
        raise exc.DeviceNameInUse(
            f'Port {port_id} would have the device names of port {other} '
            f'({names.tap_name(other)}, {names.internal_device_name(other)}, ...): '
            f'the first {names.DEVICE_ID_CHARS} characters of port ids must differ')


def create_port(txn: Txn, body: dict) -> dict:
    net = _network_of(txn, body)
    subnets = network_subnets(txn, net.id)
    agents, device_id = None, body.get('device_id') or ''
    if isinstance(device_id, str):
        # Asked before the allocation: not under a subnet's lock (MySQL-compatible).
        agents = events.port_create_targets(
            txn, net, device_id, needs_dhcp=any(s.enable_dhcp for s in subnets.values()))
    port = create_port_row(txn, body, subnets=subnets, network=net)
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
    v.check_unsupported(body, PORT_UNSUPPORTED, 'port')
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
