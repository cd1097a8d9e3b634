"""Instance metadata: what the metadata agent serves for an instance (issue 5).

There is no compute service beside netnode, so the data Nova would hold for an
instance (name, hostname, user data, key pairs, availability zone, vendor data)
is kept here, keyed by the ``device_id`` of the instance's ports, and set through
the ``instances`` REST extension (``PUT/GET/DELETE /v2.0/instances/<device_id>``,
body ``{"instance": {...}}``; ``user_data`` travels base64-encoded) and the
``netnode instance-set/show/delete`` CLI.

How the metadata agent gets it: over the bus, as Neutron's does.  Finding the
port (by network or router id and the source address) uses ``get_ports`` on
``q-plugin``, Neutron's MetadataRpcCallback method, which our DHCP callback
already serves.  The instance's documents then need one more answer that
Neutron gets from Nova; we add our own method on ``q-plugin``,
``get_instance_metadata(device_id)`` (served by
:class:`agent.controller.metadata_rpc.MetadataRpcCallback`, version 1.0, not part
of Neutron's protocol).  RPC rather than REST because the agent already speaks
to the controller over the bus (one connection, no REST endpoint or credentials
to configure on network nodes) and a real neutron-server answers the
``get_ports`` half unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import sqlalchemy as sa

from agent.controller import exceptions as exc
from agent.controller import validation as v
from agent.controller import wire
from agent.controller.db import models
from agent.controller.txn import Txn, bump

MAX_USER_DATA = 65535            # bytes, decoded (Nova's limit is on the base64 text)
MAX_KEY_LENGTH = 16384
MAX_VENDOR_DATA = 65535          # bytes of JSON
_KEY_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,254}$')
_LABEL_RE = re.compile(r'^(?!-)[a-z0-9-]{1,63}(?<!-)$', re.IGNORECASE)
FIELDS = ('name', 'hostname', 'project_id', 'availability_zone', 'user_data',
          'public_keys', 'vendor_data')


class InstanceNotFound(exc.NotFound):
    pass


def validate_device_id(device_id) -> str:
    return v.parse_device_id(device_id, allow_empty=False)


def _text(value, field: str, limit: int = 255, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise v.invalid(f'instance.{field}', f'{value!r} is not a string of at most '
                                             f'{limit} characters')
    if any(ord(c) < 32 for c in value):
        raise v.invalid(f'instance.{field}', 'control characters are not allowed')
    return value


def validate_hostname(value) -> str:
    """An RFC 1123 host name (labels of letters, digits and inner hyphens), or ''."""
    _text(value, 'hostname')
    if value and not all(_LABEL_RE.match(label) for label in value.rstrip('.').split('.')):
        raise v.invalid('instance.hostname', f'{value!r} is not a valid host name')
    return value


def hostname_from_name(name: str) -> str:
    """Nova's sanitising of a display name into a host name ('My VM_1' -> 'my-vm-1')."""
    host = re.sub(r'[^a-z0-9.-]+', '-', name.lower()).strip('-.')
    host = re.sub(r'-{2,}', '-', host)
    labels = [label[:63].strip('-') for label in host.split('.') if label.strip('-')]
    return '.'.join(labels)[:255]


def decode_user_data(value) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise v.invalid('instance.user_data', 'must be a base64 string or null')
    try:
        raw = base64.b64decode(value.encode('ascii'), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise v.invalid('instance.user_data', 'is not valid base64') from None
    if len(raw) > MAX_USER_DATA:
        raise v.invalid('instance.user_data',
                        f'{len(raw)} bytes is more than {MAX_USER_DATA} bytes')
    return raw


def validate_public_keys(value) -> dict:
    if not isinstance(value, dict):
        raise v.invalid('instance.public_keys', 'must be an object {name: key}')
    for name, key in value.items():
        if not isinstance(name, str) or not _KEY_NAME_RE.match(name):
            raise v.invalid('instance.public_keys', f'{name!r} is not a key name')
        if (not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH
                or '\n' in key.rstrip('\n') or '\r' in key):
            raise v.invalid(f'instance.public_keys.{name}',
                            'must be one line of public key text')
    return {name: key.rstrip('\n') for name, key in sorted(value.items())}


def validate_vendor_data(value) -> dict:
    if not isinstance(value, dict):
        raise v.invalid('instance.vendor_data', 'must be a JSON object')
    if len(json.dumps(value)) > MAX_VENDOR_DATA:
        raise v.invalid('instance.vendor_data', f'is larger than {MAX_VENDOR_DATA} bytes')
    return value


def _check_body(body: dict) -> dict:
    unknown = sorted(set(body) - set(FIELDS) - {'device_id', 'id', 'tenant_id'})
    if unknown:
        raise v.invalid('instance', f'unknown attribute(s) {", ".join(unknown)}')
    clean = {}
    if 'name' in body:
        clean['name'] = _text(body['name'], 'name')
    if 'hostname' in body:
        clean['hostname'] = validate_hostname(body['hostname'])
    if 'availability_zone' in body:
        clean['availability_zone'] = _text(body['availability_zone'],
                                           'availability_zone', allow_none=True)
    if 'user_data' in body:
        clean['user_data'] = decode_user_data(body['user_data'])
    if 'public_keys' in body:
        clean['public_keys'] = validate_public_keys(body['public_keys'])
    if 'vendor_data' in body:
        clean['vendor_data'] = validate_vendor_data(body['vendor_data'])
    project = body.get('project_id', body.get('tenant_id'))
    if project is not None:
        clean['project_id'] = _text(project, 'project_id')
    return clean


def instance_dict(row: models.InstanceMetadata) -> dict:
    return {
        'id': row.device_id, 'device_id': row.device_id, 'name': row.name,
        'hostname': row.hostname or hostname_from_name(row.name),
        'project_id': row.project_id, 'tenant_id': row.project_id,
        'availability_zone': row.availability_zone,
        'user_data': (None if row.user_data is None
                      else base64.b64encode(row.user_data).decode('ascii')),
        'public_keys': dict(row.public_keys or {}),
        'vendor_data': dict(row.vendor_data or {}),
        'revision_number': row.revision_number,
        'created_at': wire.timestamp(row.created_at),
        'updated_at': wire.timestamp(row.updated_at),
    }


def _load(txn: Txn, device_id: str, lock: bool = False) -> models.InstanceMetadata:
    validate_device_id(device_id)
    row = txn.session.get(models.InstanceMetadata, device_id, with_for_update=lock or None)
    if row is not None and not txn.ctx.can_see(row.project_id):
        row = None
    if row is None:
        raise InstanceNotFound(f'Instance {device_id} could not be found.')
    return row


def set_instance(txn: Txn, device_id: str, body: dict) -> tuple[dict, bool]:
    """Create or update the data of ``device_id``; (instance dict, created)."""
    validate_device_id(device_id)
    if body.get('device_id', body.get('id', device_id)) != device_id:
        raise v.invalid('instance.device_id', 'does not match the URL')
    clean = _check_body(body)
    if not txn.ctx.is_admin:
        if clean.get('project_id', txn.ctx.project_id) != txn.ctx.project_id:
            raise exc.NotAuthorized('Only an admin may set project_id of an instance')
        clean['project_id'] = txn.ctx.project_id
    row = txn.session.get(models.InstanceMetadata, device_id, with_for_update=True)
    created = row is None
    if created:
        row = models.InstanceMetadata(device_id=device_id, name='', hostname='',
                                      public_keys={}, vendor_data={}, revision_number=0)
        row.project_id = txn.ctx.project_id
        txn.session.add(row)
    elif not txn.ctx.can_see(row.project_id):
        raise InstanceNotFound(f'Instance {device_id} could not be found.')
    else:
        bump(row)
    for field, value in clean.items():
        setattr(row, field, value)
    txn.session.flush()
    return instance_dict(row), created


def get_instance(txn: Txn, device_id: str) -> dict:
    return instance_dict(_load(txn, device_id))


def list_instances(txn: Txn) -> list[dict]:
    stmt = sa.select(models.InstanceMetadata).order_by(models.InstanceMetadata.device_id)
    if not txn.ctx.is_admin:
        stmt = stmt.where(models.InstanceMetadata.project_id == txn.ctx.project_id)
    return [instance_dict(row) for row in txn.session.scalars(stmt)]


def delete_instance(txn: Txn, device_id: str) -> None:
    txn.session.delete(_load(txn, device_id, lock=True))


# What the metadata agent asks over RPC -----------------------------------------------

def _dhcp_servers(session, network_ids) -> dict[str, str]:
    """subnet id -> address of a DHCP port on it (Nova's ``dhcp_server`` meta)."""
    rows = session.scalars(sa.select(models.Port).where(
        models.Port.network_id.in_(sorted(network_ids)),
        models.Port.device_owner == wire.DEVICE_OWNER_DHCP))
    found: dict[str, str] = {}
    for port in rows:
        for ip in port.fixed_ips:
            found.setdefault(ip.subnet_id, ip.ip_address)
    return found


def instance_metadata(txn: Txn, device_id: str) -> dict:
    """Everything the documents of ``device_id`` need, in one answer.

    ``instance`` is the stored data or ``None``; ``ports`` are the instance's
    ports (not network-owned ones), ``networks`` ``{id: {id, name, mtu}}``,
    ``subnets`` the subnets of their fixed IPs with ``dhcp_server``, and
    ``floating_ips`` those associated with the ports.
    """
    validate_device_id(device_id)
    row = txn.session.get(models.InstanceMetadata, device_id)
    ports = [p for p in txn.session.scalars(
        sa.select(models.Port).where(models.Port.device_id == device_id)
        .order_by(models.Port.created_at, models.Port.id))
        if not p.device_owner.startswith('network:')]
    network_ids = {p.network_id for p in ports}
    subnet_ids = {ip.subnet_id for p in ports for ip in p.fixed_ips}
    nets = txn.session.scalars(sa.select(models.Network).where(
        models.Network.id.in_(sorted(network_ids)))) if network_ids else []
    subnets = txn.session.scalars(sa.select(models.Subnet).where(
        models.Subnet.id.in_(sorted(subnet_ids)))) if subnet_ids else []
    dhcp = _dhcp_servers(txn.session, network_ids) if network_ids else {}
    fips = txn.session.scalars(sa.select(models.FloatingIP).where(
        models.FloatingIP.fixed_port_id.in_(sorted(p.id for p in ports)))
        .order_by(models.FloatingIP.id)) if ports else []
    return {
        'device_id': device_id,
        'instance': None if row is None else instance_dict(row),
        'ports': [wire.port_dict(p) for p in ports],
        'networks': {n.id: {'id': n.id, 'name': n.name, 'mtu': n.mtu} for n in nets},
        'subnets': [dict(wire.subnet_dict(s), dhcp_server=dhcp.get(s.id))
                    for s in subnets],
        'floating_ips': [{'floating_ip_address': f.floating_ip_address,
                          'fixed_ip_address': f.fixed_ip_address,
                          'port_id': f.fixed_port_id} for f in fips],
    }
